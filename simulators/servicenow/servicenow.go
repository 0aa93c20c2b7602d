// Package servicenow simulates the ServiceNow field planner that the hub
// plans mobile vaccination teams in: the Table API (/api/now/table/...) with
// Basic auth and OAuth, rate limits, the Field Service tables wm_order and
// wm_task, teams, care homes, choice lists and field-recorded vaccinations,
// a dispatcher on a simulated clock and team devices that work offline and
// sync in bursts. It is the outside world and must never import anything
// from core/ or connectors/.
package servicenow

import (
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simclock"
	"net/http"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// DefaultAddr is where `vaxhub sim servicenow` listens unless --addr says
// otherwise.
const DefaultAddr = "127.0.0.1:8102"

// DefaultStart is the simulated time at start-up unless Config.Start says
// otherwise: Monday 4 January 2021, 06:00 UTC.
var DefaultStart = time.Date(2021, 1, 4, 6, 0, 0, 0, time.UTC)

// Config configures a Simulator. The zero value works: user sim/sim, OAuth
// client sim/sim, no rate limit, a clock that stands still at DefaultStart
// and a dispatcher that moves only on POST /_sim/dispatch.
type Config struct {
	// User and Password are the integration user for Basic auth and the
	// OAuth password grant (default "sim"/"sim").
	User, Password string

	// Users are further users (name -> password), e.g. to give two clients
	// their own rate limits.
	Users map[string]string

	// ClientID and ClientSecret identify the OAuth client registered for
	// /oauth_token.do (default "sim"/"sim"). A client_credentials token acts
	// as User.
	ClientID, ClientSecret string

	// TokenTTL is how long an OAuth access token lives, in real time
	// (default 1799 s, as the real instance answers expires_in). Refresh
	// tokens live 100 times as long.
	TokenTTL time.Duration

	// RateLimit is the number of Table API requests each user may make per
	// RateLimitWindow; 0 (the default) means no limit. The real instance
	// counts per hour in sys_rate_limit_rules.
	RateLimit int

	// UserRateLimits overrides RateLimit per user (0: no limit for that user).
	UserRateLimits map[string]int

	// RateLimitWindow is the length of a rate limit window in real time
	// (default one hour, as on the real instance). Windows are fixed: they
	// start at the first request after the previous one ended.
	RateLimitWindow time.Duration

	// Start is the simulated time when New is called (default DefaultStart).
	Start time.Time

	// TimeScale is how many simulated seconds pass per real second: 1 is real
	// time, 3600 an hour per second, 0 (the default) a clock that moves only
	// through POST /_sim/clock/advance.
	TimeScale float64

	// Dispatch makes the dispatcher run by itself: before every request, every
	// task transition that the simulated clock has reached is made, stamped
	// with the time it fell due. Off: only POST /_sim/dispatch moves tasks.
	Dispatch bool

	// AssignLead, AcceptLead and VisitDuration shape the dispatcher's
	// timeline around a task's u_planned_start P: assigned at P-AssignLead
	// (default 48h), accepted on the device at P-AcceptLead (default 12h),
	// work in progress at P, closed complete at u_planned_end or
	// P+VisitDuration (default 4h).
	AssignLead, AcceptLead, VisitDuration time.Duration

	// Now is the real clock the simulated one runs on. Default time.Now.
	Now func() time.Time

	// Faults configures the shared fault injection.
	Faults faults.Options
}

func (c *Config) setDefaults() {
	if c.User == "" {
		c.User = "sim"
	}
	if c.Password == "" {
		c.Password = "sim"
	}
	if c.ClientID == "" {
		c.ClientID = "sim"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "sim"
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 1799 * time.Second
	}
	if c.RateLimitWindow == 0 {
		c.RateLimitWindow = time.Hour
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.AssignLead == 0 {
		c.AssignLead = 48 * time.Hour
	}
	if c.AcceptLead == 0 {
		c.AcceptLead = 12 * time.Hour
	}
	if c.VisitDuration == 0 {
		c.VisitDuration = 4 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first problem with the configuration, naming the field.
func (c Config) Validate() error {
	if c.TokenTTL < 0 {
		return fmt.Errorf("servicenow: TokenTTL %v must not be negative", c.TokenTTL)
	}
	if c.RateLimit < 0 {
		return fmt.Errorf("servicenow: RateLimit %d must not be negative", c.RateLimit)
	}
	for u, n := range c.UserRateLimits {
		if n < 0 {
			return fmt.Errorf("servicenow: UserRateLimits[%q] %d must not be negative", u, n)
		}
	}
	if c.RateLimitWindow < 0 {
		return fmt.Errorf("servicenow: RateLimitWindow %v must not be negative", c.RateLimitWindow)
	}
	if c.TimeScale < 0 {
		return fmt.Errorf("servicenow: TimeScale %v must not be negative", c.TimeScale)
	}
	if c.AssignLead < 0 || c.AcceptLead < 0 || c.VisitDuration < 0 {
		return fmt.Errorf("servicenow: AssignLead, AcceptLead and VisitDuration must not be negative")
	}
	if c.AcceptLead > c.AssignLead {
		return fmt.Errorf("servicenow: AcceptLead %v must not be longer than AssignLead %v", c.AcceptLead, c.AssignLead)
	}
	for u := range c.Users {
		if u == "" {
			return fmt.Errorf("servicenow: Users has an empty user name")
		}
	}
	return c.Faults.Validate()
}

// Simulator is one ServiceNow instance: its tables, tokens, rate limit
// counters, dispatcher and team devices, all in memory. It is safe for
// concurrent use.
type Simulator struct {
	cfg     Config
	inj     *faults.Injector
	clock   *simclock.Clock
	handler http.Handler

	mu       sync.Mutex
	tables   map[string]*table
	users    map[string]string
	tokens   map[string]*token
	limits   rateLimits
	auto     bool               // dispatcher runs by itself
	devices  map[string]*device // by group sys_id
	lastSeen time.Time          // simulated time of the last catch-up
}

// New checks cfg and returns a simulator with teams, care homes and choice
// lists seeded.
func New(cfg Config) (*Simulator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:     cfg,
		clock:   simclock.New(cfg.Start, cfg.TimeScale, cfg.Now, time.Second),
		tables:  schema(),
		users:   map[string]string{cfg.User: cfg.Password},
		tokens:  map[string]*token{},
		auto:    cfg.Dispatch,
		devices: map[string]*device{},
	}
	for u, p := range cfg.Users {
		s.users[u] = p
	}
	s.limits = rateLimits{limit: cfg.RateLimit, users: map[string]int{}, window: cfg.RateLimitWindow, counts: map[string]*window{}}
	for u, n := range cfg.UserRateLimits {
		s.limits.users[u] = n
	}
	s.lastSeen = s.clock.Now()
	s.seed(s.lastSeen)

	s.inj = faults.New(cfg.Faults)
	mux := http.NewServeMux()
	for _, p := range []string{"/api/now/table/", "/api/now/v1/table/", "/api/now/v2/table/"} {
		mux.HandleFunc(p, s.serveTable)
	}
	mux.HandleFunc("/oauth_token.do", s.serveToken)
	mux.HandleFunc("/_sim/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/_sim/clock", s.serveClock)
	mux.HandleFunc("/_sim/clock/advance", s.serveAdvance)
	mux.HandleFunc("/_sim/dispatch", s.serveDispatch)
	mux.HandleFunc("/_sim/devices", s.serveDevices)
	mux.HandleFunc("/_sim/devices/", s.serveDevice)
	mux.HandleFunc("/_sim/rate-limit", s.serveRateLimit)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeFailure(w, http.StatusBadRequest, "Requested URI does not represent any resource", r.URL.Path)
	})
	s.handler = s.inj.Wrap(mux)
	return s, nil
}

// Handler serves the Table API, /oauth_token.do and the /_sim admin
// endpoints, all behind the fault injection (which spares /_sim/).
func (s *Simulator) Handler() http.Handler { return s.handler }

// Faults is the simulator's fault injector, for in-process use.
func (s *Simulator) Faults() *faults.Injector { return s.inj }

// Now is the simulated time.
func (s *Simulator) Now() time.Time { return s.clock.Now() }

// Advance moves the simulated clock forward by d and, if the dispatcher runs
// by itself, makes the task transitions that fall due. It returns the new
// simulated time.
func (s *Simulator) Advance(d time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock.Advance(d)
	s.catchUp()
	return s.clock.Now()
}

// catchUp brings the simulated world up to the simulated now: the automatic
// dispatcher makes what fell due. The caller holds s.mu. It returns now.
func (s *Simulator) catchUp() time.Time {
	now := s.clock.Now()
	if s.auto {
		s.dispatch(now, true)
	}
	if now.After(s.lastSeen) {
		s.lastSeen = now
	}
	return now
}
