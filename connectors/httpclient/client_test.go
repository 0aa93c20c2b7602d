package httpclient_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

// system is a small external system for the tests: the shared fault
// injector in front of a handler that first plays a script of canned
// answers and then answers 200 {"ok":true}. It counts every request that
// arrives, faulted or not, and records what each one carried.
type system struct {
	*httptest.Server
	inj  *faults.Injector
	hits atomic.Int64

	mu     sync.Mutex
	script []func(w http.ResponseWriter, r *http.Request)
	seen   []seenRequest
}

type seenRequest struct {
	method, path, query, idemKey, body string
	header                             http.Header
}

func newSystem(t *testing.T) *system {
	t.Helper()
	s := &system{inj: faults.New(faults.Options{Seed: 1})}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		var step func(http.ResponseWriter, *http.Request)
		if len(s.script) > 0 {
			step, s.script = s.script[0], s.script[1:]
		}
		s.mu.Unlock()
		if step != nil {
			step(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	faulted := s.inj.Wrap(inner)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.seen = append(s.seen, seenRequest{
			method: r.Method, path: r.URL.Path, query: r.URL.RawQuery,
			idemKey: r.Header.Get(httpclient.HeaderIdempotencyKey), body: string(b), header: r.Header.Clone(),
		})
		s.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		faulted.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// then appends canned answers that the next requests get, in order.
func (s *system) then(steps ...func(http.ResponseWriter, *http.Request)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = append(s.script, steps...)
}

func (s *system) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

func status(code int, header ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, http.StatusText(code))
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newClient builds a fast client for the tests; change cfg in mod.
func newClient(t *testing.T, s *system, reg prometheus.Registerer, mod func(*httpclient.Config)) *httpclient.Client {
	t.Helper()
	cfg := httpclient.Config{
		System:      "sap",
		BaseURL:     s.URL,
		Timeout:     2 * time.Second,
		MaxRetries:  3,
		BackoffBase: 5 * time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
		Breaker:     httpclient.BreakerConfig{ConsecutiveFailures: 5, Timeout: 200 * time.Millisecond},
		Registerer:  reg,
		Logger:      quiet(),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := httpclient.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func get(c *httpclient.Client) (*httpclient.Response, error) {
	return c.Do(context.Background(), httpclient.Request{Method: http.MethodGet, Path: "/stock"})
}

func TestA500IsRetriedUntilTheSystemRecovers(t *testing.T) {
	s := newSystem(t)
	s.then(status(500), status(502))
	reg := prometheus.NewPedanticRegistry()
	c := newClient(t, s, reg, nil)

	resp, err := get(c)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || resp.Attempts != 3 || string(resp.Body) != `{"ok":true}` {
		t.Fatalf("resp = %d after %d attempts: %s", resp.Status, resp.Attempts, resp.Body)
	}
	if s.hits.Load() != 3 {
		t.Fatalf("server hits = %d, want 3", s.hits.Load())
	}
	var v struct{ OK bool }
	if err := resp.DecodeJSON(&v); err != nil || !v.OK {
		t.Fatalf("DecodeJSON: %v %+v", err, v)
	}
	if got := counter(t, reg, "vaxhub_http_client_requests_total", "system=sap,method=GET,code=500"); got != 1 {
		t.Errorf("requests{code=500} = %v, want 1", got)
	}
	if got := counter(t, reg, "vaxhub_http_client_requests_total", "system=sap,method=GET,code=200"); got != 1 {
		t.Errorf("requests{code=200} = %v, want 1", got)
	}
	if got := histogramCount(t, reg, "vaxhub_http_client_request_duration_seconds", "system=sap"); got != 3 {
		t.Errorf("duration count = %v, want 3", got)
	}
}

func TestRetryAfterOn429IsHonoured(t *testing.T) {
	s := newSystem(t)
	s.then(status(429, "Retry-After", "1"))
	c := newClient(t, s, nil, nil) // backoff alone would wait at most 20ms

	start := time.Now()
	resp, err := get(c)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", resp.Attempts)
	}
	if elapsed < 950*time.Millisecond || elapsed > 3*time.Second {
		t.Fatalf("elapsed %v, want about 1s (Retry-After: 1)", elapsed)
	}
}

func TestRetryAfterIsCappedAndPastDeadlineFailsAtOnce(t *testing.T) {
	t.Run("capped", func(t *testing.T) {
		s := newSystem(t)
		s.then(status(503, "Retry-After", "3600"))
		c := newClient(t, s, nil, func(c *httpclient.Config) { c.RetryAfterMax = 50 * time.Millisecond })
		start := time.Now()
		if _, err := get(c); err != nil {
			t.Fatal(err)
		}
		if e := time.Since(start); e > time.Second {
			t.Fatalf("elapsed %v: Retry-After was not capped", e)
		}
	})
	t.Run("past the deadline", func(t *testing.T) {
		s := newSystem(t)
		s.then(status(429, "Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)))
		c := newClient(t, s, nil, func(c *httpclient.Config) { c.RetryAfterMax = time.Hour })
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Do(ctx, httpclient.Request{Path: "/stock"})
		if !errors.Is(err, httpclient.ErrExhausted) {
			t.Fatalf("err = %v, want ErrExhausted", err)
		}
		if e := time.Since(start); e > 500*time.Millisecond {
			t.Fatalf("waited %v for a retry that could not happen before the deadline", e)
		}
	})
}

func TestA400IsPermanentNotRetriedAndNeverTripsTheBreaker(t *testing.T) {
	s := newSystem(t)
	body := `{"error":{"code":"MM_IM_ODATA_API_MDOC/011","message":{"lang":"en","value":"Property PURCHASEORDER is not supported"}}}`
	if err := s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 400, Body: body}}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	c := newClient(t, s, reg, func(c *httpclient.Config) { c.Breaker.ConsecutiveFailures = 3 })

	for i := range 20 {
		_, err := c.Do(context.Background(), httpclient.Request{Method: http.MethodPost, Path: "/docs", Body: map[string]string{"Material": "VAC-0001"}})
		var se *httpclient.StatusError
		if !errors.As(err, &se) || !errors.Is(err, httpclient.ErrPermanent) {
			t.Fatalf("call %d: err = %v, want *StatusError wrapping ErrPermanent", i, err)
		}
		if se.Status != 400 || string(se.Body) != body {
			t.Fatalf("StatusError = %d %s", se.Status, se.Body)
		}
		if errors.Is(err, httpclient.ErrExhausted) || errors.Is(err, httpclient.ErrBreakerOpen) {
			t.Fatalf("a permanent error must not look transient: %v", err)
		}
	}
	if s.hits.Load() != 20 {
		t.Fatalf("server hits = %d, want 20 (no retries)", s.hits.Load())
	}
	if st := c.BreakerState(); st != gobreaker.StateClosed {
		t.Fatalf("breaker = %v after 20 400s, want closed", st)
	}
	if got := gauge(t, reg, "vaxhub_http_client_breaker_state", "system=sap"); got != 0 {
		t.Fatalf("breaker_state gauge = %v, want 0", got)
	}
}

func TestBreakerOpensShortCircuitsThenHalfOpensAndCloses(t *testing.T) {
	s := newSystem(t)
	reg := prometheus.NewPedanticRegistry()
	c := newClient(t, s, reg, func(c *httpclient.Config) {
		c.MaxRetries = -1
		c.Breaker.ConsecutiveFailures = 3
		c.Breaker.Timeout = 150 * time.Millisecond
	})
	if err := s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 503}}); err != nil {
		t.Fatal(err)
	}

	for i := range 3 {
		if _, err := get(c); !errors.Is(err, httpclient.ErrExhausted) {
			t.Fatalf("call %d: err = %v, want ErrExhausted", i, err)
		}
	}
	if st := c.BreakerState(); st != gobreaker.StateOpen {
		t.Fatalf("breaker = %v after 3 failures, want open", st)
	}
	if got := gauge(t, reg, "vaxhub_http_client_breaker_state", "system=sap"); got != 2 {
		t.Fatalf("gauge = %v, want 2 (open)", got)
	}

	hits := s.hits.Load()
	for range 5 {
		if _, err := get(c); !errors.Is(err, httpclient.ErrBreakerOpen) {
			t.Fatalf("err = %v, want ErrBreakerOpen", err)
		}
	}
	if s.hits.Load() != hits {
		t.Fatalf("server hit %d times while the breaker was open", s.hits.Load()-hits)
	}
	if got := counter(t, reg, "vaxhub_http_client_requests_total", "system=sap,method=GET,code=breaker_open"); got != 5 {
		t.Errorf("requests{code=breaker_open} = %v, want 5", got)
	}

	s.inj.Clear() // the system recovers
	time.Sleep(200 * time.Millisecond)
	if got := gauge(t, reg, "vaxhub_http_client_breaker_state", "system=sap"); got != 1 {
		t.Fatalf("gauge = %v after the open period, want 1 (half-open) without any call", got)
	}
	if _, err := get(c); err != nil {
		t.Fatalf("trial call: %v", err)
	}
	if st := c.BreakerState(); st != gobreaker.StateClosed {
		t.Fatalf("breaker = %v after a successful trial, want closed", st)
	}
	if got := gauge(t, reg, "vaxhub_http_client_breaker_state", "system=sap"); got != 0 {
		t.Fatalf("gauge = %v, want 0 (closed)", got)
	}
}

func TestAFailedTrialReopensTheBreaker(t *testing.T) {
	s := newSystem(t)
	c := newClient(t, s, nil, func(c *httpclient.Config) {
		c.MaxRetries = -1
		c.Breaker.ConsecutiveFailures = 2
		c.Breaker.Timeout = 100 * time.Millisecond
	})
	_ = s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 500}})
	_, _ = get(c)
	_, _ = get(c)
	time.Sleep(130 * time.Millisecond)
	if st := c.BreakerState(); st != gobreaker.StateHalfOpen {
		t.Fatalf("breaker = %v, want half-open", st)
	}
	if _, err := get(c); !errors.Is(err, httpclient.ErrExhausted) {
		t.Fatalf("trial: err = %v", err)
	}
	if st := c.BreakerState(); st != gobreaker.StateOpen {
		t.Fatalf("breaker = %v after a failed trial, want open", st)
	}
}

func TestBreakerOpeningStopsRetriesOfTheSameCall(t *testing.T) {
	s := newSystem(t)
	_ = s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 500}})
	c := newClient(t, s, nil, func(c *httpclient.Config) {
		c.MaxRetries = 5
		c.Breaker.ConsecutiveFailures = 2
	})
	_, err := get(c)
	if !errors.Is(err, httpclient.ErrBreakerOpen) {
		t.Fatalf("err = %v, want ErrBreakerOpen", err)
	}
	var se *httpclient.StatusError
	if !errors.As(err, &se) || se.Status != 500 {
		t.Fatalf("the last failure (500) should be wrapped too: %v", err)
	}
	if s.hits.Load() != 2 {
		t.Fatalf("server hits = %d, want 2", s.hits.Load())
	}
}

func TestPerAttemptTimeoutOnAStalledServer(t *testing.T) {
	s := newSystem(t)
	_ = s.inj.Set(faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(5 * time.Second)}})
	c := newClient(t, s, nil, func(c *httpclient.Config) {
		c.Timeout = 100 * time.Millisecond
		c.MaxRetries = 1
	})
	start := time.Now()
	_, err := get(c)
	elapsed := time.Since(start)
	if !errors.Is(err, httpclient.ErrExhausted) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrExhausted wrapping DeadlineExceeded", err)
	}
	if elapsed < 200*time.Millisecond || elapsed > 1500*time.Millisecond {
		t.Fatalf("elapsed %v, want about two 100ms attempts", elapsed)
	}
	if s.hits.Load() != 2 {
		t.Fatalf("server hits = %d, want 2", s.hits.Load())
	}

	// A per-call Timeout overrides the configured one.
	_ = s.inj.Set(faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(150 * time.Millisecond)}})
	if _, err := c.Do(context.Background(), httpclient.Request{Path: "/slow", Timeout: time.Second}); err != nil {
		t.Fatalf("with Request.Timeout 1s: %v", err)
	}
}

func TestAnOutageIsATransientNetworkFailure(t *testing.T) {
	s := newSystem(t)
	_ = s.inj.Set(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(time.Minute), Mode: faults.OutageReset}})
	c := newClient(t, s, nil, func(c *httpclient.Config) { c.MaxRetries = 1 })
	_, err := get(c)
	var se *httpclient.StatusError
	if !errors.Is(err, httpclient.ErrExhausted) || errors.As(err, &se) {
		t.Fatalf("err = %v, want ErrExhausted from a network error", err)
	}
}

func TestIdempotencyKeyIsTheSameOnEveryRetryOfAPost(t *testing.T) {
	s := newSystem(t)
	s.then(status(503), status(500))
	c := newClient(t, s, nil, nil)

	payload := map[string]any{"PostingDate": "/Date(1735689600000)/", "GoodsMovementCode": "03"}
	if _, err := c.Do(context.Background(), httpclient.Request{Method: http.MethodPost, Path: "/A_MaterialDocumentHeader", Body: payload}); err != nil {
		t.Fatal(err)
	}
	seen := s.requests()
	if len(seen) != 3 {
		t.Fatalf("%d requests, want 3", len(seen))
	}
	key := seen[0].idemKey
	if _, err := uuid.Parse(key); err != nil {
		t.Fatalf("generated key %q is not a UUID: %v", key, err)
	}
	for i, r := range seen {
		if r.idemKey != key {
			t.Errorf("attempt %d key %q, want %q", i+1, r.idemKey, key)
		}
		if r.body != seen[0].body || !strings.Contains(r.body, `"GoodsMovementCode":"03"`) {
			t.Errorf("attempt %d body %q", i+1, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("attempt %d Content-Type %q", i+1, ct)
		}
	}

	// A key given by the caller is used as it is; a new call without one gets a new key.
	_, _ = c.Do(context.Background(), httpclient.Request{Method: http.MethodPost, Path: "/x", Body: []byte("{}"), IdempotencyKey: "event-123"})
	_, _ = c.Do(context.Background(), httpclient.Request{Method: http.MethodPost, Path: "/x", Body: "{}"})
	_, _ = get(c)
	seen = s.requests()[3:]
	if seen[0].idemKey != "event-123" {
		t.Errorf("caller's key not used: %q", seen[0].idemKey)
	}
	if seen[1].idemKey == "" || seen[1].idemKey == key {
		t.Errorf("second POST key %q, want a fresh one", seen[1].idemKey)
	}
	if seen[2].idemKey != "" {
		t.Errorf("GET without a key carried %q", seen[2].idemKey)
	}
}

func TestCancellingTheContextStopsRetries(t *testing.T) {
	s := newSystem(t)
	_ = s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 503}})
	c := newClient(t, s, nil, func(c *httpclient.Config) {
		c.MaxRetries = 10
		c.BackoffBase = time.Second
		c.BackoffMax = time.Second
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Do(ctx, httpclient.Request{Path: "/stock"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if e := time.Since(start); e > 400*time.Millisecond {
		t.Fatalf("returned after %v, want soon after the cancel", e)
	}
	if s.hits.Load() != 1 {
		t.Fatalf("server hits = %d, want 1", s.hits.Load())
	}

	// A call cancelled mid-attempt does not count against the breaker.
	_ = s.inj.Set(faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(5 * time.Second)}})
	c2 := newClient(t, s, nil, func(c *httpclient.Config) { c.Breaker.ConsecutiveFailures = 1 })
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, err := c2.Do(ctx2, httpclient.Request{Path: "/stock"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
	if st := c2.BreakerState(); st != gobreaker.StateClosed {
		t.Fatalf("breaker = %v after the caller gave up, want closed", st)
	}
}

func TestCookiesAuthAndHeadersReachTheServer(t *testing.T) {
	s := newSystem(t)
	// SAP style: the token fetch sets a session cookie that later calls must carry.
	s.then(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "SAP_SESSIONID", Value: "abc", Path: "/"})
		w.Header().Set("X-CSRF-Token", "tok-1")
	})
	c := newClient(t, s, nil, func(c *httpclient.Config) {
		c.BasicAuth = &httpclient.BasicAuth{Username: "sim", Password: "sim"}
		c.Headers = map[string]string{"Accept": "application/json"}
	})
	resp, err := c.Do(context.Background(), httpclient.Request{Path: "/", Header: http.Header{"X-Csrf-Token": {"Fetch"}}})
	if err != nil {
		t.Fatal(err)
	}
	token := resp.Header.Get("X-CSRF-Token")
	if _, err := c.Do(context.Background(), httpclient.Request{
		Method: http.MethodPost, Path: "/docs", Query: map[string][]string{"sap-client": {"700"}},
		Header: http.Header{"X-Csrf-Token": {token}}, Body: []byte(`{}`),
	}); err != nil {
		t.Fatal(err)
	}
	seen := s.requests()
	post := seen[1]
	if ck, err := (&http.Request{Header: post.header}).Cookie("SAP_SESSIONID"); err != nil || ck.Value != "abc" {
		t.Errorf("session cookie not sent back: %v", post.header)
	}
	if post.header.Get("X-Csrf-Token") != "tok-1" || seen[0].header.Get("X-Csrf-Token") != "Fetch" {
		t.Errorf("per-request headers: %v / %v", seen[0].header, post.header)
	}
	if u, p, ok := (&http.Request{Header: post.header}).BasicAuth(); !ok || u != "sim" || p != "sim" {
		t.Errorf("basic auth missing: %v", post.header)
	}
	if post.header.Get("Accept") != "application/json" || post.query != "sap-client=700" {
		t.Errorf("configured header or query missing: %v %q", post.header, post.query)
	}
}

func TestStatusErrorHidesTheQuery(t *testing.T) {
	s := newSystem(t)
	s.then(status(404))
	c := newClient(t, s, nil, nil)
	_, err := c.Do(context.Background(), httpclient.Request{Path: "/persons", Query: map[string][]string{"name": {"Müller"}}})
	var se *httpclient.StatusError
	if !errors.As(err, &se) || se.Status != 404 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "ller") || strings.Contains(se.URL, "?") {
		t.Fatalf("personal data from the query leaked into the error: %v", err)
	}
}

func TestClientsForSeveralSystemsShareOneRegistry(t *testing.T) {
	s := newSystem(t)
	reg := prometheus.NewPedanticRegistry()
	sap := newClient(t, s, reg, nil)
	sn := newClient(t, s, reg, func(c *httpclient.Config) { c.System = "servicenow" })
	_, _ = get(sap)
	_, _ = get(sn)
	for _, sys := range []string{"sap", "servicenow"} {
		if got := counter(t, reg, "vaxhub_http_client_requests_total", "system="+sys+",method=GET,code=200"); got != 1 {
			t.Errorf("%s requests = %v, want 1", sys, got)
		}
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := httpclient.Config{System: "sap", BaseURL: "http://127.0.0.1:8101"}
	tests := []struct {
		name    string
		mod     func(*httpclient.Config)
		wantErr string
	}{
		{"defaults are valid", func(*httpclient.Config) {}, ""},
		{"no system", func(c *httpclient.Config) { c.System = "" }, "System"},
		{"system with spaces", func(c *httpclient.Config) { c.System = "S A P" }, "System"},
		{"relative base URL", func(c *httpclient.Config) { c.BaseURL = "/sap" }, "BaseURL"},
		{"ftp base URL", func(c *httpclient.Config) { c.BaseURL = "ftp://x" }, "BaseURL"},
		{"negative timeout", func(c *httpclient.Config) { c.Timeout = -time.Second }, "Timeout"},
		{"retries below -1", func(c *httpclient.Config) { c.MaxRetries = -2 }, "MaxRetries"},
		{"backoff max below base", func(c *httpclient.Config) { c.BackoffBase = time.Second; c.BackoffMax = time.Millisecond }, "BackoffMax"},
		{"negative breaker interval", func(c *httpclient.Config) { c.Breaker.Interval = -1 }, "Breaker.Interval"},
		{"basic auth without user", func(c *httpclient.Config) { c.BasicAuth = &httpclient.BasicAuth{Password: "x"} }, "BasicAuth"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.mod(&cfg)
			c, err := httpclient.New(cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				_ = c.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

func TestConcurrentCallsAreSafe(t *testing.T) {
	s := newSystem(t)
	_ = s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 0.3, Status: 500}})
	c := newClient(t, s, prometheus.NewRegistry(), func(c *httpclient.Config) { c.Breaker.ConsecutiveFailures = 1000 })
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				_, err := c.Do(context.Background(), httpclient.Request{Method: http.MethodPost, Path: "/x", Body: map[string]int{"n": 1}})
				if err != nil && !errors.Is(err, httpclient.ErrExhausted) {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// Metric helpers: find one series by name and labels ("k=v,k=v"). The
// dto types are used through their methods only, so that the test does not
// import client_model directly.

func lookup(t *testing.T, reg *prometheus.Registry, name, labels string) (counter, gauge float64, count uint64, found bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var parts []string
			for _, lp := range m.GetLabel() {
				parts = append(parts, lp.GetName()+"="+lp.GetValue())
			}
			want := strings.Split(labels, ",")
			sort.Strings(parts)
			sort.Strings(want)
			if strings.Join(parts, ",") == strings.Join(want, ",") {
				return m.GetCounter().GetValue(), m.GetGauge().GetValue(), m.GetHistogram().GetSampleCount(), true
			}
		}
	}
	return 0, 0, 0, false
}

func counter(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	v, _, _, _ := lookup(t, reg, name, labels)
	return v
}

func gauge(t *testing.T, reg *prometheus.Registry, name, labels string) float64 {
	t.Helper()
	_, v, _, found := lookup(t, reg, name, labels)
	if !found {
		t.Fatalf("no series %s{%s}", name, labels)
	}
	return v
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name, labels string) uint64 {
	t.Helper()
	_, _, n, _ := lookup(t, reg, name, labels)
	return n
}
