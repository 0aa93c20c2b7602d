package servicenow

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/deploy/campaign"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
	snsim "github.com/vaxhub/vaxhub/simulators/servicenow"
)

var ctx = context.Background()

func testLogger() *slog.Logger {
	if os.Getenv("SN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// The team of the tests: MT19, Meißen district, whose centre is riesa.
const (
	team     = "MT19"
	centre   = "riesa"
	careHome = "seniorenheim-riesa-weida"
	batch    = "EJ6701"
)

// visitDay is Thursday 7 January 2021.
var visitDay = domain.Date{Year: 2021, Month: time.January, Day: 7}

// env is one test's world: the core on a fresh database, the planner
// simulator over real HTTP, a broker with the outbox relay.
type env struct {
	t      *testing.T
	h      *hubtest.Hub
	mobile *app.Mobile
	sim    *snsim.Simulator
	srv    *httptest.Server
	kafka  bus.Config
	pub    *bus.KafkaPublisher
	bus    *bustest.Bus
	reg    *schemas.Registry
	// answers counts what the planner answered.
	answers *answerCounter
}

// answerCounter counts the planner's own 429s (with X-RateLimit-*) and its
// 5xx answers, injected or not.
type answerCounter struct {
	next                http.Handler
	rateLimited, errors atomic.Int64
}

func (a *answerCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.next.ServeHTTP(&statusSpy{ResponseWriter: w, a: a}, r)
}

type statusSpy struct {
	http.ResponseWriter
	a *answerCounter
}

func (s *statusSpy) WriteHeader(code int) {
	switch {
	case code == http.StatusTooManyRequests && s.Header().Get("X-RateLimit-Limit") != "":
		s.a.rateLimited.Add(1)
	case code >= 500:
		s.a.errors.Add(1)
	}
	s.ResponseWriter.WriteHeader(code)
}

// Hijack lets the outage fault reset connections through the spy.
func (s *statusSpy) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := s.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("not a hijacker")
	}
	return h.Hijack()
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, hubtest.New(t, testNow(t)))
}

// testNow is the tests' clock: Monday 4 January 2021, 07:00 in Dresden.
func testNow(t *testing.T) time.Time { return time.Date(2021, 1, 4, 7, 0, 0, 0, hubtest.Berlin(t)) }

// newEnvOn is newEnv with the core h (hubtest.NewOn: another database).
func newEnvOn(t *testing.T, h *hubtest.Hub) *env {
	t.Helper()
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Store.SaveCampaign(ctx, c.Centres, c.Products); err != nil {
		t.Fatal(err)
	}
	m, err := app.NewMobile(h.App, h.Store)
	if err != nil {
		t.Fatal(err)
	}
	// The hub has its own user, so that its rate limit is its own.
	sim, err := snsim.New(snsim.Config{Users: map[string]string{"hub": "hub-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	answers := &answerCounter{next: sim.Handler()}
	srv := httptest.NewServer(answers)
	t.Cleanup(srv.Close)
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, h: h, mobile: m, sim: sim, srv: srv, reg: reg, answers: answers}
	e.startBroker()
	return e
}

func (e *env) config() Config {
	return Config{BaseURL: e.srv.URL, User: "hub", Password: "hub-secret", Timeout: 2 * time.Second, BreakerTimeout: 300 * time.Millisecond,
		PollInterval: 100 * time.Millisecond, Logger: testLogger(), MaxRetries: 4}
}

func (e *env) startBroker() {
	e.t.Helper()
	b := bustest.Start(e.t, e.h.Pool)
	e.kafka, e.pub, e.bus = b.Kafka, b.Publisher, b
}

func (e *env) consumerTemplate() bus.ConsumerConfig {
	return bus.ConsumerConfig{Kafka: e.kafka, Validator: e.reg, Logger: testLogger(), ShutdownTimeout: 5 * time.Second,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond}
}

func (e *env) deps(cfg Config) Deps {
	return Deps{Pool: e.h.Pool, Mobile: e.mobile, Consumer: e.consumerTemplate(), Publisher: e.pub, Config: cfg}
}

// startConnector runs the whole connector (poller and consumer) with Start.
func (e *env) startConnector(cfg Config) {
	e.t.Helper()
	stop, err := StartWith(ctx, e.deps(cfg))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(stop)
}

// connector builds one without starting it (for PollOnce).
func (e *env) connector(cfg Config) *Connector {
	e.t.Helper()
	c, err := New(e.deps(cfg))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(c.Close)
	return c
}

func (e *env) background(name string, fn func(context.Context) error) {
	t := e.t
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- fn(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
}

// doseEvents counts appointment.dose-administered events read from the bus
// by a consumer of its own, by event ID and by reference.
type doseEvents struct {
	mu    sync.Mutex
	ids   map[string]int
	refs  map[string]int
	total int
}

func (e *env) watchDoseEvents() *doseEvents {
	d := &doseEvents{ids: map[string]int{}, refs: map[string]int{}}
	cfg := e.consumerTemplate()
	cfg.Topic, cfg.Group, cfg.Name = "vaxhub.appointment.v1", "test-dose-watch", "test-dose-watch"
	cfg.Handler = func(_ context.Context, msg bus.Message) error {
		var ev struct {
			ID   string `json:"id"`
			Type string `json:"type"`
			Data struct {
				Reference string `json:"reference"`
			} `json:"data"`
		}
		if err := json.Unmarshal(msg.Value, &ev); err != nil || ev.Type != "appointment.dose-administered" {
			return nil
		}
		d.mu.Lock()
		d.ids[ev.ID]++
		d.refs[ev.Data.Reference]++
		d.total++
		d.mu.Unlock()
		return nil
	}
	cons, err := bus.NewConsumer(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.background("dose watch", cons.Run)
	return d
}

func (d *doseEvents) distinct() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.ids)
}

// residents registers n residents (born 1930..) and returns the roster.
func (e *env) residents(n int) []domain.RosterEntry {
	var roster []domain.RosterEntry
	for i := range n {
		reg := e.h.Resident(e.t, domain.Date{Year: 1925 + i%20, Month: time.Month(1 + i%12), Day: 1 + i%28})
		roster = append(roster, domain.RosterEntry{ResidentID: reg.Resident.ID, Staff: i%10 == 9})
	}
	return roster
}

func (e *env) plan(roster []domain.RosterEntry, doses int) *domain.MobileCampaign {
	e.t.Helper()
	c, err := e.mobile.PlanMobileCampaign(ctx, app.MobileCampaignInput{CareHome: careHome, Day: visitDay, Team: team, CentreID: centre,
		PlannedStart: time.Date(2021, 1, 7, 8, 0, 0, 0, time.UTC), Roster: roster, Doses: map[domain.ProductID]int{domain.Comirnaty: doses}})
	if err != nil {
		e.t.Fatalf("plan: %v", err)
	}
	return c
}

func (e *env) issue(id, b string, doses int) {
	e.t.Helper()
	if _, err := e.mobile.RecordTeamIssue(ctx, app.TeamIssue{ID: id, Team: team, Day: visitDay, Product: domain.Comirnaty, Batch: b, Doses: doses}); err != nil {
		e.t.Fatal(err)
	}
}

// snGet reads table records matching query straight from the simulator,
// trying again while injected faults answer.
func (e *env) snGet(table, query string) []map[string]any {
	e.t.Helper()
	u := e.srv.URL + "/api/now/v2/table/" + table + "?sysparm_query=" + url.QueryEscape(query)
	var last string
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.SetBasicAuth("sim", "sim")
		req.Header.Set("Accept", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			continue
		}
		var out struct {
			Result []map[string]any `json:"result"`
		}
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatal(err)
		}
		return out.Result
	}
	e.t.Fatalf("GET %s: %s", u, last)
	return nil
}

// admin calls a simulator admin endpoint and decodes the answer into out.
func (e *env) admin(method, path string, body any, out any) {
	e.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, r)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// taskOf waits until the campaign's visit task exists in the planner and
// returns its sys_id.
func (e *env) taskOf(c *domain.MobileCampaign) string {
	e.t.Helper()
	var id string
	waitFor(e.t, "the visit task of "+c.ID, 20*time.Second, func() bool {
		rs := e.snGet("wm_task", "descriptionSTARTSWITH"+TaskKey(c.ID))
		if len(rs) == 0 {
			return false
		}
		id, _ = rs[0]["sys_id"].(string)
		return true
	})
	return id
}

func (e *env) count(sql string, args ...any) int { return e.h.Count(e.t, sql, args...) }

func (e *env) progressDoses() int64 {
	e.t.Helper()
	p, err := e.h.App.Progress(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	var n int64
	for _, d := range p.Doses {
		n += d.Count
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func snTimeOf(t time.Time) string { return t.UTC().Format(snTime) }
