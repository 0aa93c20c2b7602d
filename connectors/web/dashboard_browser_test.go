package web

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// giveFirstDose books a resident through the core and records the dose as
// given, so that the doses per day (table and chart) have a row.
func giveFirstDose(t *testing.T, h *hubtest.Hub) {
	t.Helper()
	ap := staffBooks(t, h)
	r, err := h.App.Resident(t.Context(), ap.ResidentID)
	if err != nil {
		t.Fatal(err)
	}
	h.Clock.Set(ap.Doses[0].Start)
	if _, err := h.App.CheckIn(t.Context(), ap.Reference, r.BirthDate); err != nil {
		t.Fatalf("check in: %v", err)
	}
	if _, err := h.App.CheckOut(t.Context(), app.CheckOutInput{Reference: ap.Reference, Product: ap.Product, Batch: "EX1234", VaccinatorID: "v1"}); err != nil {
		t.Fatalf("check out: %v", err)
	}
}

// leaveFirst closes the page's event stream before the test server
// closes (cleanups run last-registered first; httptest.Server.Close waits
// for open requests).
func leaveFirst(t *testing.T, ctx context.Context) {
	t.Helper()
	t.Cleanup(func() { _ = chromedp.Do(ctx, chromedp.Navigate("about:blank")) })
}

// signInStaff gives the browser the test's staff cookie.
func signInStaff(t *testing.T, ctx context.Context, base string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: "vh_staff", Value: staffToken, URL: base, HTTPOnly: new(true)}); err != nil {
		t.Fatalf("staff cookie: %v", err)
	}
}

func TestBrowserDashboardShowsABookingWithinSeconds(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := dashEnv(t, 500*time.Millisecond, true)
	leaveFirst(t, ctx)
	giveFirstDose(t, e.hub)
	run(t, ctx, "open", chromedp.Navigate(e.srv.URL+"/"))
	signInStaff(t, ctx, e.srv.URL)
	run(t, ctx, "dashboard",
		chromedp.Navigate(e.srv.URL+"/dashboard"),
		chromedp.WaitVisible(chromedp.ID("dashboard")),
		// The script subscribed (the live note changed) and uPlot drew the
		// doses chart under the CSP (no inline script).
		chromedp.WaitReady(chromedp.CSS(`#dashboard[data-updated]`)),
		chromedp.WaitVisible(chromedp.CSS(`#dose-chart .uplot canvas`)),
	)
	if got := text(t, ctx, "#dash-live"); got != langDE.T("dash.live") {
		t.Fatalf("live note %q", got)
	}
	if got := text(t, ctx, "#dash-booked"); got != "0" {
		t.Fatalf("booked before: %q", got)
	}
	start := time.Now()
	staffBooks(t, e.hub)
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('dash-booked').textContent === '1'`,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		t.Fatalf("the booking did not reach the dashboard within 5 s (shows %q): %v", text(t, ctx, "#dash-booked"), err)
	}
	t.Logf("booking shown after %s", time.Since(start).Round(10*time.Millisecond))
	// Stock versus booked shows it too, in the table rebuilt by the script.
	if stock := text(t, ctx, "#t-stock"); !strings.Contains(stock, "Riesa") {
		t.Fatalf("stock table: %q", stock)
	}
}
