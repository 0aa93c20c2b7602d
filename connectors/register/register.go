// Package register joins the hub to the population register (issue 5): it
// consumes resident.registered, searches the register's FHIR /Patient API
// for the resident, scores the candidates (package match) and applies the
// verdict through core/app, which records it and emits resident.verified,
// resident.rejected or resident.needs-review. It keeps nothing of the
// register's record but its ID of the person and the score, and it never
// logs names, dates of birth or addresses.
package register

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/register/match"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

const (
	// Group is the Kafka consumer group of the register connector.
	Group = "vaxhub-register"
	// Consumer names the handler in processed_events, dead-letter headers
	// and metrics.
	Consumer = app.VerificationConsumer
	// Topic carries resident.registered (and the verdicts, which the
	// connector skips).
	Topic = "vaxhub.resident.v1"
	// System is the httpclient system name (breaker, metrics).
	System = "register"
)

// Register status codes of the register's status extension (BMeldDAV §6).
const (
	extensionRegisterStatus = "https://vaxhub.example/sim/register/StructureDefinition/register-status"
	extensionAGS            = "http://fhir.de/StructureDefinition/destatis/ags"
)

// Config configures the connector.
type Config struct {
	// BaseURL of the register's FHIR API, e.g. http://127.0.0.1:8103.
	BaseURL string
	// BasicAuth or BearerToken, when the register requires credentials.
	BasicAuth   *httpclient.BasicAuth
	BearerToken string
	// HTTP tunes the resilient client (timeouts, retries, breaker); System,
	// BaseURL and credentials are set from the fields above.
	HTTP httpclient.Config
	// Match holds the score thresholds (verify, review, tie margin).
	Match match.Config
	// MaxCandidates is _max-results of each search, 1..50: how many
	// candidates the register may return before it answers
	// TOO_MANY_MATCHES. Default 10.
	MaxCandidates int
	// StatePrefix is the start of the municipality keys (AGS) of the state;
	// a register person whose home address lies elsewhere is not resident.
	// Default "14" (Saxony).
	StatePrefix string
	// CacheTTL keeps a search answer this long, so that a redelivered
	// event or a repeated registration does not reach the register again.
	// Default 30 s; negative switches the cache off.
	CacheTTL time.Duration
	// CacheSize bounds the cached answers. Default 10,000.
	CacheSize int
}

func (c *Config) setDefaults() {
	if c.MaxCandidates == 0 {
		c.MaxCandidates = 10
	}
	if c.StatePrefix == "" {
		c.StatePrefix = "14"
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = 30 * time.Second
	}
	if c.CacheSize == 0 {
		c.CacheSize = 10_000
	}
	if c.HTTP.Timeout == 0 {
		c.HTTP.Timeout = 2 * time.Second
	}
	if c.HTTP.MaxRetries == 0 {
		c.HTTP.MaxRetries = 2
	}
	if c.HTTP.BackoffBase == 0 {
		c.HTTP.BackoffBase = 50 * time.Millisecond
	}
	if c.HTTP.BackoffMax == 0 {
		c.HTTP.BackoffMax = time.Second
	}
	if c.HTTP.Breaker.Timeout == 0 {
		c.HTTP.Breaker.Timeout = 5 * time.Second
	}
	c.Match.SetDefaults()
}

// Validate reports the first problem.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return errors.New("register: BaseURL is required")
	}
	if c.MaxCandidates < 1 || c.MaxCandidates > 50 {
		return fmt.Errorf("register: MaxCandidates %d outside 1..50", c.MaxCandidates)
	}
	return c.Match.Validate()
}

// Deps are what the connector needs.
type Deps struct {
	App    *app.App
	Config Config
	// Consumer is the base of the consumer configuration (Kafka, Validator,
	// DLQ, Metrics, Logger, backoff); Start sets Topic, Group, Name,
	// Handler, and MaxRetries (unbounded: while the register is down,
	// registrations wait in Kafka and are never dead-lettered for it).
	Consumer bus.ConsumerConfig
	// Registerer receives the HTTP client's metrics; nil: not registered.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Failed, when set, is told when the consumer stops while it should run.
	Failed func(error)
}

// Connector searches the register and decides.
type Connector struct {
	app    *app.App
	cfg    Config
	client *httpclient.Client
	log    *slog.Logger
	cache  *searchCache
}

// New builds the connector and its HTTP client.
func New(d Deps) (*Connector, error) {
	if d.App == nil {
		return nil, errors.New("register: Deps.App is required")
	}
	cfg := d.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	hc := cfg.HTTP
	hc.System, hc.BaseURL, hc.BasicAuth = System, strings.TrimSuffix(cfg.BaseURL, "/"), cfg.BasicAuth
	hc.Registerer = d.Registerer
	hc.Logger = log
	if cfg.BearerToken != "" {
		hc.Headers = map[string]string{"Authorization": "Bearer " + cfg.BearerToken}
	}
	hc.Headers = withHeader(hc.Headers, "Accept", "application/fhir+json")
	client, err := httpclient.New(hc)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return &Connector{app: d.App, cfg: cfg, client: client, log: log.With("component", "register"),
		cache: newSearchCache(cfg.CacheTTL, cfg.CacheSize)}, nil
}

func withHeader(h map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range h {
		out[a] = b
	}
	return out
}

// Close releases the HTTP client.
func (c *Connector) Close() error { return c.client.Close() }

// StartWith builds the connector from d (Start, the hub's entry, fills
// them from component.Deps) and runs its consumer of resident.registered
// in group vaxhub-register until stop is called (stop waits for the
// consumer to finish its in-flight messages).
func StartWith(ctx context.Context, d Deps) (stop func(), err error) {
	c, err := New(d)
	if err != nil {
		return nil, err
	}
	cc := d.Consumer
	cc.MaxRetries = math.MaxInt32
	if cc.BackoffMax == 0 {
		cc.BackoffMax = 5 * time.Second
	}
	if cc.Logger == nil {
		cc.Logger = c.log
	}
	// Through a router, so that its middleware (the correlation ID under
	// core/app's key, ...) reaches the consumer. No inbox: exactly-once is
	// the core's (ApplyVerdict records the event with the verdict).
	router := bus.NewRouter(cc)
	if err := router.Handle(Consumer, Topic, Group, c.Handle); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("register: %w", err)
	}
	return bus.RunReporting(ctx, c.log, func() { _ = c.Close() }, map[string]func(context.Context) error{"register consumer": router.Run}, d.Failed), nil
}

// Handle verifies the resident of one resident.registered event and applies
// the verdict. Other event types on the topic are skipped. A register that
// is down or slow is a transient error (the consumer retries; the event
// waits in Kafka); a request the register refuses (a 4xx that retrying
// cannot fix) and a malformed event are permanent (dead letter).
func (c *Connector) Handle(ctx context.Context, msg bus.Message) error {
	var env struct {
		ID            string `json:"id"`
		Type          string `json:"type"`
		CorrelationID string `json:"correlation_id"`
		Data          struct {
			ResidentID string `json:"resident_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(msg.Value, &env); err != nil {
		return bus.Permanent(fmt.Errorf("register: not an event envelope: %w", err))
	}
	if env.Type != "resident.registered" {
		return nil
	}
	if env.ID == "" || env.Data.ResidentID == "" {
		return bus.Permanent(errors.New("register: resident.registered without id or resident_id"))
	}
	corr := app.CorrelationID(ctx) // set by the router's middleware
	log := c.log.With("event_id", env.ID, "resident_id", env.Data.ResidentID, "correlation_id", corr)

	cur, err := c.app.Verification(ctx, env.Data.ResidentID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return bus.Permanent(fmt.Errorf("register: %w", err))
	case err != nil:
		return fmt.Errorf("register: load verification: %w", err)
	case cur.Status != domain.RegisterUnverified:
		log.Debug("resident already decided: redelivery ignored", "status", cur.Status)
		return nil
	}
	r, err := c.app.Resident(ctx, env.Data.ResidentID)
	if err != nil {
		if errors.Is(err, domain.ErrNotFound) {
			return bus.Permanent(fmt.Errorf("register: %w", err))
		}
		return fmt.Errorf("register: load resident: %w", err)
	}
	verdict, err := c.Verify(ctx, r)
	if err != nil {
		if errors.Is(err, httpclient.ErrPermanent) {
			return bus.Permanent(fmt.Errorf("register: the register refused the search: %w", err))
		}
		log.Warn("register unavailable; the registration waits and is retried", "err", err)
		return fmt.Errorf("register: search: %w", err)
	}
	verdict.EventID = env.ID
	v, changed, err := c.app.ApplyVerdict(ctx, r.ID, verdict)
	if err != nil {
		if errors.Is(err, domain.ErrInvalid) {
			return bus.Permanent(fmt.Errorf("register: apply verdict: %w", err))
		}
		return fmt.Errorf("register: apply verdict: %w", err)
	}
	log.Debug("verdict applied", "status", v.Status, "reason", v.Reason, "score", v.Score, "changed", changed)
	return nil
}

// Verify searches the register for r and decides, without applying
// anything: exact search first, fuzzy when it finds nobody.
func (c *Connector) Verify(ctx context.Context, r *domain.Resident) (domain.Verdict, error) {
	typed := match.Person{Family: r.FamilyName, Given: []string{r.GivenNames}, Birth: r.BirthDate.String(),
		PostalCode: r.Address.PostalCode, Sex: string(r.Sex)}
	res, err := c.search(ctx, r, false)
	if err != nil {
		return domain.Verdict{}, err
	}
	if !res.tooMany && len(res.candidates) == 0 {
		if res, err = c.search(ctx, r, true); err != nil {
			return domain.Verdict{}, err
		}
	}
	if res.tooMany {
		return domain.Verdict{Status: domain.RegisterNeedsReview, Reason: domain.ReviewAmbiguous, Candidates: c.cfg.MaxCandidates + 1}, nil
	}
	people := make([]match.Person, len(res.candidates))
	for i, p := range res.candidates {
		people[i] = p.person
	}
	d := match.Choose(c.cfg.Match, typed, people)
	switch d.Outcome {
	case match.None:
		return domain.Verdict{Status: domain.RegisterRejected, Reason: domain.RejectNotFound}, nil
	case match.Ambiguous:
		return domain.Verdict{Status: domain.RegisterNeedsReview, Reason: domain.ReviewAmbiguous, Score: d.Score.Total, Candidates: d.Considered}, nil
	case match.Weak:
		return domain.Verdict{Status: domain.RegisterNeedsReview, Reason: domain.ReviewWeakMatch, Score: d.Score.Total, Candidates: d.Considered}, nil
	}
	best := res.candidates[d.Best]
	v := domain.Verdict{Status: domain.RegisterVerified, RegisterID: best.id, Score: d.Score.Total, Candidates: d.Considered}
	switch {
	case best.deceased:
		v.Status, v.Reason = domain.RegisterRejected, domain.RejectDeceased
	case !best.resident(c.cfg.StatePrefix):
		v.Status, v.Reason = domain.RegisterRejected, domain.RejectNotResident
	}
	return v, nil
}

// candidate is a register record reduced to what the decision needs; it
// lives only for the decision.
type candidate struct {
	id       string
	person   match.Person
	status   string // resident, deceased, moved-*
	deceased bool
	homeAGS  string
	homeIn   bool // a home address exists
	state    string
}

func (c candidate) resident(prefix string) bool {
	if strings.HasPrefix(c.status, "moved") {
		return false
	}
	if !c.homeIn {
		return false
	}
	if c.homeAGS != "" {
		return strings.HasPrefix(c.homeAGS, prefix)
	}
	return c.state == "" || c.state == "DE-SN"
}

type searchResult struct {
	candidates []candidate
	tooMany    bool
}

// search asks GET /Patient, exact or fuzzy, for up to MaxCandidates.
func (c *Connector) search(ctx context.Context, r *domain.Resident, fuzzy bool) (searchResult, error) {
	q := url.Values{}
	q.Set("family", r.FamilyName)
	for _, g := range strings.Fields(r.GivenNames) {
		q.Add("given", g)
	}
	q.Set("birthdate", "eq"+r.BirthDate.String())
	if fuzzy {
		q.Set("_fuzzy-match", "true")
	}
	q.Set("_max-results", strconv.Itoa(c.cfg.MaxCandidates))
	key := q.Encode()
	if res, ok := c.cache.get(key); ok {
		return res, nil
	}
	h := http.Header{}
	h.Set("X-Request-ID", uuid.NewString())
	if corr := app.CorrelationID(ctx); corr != "" {
		h.Set("X-Correlation-ID", corr)
	}
	resp, err := c.client.Do(ctx, httpclient.Request{Method: http.MethodGet, Path: "/Patient", Query: q, Header: h})
	if err != nil {
		return searchResult{}, err
	}
	res, err := parseSearch(resp.Body)
	if err != nil {
		return searchResult{}, fmt.Errorf("register: %w: %w", httpclient.ErrPermanent, err)
	}
	c.cache.put(key, res)
	return res, nil
}

type fhirBundle struct {
	ResourceType string `json:"resourceType"`
	Entry        []struct {
		Resource struct {
			ID        string `json:"id"`
			Extension []struct {
				URL       string `json:"url"`
				ValueCode string `json:"valueCode"`
			} `json:"extension"`
			Name []struct {
				Use    string   `json:"use"`
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			Gender           string `json:"gender"`
			BirthDate        string `json:"birthDate"`
			DeceasedDateTime string `json:"deceasedDateTime"`
			DeceasedBoolean  bool   `json:"deceasedBoolean"`
			Address          []struct {
				Use        string `json:"use"`
				State      string `json:"state"`
				PostalCode string `json:"postalCode"`
				Country    string `json:"country"`
				Period     *struct {
					End string `json:"end"`
				} `json:"period"`
				Extension []struct {
					URL             string `json:"url"`
					ValueIdentifier *struct {
						Value string `json:"value"`
					} `json:"valueIdentifier"`
				} `json:"extension"`
			} `json:"address"`
		} `json:"resource"`
	} `json:"entry"`
	Issue []struct {
		Details struct {
			Coding []struct {
				Code string `json:"code"`
			} `json:"coding"`
		} `json:"details"`
	} `json:"issue"`
}

var fhirSex = map[string]string{"female": "f", "male": "m", "other": "d", "unknown": "x"}

func parseSearch(body []byte) (searchResult, error) {
	var b fhirBundle
	if err := json.Unmarshal(body, &b); err != nil {
		return searchResult{}, fmt.Errorf("search answer: %w", err)
	}
	switch b.ResourceType {
	case "OperationOutcome":
		for _, is := range b.Issue {
			for _, c := range is.Details.Coding {
				if c.Code == "TOO_MANY_MATCHES" {
					return searchResult{tooMany: true}, nil
				}
			}
		}
		return searchResult{}, errors.New("search answer: an OperationOutcome with status 200 that is not TOO_MANY_MATCHES")
	case "Bundle":
	default:
		return searchResult{}, fmt.Errorf("search answer: resourceType %q", b.ResourceType)
	}
	var res searchResult
	for _, e := range b.Entry {
		p := e.Resource
		if p.ID == "" || len(p.Name) == 0 {
			continue
		}
		name := p.Name[0]
		for _, n := range p.Name {
			if n.Use == "usual" || n.Use == "official" {
				name = n
				break
			}
		}
		c := candidate{id: p.ID, deceased: p.DeceasedDateTime != "" || p.DeceasedBoolean}
		for _, x := range p.Extension {
			if x.URL == extensionRegisterStatus {
				c.status = x.ValueCode
			}
		}
		if c.status == "deceased" {
			c.deceased = true
		}
		c.person = match.Person{Family: name.Family, Given: name.Given, Birth: p.BirthDate, Sex: fhirSex[p.Gender]}
		for _, a := range p.Address {
			if a.Use != "home" || a.Period != nil && a.Period.End != "" {
				continue
			}
			c.homeIn, c.state, c.person.PostalCode = true, a.State, a.PostalCode
			for _, x := range a.Extension {
				if x.URL == extensionAGS && x.ValueIdentifier != nil {
					c.homeAGS = x.ValueIdentifier.Value
				}
			}
			break
		}
		if !c.homeIn { // moved to an unknown address: compare with the last one
			for _, a := range p.Address {
				c.person.PostalCode = a.PostalCode
				break
			}
		}
		res.candidates = append(res.candidates, c)
	}
	return res, nil
}

// searchCache keeps recent search answers for a short time.
type searchCache struct {
	ttl  time.Duration
	size int
	mu   sync.Mutex
	m    map[string]cached
}

type cached struct {
	res searchResult
	at  time.Time
}

func newSearchCache(ttl time.Duration, size int) *searchCache {
	return &searchCache{ttl: ttl, size: size, m: map[string]cached{}}
}

func (s *searchCache) get(key string) (searchResult, bool) {
	if s.ttl < 0 {
		return searchResult{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[key]
	if !ok || time.Since(e.at) > s.ttl {
		return searchResult{}, false
	}
	return e.res, true
}

func (s *searchCache) put(key string, res searchResult) {
	if s.ttl < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= s.size {
		now := time.Now()
		for k, e := range s.m {
			if now.Sub(e.at) > s.ttl {
				delete(s.m, k)
			}
		}
		if len(s.m) >= s.size {
			clear(s.m)
		}
	}
	s.m[key] = cached{res: res, at: time.Now()}
}
