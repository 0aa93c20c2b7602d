package waitingroom

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

var testSecret = []byte("test-secret-of-at-least-32-bytes-for-hmac")

// startRoom builds a Room (one "replica") with fast ticks and runs its loop
// until the test ends.
func startRoom(t *testing.T, pool *pgxpool.Pool, mod func(*Config)) *Room {
	t.Helper()
	cfg := Config{
		Secret:       testSecret,
		Capacity:     FixedCapacity(1000),
		SessionLimit: 1,
		Tick:         20 * time.Millisecond,
		Refresh:      time.Second,
		CallGrace:    5 * time.Second,
		FreezeGrace:  100 * time.Millisecond,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	room, err := New(ctx, pool, cfg)
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = room.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return room
}

const bookingPage = "BOOKING FLOW"

// serve mounts the room as the portal would: the gate in front of the
// booking flow only, the status, leave and admin endpoints beside it.
func serve(t *testing.T, room *Room) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/buchen/", room.Gate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, bookingPage)
	})))
	mux.HandleFunc("/info", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "INFO") })
	mux.Handle(StatusPath, room.Status())
	mux.Handle(ScriptPath, room.Script())
	mux.Handle("/buchen-ende", room.Leave("/info"))
	mux.Handle("/admin/waiting-room", room.Admin())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// browser is one browser: its own cookie jar.
type browser struct {
	t      *testing.T
	jar    *cookiejar.Jar
	client *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, jar: jar, client: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

type page struct {
	status int
	body   string
}

func (p page) admitted() bool { return p.status == http.StatusOK && p.body == bookingPage }

var checkNowRE = regexp.MustCompile(`<a id="check-now" href="/[^"]*">Jetzt prüfen</a>`)

var positionRE = regexp.MustCompile(`data-position="(\d+)"`)

// position is the position shown on a waiting page, or -1.
func (p page) position() int {
	m := positionRE.FindStringSubmatch(p.body)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func (b *browser) do(method, u string) page {
	b.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, body: string(body)}
}

func (b *browser) get(u string) page { return b.do(http.MethodGet, u) }

func (b *browser) leave(srv *httptest.Server) {
	b.t.Helper()
	if p := b.do(http.MethodPost, srv.URL+"/buchen-ende"); p.status != http.StatusOK || p.body != "INFO" {
		b.t.Fatalf("leave: %d %q", p.status, p.body)
	}
}

func (b *browser) cookie(srvURL, name string) string {
	u, _ := url.Parse(srvURL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(srvURL, name, value string) {
	u, _ := url.Parse(srvURL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustWait(t *testing.T, p page, wantPos int) {
	t.Helper()
	if p.status != http.StatusOK || p.admitted() {
		t.Fatalf("want a waiting page, got %d %.200q", p.status, p.body)
	}
	// No timed reload (WCAG 2.2.1), no inline script or style: a "check
	// now" link of the same address and the external wait.js.
	if strings.Contains(p.body, `http-equiv`) || strings.Contains(p.body, "style=") ||
		strings.Count(p.body, "<script") != 1 || !strings.Contains(p.body, `<script src="`+ScriptPath+`" defer></script>`) {
		t.Fatalf("waiting page must load %s and carry no meta refresh, inline script or style: %s", ScriptPath, p.body)
	}
	if !checkNowRE.MatchString(p.body) || !strings.Contains(p.body, `aria-live="polite"`) || !strings.Contains(p.body, `data-status="`+StatusPath+`"`) {
		t.Fatalf("waiting page needs a check-now link, a polite live region and the status address: %s", p.body)
	}
	if wantPos >= 0 && p.position() != wantPos {
		t.Fatalf("position: got %d, want %d\n%s", p.position(), wantPos, p.body)
	}
}
