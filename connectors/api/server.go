// Package api is the public HTTP API of the hub (JSON under /api/v1, RFC 9457
// problems, bearer tokens with roles for staff). It translates HTTP to calls
// of core/app and back; it never decides a business rule itself.
package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vaxhub/vaxhub/connectors/ratelimit"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/schemas"
)

//go:embed openapi.json
var openapiJSON []byte

// Config configures the API server.
type Config struct {
	StaffTokens  []StaffToken
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Registry receives the API's metrics and is served at /metrics.
	Registry *prometheus.Registry
	// Ready reports the state of each part the hub needs in order to serve
	// (GET /readyz); it should be cheap (it is polled). nil: always ready.
	Ready func(ctx context.Context) []ReadyPart
	// Letters serves /api/v1/letters (the print connector's staff handler);
	// nil answers 503 there. The API checks the staff role first.
	Letters http.Handler
	// LetterKinds are the kinds of letter staff may ask for (the print
	// connector's letter.Requestable, handed on by cmd/vaxhub); the API
	// refuses any other kind with 400 before handing the request on.
	LetterKinds []string
	// Mounts are further handlers outside /api/v1 (webhooks of outside
	// systems, which authenticate themselves).
	Mounts map[string]http.Handler
	// Mobile serves the mobile-campaign endpoints; nil answers 503 there.
	Mobile *app.Mobile
	// AdminMounts are further handlers that need a token with the admin
	// role (operators' controls, e.g. the waiting room).
	AdminMounts map[string]http.Handler
	// Fallback serves every path outside /api/ that no route matches (the
	// web portal); nil: such paths are 404 problems.
	Fallback http.Handler

	// IPRate and IPBurst: per-client-address token bucket for requests
	// under /api/ without a staff token (requests per second, bucket size),
	// in memory per replica. Defaults 20/s and 100, the portal's; a negative
	// rate switches the limit off (benchmarks of the core).
	IPRate  float64
	IPBurst int
	// TokenRate and TokenBurst: per-bearer-token bucket for the same
	// requests when they carry a (resident's) token. Defaults 5/s and 40,
	// the portal's per-session figures; negative switches it off.
	TokenRate  float64
	TokenBurst int
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client address for the limits; empty: the TCP peer is the client.
	TrustedProxies ratelimit.TrustedProxies
	// Now is the clock of the limits. Default time.Now.
	Now func() time.Time

	// WaitingRoom, when set, is the portal's waiting room: while it queues,
	// public booking (POST /api/v1/appointments and .../move with a
	// resident's token) needs an admission (see WaitingRoom).
	WaitingRoom WaitingRoom
	// MeasureBookings wraps the booking endpoints so that the room's
	// capacity meter sees API bookings too; nil measures nothing.
	MeasureBookings func(http.Handler) http.Handler
	// Firewall, when set, inspects every request under /api/ after the
	// rate limits (the portal's web application firewall, Firewall.Wrap).
	Firewall func(http.Handler) http.Handler
}

func (c *Config) setDefaults() {
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 64 << 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.Ready == nil {
		c.Ready = func(context.Context) []ReadyPart { return nil }
	}
	if c.IPRate == 0 {
		c.IPRate = 20
	}
	if c.IPBurst == 0 {
		c.IPBurst = 100
	}
	if c.TokenRate == 0 {
		c.TokenRate = 5
	}
	if c.TokenBurst == 0 {
		c.TokenBurst = 40
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	for _, t := range c.StaffTokens {
		if err := t.Validate(); err != nil {
			return err
		}
	}
	if c.IPRate > 0 && c.IPBurst < 1 || c.TokenRate > 0 && c.TokenBurst < 1 {
		return errors.New("api: rate-limit bursts must be at least 1")
	}
	return nil
}

type staffToken struct {
	name  string
	hash  []byte
	roles []string
}

// Server serves the API.
type Server struct {
	app      *app.App
	cfg      Config
	log      *slog.Logger
	staff    []staffToken
	mux      *http.ServeMux
	edge     *edge
	guarded  http.Handler // serve, behind Config.Firewall
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	bookings *prometheus.CounterVec

	readyMu   sync.Mutex
	readyDown []string // the parts not ready at the last /readyz
}

// New builds the API server over the use cases.
func New(a *app.App, cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{app: a, cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), edge: newEdge(cfg)}
	for _, t := range cfg.StaffTokens {
		h, _ := hex.DecodeString(t.SHA256)
		s.staff = append(s.staff, staffToken{name: t.Name, hash: h, roles: t.Roles})
	}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_http_requests_total", Help: "HTTP requests by route and status."}, []string{"route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vaxhub_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"})
	s.bookings = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_bookings_total", Help: "Booking attempts by outcome."}, []string{"outcome"})
	for _, c := range []prometheus.Collector{s.requests, s.latency, s.bookings} {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, err
		}
	}
	s.routes()
	s.guarded = http.HandlerFunc(s.serve)
	if cfg.Firewall != nil {
		s.guarded = cfg.Firewall(s.guarded)
	}
	return s, nil
}

// route is one documented endpoint; the OpenAPI test checks both lists agree.
type route struct {
	method, path string
	handler      http.HandlerFunc
}

func (s *Server) routeTable() []route {
	staff := s.requireRole(RoleCentreStaff)
	manager := s.requireRole(RoleVaccineManager)
	reporting := s.requireRole(RoleReporting)
	measured := func(h http.HandlerFunc) http.HandlerFunc {
		if s.cfg.MeasureBookings == nil {
			return h
		}
		return s.cfg.MeasureBookings(h).ServeHTTP
	}
	return []route{
		{"POST", "/api/v1/residents", s.registerResident},
		{"GET", "/api/v1/residents/{id}", s.getResident},
		{"GET", "/api/v1/residents/{id}/entitlement", s.getEntitlement},
		{"PUT", "/api/v1/residents/{id}/contact", s.putContact},
		{"GET", "/api/v1/residents/{id}/verification", s.getVerification},
		{"POST", "/api/v1/residents/{id}/verification", staff(s.verifyByHand)},
		{"GET", "/api/v1/centres", catalogue(cachePublic, s.listCentres)},
		{"GET", "/api/v1/centres/{id}/slots", catalogue(cacheRevalidate, s.listSlots)},
		{"POST", "/api/v1/centres/{id}/end-of-day", staff(s.endOfDay)},
		{"GET", "/api/v1/centres/{id}/batch-suggestion", staff(s.suggestBatch)},
		{"GET", "/api/v1/products", catalogue(cachePublic, s.listProducts)},
		{"POST", "/api/v1/appointments", measured(s.book)},
		{"GET", "/api/v1/appointments/{reference}", s.getAppointment},
		{"DELETE", "/api/v1/appointments/{reference}", s.cancelAppointment},
		{"POST", "/api/v1/appointments/{reference}/move", measured(s.moveAppointment)},
		{"POST", "/api/v1/appointments/{reference}/identify", s.identifyHolder},
		{"POST", "/api/v1/waitlist", s.joinWaitlist},
		{"GET", WaitingRoomPath + "{ticket}", s.waitingRoomPosition},
		{"POST", "/api/v1/checkins", staff(s.checkIn)},
		{"POST", "/api/v1/checkouts", staff(s.checkOut)},
		{"POST", "/api/v1/stock/deliveries", manager(s.recordDelivery)},
		{"GET", "/api/v1/rulesets", manager(s.listRuleSets)},
		{"POST", "/api/v1/rulesets", manager(s.publishRuleSet)},
		{"POST", "/api/v1/rulesets/whatif", manager(s.whatIf)},
		{"GET", "/api/v1/reports/progress", reporting(s.progress)},
		{"GET", "/api/v1/reports/rki.csv", reporting(s.rkiCSV)},
		{"POST", "/api/v1/mobile-campaigns", staff(s.planMobileCampaign)},
		{"GET", "/api/v1/mobile-campaigns/{id}", staff(s.getMobileCampaign)},
		{"POST", "/api/v1/mobile-campaigns/{id}/change", staff(s.changeMobileCampaign)},
		{"GET", "/api/v1/mobile-held-doses", staff(s.listHeldFieldDoses)},
		{"POST", "/api/v1/mobile-held-doses/{id}/decision", staff(s.decideHeldFieldDose)},
		{"POST", "/api/v1/letters", staff(s.letters)},
		{"GET", "/api/v1/letters", staff(s.letters)},
		{"GET", "/api/v1/letters/{id}", staff(s.letters)},
		{"GET", "/api/v1/openapi.json", catalogue(cachePublic, s.openapi)},
	}
}

func (s *Server) routes() {
	for _, rt := range s.routeTable() {
		s.mux.Handle(rt.method+" "+rt.path, s.instrument(rt.path, rt.handler))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	for pattern, h := range s.cfg.Mounts {
		s.mux.Handle(pattern, h)
	}
	admin := s.requireRole(RoleAdmin)
	for pattern, h := range s.cfg.AdminMounts {
		s.mux.Handle(pattern, admin(h.ServeHTTP))
	}
	s.mux.HandleFunc("/", s.noRoute)
}

// noRoute answers 405 when the path exists for another method, else 404,
// both as problem documents.
func (s *Server) noRoute(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Fallback != nil && !strings.HasPrefix(r.URL.Path, "/api/") {
		s.cfg.Fallback.ServeHTTP(w, r)
		return
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			writeProblem(w, Problem{Type: "/problems/method-not-allowed", Title: "Method not allowed",
				Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed on " + r.URL.Path, CorrelationID: correlationFrom(r)})
			return
		}
	}
	s.writeError(w, r, fmt.Errorf("no such endpoint %s %s: %w", r.Method, r.URL.Path, domain.ErrNotFound))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// An ID the envelope would refuse (empty, over-long, spaces, control or
	// non-ASCII characters) is replaced; the answer says which one is used.
	corr, _ := schemas.CorrelationIDOrNew(r.Header.Get("X-Correlation-ID"))
	w.Header().Set("X-Correlation-ID", corr)
	p := s.authenticate(r)
	ctx := app.WithCorrelationID(r.Context(), corr)
	ctx = context.WithValue(ctx, principalKey{}, p)
	r = r.WithContext(ctx)
	if !s.toFallback(r) {
		// Answers of the API are for one caller: no cache keeps them, and
		// no browser guesses their type. The public catalogue routes set
		// their own Cache-Control.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
	}
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		s.serve(w, r)
		return
	}
	// The limits come first, so that a flood costs a bucket look-up, not
	// the firewall's inspection.
	if err := s.edge.limit(r, p); err != nil {
		s.writeError(w, r, err)
		return
	}
	s.guarded.ServeHTTP(w, r)
}

// serve runs the routes.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	}
	defer func() {
		if v := recover(); v != nil {
			s.log.ErrorContext(r.Context(), "handler panicked", "panic", v, "correlation_id", correlationFrom(r))
			s.writeError(w, r, errors.New("panic"))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// toFallback reports whether r goes to Config.Fallback (the portal, which
// sets its own headers).
func (s *Server) toFallback(r *http.Request) bool {
	if s.cfg.Fallback == nil || strings.HasPrefix(r.URL.Path, "/api/") {
		return false
	}
	_, pattern := s.mux.Handler(r)
	return pattern == "/"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: 200}
		h(sw, r)
		d := time.Since(start)
		s.requests.WithLabelValues(route, strconv.Itoa(sw.status)).Inc()
		s.latency.WithLabelValues(route).Observe(d.Seconds())
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "route", route, "status", sw.status,
			"duration_ms", d.Milliseconds(), "correlation_id", correlationFrom(r))
	})
}

func correlationFrom(r *http.Request) string { return app.CorrelationID(r.Context()) }

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiJSON)
}

// letterIn is the body of POST /api/v1/letters.
type letterIn struct {
	Kind      string `json:"kind"`
	Reference string `json:"reference"`
}

// letters checks the request like every API request and hands it to the
// print connector, if it runs.
func (s *Server) letters(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var in letterIn
		if err := decode(r, &in); err != nil {
			s.writeError(w, r, err)
			return
		}
		switch {
		case in.Kind == "" && len(s.cfg.LetterKinds) == 0:
			s.writeError(w, r, domain.Invalid("kind", "is required"))
			return
		case in.Kind == "" || (len(s.cfg.LetterKinds) > 0 && !slices.Contains(s.cfg.LetterKinds, in.Kind)):
			s.writeError(w, r, domain.Invalid("kind", "must be one of %s", strings.Join(s.cfg.LetterKinds, ", ")))
			return
		}
		if in.Reference == "" {
			s.writeError(w, r, domain.Invalid("reference", "is required"))
			return
		}
		body, _ := json.Marshal(in)
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if s.cfg.Letters == nil {
		writeProblem(w, Problem{Type: "/problems/not-configured", Title: "Letters are not available", Status: http.StatusServiceUnavailable,
			Detail: "the print connector is not running in this hub", CorrelationID: correlationFrom(r)})
		return
	}
	s.cfg.Letters.ServeHTTP(w, r)
}
