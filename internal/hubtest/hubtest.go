// Package hubtest builds the real core (PostgreSQL store, schemas, use cases)
// on a fresh database for integration tests, with a clock the test controls.
// It is test support only; nothing in production imports it.
package hubtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/deploy/campaign"
	"github.com/vaxhub/vaxhub/schemas"
)

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// Hub is the real core on a fresh database.
type Hub struct {
	Pool  *pgxpool.Pool
	Store *store.Store
	App   *app.App
	Clock *Clock
	Loc   *time.Location
	Key   []byte
}

// Berlin is the campaign's time zone.
func Berlin(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// New builds the core on a fresh, migrated database with the clock at now.
func New(t testing.TB, now time.Time) *Hub {
	t.Helper()
	return NewOn(t, storetest.NewPool(t), now)
}

// NewOn builds the core on pool, a migrated database (storetest.NewPool,
// storetest.NewUpgradedPool), with the clock at now.
func NewOn(t testing.TB, pool *pgxpool.Pool, now time.Time) *Hub {
	t.Helper()
	loc := Berlin(t)
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
	clock := &Clock{t: now}
	a, err := app.New(app.Ports{Residents: st, Campaign: st, RuleSets: st, Bookings: st, Stock: st, Waitlist: st, Reports: st, Verifications: st, Attempts: st, Events: st},
		app.Config{Location: loc, Clock: clock, RuleCacheTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return &Hub{Pool: pool, Store: st, App: a, Clock: clock, Loc: loc, Key: key}
}

// Saxony loads the Saxony 2021 campaign with slots for days days from the
// clock's day, and its announced supply.
func (h *Hub) Saxony(t testing.TB, days int) *campaign.Campaign {
	t.Helper()
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := campaign.Apply(context.Background(), c, h.Store, h.App, h.Today(), days); err != nil {
		t.Fatal(err)
	}
	return c
}

// Today is the clock's day in Berlin.
func (h *Hub) Today() domain.Date { return domain.DateOf(h.Clock.Now().In(h.Loc)) }

// At returns the time hh:mm on day d in Berlin.
func (h *Hub) At(d domain.Date, hh, mm int) time.Time {
	return time.Date(d.Year, d.Month, d.Day, hh, mm, 0, 0, h.Loc)
}

// SingleCentre stores one centre "test" (district Meißen) and the four
// products, with no slots and no stock; the test adds what it needs.
func (h *Hub) SingleCentre(t testing.TB) {
	t.Helper()
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	centre := domain.Centre{ID: "test", Name: "Impfzentrum Test", DistrictAGS: "14627", MunicipalityKey: "14627230", City: "Riesa",
		PostalCode: "01587", Opens: domain.Clock{Minutes: 8 * 60}, Closes: domain.Clock{Minutes: 20 * 60}, Booths: 4,
		MinutesPerVaccination: 10, SlotMinutes: 15, Shifts: []domain.Shift{{From: domain.Clock{Minutes: 8 * 60}, To: domain.Clock{Minutes: 20 * 60}, Vaccinators: 4}}}
	if err := h.Store.SaveCampaign(context.Background(), []domain.Centre{centre}, c.Products); err != nil {
		t.Fatal(err)
	}
}

// OpenRules publishes a rule set, in force since 2020, under which every
// adult in Saxony may have every product (the state after June 2021).
func (h *Hub) OpenRules(t testing.TB) *domain.RuleSet {
	t.Helper()
	c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
	if err != nil {
		t.Fatal(err)
	}
	rs := c.RuleSets[len(c.RuleSets)-1]
	rs.Version = "test-open"
	rs.EffectiveFrom = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := h.App.PublishRuleSet(context.Background(), &rs); err != nil {
		t.Fatal(err)
	}
	return &rs
}

// Slot creates one slot at the test centre.
func (h *Hub) Slot(t testing.TB, start time.Time, places int) {
	t.Helper()
	if _, err := h.Store.EnsureSlots(context.Background(), "test", []domain.SlotSpec{{Start: start, End: start.Add(15 * time.Minute), Places: places}}); err != nil {
		t.Fatal(err)
	}
}

// Deliver records doses of product at the test centre arriving on day.
func (h *Hub) Deliver(t testing.TB, centre string, product domain.ProductID, doses int, day domain.Date) {
	t.Helper()
	if _, err := h.App.RecordDelivery(context.Background(), app.Delivery{CentreID: centre, Product: product, Doses: doses, Arrives: day}); err != nil {
		t.Fatal(err)
	}
}

// Resident registers a resident born on birth, living in Riesa.
func (h *Hub) Resident(t testing.TB, birth domain.Date, opts ...func(*domain.Resident)) *app.Registered {
	t.Helper()
	r := domain.Resident{GivenNames: "Zoë", FamilyName: "Nguyễn", BirthDate: birth, Sex: domain.SexFemale,
		Address: domain.Address{Street: "Hauptstraße 1", PostalCode: "01587", City: "Riesa", MunicipalityKey: "14627230"}}
	for _, o := range opts {
		o(&r)
	}
	reg, err := h.App.RegisterResident(context.Background(), app.Registration{Resident: r})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return reg
}

// Count runs a count query.
func (h *Hub) Count(t testing.TB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := h.Pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// CheckInvariants asserts the booking invariants (store.CheckInvariants).
func (h *Hub) CheckInvariants(t testing.TB) {
	t.Helper()
	broken, err := h.Store.CheckInvariants(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Errorf("invariant %s", b)
	}
}

// Must fails the test on err.
func Must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(fmt.Errorf("unexpected: %w", err))
		}
		return v
	}
}
