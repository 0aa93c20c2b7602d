// Package web is the residents' portal: server-rendered German-first HTML
// (English second) for registering, checking the entitlement, finding a
// centre and booking, moving or cancelling a vaccination, working without
// JavaScript, with the booking flow behind the digital waiting room.
// It must never put a resident's access token into a page or a script, never
// accept a form without its CSRF token, and never stand in front of /api/,
// /metrics, /healthz, /readyz or /hooks/.
//
// # Mounting
//
//	portal, err := web.New(web.Config{App: a, Pool: pool, Room: room, Meter: meter, Secret: secret, Logger: log})
//	mux.Handle("/", portal) // the most general pattern: /api/, /metrics, ... stay with their own handlers
//
// The booking routes (/buchen/...) run through Room.Gate; everything else
// (start page, registration, account, centre search) stays open while a
// queue forms.
//
// # Operations dashboard
//
// With Config.Dashboard set, staff see /dashboard (figures as HTML tables,
// readable without JavaScript; a chart and live updates by server-sent
// events from /dashboard/events with static/dashboard.js and the vendored
// uPlot). Config.Dashboard.Authorize decides who may see it.
//
// # Sessions
//
// The browser's session is a sealed cookie (vh_session) holding a random
// session ID, its issue time and its idle expiry. Every sign-in (a
// registration, a look-up by booking number and birth date, a proxy
// registering another person) issues a new ID and so a new CSRF token. A
// session ends after Config.SessionIdleTimeout without a request (default
// 30 min) and Config.SessionAbsoluteTimeout after sign-in however much it is
// used (default 12 h). Sign-out puts the ID on a revocation list in
// PostgreSQL (table web_session_revocations), so a copied cookie opens
// nothing afterwards on any replica.
package web

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/connectors/ratelimit"
	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
	"github.com/vaxhub/vaxhub/core/app"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config configures the portal. New calls setDefaults and Validate.
type Config struct {
	// App is the core's use cases. Required. Its clock (App.Now) times the
	// sessions.
	App *app.App
	// Pool is the PostgreSQL pool of the portal's own table, the list of
	// signed-out sessions (web_session_revocations). Required.
	Pool *pgxpool.Pool
	// Room is the digital waiting room in front of the booking flow; nil
	// books without one (tests, small deployments).
	Room *waitingroom.Room
	// Meter measures the portal's booking POSTs for the room's capacity;
	// nil measures nothing here (then wrap the API's booking endpoint).
	Meter *waitingroom.BookingMeter
	// Secret keys the session cookie (AES-GCM) and the CSRF tokens. At least
	// 32 bytes, the same on every replica, from configuration.
	Secret []byte
	// Logger receives blocked requests and failures. Default slog.Default().
	Logger *slog.Logger

	// SecureCookies marks cookies Secure and sends HSTS even when TLS ends
	// at a proxy in front of the hub (a request over TLS always gets both).
	SecureCookies bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client address for the limits (connectors/ratelimit, as the JSON
	// API); empty: the TCP peer is the client.
	TrustedProxies ratelimit.TrustedProxies

	// IPRate and IPBurst: per-client-IP token bucket (requests per second,
	// bucket size), in memory per replica. Defaults 20/s and 100; a
	// negative rate switches the limit off.
	IPRate  float64
	IPBurst int
	// SessionRate and SessionBurst: per-browser-session token bucket.
	// Defaults 5/s and 40; a negative rate switches the limit off.
	SessionRate  float64
	SessionBurst int

	// SessionIdleTimeout ends a session this long after its last request
	// (sliding: every request moves it on, at most once a minute). Default
	// 30 min (issue 12).
	SessionIdleTimeout time.Duration
	// SessionAbsoluteTimeout ends a session this long after it was issued
	// (at sign-in), however much it is used; signed-out sessions stay on the
	// revocation list this long. Default 12 h (issue 12).
	SessionAbsoluteTimeout time.Duration

	// Firewall, when set, inspects every portal request (OWASP CRS via
	// Coraza, see NewFirewall). Build it once and wrap the public API with
	// the same Firewall.Wrap.
	Firewall *Firewall
	// Registerer receives the portal's metrics (blocked requests by reason).
	// Nil: not registered.
	Registerer prometheus.Registerer

	// Dashboard, when set, serves the staff operations dashboard at
	// /dashboard (see DashboardConfig); nil: /dashboard is not found.
	Dashboard *DashboardConfig

	// Letters renders the confirmation letter residents download from their
	// account (connectors/print/letter). Default: letter.New with the
	// campaign's embedded enclosures and App.Location.
	Letters *letter.Renderer

	// SlotDays is how many days ahead the slot page looks. Default 14, at
	// most 31.
	SlotDays int
	// Now is the clock for rate limits. Default time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Dashboard != nil {
		d := *c.Dashboard // the caller's value stays as it is
		c.Dashboard = &d
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.IPRate == 0 {
		c.IPRate = 20
	}
	if c.IPBurst == 0 {
		c.IPBurst = 100
	}
	if c.SessionRate == 0 {
		c.SessionRate = 5
	}
	if c.SessionBurst == 0 {
		c.SessionBurst = 40
	}
	if c.SlotDays == 0 {
		c.SlotDays = 14
	}
	if c.SessionIdleTimeout == 0 {
		c.SessionIdleTimeout = 30 * time.Minute
	}
	if c.SessionAbsoluteTimeout == 0 {
		c.SessionAbsoluteTimeout = 12 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case c.App == nil:
		return errors.New("web: App is required")
	case c.Pool == nil:
		return errors.New("web: Pool is required (the list of signed-out sessions)")
	case len(c.Secret) < 32:
		return errors.New("web: Secret must be at least 32 bytes (from configuration)")
	case c.IPRate > 0 && c.IPBurst < 1, c.SessionRate > 0 && c.SessionBurst < 1:
		return errors.New("web: rate-limit bursts must be at least 1")
	case c.SlotDays < 1 || c.SlotDays > 31:
		return errors.New("web: SlotDays must be between 1 and 31")
	case c.SessionIdleTimeout < time.Minute:
		return errors.New("web: SessionIdleTimeout must be at least 1 minute")
	case c.SessionAbsoluteTimeout < c.SessionIdleTimeout:
		return errors.New("web: SessionAbsoluteTimeout must be at least SessionIdleTimeout")
	}
	if c.Dashboard != nil {
		return c.Dashboard.validate()
	}
	return nil
}

// portal is the handler New returns.
type portal struct {
	cfg      Config
	app      *app.App
	log      *slog.Logger
	pages    *pageSet
	sessions *sessions
	postal   postalAreas
	ipLimit  *ratelimit.Buckets
	sidLimit *ratelimit.Buckets
	blocked  *prometheus.CounterVec
	letters  *letter.Renderer
	handler  http.Handler
}

// New builds the portal, serving "/" and its sub-paths.
func New(cfg Config) (http.Handler, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	ss, err := newSessions(cfg.Secret, cfg.SecureCookies, cfg.App.Now, cfg.SessionIdleTimeout, cfg.SessionAbsoluteTimeout,
		&revocations{pool: cfg.Pool})
	if err != nil {
		return nil, fmt.Errorf("web: session keys: %w", err)
	}
	postal, err := loadPostalAreas()
	if err != nil {
		return nil, err
	}
	p := &portal{cfg: cfg, app: cfg.App, log: cfg.Logger, pages: pages, sessions: ss, postal: postal,
		ipLimit: ratelimit.New(cfg.IPRate, cfg.IPBurst, cfg.Now), sidLimit: ratelimit.New(cfg.SessionRate, cfg.SessionBurst, cfg.Now)}
	p.letters = cfg.Letters
	if p.letters == nil {
		if p.letters, err = letter.New(letter.Config{Location: cfg.App.Location()}); err != nil {
			return nil, fmt.Errorf("web: letters: %w", err)
		}
	}
	p.blocked = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vaxhub_web_blocked_requests_total",
		Help: "Portal requests refused before reaching a page, by reason (rate-ip, rate-session, csrf, waf).",
	}, []string{"reason"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(p.blocked); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, fmt.Errorf("web: metrics: %w", err)
			}
			p.blocked = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	p.handler = p.routes()
	return p, nil
}

func (p *portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func (p *portal) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /registrieren", p.registerForm)
	mux.HandleFunc("POST /registrieren", p.register)
	mux.HandleFunc("GET /konto", p.account)
	mux.HandleFunc("POST /konto/person", p.switchPerson)
	mux.HandleFunc("GET /konto/terminbestaetigung.pdf", p.confirmationPDF)
	mux.HandleFunc("GET /zentren", p.centres)
	mux.HandleFunc("GET /termin", p.findForm)
	mux.HandleFunc("POST /termin", p.find)
	mux.HandleFunc("POST /termin/stornieren", p.cancel)
	mux.HandleFunc("POST /abmelden", p.signOut)
	if p.cfg.Dashboard != nil {
		d := &dashboard{p: p, cfg: *p.cfg.Dashboard}
		mux.Handle("GET /dashboard", d.authorized(d.page))
		mux.Handle("GET /dashboard/events", d.authorized(d.events))
		mux.Handle("GET /dashboard/snapshot", d.authorized(d.snapshotJSON))
	}

	gate := func(h http.Handler) http.Handler { return h }
	if p.cfg.Room != nil {
		gate = p.cfg.Room.Gate
		mux.Handle("GET "+waitingroom.StatusPath, p.cfg.Room.Status())
		mux.Handle("GET "+waitingroom.ScriptPath, p.cfg.Room.Script())
		mux.Handle("POST /buchen-ende", p.cfg.Room.Leave("/konto"))
	}
	measure := func(h http.Handler) http.Handler { return h }
	if p.cfg.Meter != nil {
		measure = p.cfg.Meter.MeasureBookings
	}
	booking := http.NewServeMux()
	booking.HandleFunc("GET /buchen/{$}", p.chooseCentre)
	booking.HandleFunc("GET /buchen/termine", p.slotPage)
	booking.Handle("POST /buchen/termine", measure(http.HandlerFunc(p.book)))
	booking.Handle("POST /buchen/verschieben", measure(http.HandlerFunc(p.move)))
	booking.HandleFunc("POST /buchen/warteliste", p.joinWaitlist)
	mux.Handle("/buchen/", gate(booking))
	mux.HandleFunc("/", p.notFound)

	var h http.Handler = mux
	h = p.checkCSRF(h)
	h = p.limitSession(h)
	h = p.withSession(h)
	h = p.language(h)
	if p.cfg.Firewall != nil {
		h = p.cfg.Firewall.wrap(h, p.firewallBlocked)
	}
	h = p.limitIP(h)
	h = p.securityHeaders(h)
	return h
}

func staticHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders sets the headers every portal response carries.
func (p *portal) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "+
			"form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil || p.cfg.SecureCookies {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

func (p *portal) clientIP(r *http.Request) string {
	return p.cfg.TrustedProxies.ClientAddress(r)
}

func (p *portal) limitIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !p.ipLimit.Allow(ratelimit.AddressKey(p.clientIP(r))) {
			p.block(w, r, "rate-ip", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (p *portal) limitSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/static/") {
			next.ServeHTTP(w, r)
			return
		}
		if !p.sidLimit.Allow(sessionFrom(r.Context()).ID) {
			p.block(w, r, "rate-session", http.StatusTooManyRequests)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// checkCSRF refuses a state-changing request without the session's token.
func (p *portal) checkCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if !p.sessions.csrfOK(r, sessionFrom(r.Context())) {
				p.block(w, r, "csrf", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (p *portal) firewallBlocked(w http.ResponseWriter, r *http.Request, rule int, status int) {
	p.blocked.WithLabelValues("waf").Inc()
	p.blockedPage(w, r, "waf", status)
}

// block refuses a request: a clear page, a log line and a count.
func (p *portal) block(w http.ResponseWriter, r *http.Request, reason string, status int) {
	p.log.Warn("web: request blocked", "reason", reason, "path", r.URL.Path, "method", r.Method, "ip", p.clientIP(r))
	p.blocked.WithLabelValues(reason).Inc()
	p.blockedPage(w, r, reason, status)
}

func (p *portal) blockedPage(w http.ResponseWriter, r *http.Request, reason string, status int) {
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "5")
	}
	v := p.view(r, "blocked")
	v.Reason = reason
	p.render(w, r, status, v)
}
