package web

import (
	"context"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vaxhub/vaxhub/internal/hubtest"
)

const chromiumPath = "/usr/bin/chromium"

// newBrowser starts Debian's Chromium headless with a fresh profile and
// returns a context for its first tab, with a deadline for the test's
// actions. More isolated browsers (own cookies) come from otherBrowser.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need Chromium at %s (apt-get install chromium; .ci/run installs it): %v", chromiumPath, err)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 900),
	)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser: no deadline on this call
		t.Fatalf("start chromium: %v", err)
	}
	tctx, cancelT := context.WithTimeout(ctx, 40*time.Second)
	t.Cleanup(cancelT)
	return tctx
}

// otherBrowser is a second browser context of the same Chromium: its own
// cookies, like another person's browser.
func otherBrowser(t *testing.T, first context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(first, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main"), chromedp.AtLeast(0)))
		t.Fatalf("%s: %v\n%s", what, err, body)
	}
}

func text(t *testing.T, ctx context.Context, sel chromedp.CSS) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// registerInBrowser fills the registration form by keyboard and submits it.
func registerInBrowser(t *testing.T, ctx context.Context, base string, f url.Values) {
	t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/registrieren"), chromedp.WaitVisible(chromedp.ID("given_names"))}
	for _, name := range []string{"given_names", "family_name", "birth_date", "street", "postal_code", "city"} {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(name), f.Get(name)))
	}
	steps = append(steps, chromedp.SetValue(chromedp.ID("sex"), f.Get("sex")),
		chromedp.Click(chromedp.ID("register-submit")), chromedp.WaitVisible(chromedp.ID("entitlement")))
	run(t, ctx, "register", steps...)
}

// bookFirstSlot books the first slot at the Dresden centre; the browser is
// in the booking flow already.
func bookFirstSlot(t *testing.T, ctx context.Context) string {
	t.Helper()
	run(t, ctx, "book",
		chromedp.WaitVisible(chromedp.CSS(`a[data-centre="dresden"]`)),
		chromedp.Click(chromedp.CSS(`a[data-centre="dresden"]`)),
		chromedp.WaitVisible(chromedp.ID("slot-0")),
		chromedp.Click(chromedp.ID("slot-0")),
		chromedp.Click(chromedp.ID("slot-submit")),
		chromedp.WaitVisible(chromedp.ID("reference")),
	)
	return text(t, ctx, "#reference")
}

func TestBrowserResidentRegistersAndBooksEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, 40, nil)
	registerInBrowser(t, ctx, e.srv.URL, zoe())
	name, ent := text(t, ctx, "main"), text(t, ctx, "#entitlement")
	if !strings.Contains(name, "Nguyễn-Weiß") || !strings.Contains(ent, "Sie können jetzt einen Termin buchen") {
		t.Fatalf("account page: %q / %q", name, ent)
	}
	// The access token never reaches the page, and the session cookie is not readable by script.
	html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cookies, cookieSession) {
		t.Fatalf("session cookie visible to script: %q", cookies)
	}
	run(t, ctx, "to booking", chromedp.Click(chromedp.ID("book-link")))
	ref := bookFirstSlot(t, ctx)
	ap, err := e.hub.App.Appointment(t.Context(), ref)
	if err != nil || ap.CentreID != "dresden" {
		t.Fatalf("booked %q: %+v %v", ref, ap, err)
	}
	if strings.Contains(html, "access_token") || strings.Contains(html, "Bearer") {
		t.Fatal("a token is on the page")
	}
	e.hub.CheckInvariants(t)
}

func TestBrowserSecondVisitorWaitsAndIsAdmittedWhenTheFirstFinishes(t *testing.T) {
	t.Parallel()
	first := newBrowser(t)
	second := otherBrowser(t, first)
	e := newEnvWith(t, 40, func(h *hubtest.Hub, c *Config) { c.Room = startRoom(t, h, 1) })
	registerInBrowser(t, first, e.srv.URL, zoe())
	other := zoe()
	other.Set("given_names", "Jürgen")
	other.Set("family_name", "Müller")
	registerInBrowser(t, second, e.srv.URL, other)

	// The first browser goes straight in; the second waits at position 1.
	run(t, first, "first enters", chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.WaitVisible(chromedp.ID("centres")))
	run(t, second, "second waits", chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.WaitVisible(chromedp.ID("position")))
	pos := text(t, second, "#position")
	if pos != "1" {
		t.Fatalf("position %q, want 1", pos)
	}
	// Information pages stay open while waiting.
	run(t, second, "info while waiting", chromedp.Navigate(e.srv.URL+"/zentren"), chromedp.WaitVisible(chromedp.ID("centres")),
		chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.WaitVisible(chromedp.ID("position")))

	// The first books; that ends its session and the waiting page lets the
	// second in by itself (its script polls the status and moves on).
	bookFirstSlot(t, first)
	run(t, second, "second admitted", chromedp.WaitVisible(chromedp.CSS(`a[data-centre="dresden"]`)))
	ref := bookFirstSlot(t, second)
	if _, err := e.hub.App.Appointment(t.Context(), ref); err != nil {
		t.Fatalf("second booking: %v", err)
	}
}

func TestBrowserForgedOrCopiedTicketIsRefused(t *testing.T) {
	t.Parallel()
	first := newBrowser(t)
	second, third := otherBrowser(t, first), otherBrowser(t, first)
	e := newEnvWith(t, 1, func(h *hubtest.Hub, c *Config) { c.Room = startRoom(t, h, 1) })
	run(t, first, "first enters", chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.Navigate(e.srv.URL+"/buchen/"))
	run(t, second, "second waits", chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.WaitVisible(chromedp.ID("position")))
	var ticket string
	cs, err := chromedp.Call(second, network.GetCookies, network.GetCookiesParams{URLs: []string{e.srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs.Cookies {
		if c.Name == "vh_wr_ticket" {
			ticket = c.Value
		}
	}
	if ticket == "" {
		t.Fatal("the waiting browser holds no ticket")
	}
	refused := func(browser context.Context, what, value, want string) {
		t.Helper()
		run(t, browser, what, chromedp.Navigate(e.srv.URL+"/"))
		if _, err := chromedp.Call(browser, network.SetCookie, network.SetCookieParams{Name: "vh_wr_ticket", Value: value, URL: e.srv.URL, HTTPOnly: new(true)}); err != nil {
			t.Fatal(err)
		}
		run(t, browser, what, chromedp.Navigate(e.srv.URL+"/buchen/"), chromedp.WaitVisible(chromedp.CSS("main")))
		if got := text(t, browser, "main"); !strings.Contains(got, want) {
			t.Fatalf("%s: page says %q, want %q", what, got, want)
		}
	}
	refused(third, "ticket copied into another browser", ticket, "anderen Browser")
	// The waiting browser rewrites its own arrival number to jump the queue.
	parts := strings.Split(ticket, ".")
	if len(parts) != 6 {
		t.Fatalf("ticket %q: unexpected format", ticket)
	}
	parts[2] = "0"
	refused(second, "forged ticket", strings.Join(parts, "."), "ungültig")
}
