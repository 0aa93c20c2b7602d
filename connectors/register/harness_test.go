package register_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
	regsim "github.com/vaxhub/vaxhub/simulators/register"
)

var ctx = context.Background()

func testLogger() *slog.Logger {
	if os.Getenv("VAXHUB_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// world is the real hub (PostgreSQL, outbox relay, embedded broker), the
// register simulator over real HTTP and the register connector.
type world struct {
	*hubtest.Hub
	sim    *regsim.Simulator
	srv    *httptest.Server
	kafka  bus.Config
	reg    *schemas.Registry
	verify bool
}

type option func(*app.Config)

// newWorld builds the core with the real clock (round trips are timed from
// the database's timestamps), a centre with a slot tomorrow and stock, the
// open rule set (residence in Saxony required), and the register simulator.
func newWorld(t *testing.T, opts ...option) *world {
	t.Helper()
	pool := storetest.NewPool(t)
	loc := hubtest.Berlin(t)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(pool, store.Options{DataKey: key, Location: loc, Events: reg})
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.Config{Location: loc, RuleCacheTTL: time.Nanosecond, RequireVerification: true, Logger: testLogger()}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := app.New(app.Ports{Residents: st, Campaign: st, RuleSets: st, Bookings: st, Stock: st, Waitlist: st, Reports: st,
		Verifications: st, Attempts: st}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	clock := &hubtest.Clock{}
	clock.Set(time.Now())
	h := &hubtest.Hub{Pool: pool, Store: st, App: a, Clock: clock, Loc: loc, Key: key}
	h.SingleCentre(t)
	rs := h.OpenRules(t)
	if rs.ResidencePrefix != "14" {
		t.Fatalf("open rules: residence prefix %q, want 14", rs.ResidencePrefix)
	}
	h.Slot(t, h.At(h.Today().AddDays(1), 9, 0), 200)
	h.Slot(t, h.At(h.Today().AddDays(1), 9, 15), 200)
	h.Deliver(t, "test", domain.Janssen, 400, h.Today())

	sim, err := regsim.New(regsim.Config{Size: 50_000})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &world{Hub: h, sim: sim, srv: srv, reg: reg, verify: cfg.RequireVerification}
}

// startBus starts the embedded broker with the topics and the outbox relay.
func (w *world) startBus(t *testing.T) {
	t.Helper()
	w.kafka = bustest.Start(t, w.Pool).Kafka
}

// connectorConfig is the connector's configuration against the simulator.
func (w *world) connectorConfig() register.Config {
	return register.Config{BaseURL: w.srv.URL}
}

// startConnector runs register.StartWith against the simulator and the broker.
func (w *world) startConnector(t *testing.T) {
	t.Helper()
	stop, err := register.StartWith(ctx, register.Deps{App: w.App, Config: w.connectorConfig(), Logger: testLogger(),
		Consumer: bus.ConsumerConfig{Kafka: w.kafka, Validator: w.reg, Logger: testLogger(),
			BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
			SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

// person is one record of the simulator's /_sim/residents/sample.
type person struct {
	ID              string   `json:"id"`
	Kind            string   `json:"kind"`
	Status          string   `json:"status"`
	Family          string   `json:"family"`
	Given           []string `json:"given"`
	Gender          string   `json:"gender"`
	BirthDate       string   `json:"birth_date"`
	Street          string   `json:"street"`
	HouseNumber     string   `json:"house_number"`
	PostalCode      string   `json:"postal_code"`
	City            string   `json:"city"`
	MunicipalityKey string   `json:"municipality_key"`
}

// sample fetches n real residents of the synthetic population.
func (w *world) sample(t testing.TB, n int, query string) []person {
	t.Helper()
	resp, err := http.Get(w.srv.URL + "/_sim/residents/sample?min_age=18&n=" + itoa(n) + "&" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sample: %d %s", resp.StatusCode, b)
	}
	var out struct {
		Residents []person `json:"residents"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		var list []person
		if err2 := json.Unmarshal(b, &list); err2 != nil {
			t.Fatalf("sample: %v: %s", err, b)
		}
		out.Residents = list
	}
	if len(out.Residents) < n {
		t.Fatalf("sample: %d residents, want %d", len(out.Residents), n)
	}
	return out.Residents
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

var sexOf = map[string]domain.Sex{"female": domain.SexFemale, "male": domain.SexMale, "other": domain.SexDiverse, "unknown": domain.SexUnspecified}

// residentOf is the registration that p would type.
func residentOf(t testing.TB, p person) domain.Resident {
	t.Helper()
	bd, err := time.Parse(time.DateOnly, p.BirthDate)
	if err != nil {
		t.Fatal(err)
	}
	return domain.Resident{GivenNames: strings.Join(p.Given, " "), FamilyName: p.Family, BirthDate: domain.DateOf(bd), Sex: sexOf[p.Gender],
		Address: domain.Address{Street: strings.TrimSpace(p.Street + " " + p.HouseNumber), PostalCode: p.PostalCode, City: p.City,
			MunicipalityKey: p.MunicipalityKey}}
}

// register registers r through core/app, as the web API does.
func (w *world) register(t testing.TB, r domain.Resident) *app.Registered {
	t.Helper()
	reg, err := w.App.RegisterResident(ctx, app.Registration{Resident: r})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// verdict waits until the resident is decided.
func (w *world) verdict(t testing.TB, residentID string, timeout time.Duration) *domain.Verification {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := w.App.Verification(ctx, residentID)
		if err != nil {
			t.Fatal(err)
		}
		if v.Status != domain.RegisterUnverified {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no verdict for %s within %v", residentID, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *world) book(residentID string) (*domain.Appointment, error) {
	return w.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: residentID, CentreID: "test", Product: domain.Janssen})
}

// events counts the outbox rows of a type about a resident.
func (w *world) events(t testing.TB, typ, residentID string) int {
	t.Helper()
	return w.Count(t, `SELECT count(*) FROM outbox WHERE event_type = $1 AND key = $2`, typ, residentID)
}
