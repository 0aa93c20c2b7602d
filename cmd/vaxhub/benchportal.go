package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaxhub/vaxhub/connectors/web"
	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
)

// benchPortal measures the digital waiting room on a fresh database:
// tickets issued, position checks per second, and how closely admissions
// follow the booking capacity; then the booking page's latency for admitted
// residents under load on a second fresh database with the campaign.
func benchPortal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench portal", flag.ContinueOnError)
	tickets := fs.Int("tickets", 100_000, "tickets issued before the position checks")
	clients := fs.Int("clients", 32, "concurrent HTTP clients")
	checks := fs.Duration("checks", 5*time.Second, "how long each kind of position check runs")
	capacity := fs.Float64("capacity", 200, "booking capacity (bookings/s) the admission rate must follow")
	rate := fs.Duration("rate-duration", 10*time.Second, "how long the admission rate is measured")
	pageClients := fs.Int("page-clients", 16, "admitted residents loading the booking page at once (0: skip)")
	pageDuration := fs.Duration("page-duration", 5*time.Second, "how long the booking page is loaded")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	adminURL := cfg.DatabaseURL
	parts, dbName, done, err := benchCore(ctx, cfg, "portal", 0, false, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer done()
	fmt.Printf("bench portal: fresh database %s\n", dbName)
	if err := waitingroom.Bench(ctx, parts.pool, os.Stdout, waitingroom.BenchOptions{Tickets: *tickets, Clients: *clients,
		CheckDuration: *checks, Capacity: *capacity, RateDuration: *rate}); err != nil {
		return err
	}
	if *pageClients <= 0 {
		return nil
	}
	cfg.DatabaseURL = adminURL
	return benchBookingPage(ctx, cfg, *pageClients, *pageDuration)
}

// pageSlotDays is how many days of slots the booking-page benchmark's
// campaign has: the portal's slot page looks 14 days ahead by default.
const pageSlotDays = 14

// benchBookingPage measures the slot page (GET /buchen/termine) for admitted
// residents: a fresh core with the Saxony campaign, the whole portal (the
// firewall, sessions, the waiting room's gate with a session limit that
// admits every client) on 127.0.0.1, and clients residents who register
// through the portal's form, pass the gate and then load their slot page
// back to back.
func benchBookingPage(ctx context.Context, cfg *config, clients int, d time.Duration) error {
	// The residents are not matched against a register: this measures the
	// page, not the verification.
	noVerification := false
	cfg.RequireVerification = &noVerification
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	parts, dbName, done, err := benchCore(ctx, cfg, "portal_page", pageSlotDays, false, nil, log)
	if err != nil {
		return err
	}
	defer done()
	centres, err := parts.app.Centres(ctx)
	if err != nil {
		return err
	}
	if len(centres) == 0 {
		return errors.New("bench portal: the campaign has no centres")
	}

	fw, err := web.NewFirewall(web.FirewallConfig{Logger: log})
	if err != nil {
		return err
	}
	roomCtx, stopRoom := context.WithCancel(ctx)
	room, err := waitingroom.New(roomCtx, parts.pool, waitingroom.Config{Secret: derivedKey(cfg, "waiting room"),
		Capacity: waitingroom.FixedCapacity(1000), SessionLimit: clients, SessionID: web.SessionID, Log: log})
	if err != nil {
		stopRoom()
		return err
	}
	roomDone := make(chan struct{})
	go func() { defer close(roomDone); _ = room.Run(roomCtx) }()
	defer func() { stopRoom(); <-roomDone }()
	// The per-IP and per-session rate limits are off: every client comes
	// from 127.0.0.1 and loads pages back to back, far above what one
	// resident does; they would measure the limiter, not the page.
	portal, err := web.New(web.Config{App: parts.app, Pool: parts.pool, Room: room, Secret: derivedKey(cfg, "portal"), Logger: log,
		Firewall: fw, IPRate: -1, SessionRate: -1})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: portal, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln) //nolint:errcheck
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	// Register through the form and pass the gate, one resident at a time.
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	browsers := make([]*http.Client, clients)
	paths := make([]string, clients)
	for i := range browsers {
		jar, _ := cookiejar.New(nil)
		browsers[i] = &http.Client{Jar: jar, Transport: tr, Timeout: 30 * time.Second}
		if err := registerThroughPortal(ctx, browsers[i], base, i); err != nil {
			return fmt.Errorf("bench portal: resident %d: %w", i, err)
		}
		paths[i] = "/buchen/termine?zentrum=" + url.QueryEscape(centres[i%len(centres)].ID)
		deadline := time.Now().Add(10 * time.Second)
		for {
			status, body, err := getPage(ctx, browsers[i], base+paths[i])
			if err != nil {
				return fmt.Errorf("bench portal: resident %d: %w", i, err)
			}
			if status == http.StatusOK && strings.Contains(body, `name="slot"`) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("bench portal: resident %d not shown slots (status %d): %.300s", i, status, body)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Every admitted resident loads their slot page back to back; a load
	// under way when the time is up still finishes and counts (under a
	// loaded machine one page can take longer than a short -page-duration).
	lat := make([][]time.Duration, clients)
	var empty, failed atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range browsers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				t0 := time.Now()
				status, body, err := getPage(ctx, browsers[i], base+paths[i])
				took := time.Since(t0)
				switch {
				case err != nil && runCtx.Err() != nil:
					return
				case err != nil || status != http.StatusOK:
					failed.Add(1)
				case !strings.Contains(body, `name="slot"`):
					empty.Add(1)
				}
				lat[i] = append(lat[i], took)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	if len(all) == 0 {
		return errors.New("bench portal: no booking page was loaded")
	}
	slices.Sort(all)
	pct := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	p50, p99 := pct(0.50), pct(0.99)
	fmt.Printf("booking page: GET /buchen/termine, %d admitted residents (registered through the portal form), %d slot days,\n"+
		"              whole portal with firewall and gate, rate limits off, fresh database %s\n", clients, pageSlotDays, dbName)
	fmt.Printf("              %d pages in %s: %.0f requests/s, p50 %s, p99 %s (%d without a slot, %d failed)\n",
		len(all), elapsed.Round(time.Millisecond), float64(len(all))/elapsed.Seconds(), p50.Round(10*time.Microsecond),
		p99.Round(10*time.Microsecond), empty.Load(), failed.Load())
	verdict := "met"
	if p99 >= 100*time.Millisecond {
		verdict = "NOT met"
	}
	fmt.Printf("              goal p99 < 100 ms for admitted users: %s\n", verdict)
	if n := failed.Load(); n > int64(len(all))/100 {
		return fmt.Errorf("bench portal: %d of %d booking page loads failed", n, len(all))
	}
	return nil
}

var benchCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// registerThroughPortal registers resident i (over 80, so entitled in the
// Saxony campaign) with the portal's own form, CSRF token and all.
func registerThroughPortal(ctx context.Context, hc *http.Client, base string, i int) error {
	status, body, err := getPage(ctx, hc, base+"/registrieren")
	if err != nil {
		return err
	}
	m := benchCSRF.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		return fmt.Errorf("registration form: status %d, no CSRF token", status)
	}
	given := []string{"Zoë", "Jürgen", "Renée", "Björn", "Ännchen", "Gößwein", "Maëlle", "Øyvind"}
	born := time.Date(1936, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i)
	form := url.Values{"csrf": {m[1]}, "given_names": {given[i%len(given)]}, "family_name": {"Müller-Weiß"},
		"birth_date": {born.Format("02.01.2006")}, "sex": {"f"}, "street": {"Königsbrücker Straße 12"},
		"postal_code": {"01099"}, "city": {"Dresden"}, "email": {fmt.Sprintf("bench%d@example.de", i)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/registrieren", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/konto" {
		return fmt.Errorf("registration: status %d at %s: %.300s", resp.StatusCode, resp.Request.URL.Path, b)
	}
	return nil
}

func getPage(ctx context.Context, hc *http.Client, u string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}
