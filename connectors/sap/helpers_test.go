package sap

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/deploy/campaign"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
	sapsim "github.com/vaxhub/vaxhub/simulators/sap"
)

var ctx = context.Background()

func testLogger() *slog.Logger {
	if os.Getenv("SAP_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one test's world: the core on a fresh database, the SAP simulator
// behind an optional test proxy, and (when started) a broker.
type env struct {
	t     *testing.T
	h     *hubtest.Hub
	sim   *sapsim.Simulator
	srv   *httptest.Server
	proxy *proxy
	kafka bus.Config
	pub   *bus.KafkaPublisher
	reg   *schemas.Registry
}

// proxy sits between the connector and the simulator; a test sets hooks.
type proxy struct {
	next http.Handler
	// hook, when set, may answer itself (true) or let the request through.
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := p.hook; h != nil && h(w, r) {
		return
	}
	p.next.ServeHTTP(w, r)
}

// The campaign's day in the tests: Monday 12 April 2021, 07:00 in Dresden.
func testNow(t *testing.T) time.Time {
	return time.Date(2021, 4, 12, 7, 0, 0, 0, hubtest.Berlin(t))
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvOn(t, hubtest.New(t, testNow(t)))
}

// newEnvOn is newEnv with the core h (hubtest.NewOn: another database).
func newEnvOn(t *testing.T, h *hubtest.Hub) *env {
	t.Helper()
	now := h.Clock.Now()
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	// The centres and products, but not the announced supply: stock comes
	// from SAP only.
	if err := h.Store.SaveCampaign(ctx, c.Centres, c.Products); err != nil {
		t.Fatal(err)
	}
	h.OpenRules(t)
	if _, err := h.App.EnsureSlots(ctx, h.Today(), 2); err != nil {
		t.Fatal(err)
	}
	sim, err := sapsim.New(sapsim.Config{Start: now.UTC().Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{next: sim.Handler()}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, h: h, sim: sim, srv: srv, proxy: p, reg: reg}
}

func (e *env) config() Config {
	return Config{BaseURL: e.srv.URL, User: "sim", Password: "sim", SAPClient: "100", Timeout: 2 * time.Second,
		BreakerTimeout: 500 * time.Millisecond, PollInterval: 100 * time.Millisecond, Logger: testLogger()}
}

func (e *env) connector(cfg Config) *Connector {
	e.t.Helper()
	c, err := New(Deps{Pool: e.h.Pool, App: e.h.App, Publisher: e.publisher(), Config: cfg})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = c.odata.cl.Close() })
	return c
}

// publisher is nil until startBroker.
func (e *env) publisher() bus.Publisher {
	if e.pub == nil {
		return nil
	}
	return e.pub
}

func (e *env) startBroker() {
	e.t.Helper()
	b := bustest.Start(e.t, e.h.Pool)
	e.kafka, e.pub = b.Kafka, b.Publisher
}

func (e *env) consumerTemplate() bus.ConsumerConfig {
	return bus.ConsumerConfig{Kafka: e.kafka, Validator: e.reg, Logger: testLogger(), ShutdownTimeout: 5 * time.Second,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond,
		BackoffMin: 20 * time.Millisecond, BackoffMax: 300 * time.Millisecond}
}

// startConnector runs the whole connector (poller and consumer) with Start.
func (e *env) startConnector(cfg Config) {
	e.t.Helper()
	stop, err := StartWith(ctx, Deps{Pool: e.h.Pool, App: e.h.App, Consumer: e.consumerTemplate(), Publisher: e.pub, Config: cfg})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(stop)
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

// sapPost posts a material document to the simulator as an outside user
// would (token, cookie), failing the test unless SAP creates it.
func (e *env) sapPost(c *Connector, doc map[string]any) {
	e.t.Helper()
	if _, err := c.odata.post(ctx, "/"+svcDocument+"/A_MaterialDocumentHeader", doc); err != nil {
		e.t.Fatalf("post to SAP: %v", err)
	}
}

func odataDay(d domain.Date) string { return fmt.Sprintf("/Date(%d)/", d.In(time.UTC).UnixMilli()) }

// receipt is a 101 goods receipt of a new batch at a plant's cold store.
func receipt(plant, material, batch string, doses int, day, expires domain.Date) map[string]any {
	return map[string]any{"PostingDate": odataDay(day), "GoodsMovementCode": "01", "MaterialDocumentHeaderText": "Lieferung " + plant,
		"to_MaterialDocumentItem": []any{map[string]any{"Material": material, "Plant": plant, "StorageLocation": "KL01", "Batch": batch,
			"GoodsMovementType": "101", "GoodsMovementRefDocType": "B", "PurchaseOrder": "4500000001", "PurchaseOrderItem": "00010",
			"QuantityInEntryUnit": fmt.Sprint(doses), "EntryUnit": "ST", "ShelfLifeExpirationDate": odataDay(expires)}}}
}

// sapCount counts entities of a set matching filter.
func (e *env) sapCount(c *Connector, set, filter string) int {
	e.t.Helper()
	q := url.Values{}
	q.Set("$filter", filter)
	n := 0
	if err := c.odata.getAll(ctx, "/"+svcDocument+"/"+set, q, func(p *page) error { n += len(p.Records); return nil }); err != nil {
		e.t.Fatalf("count %s: %v", set, err)
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

// bookAndCheckOut books n residents at centre for product, checks them in
// and out with batch, and returns the references.
func (e *env) bookAndCheckOut(centre string, product domain.ProductID, batch string, n int) []string {
	t := e.t
	t.Helper()
	var refs []string
	for i := range n {
		birth := domain.Date{Year: 1940 + i%40, Month: time.Month(1 + i%12), Day: 1 + i%28}
		reg := e.h.Resident(t, birth)
		ap, err := e.h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: centre, Product: product})
		if err != nil {
			t.Fatalf("book %d: %v", i, err)
		}
		if _, err := e.h.App.CheckIn(ctx, ap.Reference, birth); err != nil {
			t.Fatalf("check in %d: %v", i, err)
		}
		if _, err := e.h.App.CheckOut(ctx, app.CheckOutInput{Reference: ap.Reference, Product: product, Batch: batch, VaccinatorID: "vacc-1"}); err != nil {
			t.Fatalf("check out %d: %v", i, err)
		}
		refs = append(refs, ap.Reference)
	}
	return refs
}

// doseEvents gives n doses of product with batch at centre through the core
// (a delivery, then booking, check-in and check-out) and returns their
// appointment.dose-administered events as the outbox holds them.
func (e *env) doseEvents(centre string, product domain.ProductID, batch string, n int) []bus.Message {
	t := e.t
	t.Helper()
	e.h.Deliver(t, centre, product, n, e.h.Today())
	var out []bus.Message
	for _, ref := range e.bookAndCheckOut(centre, product, batch, n) {
		out = append(out, e.doseEvent(ref))
	}
	return out
}

// doseEvent is the appointment.dose-administered event of ref in the outbox.
func (e *env) doseEvent(ref string) bus.Message {
	e.t.Helper()
	var topic string
	var payload string
	if err := e.h.Pool.QueryRow(ctx, `SELECT topic, payload::text FROM outbox WHERE key = $1 AND event_type = 'appointment.dose-administered'`, ref).
		Scan(&topic, &payload); err != nil {
		e.t.Fatalf("the dose event of %s: %v", ref, err)
	}
	return bus.Message{Topic: topic, Key: ref, Value: []byte(payload)}
}

func isGoodsIssuePost(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/A_MaterialDocumentHeader")
}

func decodeJSON(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
