// Package httpclient is the one resilient HTTP client that every REST
// connector uses: resty underneath, one circuit breaker per external system,
// a timeout on every attempt, retries with backoff and jitter that honour
// Retry-After, idempotency keys on POSTs, and Prometheus metrics. It must
// never retry or count against the breaker a 4xx that retrying cannot fix:
// those come back as *StatusError wrapping ErrPermanent, for the dead-letter
// topic.
package httpclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-resty/resty/v2"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
)

// HeaderIdempotencyKey carries the idempotency key on POSTs and on any call
// that was given one.
const HeaderIdempotencyKey = "Idempotency-Key"

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultTimeout             = 10 * time.Second
	DefaultMaxRetries          = 3
	DefaultBackoffBase         = 200 * time.Millisecond
	DefaultBackoffMax          = 5 * time.Second
	DefaultRetryAfterMax       = 30 * time.Second
	DefaultBreakerInterval     = 60 * time.Second
	DefaultBreakerTimeout      = 30 * time.Second
	DefaultBreakerFailures     = 5
	DefaultBreakerMaxRequests  = 1
	DefaultMaxResponseBodySize = 32 << 20
)

// Config configures a Client for one external system.
type Config struct {
	// System names the external system ("sap", "servicenow", "register",
	// "print"). It names the breaker and is the "system" label of every
	// metric. Lower case letters, digits, '_' and '-'.
	System string

	// BaseURL is prefixed to every Request.Path that is not absolute,
	// e.g. "http://127.0.0.1:8101/sap/opu/odata/sap".
	BaseURL string

	// Timeout bounds each attempt (connect, send, wait, read the body),
	// enforced through the attempt's context. Default 10s. The caller's
	// context bounds the whole call including retries and waits.
	Timeout time.Duration

	// MaxRetries is how many times a failed attempt is retried (so at most
	// MaxRetries+1 attempts). 0 means DefaultMaxRetries; -1 means no retries.
	MaxRetries int

	// BackoffBase and BackoffMax shape the wait before retry n:
	// min(BackoffMax, BackoffBase*2^(n-1)), of which a random half is
	// jitter. Defaults 200ms and 5s.
	BackoffBase time.Duration
	BackoffMax  time.Duration

	// RetryAfterMax caps a Retry-After (seconds or HTTP date) on 429 and 503.
	// A Retry-After replaces the backoff for that wait. Default 30s.
	RetryAfterMax time.Duration

	// Breaker configures the circuit breaker of this system.
	Breaker BreakerConfig

	// BasicAuth, if set, is sent on every request.
	BasicAuth *BasicAuth

	// Headers are sent on every request; Request.Header wins.
	Headers map[string]string

	// Registerer receives the metrics. Nil means the metrics are kept but
	// not registered anywhere. Several Clients may share one Registerer.
	Registerer prometheus.Registerer

	// CookieJar keeps cookies between calls (SAP binds its CSRF token to a
	// session cookie). Nil means a fresh in-memory jar for this Client.
	CookieJar http.CookieJar

	// Transport replaces the default HTTP transport (TLS settings, proxies).
	Transport http.RoundTripper

	// MaxResponseBodySize caps the bytes read from one response; a larger
	// body is a permanent error. Default 32 MiB.
	MaxResponseBodySize int

	// Logger receives breaker state changes and resty's own warnings. Nil
	// means slog.Default().
	Logger *slog.Logger
}

// BreakerConfig configures the circuit breaker.
type BreakerConfig struct {
	// Interval clears the failure counts while the breaker is closed, so
	// that failures spread over a long quiet time never add up to a trip
	// (with gobreaker's zero Interval they would never be cleared).
	// Default 60s; it must be positive.
	Interval time.Duration

	// Timeout is how long the breaker stays open before it lets trial
	// calls through (half-open). Default 30s.
	Timeout time.Duration

	// ConsecutiveFailures opens the breaker when that many attempts in a
	// row have failed (5xx, 408, 429, network error, attempt timeout).
	// Default 5.
	ConsecutiveFailures uint32

	// MaxRequests is how many trial calls pass while half-open; that many
	// successes in a row close the breaker, one failure re-opens it.
	// Default 1.
	MaxRequests uint32
}

// BasicAuth is a user name and password for HTTP Basic authentication.
type BasicAuth struct {
	Username string
	Password string
}

var systemName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = DefaultMaxRetries
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = max(DefaultBackoffMax, c.BackoffBase)
	}
	if c.RetryAfterMax == 0 {
		c.RetryAfterMax = DefaultRetryAfterMax
	}
	if c.Breaker.Interval == 0 {
		c.Breaker.Interval = DefaultBreakerInterval
	}
	if c.Breaker.Timeout == 0 {
		c.Breaker.Timeout = DefaultBreakerTimeout
	}
	if c.Breaker.ConsecutiveFailures == 0 {
		c.Breaker.ConsecutiveFailures = DefaultBreakerFailures
	}
	if c.Breaker.MaxRequests == 0 {
		c.Breaker.MaxRequests = DefaultBreakerMaxRequests
	}
	if c.MaxResponseBodySize == 0 {
		c.MaxResponseBodySize = DefaultMaxResponseBodySize
	}
}

// Validate reports the first problem with the configuration, naming the field.
func (c Config) Validate() error {
	if !systemName.MatchString(c.System) {
		return fmt.Errorf("httpclient: System %q must be lower case letters, digits, '_' or '-'", c.System)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil {
		return fmt.Errorf("httpclient %s: BaseURL: %w", c.System, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("httpclient %s: BaseURL %q must be an absolute http or https URL", c.System, c.BaseURL)
	}
	switch {
	case c.Timeout <= 0:
		return fmt.Errorf("httpclient %s: Timeout %v must be positive", c.System, c.Timeout)
	case c.MaxRetries < -1:
		return fmt.Errorf("httpclient %s: MaxRetries %d must be -1 (none), 0 (default) or positive", c.System, c.MaxRetries)
	case c.BackoffBase <= 0:
		return fmt.Errorf("httpclient %s: BackoffBase %v must be positive", c.System, c.BackoffBase)
	case c.BackoffMax < c.BackoffBase:
		return fmt.Errorf("httpclient %s: BackoffMax %v must not be below BackoffBase %v", c.System, c.BackoffMax, c.BackoffBase)
	case c.RetryAfterMax <= 0:
		return fmt.Errorf("httpclient %s: RetryAfterMax %v must be positive", c.System, c.RetryAfterMax)
	case c.Breaker.Interval <= 0:
		return fmt.Errorf("httpclient %s: Breaker.Interval %v must be positive, or failure counts are never cleared", c.System, c.Breaker.Interval)
	case c.Breaker.Timeout <= 0:
		return fmt.Errorf("httpclient %s: Breaker.Timeout %v must be positive", c.System, c.Breaker.Timeout)
	case c.MaxResponseBodySize < 0:
		return fmt.Errorf("httpclient %s: MaxResponseBodySize must not be negative", c.System)
	case c.BasicAuth != nil && c.BasicAuth.Username == "":
		return fmt.Errorf("httpclient %s: BasicAuth.Username is empty", c.System)
	}
	return nil
}

// Client calls one external system. It is safe for concurrent use; create
// one per system and share it.
type Client struct {
	cfg     Config
	resty   *resty.Client
	breaker *gobreaker.CircuitBreaker[*Response]
	metrics *metrics
	log     *slog.Logger

	probeMu sync.Mutex
	probe   *time.Timer // moves the state gauge to half-open when the open period ends
	closed  bool
}

// New checks cfg (after filling in defaults) and returns a Client.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("httpclient %s: metrics: %w", cfg.System, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("system", cfg.System)

	c := &Client{cfg: cfg, metrics: m, log: log}

	rc := resty.New().
		SetBaseURL(cfg.BaseURL).
		SetRetryCount(0). // retries are ours: the breaker must see every attempt
		SetResponseBodyLimit(cfg.MaxResponseBodySize).
		SetLogger(restyLogger{log}).
		SetDisableWarn(true) // resty would warn about Basic over HTTP on every request; New warns once instead
	if cfg.CookieJar != nil {
		rc.SetCookieJar(cfg.CookieJar)
	}
	if cfg.Transport != nil {
		rc.SetTransport(cfg.Transport)
	}
	if cfg.BasicAuth != nil {
		rc.SetBasicAuth(cfg.BasicAuth.Username, cfg.BasicAuth.Password)
		if strings.HasPrefix(cfg.BaseURL, "http:") {
			log.Warn("Basic authentication over plain HTTP; use HTTPS outside local runs", "base_url", cfg.BaseURL)
		}
	}
	if len(cfg.Headers) > 0 {
		rc.SetHeaders(cfg.Headers)
	}
	c.resty = rc

	threshold := cfg.Breaker.ConsecutiveFailures
	c.breaker = gobreaker.NewCircuitBreaker[*Response](gobreaker.Settings{
		Name:        cfg.System,
		MaxRequests: cfg.Breaker.MaxRequests,
		Interval:    cfg.Breaker.Interval,
		Timeout:     cfg.Breaker.Timeout,
		ReadyToTrip: func(counts gobreaker.Counts) bool {
			return counts.ConsecutiveFailures >= threshold
		},
		IsSuccessful:  breakerSuccess,
		IsExcluded:    breakerExcluded,
		OnStateChange: c.onStateChange,
	})
	m.state.WithLabelValues(cfg.System).Set(float64(gobreaker.StateClosed))
	return c, nil
}

// System returns the name of the external system.
func (c *Client) System() string { return c.cfg.System }

// BreakerState returns the state of this system's breaker.
func (c *Client) BreakerState() gobreaker.State { return c.breaker.State() }

// CookieJar returns the jar that keeps this client's cookies.
func (c *Client) CookieJar() http.CookieJar { return c.resty.GetClient().Jar }

// Close stops the breaker's pending state probe and closes idle
// connections. The Client must not be used afterwards.
func (c *Client) Close() error {
	c.probeMu.Lock()
	c.closed = true
	if c.probe != nil {
		c.probe.Stop()
	}
	c.probeMu.Unlock()
	c.resty.GetClient().CloseIdleConnections()
	return nil
}

// onStateChange runs under the breaker's lock: it must not call the breaker.
func (c *Client) onStateChange(_ string, from, to gobreaker.State) {
	c.metrics.state.WithLabelValues(c.cfg.System).Set(float64(to))
	c.log.Info("circuit breaker state changed", "from", from.String(), "to", to.String())
	if to != gobreaker.StateOpen {
		return
	}
	// gobreaker moves from open to half-open only when someone looks. Look
	// when the open period ends, so the gauge does not claim "open" for as
	// long as nobody calls.
	c.probeMu.Lock()
	defer c.probeMu.Unlock()
	if c.closed {
		return
	}
	if c.probe != nil {
		c.probe.Stop()
	}
	c.probe = time.AfterFunc(c.cfg.Breaker.Timeout+time.Millisecond, func() { c.breaker.State() })
}

// Request is one call. Path is relative to Config.BaseURL unless absolute.
type Request struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header

	// Body is nil, []byte, string or io.Reader (sent as they are; a reader
	// is read once so that retries can resend it) or any other value,
	// which is encoded as JSON with Content-Type application/json unless
	// Header sets one.
	Body any

	// IdempotencyKey is sent as the Idempotency-Key header on every attempt.
	// Empty on a POST means a random UUID, the same on every attempt.
	IdempotencyKey string

	// Timeout overrides Config.Timeout for each attempt of this call.
	Timeout time.Duration
}

// Response is the answer to a call that succeeded (2xx or 3xx).
type Response struct {
	Status   int
	Header   http.Header
	Body     []byte
	Attempts int           // attempts made, 1 if no retry was needed
	Duration time.Duration // whole call, waits included
}

// DecodeJSON decodes the body into v.
func (r *Response) DecodeJSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("httpclient: decode %d response: %w", r.Status, err)
	}
	return nil
}

// Do makes the call: each attempt goes through the breaker with its own
// timeout, and failed attempts are retried with backoff (or after the
// server's Retry-After) until one succeeds, the retries run out, the breaker
// opens or ctx ends. The error then wraps, in this order of precedence:
//
//   - ErrBreakerOpen: the breaker refused the attempt; the server was not called.
//   - ErrPermanent, through *StatusError: a 4xx other than 408 and 429.
//   - ctx.Err(): the caller gave up.
//   - ErrExhausted: every attempt failed transiently; the last failure is wrapped too.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	start := time.Now()
	req.Method = strings.ToUpper(req.Method)
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	op := fmt.Sprintf("httpclient %s: %s %s", c.cfg.System, req.Method, req.Path)

	body, err := encodeBody(&req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", op, ErrPermanent, err)
	}
	if req.IdempotencyKey == "" && req.Method == http.MethodPost {
		req.IdempotencyKey = uuid.NewString()
	}
	timeout := c.cfg.Timeout
	if req.Timeout > 0 {
		timeout = req.Timeout
	}
	maxAttempts := c.cfg.MaxRetries + 1
	if c.cfg.MaxRetries < 0 {
		maxAttempts = 1
	}

	var lastErr error
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, c.gaveUp(op, attempt-1, err, lastErr)
		}
		resp, err := c.breaker.Execute(func() (*Response, error) {
			return c.attempt(ctx, req, body, timeout)
		})
		if err == nil {
			resp.Attempts = attempt
			resp.Duration = time.Since(start)
			return resp, nil
		}
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			c.metrics.requests.WithLabelValues(c.cfg.System, req.Method, "breaker_open").Inc()
			if lastErr != nil {
				return nil, fmt.Errorf("%s: %w after %d attempts (%w); last failure: %w", op, ErrBreakerOpen, attempt-1, err, lastErr)
			}
			return nil, fmt.Errorf("%s: %w (%w)", op, ErrBreakerOpen, err)
		}
		var ex *excludedError
		if errors.As(err, &ex) {
			return nil, c.gaveUp(op, attempt, ctx.Err(), ex.err)
		}
		if errors.Is(err, ErrPermanent) {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		lastErr = err
		if attempt >= maxAttempts {
			return nil, fmt.Errorf("%s: %w after %d attempts: %w", op, ErrExhausted, attempt, lastErr)
		}

		wait := c.backoff(attempt)
		if ra, ok := retryAfter(err, time.Now()); ok {
			wait = min(ra, c.cfg.RetryAfterMax)
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return nil, fmt.Errorf("%s: %w after %d attempts: next try in %v is past the deadline: %w", op, ErrExhausted, attempt, wait.Round(time.Millisecond), lastErr)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, c.gaveUp(op, attempt, ctx.Err(), lastErr)
		}
	}
}

func (c *Client) gaveUp(op string, attempts int, ctxErr, lastErr error) error {
	if lastErr != nil {
		return fmt.Errorf("%s: %w after %d attempts; last failure: %w", op, ctxErr, attempts, lastErr)
	}
	return fmt.Errorf("%s: %w", op, ctxErr)
}

// attempt makes one HTTP exchange under its own timeout. It returns an
// error for anything but 2xx/3xx; breakerSuccess and breakerExcluded decide
// how the breaker counts it.
func (c *Client) attempt(ctx context.Context, req Request, body []byte, timeout time.Duration) (*Response, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	r := c.resty.R().SetContext(actx)
	if len(req.Header) > 0 {
		r.SetHeaderMultiValues(req.Header)
	}
	if len(req.Query) > 0 {
		r.SetQueryParamsFromValues(req.Query)
	}
	if body != nil {
		r.SetBody(body)
	}
	if req.IdempotencyKey != "" {
		r.SetHeader(HeaderIdempotencyKey, req.IdempotencyKey)
	}

	begin := time.Now()
	rr, err := r.Execute(req.Method, req.Path)
	c.metrics.duration.WithLabelValues(c.cfg.System).Observe(time.Since(begin).Seconds())
	if err != nil {
		c.metrics.requests.WithLabelValues(c.cfg.System, req.Method, "error").Inc()
		switch {
		case ctx.Err() != nil:
			// The caller gave up; that says nothing about the system's health.
			return nil, &excludedError{err: err}
		case errors.Is(err, resty.ErrResponseBodyTooLarge):
			return nil, fmt.Errorf("%w: response body larger than %d bytes: %w", ErrPermanent, c.cfg.MaxResponseBodySize, err)
		case errors.Is(actx.Err(), context.DeadlineExceeded):
			return nil, fmt.Errorf("attempt timed out after %v: %w", timeout, err)
		default:
			return nil, err
		}
	}

	status := rr.StatusCode()
	c.metrics.requests.WithLabelValues(c.cfg.System, req.Method, strconv.Itoa(status)).Inc()
	resp := &Response{Status: status, Header: rr.Header(), Body: rr.Body()}
	if status >= 400 {
		return resp, &StatusError{
			System: c.cfg.System,
			Method: req.Method,
			URL:    redactedURL(rr),
			Status: status,
			Header: rr.Header(),
			Body:   rr.Body(),
		}
	}
	return resp, nil
}

// redactedURL is the URL of the attempt without user info and query, which
// may carry personal data (a register lookup by name) that must not end up
// in logs or dead letters.
func redactedURL(rr *resty.Response) string {
	if rr.Request == nil || rr.Request.RawRequest == nil || rr.Request.RawRequest.URL == nil {
		return ""
	}
	u := *rr.Request.RawRequest.URL
	u.User, u.RawQuery, u.ForceQuery = nil, "", false
	return u.String()
}

// backoff is the wait before retry n (n >= 1): exponential, capped, with a
// random half as jitter so that many clients do not retry in step.
func (c *Client) backoff(n int) time.Duration {
	d := c.cfg.BackoffBase
	for i := 1; i < n && d < c.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.BackoffMax)
	half := d / 2
	return half + rand.N(d-half+1)
}

// retryAfter reads Retry-After from a 429 or 503 answer: delay-seconds or
// an HTTP date. A date in the past means "now".
func retryAfter(err error, now time.Time) (time.Duration, bool) {
	var se *StatusError
	if !errors.As(err, &se) || (se.Status != http.StatusTooManyRequests && se.Status != http.StatusServiceUnavailable) {
		return 0, false
	}
	return parseRetryAfter(se.Header.Get("Retry-After"), now)
}

func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// encodeBody turns req.Body into bytes that every attempt can resend, and
// sets Content-Type for JSON-encoded values.
func encodeBody(req *Request) ([]byte, error) {
	switch b := req.Body.(type) {
	case nil:
		return nil, nil
	case []byte:
		return b, nil
	case string:
		return []byte(b), nil
	case io.Reader:
		data, err := io.ReadAll(b)
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		return data, nil
	default:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(b); err != nil {
			return nil, fmt.Errorf("encode request body as JSON: %w", err)
		}
		if req.Header.Get("Content-Type") == "" {
			h := req.Header.Clone()
			if h == nil {
				h = http.Header{}
			}
			h.Set("Content-Type", "application/json")
			req.Header = h
		}
		return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
	}
}

// restyLogger sends resty's messages to slog.
type restyLogger struct{ l *slog.Logger }

func (r restyLogger) Errorf(format string, v ...any) { r.l.Error(fmt.Sprintf(format, v...)) }
func (r restyLogger) Warnf(format string, v ...any)  { r.l.Warn(fmt.Sprintf(format, v...)) }
func (r restyLogger) Debugf(format string, v ...any) { r.l.Debug(fmt.Sprintf(format, v...)) }
