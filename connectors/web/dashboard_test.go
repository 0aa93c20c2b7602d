package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

const staffToken = "test-staff-token"

// staffOnly authorizes a bearer token or a staff cookie, as the lead's
// function would (a bearer token or a staff session).
func staffOnly(r *http.Request) bool {
	if r.Header.Get("Authorization") == "Bearer "+staffToken {
		return true
	}
	c, err := r.Cookie("vh_staff")
	return err == nil && c.Value == staffToken
}

// busMetrics is a registry with the bus and breaker metrics as the hub
// registers them (connectors/bus, connectors/httpclient); no hotline.
func busMetrics(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	backlog := prometheus.NewGauge(prometheus.GaugeOpts{Name: "vaxhub_outbox_backlog", Help: "h"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vaxhub_consumer_lag", Help: "h"}, []string{"group", "topic"})
	dead := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_consumer_dead_lettered_total", Help: "h"}, []string{"group", "topic"})
	breaker := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vaxhub_http_client_breaker_state", Help: "h"}, []string{"system"})
	reg.MustRegister(backlog, lag, dead, breaker)
	backlog.Set(1234)
	lag.WithLabelValues("print", "vaxhub.appointments").Set(7)
	dead.WithLabelValues("print", "vaxhub.appointments").Add(3)
	breaker.WithLabelValues("sap").Set(2)
	breaker.WithLabelValues("register").Set(0)
	return reg
}

func dashEnv(t *testing.T, every time.Duration, withRoom bool) *portalEnv {
	t.Helper()
	return newEnvWith(t, 20, func(h *hubtest.Hub, c *Config) {
		d := &DashboardConfig{Authorize: staffOnly, Metrics: busMetrics(t), Interval: every}
		if withRoom {
			d.Room = startRoom(t, h, 5)
		}
		c.Dashboard = d
	})
}

func (c *client) getAuth(path string) page {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+staffToken)
	return c.do(req)
}

// staffBooks books the earliest slot at Riesa for a new resident through
// the core, as the API or the hotline would.
func staffBooks(t *testing.T, h *hubtest.Hub) *domain.Appointment {
	t.Helper()
	reg := h.Resident(t, domain.Date{Year: 1950, Month: 5, Day: 1})
	ap, err := h.App.Book(t.Context(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa", Product: domain.Janssen})
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	return ap
}

func TestDashboardRefusesWithoutStaffAuthorization(t *testing.T) {
	t.Parallel()
	e := dashEnv(t, time.Second, false)
	c := e.client(t)
	for _, path := range []string{"/dashboard", "/dashboard/events", "/dashboard/snapshot"} {
		p := c.get(path).mustStatus(t, http.StatusUnauthorized).mustContain(t, `id="denied"`, "nur für Mitarbeitende")
		if !strings.HasPrefix(p.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("%s: WWW-Authenticate %q", path, p.header.Get("WWW-Authenticate"))
		}
		if strings.Contains(p.body, "data-field") || strings.Contains(p.body, "Riesa") {
			t.Fatalf("%s: a refused page shows figures:\n%s", path, p.body)
		}
		en := e.client(t) // its own cookies: the language choice stays there
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path+"?lang=en", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		en.do(req).mustStatus(t, http.StatusForbidden).mustContain(t, "do not allow this page")
	}
	// Without a Dashboard in the configuration there is no dashboard.
	plain := newEnv(t, 0, nil).client(t)
	plain.getAuth("/dashboard").mustStatus(t, http.StatusNotFound)
	if _, err := New(Config{App: e.hub.App, Pool: e.hub.Pool, Secret: testSecret, Dashboard: &DashboardConfig{}}); err == nil {
		t.Fatal("a dashboard without Authorize: want an error")
	}
}

func TestDashboardShowsTheFiguresWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := dashEnv(t, time.Second, true)
	h := e.hub
	ap := staffBooks(t, h)
	// The first dose is given: it counts in the doses per day.
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
	c := e.client(t)
	p := c.getAuth("/dashboard").mustStatus(t, http.StatusOK)
	p.mustContain(t,
		`<table id="t-doses">`, "Meißen (14627)", // Riesa's district
		`<table id="t-stock">`, "Riesa",
		`id="dash-room-queued">0<`,                 // waiting room figures
		`id="dash-hotline-calls">nicht verfügbar<`, // no hotline metric: not invented
		`id="dash-backlog">1.234<`, `id="dash-lag">7<`, `id="dash-dlq">3<`,
		"offen (Aufrufe gesperrt)", "geschlossen (normal)", // breakers
		`<script src="/static/dashboard.js" defer></script>`,
	)
	if strings.Contains(p.body, "<script>") || strings.Contains(p.body, " style=") {
		t.Fatal("inline script or style on the dashboard")
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Fatalf("CSP %q", csp)
	}
	// The doses table: one first dose, in German day format.
	day := h.Clock.Now().In(berlin)
	if !strings.Contains(p.body, "<td>"+langDE.Day(day)+"</td><td>Meißen (14627)</td>") {
		t.Fatalf("no doses row for %s:\n%s", day, p.body)
	}
	// English works too, and the vendored assets are served.
	c.getAuth("/dashboard?lang=en").mustStatus(t, http.StatusOK).mustContain(t, "Doses per day by product and district", "not available")
	for _, asset := range []string{"/static/dashboard.js", "/static/vendor/uplot/uPlot.iife.min.js", "/static/vendor/uplot/uPlot.min.css", "/static/vendor/uplot/LICENSE"} {
		c.get(asset).mustStatus(t, http.StatusOK)
	}
	// axe-core is test-only: not served.
	c.get("/static/axe.min.js").mustStatus(t, http.StatusNotFound)
}

func TestDashboardEventsStreamSnapshots(t *testing.T) {
	t.Parallel()
	e := dashEnv(t, 200*time.Millisecond, false)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+"/dashboard/events", nil)
	req.Header.Set("Authorization", "Bearer "+staffToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	events := make(chan dashData)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var d dashData
				if err := json.Unmarshal([]byte(data), &d); err != nil {
					t.Errorf("event %q: %v", data, err)
					return
				}
				events <- d
			}
		}
	}()
	next := func() dashData {
		t.Helper()
		select {
		case d, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return d
		case <-time.After(5 * time.Second):
			t.Fatal("no event within 5 s")
		}
		return dashData{}
	}
	first := next()
	if first.Fields["booked"] != "0" || first.Fields["room_queued"] != "nicht verfügbar" || first.Fields["outbox_backlog"] != "1.234" {
		t.Fatalf("first snapshot: %+v", first.Fields)
	}
	staffBooks(t, e.hub)
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := next()
		if d.Fields["booked"] == "1" { // Janssen: one dose booked
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the booking did not reach the stream: %+v", d.Fields)
		}
	}
}
