// Package register simulates Saxony's population register: a synthetic,
// deterministic population of up to several million residents behind a
// FHIR-R4 search API modelled on the NHS PDS and an XMeld-style person
// search. It is the outside world for the hub and must never import core/
// or connectors/.
package register

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simhttp"
	"io"
	"net"
	"net/http"
	"regexp"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// DefaultAddr is where `vaxhub sim register` listens unless told otherwise.
const DefaultAddr = "127.0.0.1:8103"

// DefaultSize is the number of residents unless Config.Size says otherwise.
const DefaultSize = 200_000

// DefaultSeed makes the default population the same on every machine.
const DefaultSeed = 2021

// DefaultAsOf is the register's reference date: ages are counted, and deaths
// and moves dated, relative to it (the start of the 2021 campaign).
var DefaultAsOf = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)

// Custom faults of this simulator, besides the shared ones.
const (
	// FaultTooManyMatches answers every /Patient search with TOO_MANY_MATCHES.
	FaultTooManyMatches = "too_many_matches"
	// FaultTimeout answers every /Patient and /xmeld request with 408
	// UNABLE_TO_CALL_SERVICE, as the PDS does when its back end is slow.
	FaultTimeout = "register_timeout"
)

// Config configures a Simulator.
type Config struct {
	// Seed determines the population: the same seed and size give the same
	// residents, IDs and samples. Zero means DefaultSeed.
	Seed uint64
	// Size is the number of residents, 1..20,000,000. Zero means
	// DefaultSize; Saxony had about 4,060,000 in 2021.
	Size int
	// AsOf is the register's reference date. Zero means DefaultAsOf.
	AsOf time.Time
	// Faults configures the shared fault injection; this simulator adds its
	// own custom faults (FaultTooManyMatches, FaultTimeout).
	Faults faults.Options
	// RequireAuth makes /Patient and /xmeld refuse requests without
	// credentials with 401 ACCESS_DENIED: any Bearer token, or Basic with
	// User and Password. Off by default.
	RequireAuth bool
	// User and Password for Basic authentication; default "sim" and "sim".
	User, Password string
	// BaseURL is the prefix of fullUrl in search bundles; empty means
	// derived from the request's Host.
	BaseURL string
}

func (c *Config) setDefaults() {
	if c.Seed == 0 {
		c.Seed = DefaultSeed
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.AsOf.IsZero() {
		c.AsOf = DefaultAsOf
	}
	if c.User == "" {
		c.User = "sim"
	}
	if c.Password == "" {
		c.Password = "sim"
	}
	c.AsOf = time.Date(c.AsOf.Year(), c.AsOf.Month(), c.AsOf.Day(), 0, 0, 0, 0, time.UTC)
	customs := []faults.Custom{
		{Name: FaultTooManyMatches, Help: "every /Patient search answers TOO_MANY_MATCHES"},
		{Name: FaultTimeout, Help: "every /Patient and /xmeld request answers 408 UNABLE_TO_CALL_SERVICE"},
	}
next:
	for _, n := range customs {
		for _, have := range c.Faults.Custom {
			if have.Name == n.Name {
				continue next
			}
		}
		c.Faults.Custom = append(c.Faults.Custom, n)
	}
}

// Validate reports the first problem with the configuration.
func (c Config) Validate() error {
	if c.Size < 0 || c.Size > 20_000_000 {
		return fmt.Errorf("register: Size %d outside 1..20000000", c.Size)
	}
	if !c.AsOf.IsZero() && (c.AsOf.Year() < 1990 || c.AsOf.Year() > 2060) {
		return fmt.Errorf("register: AsOf %s outside 1990..2060", c.AsOf.Format(time.DateOnly))
	}
	return c.Faults.Validate()
}

// Simulator is a running population register. It is safe for concurrent use.
type Simulator struct {
	cfg       Config
	pop       *population
	inj       *faults.Injector
	handler   http.Handler
	generated time.Duration
	stats     populationStats
}

// New generates the population and builds the handlers.
func New(cfg Config) (*Simulator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	pop, err := generate(cfg.Seed, cfg.Size, cfg.AsOf)
	if err != nil {
		return nil, err
	}
	s := &Simulator{cfg: cfg, pop: pop, generated: time.Since(start)}
	s.stats = pop.stats()
	s.inj = faults.New(cfg.Faults)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /Patient", s.auth(s.searchPatients))
	mux.HandleFunc("GET /Patient/{id}", s.auth(s.getPatient))
	mux.HandleFunc("/Patient", s.auth(methodNotAllowed))
	mux.HandleFunc("/Patient/{id}", s.auth(methodNotAllowed))
	mux.HandleFunc("POST /xmeld", s.auth(s.xmeldSearch))
	mux.HandleFunc("POST /xmeld/personensuche", s.auth(s.xmeldSearch))
	mux.HandleFunc("GET /_sim/residents/sample", s.sample)
	mux.HandleFunc("GET /_sim/residents/stats", s.statsHandler)
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	s.handler = s.inj.Wrap(s.customFaults(mux))
	return s, nil
}

// Handler serves the register's API, the /_sim endpoints and the fault
// admin endpoints.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Faults is the simulator's fault injector, for tests.
func (s *Simulator) Faults() *faults.Injector { return s.inj }

// Size is the number of residents.
func (s *Simulator) Size() int { return s.pop.size }

// Generated is how long generating the population took.
func (s *Simulator) Generated() time.Duration { return s.generated }

// customFaults applies this simulator's own faults to the register's API.
func (s *Simulator) customFaults(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api := r.URL.Path == "/Patient" || len(r.URL.Path) > 9 && r.URL.Path[:9] == "/Patient/" || len(r.URL.Path) >= 6 && r.URL.Path[:6] == "/xmeld"
		if api && s.inj.Flag(FaultTimeout) {
			w.Header().Set(faults.HeaderFault, FaultTimeout)
			writeOutcome(w, http.StatusRequestTimeout, "timeout", "UNABLE_TO_CALL_SERVICE",
				"The downstream domain processing has not completed within the configured timeout period.", "")
			return
		}
		if r.URL.Path == "/Patient" && r.Method == http.MethodGet && s.inj.Flag(FaultTooManyMatches) {
			w.Header().Set(faults.HeaderFault, FaultTooManyMatches)
			writeTooManyMatches(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// auth enforces credentials when Config.RequireAuth is set.
func (s *Simulator) auth(next http.HandlerFunc) http.HandlerFunc {
	if !s.cfg.RequireAuth {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		if u, pw, ok := r.BasicAuth(); ok && u == s.cfg.User && pw == s.cfg.Password {
			next(w, r)
			return
		}
		if h := r.Header.Get("Authorization"); len(h) > 7 && h[:7] == "Bearer " {
			next(w, r)
			return
		}
		writeOutcome(w, http.StatusUnauthorized, "forbidden", "ACCESS_DENIED",
			"Access Denied - Unauthorised", "Missing or invalid Authorization header")
	}
}

var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Main runs the simulator as a process (`vaxhub sim register`): it parses
// args, generates the population, prints the address and serves until ctx
// is done.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("register", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var cfg Config
	addr := fs.String("addr", DefaultAddr, "listen address")
	fs.Uint64Var(&cfg.Seed, "seed", DefaultSeed, "seed of the synthetic population")
	fs.IntVar(&cfg.Size, "size", DefaultSize, "number of residents (Saxony 2021: about 4100000)")
	asOf := fs.String("as-of", DefaultAsOf.Format(time.DateOnly), "the register's reference date (ages, deaths, moves)")
	fs.BoolVar(&cfg.RequireAuth, "require-auth", false, "refuse requests without a Bearer token or Basic user/password")
	fs.StringVar(&cfg.User, "user", "sim", "Basic auth user (with --require-auth)")
	fs.StringVar(&cfg.Password, "password", "sim", "Basic auth password (with --require-auth)")
	fs.StringVar(&cfg.BaseURL, "base-url", "", "prefix of fullUrl in search bundles (default: from the request's Host)")
	cfg.Faults.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	t, err := time.Parse(time.DateOnly, *asOf)
	if err != nil {
		return fmt.Errorf("register: --as-of: %w", err)
	}
	cfg.AsOf = t
	sim, err := New(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	fmt.Fprintf(stdout, "population register simulator on http://%s (%d residents, seed %d, as of %s, generated in %s)\n",
		ln.Addr(), sim.Size(), sim.cfg.Seed, sim.cfg.AsOf.Format(time.DateOnly), sim.generated.Round(time.Millisecond))
	if err := simhttp.Serve(ctx, ln, sim.Handler()); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	return nil
}
