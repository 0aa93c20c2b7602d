package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

var testSecret = []byte("portal-test-secret-of-at-least-32-bytes!")

// julyMorning is a day on which every adult in Saxony may book (rules of 2021-07-01).
func julyMorning(t testing.TB) time.Time {
	return time.Date(2021, 7, 5, 9, 0, 0, 0, hubtest.Berlin(t))
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// portalEnv is the real core with the Saxony campaign and the portal in front.
type portalEnv struct {
	hub *hubtest.Hub
	srv *httptest.Server
}

func newEnv(t *testing.T, days int, mod func(*Config)) *portalEnv {
	t.Helper()
	return newEnvWith(t, days, func(_ *hubtest.Hub, c *Config) {
		if mod != nil {
			mod(c)
		}
	})
}

func newEnvWith(t *testing.T, days int, mod func(*hubtest.Hub, *Config)) *portalEnv {
	t.Helper()
	h := hubtest.New(t, julyMorning(t))
	if days > 0 {
		h.Saxony(t, days)
	}
	cfg := Config{App: h.App, Pool: h.Pool, Secret: testSecret, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}
	mod(h, &cfg)
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "API") })
	mux.Handle("/", p)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &portalEnv{hub: h, srv: srv}
}

// startRoom builds a waiting room on the hub's database with fast ticks.
func startRoom(t *testing.T, h *hubtest.Hub, limit int) *waitingroom.Room {
	t.Helper()
	ctx := t.Context()
	room, err := waitingroom.New(ctx, h.Pool, waitingroom.Config{Secret: testSecret, Capacity: waitingroom.FixedCapacity(1000),
		SessionLimit: limit, Tick: 20 * time.Millisecond, Refresh: time.Second, CallGrace: 5 * time.Second,
		SessionID: SessionID, Log: quietLog})
	if err != nil {
		t.Fatalf("waitingroom.New: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = room.Run(ctx) }()
	t.Cleanup(func() { <-done })
	return room
}

// client is a browser without JavaScript: a cookie jar and forms.
type client struct {
	t    *testing.T
	base string
	http *http.Client
	last page
}

type page struct {
	status int
	body   string
	header http.Header
	url    string
}

func (e *portalEnv) client(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: e.srv.URL, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (c *client) do(req *http.Request) page {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	c.last = page{status: resp.StatusCode, body: string(b), header: resp.Header, url: resp.Request.URL.String()}
	return c.last
}

func (c *client) get(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// post sends a form with the CSRF token of the last page.
func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if form.Get("csrf") == "" {
		if m := csrfRE.FindStringSubmatch(c.last.body); m != nil {
			form.Set("csrf", m[1])
		}
	}
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (p page) mustStatus(t *testing.T, want int) page {
	t.Helper()
	if p.status != want {
		t.Fatalf("%s: status %d, want %d\n%s", p.url, p.status, want, p.body)
	}
	return p
}

func (p page) mustContain(t *testing.T, parts ...string) page {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Fatalf("%s: page lacks %q\n%s", p.url, s, p.body)
		}
	}
	return p
}

// zoe is a resident with a name that tests Unicode (ễ, ë, ß in the street).
func zoe() url.Values {
	return url.Values{"given_names": {"Zoë Renée"}, "family_name": {"Nguyễn-Weiß"}, "birth_date": {"14.03.1961"}, "sex": {"f"},
		"street": {"Königsbrücker Straße 12"}, "postal_code": {"01099"}, "city": {"Dresden"}, "email": {"zoe@example.de"},
		"phone": {"+49 351 1234567"}}
}

var slotRE = regexp.MustCompile(`name="slot" id="slot-\d+" value="([^"]+)"`)

// firstSlot returns the first slot offered on the page.
func firstSlot(t *testing.T, p page) string {
	t.Helper()
	m := slotRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no slot offered:\n%s", p.body)
	}
	return m[1]
}
