package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/ratelimit"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestPublicLimitsUseThePortalsFigures: with the defaults (the portal's
// figures) one address gets 100 requests at once and 20 more per second, a
// resident's token 40 at once and 5 per second, each refusal a 429 problem
// with Retry-After; staff tokens are not limited; X-Forwarded-For counts
// only through a configured trusted proxy.
func TestPublicLimitsUseThePortalsFigures(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	clock := &stepClock{t: time.Date(2021, 6, 14, 8, 0, 0, 0, time.UTC)}
	proxy, err := ratelimit.ParseTrustedProxies([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	build := func(trusted ratelimit.TrustedProxies) string {
		srv, err := api.New(h.App, api.Config{StaffTokens: testStaffTokens(), Now: clock.now, TrustedProxies: trusted})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(srv)
		t.Cleanup(ts.Close)
		return ts.URL
	}
	behindProxy := build(proxy)
	get := func(base, path, token, forwardedFor string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if forwardedFor != "" {
			req.Header.Set("X-Forwarded-For", forwardedFor)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	served := func(base, path, token, xff string, n int) int {
		t.Helper()
		ok := 0
		for range n {
			res := get(base, path, token, xff)
			switch res.StatusCode {
			case http.StatusOK:
				ok++
			case http.StatusTooManyRequests:
				if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err != nil || s < 1 {
					t.Fatalf("429 without a usable Retry-After: %q", res.Header.Get("Retry-After"))
				}
				if res.Header.Get("Content-Type") != "application/problem+json" {
					t.Fatalf("429 is %q, not a problem document", res.Header.Get("Content-Type"))
				}
			default:
				t.Fatalf("GET %s: %d", path, res.StatusCode)
			}
		}
		return ok
	}

	// Per address: 100 at once, then 20 per second.
	if got := served(behindProxy, "/api/v1/products", "", "198.51.100.1", 130); got != 100 {
		t.Errorf("one address, 130 at once: %d served, want 100", got)
	}
	if got := served(behindProxy, "/api/v1/products", "", "198.51.100.2", 5); got != 5 {
		t.Errorf("another address: %d of 5 served", got)
	}
	clock.add(time.Second)
	if got := served(behindProxy, "/api/v1/products", "", "198.51.100.1", 30); got != 20 {
		t.Errorf("one second later: %d served, want 20", got)
	}
	// A staff token from the same, exhausted address is not limited.
	if got := served(behindProxy, "/api/v1/products", staffToken, "198.51.100.1", 150); got != 150 {
		t.Errorf("staff token: %d of 150 served", got)
	}
	// Per token: 40 at once, then 5 per second, whichever address.
	xffs := []string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", "203.0.113.5"}
	ok := 0
	for i := range 50 {
		ok += served(behindProxy, "/api/v1/residents/"+reg.Resident.ID, reg.AccessToken, xffs[i%len(xffs)], 1)
	}
	if ok != 40 {
		t.Errorf("one token, 50 at once from five addresses: %d served, want 40", ok)
	}
	clock.add(time.Second)
	if got := served(behindProxy, "/api/v1/residents/"+reg.Resident.ID, reg.AccessToken, "203.0.113.9", 10); got != 5 {
		t.Errorf("one second later: %d served with the token, want 5", got)
	}

	// Without a trusted proxy, X-Forwarded-For is the client's own word.
	direct := build(nil)
	ok = 0
	for i := range 130 {
		ok += served(direct, "/api/v1/products", "", "192.0.2."+strconv.Itoa(i), 1)
	}
	if ok != 100 {
		t.Errorf("130 requests from one peer with changing X-Forwarded-For: %d served, want 100", ok)
	}
}

// TestPersonalDataAnswersAreNotCachedOrSniffed: every answer of the API
// carries X-Content-Type-Options: nosniff, and every one except the public
// catalogue Cache-Control: no-store, refusals and errors included.
func TestPersonalDataAnswersAreNotCachedOrSniffed(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	h.Slot(t, h.At(day, 10, 0), 50)
	h.Deliver(t, "test", domain.Janssen, 40, day)
	base := serve(t, h)
	reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	other := h.Resident(t, domain.Date{Year: 1951, Month: 1, Day: 1})
	ap, err := h.App.Book(context.Background(), app.BookingInput{ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen, AccessToken: reg.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	register := `{"given_names":"Jürgen","family_name":"Müller","birth_date":"1938-04-02","sex":"m","address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"}}`
	cases := []struct {
		name, method, path, token, body string
		status                          int
		cache                           string // "" means no-store
	}{
		{"registration (returns the access token)", "POST", "/api/v1/residents", "", register, 201, ""},
		{"resident", "GET", "/api/v1/residents/" + reg.Resident.ID, reg.AccessToken, "", 200, ""},
		{"entitlement", "GET", "/api/v1/residents/" + reg.Resident.ID + "/entitlement", reg.AccessToken, "", 200, ""},
		{"verification", "GET", "/api/v1/residents/" + reg.Resident.ID + "/verification", reg.AccessToken, "", 200, ""},
		{"appointment", "GET", "/api/v1/appointments/" + ap.Reference, reg.AccessToken, "", 200, ""},
		{"appointment for staff", "GET", "/api/v1/appointments/" + ap.Reference, staffToken, "", 200, ""},
		{"booking refused", "POST", "/api/v1/appointments", other.AccessToken, `{"resident_id":"` + reg.Resident.ID + `","centre_id":"test"}`, 404, ""},
		{"letters (print connector off)", "GET", "/api/v1/letters", staffToken, "", 503, ""},
		{"progress report", "GET", "/api/v1/reports/progress", reportToken, "", 200, ""},
		{"RKI CSV", "GET", "/api/v1/reports/rki.csv", reportToken, "", 200, ""},
		{"anonymous refusal", "GET", "/api/v1/residents/" + reg.Resident.ID, "", "", 401, ""},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", "", 404, ""},
		{"health", "GET", "/healthz", "", "", 200, ""},
		{"centres", "GET", "/api/v1/centres", "", "", 200, "public, max-age=300"},
		{"products", "GET", "/api/v1/products", "", "", 200, "public, max-age=300"},
		{"slots", "GET", "/api/v1/centres/test/slots", "", "", 200, "no-cache"},
		{"OpenAPI document", "GET", "/api/v1/openapi.json", "", "", 200, "public, max-age=300"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := callHeaders(t, c.method, base+c.path, c.token, c.body)
			if r.StatusCode != c.status {
				t.Fatalf("%d, want %d", r.StatusCode, c.status)
			}
			if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			want := c.cache
			if want == "" {
				want = "no-store"
			}
			if got := r.Header.Get("Cache-Control"); got != want {
				t.Errorf("Cache-Control %q, want %q", got, want)
			}
		})
	}
}

func callHeaders(t *testing.T, method, url, token, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res
}
