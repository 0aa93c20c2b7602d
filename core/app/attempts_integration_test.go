package app_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
)

// ledgerHub is a hub with one resident who holds a booked appointment.
type ledgerHub struct {
	*hubtest.Hub
	birth domain.Date
	res   *domain.Resident
	ap    *domain.Appointment
}

func newLedgerHub(t *testing.T) *ledgerHub {
	t.Helper()
	h := hubtest.New(t, april12(t))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 9, 0), 5)
	h.Deliver(t, "test", domain.Janssen, 5, day)
	birth := domain.Date{Year: 1955, Month: 2, Day: 28}
	reg := h.Resident(t, birth)
	ap := hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID,
		CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 9, 0)}))
	return &ledgerHub{Hub: h, birth: birth, res: reg.Resident, ap: ap}
}

// wrong is the i-th wrong date of birth (never the resident's).
func (h *ledgerHub) wrong(i int) domain.Date {
	return domain.Date{Year: 1950 + i%40, Month: time.Month(1 + i%12), Day: 1 + i%27}
}

func (h *ledgerHub) outcomes(t *testing.T) map[string]int {
	t.Helper()
	logs, err := h.Store.AttemptLog(ctx, h.ap.Reference, h.res.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, l := range logs {
		out[l.Outcome]++
	}
	return out
}

func (h *ledgerHub) lockouts(t *testing.T) int {
	return h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'resident.lockout'`)
}

// replica builds a second App over its own pool on the same database, as a
// second hub process would.
func replica(t *testing.T, h *hubtest.Hub) *app.App {
	t.Helper()
	pool, err := pgxpool.New(ctx, h.Pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.New(pool, store.Options{DataKey: h.Key, Location: h.Loc, Events: reg})
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Ports{Residents: st, Campaign: st, RuleSets: st, Bookings: st, Stock: st, Waitlist: st, Reports: st,
		Verifications: st, Attempts: st}, app.Config{Location: h.Loc, Clock: h.Clock})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestParallelWrongGuessesAreEvaluatedOnlyUntilTheLock(t *testing.T) {
	h := newLedgerHub(t)
	apps := []*app.App{h.App, replica(t, h.Hub)} // two hub processes, one database
	const guesses = 50
	var wg sync.WaitGroup
	errs := make([]error, guesses)
	start := make(chan struct{})
	for i := range guesses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = apps[i%2].VerifyHolder(app.WithChannel(ctx, app.ChannelWeb), h.ap.Reference, h.wrong(i))
		}()
	}
	close(start)
	wg.Wait()
	mismatched, locked := 0, 0
	for _, err := range errs {
		switch {
		case errors.Is(err, domain.ErrLocked):
			locked++
		case errors.Is(err, domain.ErrNotFound):
			mismatched++
		default:
			t.Errorf("unexpected answer %v", err)
		}
	}
	if mismatched != 4 || locked != guesses-4 {
		t.Errorf("%d answered no-match, %d locked; want 4 and %d", mismatched, locked, guesses-4)
	}
	// Exactly 5 guesses were compared with the date of birth: 4 failures and
	// the one that locked; the other 45 were refused unchecked.
	got := h.outcomes(t)
	if got[app.AttemptFailure] != 4 || got[app.AttemptLocked] != 1 || got[app.AttemptRefused] != guesses-5 {
		t.Errorf("audited outcomes %v, want 4 failure, 1 locked, %d refused", got, guesses-5)
	}
	if n := h.lockouts(t); n != 1 {
		t.Errorf("%d resident.lockout events, want 1", n)
	}
	// The right date is refused too, with the end of the lock.
	_, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth)
	if until := domain.LockedUntil(err); !until.Equal(h.Clock.Now().Add(15 * time.Minute)) {
		t.Fatalf("right date while locked: %v, want locked until now+15min", err)
	}
	h.Clock.Advance(15 * time.Minute)
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); err != nil {
		t.Fatalf("right date after the lock: %v", err)
	}
	if n := h.Count(t, `SELECT count(*) FROM attempt_ledger`); n != 0 {
		t.Errorf("%d ledger rows after a success, want 0 (a success forgets the failures and the level)", n)
	}
}

func TestLockEventAndAuditRowsCarryNoPersonalData(t *testing.T) {
	h := newLedgerHub(t)
	c := app.WithCorrelationID(app.WithChannel(ctx, app.ChannelPhone), "call-42")
	for i := range 5 {
		if _, err := h.App.VerifyHolder(c, h.ap.Reference, h.wrong(i)); i < 4 && !errors.Is(err, domain.ErrNotFound) || i == 4 && !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("guess %d: %v", i+1, err)
		}
	}
	var data map[string]any
	var subject string
	if err := h.Pool.QueryRow(ctx, `SELECT key, payload->'data' FROM outbox WHERE event_type = 'resident.lockout'`).Scan(&subject, &data); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"resident_id": h.res.ID, "reference": h.ap.Reference, "channel": "phone",
		"locked_until": domain.Time(h.Clock.Now().Add(15 * time.Minute)), "failures": 5.0, "lockout": 1.0}
	for k, v := range want {
		if data[k] != v {
			t.Errorf("event data %s = %v, want %v", k, data[k], v)
		}
	}
	if len(data) != len(want) || subject != h.res.ID {
		t.Errorf("event %s: %v", subject, data)
	}
	logs, err := h.Store.AttemptLog(ctx, h.ap.Reference, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 5 || logs[4].Outcome != app.AttemptLocked || logs[0].Channel != "phone" || logs[0].CorrelationID != "call-42" ||
		logs[0].ResidentID != h.res.ID || logs[3].Failures != 4 {
		t.Errorf("audit rows %+v", logs)
	}
}

func TestFailuresOutsideTheWindowDoNotAddUp(t *testing.T) {
	h := newLedgerHub(t)
	for i := range 4 {
		if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.wrong(i)); !errors.Is(err, domain.ErrNotFound) {
			t.Fatal(err)
		}
	}
	h.Clock.Advance(15*time.Minute + time.Second)
	for i := range 4 {
		if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.wrong(i)); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("failure %d after the window: %v", i+1, err)
		}
	}
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); err != nil {
		t.Fatalf("right date: %v", err)
	}
	if n := h.lockouts(t); n != 0 {
		t.Errorf("%d lockouts, want 0", n)
	}
}

func TestEachFurtherLockLastsTwiceAsLong(t *testing.T) {
	h := newLedgerHub(t)
	lockFor := func() time.Duration {
		t.Helper()
		var err error
		for i := range 5 {
			_, err = h.App.VerifyHolder(ctx, h.ap.Reference, h.wrong(i))
		}
		until := domain.LockedUntil(err)
		if until.IsZero() {
			t.Fatalf("5 failures did not lock: %v", err)
		}
		return until.Sub(h.Clock.Now())
	}
	for _, want := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour} {
		got := lockFor()
		if got != want {
			t.Fatalf("lock of %v, want %v", got, want)
		}
		h.Clock.Advance(got - time.Second)
		if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("right date a second before the lock ends: %v", err)
		}
		h.Clock.Advance(time.Second)
	}
	var levels []int
	rows, err := h.Pool.Query(ctx, `SELECT (payload->'data'->>'lockout')::int FROM outbox WHERE event_type = 'resident.lockout' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n int
		_ = rows.Scan(&n)
		levels = append(levels, n)
	}
	if len(levels) != 4 || levels[3] != 4 {
		t.Errorf("lockout levels %v, want [1 2 3 4]", levels)
	}
	// A success resets the level.
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); err != nil {
		t.Fatal(err)
	}
	if got := lockFor(); got != 15*time.Minute {
		t.Errorf("lock after a success: %v, want 15m", got)
	}
}

func TestAFailureOnAReferenceCountsForItsResident(t *testing.T) {
	h := newLedgerHub(t)
	for i := range 3 {
		_, _ = h.App.VerifyHolder(app.WithChannel(ctx, app.ChannelWeb), h.ap.Reference, h.wrong(i))
	}
	// The hotline's registration-number path is keyed by the resident.
	for i := range 2 {
		_, err := h.App.VerifyResident(app.WithChannel(ctx, app.ChannelPhone), h.res.ID, h.wrong(i))
		if i == 1 && !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("5th failure (2nd by registration number): %v, want locked", err)
		}
	}
	if _, err := h.App.VerifyResident(ctx, h.res.ID, h.birth); !errors.Is(err, domain.ErrLocked) {
		t.Fatalf("right date by registration number: %v, want locked", err)
	}
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); !errors.Is(err, domain.ErrLocked) {
		t.Fatalf("right date by reference: %v, want locked (the resident is)", err)
	}
	h.Clock.Advance(15 * time.Minute)
	if r, err := h.App.VerifyResident(ctx, h.res.ID, h.birth); err != nil || r.ID != h.res.ID {
		t.Fatalf("after the lock: %v", err)
	}
}

func TestAnUnknownReferenceLocksLikeAKnownOne(t *testing.T) {
	h := newLedgerHub(t)
	unknown := domain.NewReference()
	for i := range 5 {
		_, err := h.App.VerifyHolder(ctx, unknown, h.wrong(i))
		if i < 4 && !errors.Is(err, domain.ErrNotFound) || i == 4 && !errors.Is(err, domain.ErrLocked) {
			t.Fatalf("guess %d on an unknown reference: %v", i+1, err)
		}
	}
	var subject string
	if err := h.Pool.QueryRow(ctx, `SELECT key FROM outbox WHERE event_type = 'resident.lockout'`).Scan(&subject); err != nil || subject != unknown {
		t.Fatalf("lockout event subject %q (%v), want the reference", subject, err)
	}
	// Registration numbers of nobody are keyed (and lock) the same way.
	nobody := domain.NewID()
	for range 5 {
		_, _ = h.App.VerifyResident(ctx, nobody, h.birth)
	}
	if _, err := h.App.VerifyResident(ctx, nobody, h.birth); !errors.Is(err, domain.ErrLocked) {
		t.Fatalf("unknown resident after 5 failures: %v, want locked", err)
	}
	if _, err := h.App.VerifyHolder(ctx, "12345", h.birth); !errors.Is(err, domain.ErrInvalid) {
		t.Errorf("malformed reference: %v, want invalid (not a guess)", err)
	}
}

func TestStaffCheckInCountsFailuresButIsNotStoppedByALock(t *testing.T) {
	h := newLedgerHub(t)
	h.Clock.Set(h.At(h.Today().AddDays(1), 8, 55))
	if _, err := h.App.CheckIn(ctx, h.ap.Reference, h.wrong(0)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("staff, wrong date: %v", err)
	}
	for i := 1; i < 5; i++ {
		_, _ = h.App.VerifyHolder(app.WithChannel(ctx, app.ChannelAPI), h.ap.Reference, h.wrong(i))
	}
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); !errors.Is(err, domain.ErrLocked) {
		t.Fatalf("the staff failure did not count: %v", err)
	}
	if _, err := h.App.CheckIn(ctx, h.ap.Reference, h.birth); err != nil {
		t.Fatalf("staff check-in of a locked resident: %v", err)
	}
	logs, err := h.Store.AttemptLog(ctx, h.ap.Reference, "")
	if err != nil {
		t.Fatal(err)
	}
	if logs[0].Channel != app.ChannelStaff || logs[len(logs)-1].Outcome != app.AttemptOverride {
		t.Errorf("audit %+v, want the staff failure first and the override last", logs)
	}
	// The lock stays for the other channels.
	if _, err := h.App.VerifyHolder(ctx, h.ap.Reference, h.birth); !errors.Is(err, domain.ErrLocked) {
		t.Errorf("after the staff check-in: %v, want still locked", err)
	}
}
