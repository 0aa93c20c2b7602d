package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// browser is a client without JavaScript: a cookie jar and the last page.
type browser struct {
	t    *testing.T
	base *url.URL
	http *http.Client
	body string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	return &browser{t: t, base: u, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base.String()+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	b.body = string(raw)
	return resp.StatusCode, b.body
}

// csrf is the form token of the last page.
func (b *browser) csrf() string {
	b.t.Helper()
	m := csrfField.FindStringSubmatch(b.body)
	if m == nil {
		b.t.Fatalf("no CSRF token on the page:\n%s", b.body)
	}
	return m[1]
}

// post sends a form with the given CSRF token.
func (b *browser) post(path, csrf string, form url.Values) (int, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrf)
	return b.do(http.MethodPost, path, form)
}

func (b *browser) cookie(name string) string {
	for _, c := range b.http.Jar.Cookies(b.base) {
		if c.Name == name {
			return c.Value
		}
	}
	b.t.Fatalf("no %s cookie", name)
	return ""
}

// copyOf is another browser holding only a copy of b's session cookie.
func (b *browser) copyOf() *browser {
	c := newBrowser(b.t, b.base.String())
	c.http.Jar.SetCookies(b.base, []*http.Cookie{{Name: "vh_session", Value: b.cookie("vh_session"), Path: "/"}})
	return c
}

// TestSignOutEndsACopiedSession runs the portal as `vaxhub run` builds it
// (startPortal: firewall, waiting room, sessions over the hub's pool) on the
// real core, whose clock the test sets, over real HTTP. Every sign-in
// issues a new session (the CSRF token, an HMAC of the session ID, changes
// and the old one is refused); after sign-out a copy of the signed-in
// cookie opens nothing; a session ends 30 minutes after its last request
// and 12 hours after sign-in however much it is used.
func TestSignOutEndsACopiedSession(t *testing.T) {
	t.Setenv("VAXHUB_CONFIG", "")
	t.Setenv("KAFKA_BROKERS", "")
	h := hubtest.New(t, time.Date(2021, 7, 5, 9, 0, 0, 0, hubtest.Berlin(t)))
	h.Saxony(t, 42)
	cfg, err := loadConfig([]string{"-data-dir", t.TempDir()}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	pp, err := startPortal(ctx, cfg, &hubParts{pool: h.Pool, store: h.Store, app: h.App}, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pp.portal)
	t.Cleanup(srv.Close)

	const name = "Zoë Renée"
	signedIn := func(b *browser, want string) {
		t.Helper()
		if status, body := b.do(http.MethodGet, "/konto", nil); status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("/konto: status %d, want the signed-in page with %q:\n%s", status, want, body)
		}
	}
	refused := func(b *browser, gone string) {
		t.Helper()
		status, body := b.do(http.MethodGet, "/konto", nil)
		if strings.Contains(body, gone) {
			t.Fatalf("/konto still shows %q (status %d):\n%s", gone, status, body)
		}
		if status != http.StatusOK || !strings.Contains(body, "Ihre Sitzung ist abgelaufen oder wurde abgemeldet") {
			t.Fatalf("/konto: status %d, want the page saying the session ended:\n%s", status, body)
		}
	}

	// Sign-in by registration: a new session ID, so a new CSRF token.
	a := newBrowser(t, srv.URL)
	a.do(http.MethodGet, "/registrieren", nil)
	before := a.csrf()
	status, _ := a.post("/registrieren", before, url.Values{"given_names": {name}, "family_name": {"Nguyễn-Weiß"},
		"birth_date": {"14.03.1961"}, "sex": {"f"}, "street": {"Königsbrücker Straße 12"}, "postal_code": {"01099"}, "city": {"Dresden"}})
	if status != http.StatusOK || !strings.Contains(a.body, name) {
		t.Fatalf("registration: status %d:\n%s", status, a.body)
	}
	after := a.csrf()
	if after == before {
		t.Fatal("the CSRF token (and so the session ID) is the same before and after sign-in")
	}
	if status, _ := a.post("/abmelden", before, nil); status != http.StatusForbidden {
		t.Fatalf("sign-out with the token from before sign-in: status %d, want 403", status)
	}

	// A copy of the signed-in cookie works until sign-out, and not after.
	stolen := a.copyOf()
	signedIn(stolen, name)
	signedIn(a, name)
	if status, body := a.post("/abmelden", a.csrf(), nil); status != http.StatusOK || strings.Contains(body, name) {
		t.Fatalf("sign-out: status %d:\n%s", status, body)
	}
	refused(stolen, name)
	if status, body := stolen.post("/termin/stornieren", after, nil); status != http.StatusForbidden || strings.Contains(body, name) {
		t.Fatalf("a form from the copied session after sign-out: status %d, want 403:\n%s", status, body)
	}
	if n := h.Count(t, `SELECT count(*) FROM web_session_revocations`); n != 1 {
		t.Fatalf("%d revoked sessions, want 1", n)
	}

	// Sign-in by booking number and birth date: a new session too.
	centres, err := h.App.Centres(ctx)
	if err != nil || len(centres) == 0 {
		t.Fatalf("centres: %v", err)
	}
	reg := h.Resident(t, domain.Date{Year: 1958, Month: 2, Day: 1})
	ap, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: centres[0].ID})
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	find := func(b *browser) {
		t.Helper()
		b.do(http.MethodGet, "/termin", nil)
		before := b.csrf()
		if status, body := b.post("/termin", before, url.Values{"reference": {ap.Reference}, "birth_date": {"01.02.1958"}}); status != http.StatusOK || !strings.Contains(body, ap.Reference) {
			t.Fatalf("look-up by reference: status %d:\n%s", status, body)
		}
		if b.csrf() == before {
			t.Fatal("the CSRF token is the same before and after the look-up by reference")
		}
	}

	// Idle timeout, sliding: 58 minutes of use keep the session, 31 minutes
	// without a request end it.
	d := newBrowser(t, srv.URL)
	find(d)
	idleCopy := d.copyOf()
	h.Clock.Advance(29 * time.Minute)
	signedIn(d, ap.Reference)
	h.Clock.Advance(29 * time.Minute)
	signedIn(d, ap.Reference)
	refused(idleCopy, ap.Reference) // not used for 58 minutes
	h.Clock.Advance(31 * time.Minute)
	refused(d, ap.Reference)

	// Absolute timeout: a request every 25 minutes keeps the session for
	// 12 hours, not longer.
	e := newBrowser(t, srv.URL)
	find(e)
	for range 28 { // 11 h 40 min
		h.Clock.Advance(25 * time.Minute)
		signedIn(e, ap.Reference)
	}
	h.Clock.Advance(25 * time.Minute) // 12 h 5 min
	refused(e, ap.Reference)
}
