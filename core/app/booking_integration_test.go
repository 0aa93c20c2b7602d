package app_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

var ctx = context.Background()

// 12 April 2021, 08:00 in Dresden: rule set 2021-03-30 is in force.
func april12(t *testing.T) time.Time {
	return time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t))
}

func TestBookingHoldsBothDosesAtTheSameCentreInsideTheInterval(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 60)
	reg := h.Resident(t, domain.Date{Year: 1940, Month: 5, Day: 1}) // 80: group 1
	cases := []struct {
		product          domain.ProductID
		minDays, maxDays int
	}{{domain.Comirnaty, 21, 42}}
	for _, c := range cases {
		ap, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa", Product: c.product})
		if err != nil {
			t.Fatal(err)
		}
		if len(ap.Doses) != 2 || ap.CentreID != "riesa" {
			t.Fatalf("got %+v", ap)
		}
		gap := domain.DateOf(ap.Doses[0].Start.In(h.Loc)).DaysUntil(domain.DateOf(ap.Doses[1].Start.In(h.Loc)))
		if gap < c.minDays || gap > c.maxDays {
			t.Errorf("%s: dose 2 %d days after dose 1, want %d..%d", c.product, gap, c.minDays, c.maxDays)
		}
		if !domain.ValidReference(ap.Reference) {
			t.Errorf("reference %q has no valid check digit", ap.Reference)
		}
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.booked'`); n != 1 {
		t.Errorf("outbox has %d appointment.booked rows, want 1", n)
	}
	h.CheckInvariants(t)
}

func TestOneDoseProductBooksOneDose(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 5, 12, 8, 0, 0, 0, hubtest.Berlin(t))) // Janssen open to all adults since 10 May
	h.Saxony(t, 14)
	reg := h.Resident(t, domain.Date{Year: 1985, Month: 1, Day: 1})
	ap, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "dresden", Product: domain.Janssen})
	if err != nil {
		t.Fatal(err)
	}
	if len(ap.Doses) != 1 {
		t.Fatalf("janssen booked %d doses, want 1", len(ap.Doses))
	}
}

func TestRefusalsCarryAReasonToReadOut(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 14)
	young := h.Resident(t, domain.Date{Year: 1990, Month: 1, Day: 1}) // group 4: not open on 12 April 2021
	_, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: young.Resident.ID, CentreID: "riesa"})
	var ref *domain.Refusal
	if !errors.As(err, &ref) || !errors.Is(err, domain.ErrNotEntitled) || ref.Message == "" {
		t.Fatalf("got %v, want a not-entitled refusal with a message", err)
	}
	old := h.Resident(t, domain.Date{Year: 1970, Month: 1, Day: 1}, func(r *domain.Resident) { r.Indications = []domain.Indication{domain.IndTeacherPrimary} })
	_, err = h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: old.Resident.ID, CentreID: "riesa", Product: domain.Vaxzevria}) // 51: too young for Vaxzevria after 30 March
	if !errors.Is(err, domain.ErrProductNotAllowed) {
		t.Fatalf("got %v, want product not allowed", err)
	}
	outside := h.Resident(t, domain.Date{Year: 1930, Month: 1, Day: 1}, func(r *domain.Resident) {
		r.Address = domain.Address{Street: "Unter den Linden 1", PostalCode: "10117", City: "Berlin", MunicipalityKey: "11000000"}
	})
	_, err = h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: outside.Resident.ID, CentreID: "riesa"})
	if !errors.As(err, &ref) || ref.Code != "not-resident" {
		t.Fatalf("got %v, want not-resident", err)
	}
}

func TestResidentNeverHoldsTwoOpenSeriesUnderParallelLoad(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 60)
	reg := h.Resident(t, domain.Date{Year: 1935, Month: 3, Day: 3})
	var wg sync.WaitGroup
	var mu sync.Mutex
	booked, twice := 0, 0
	centres := []string{"riesa", "dresden", "leipzig", "pirna"}
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: centres[i%len(centres)]})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				booked++
			case errors.Is(err, domain.ErrAlreadyBooked):
				twice++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}(i)
	}
	wg.Wait()
	if booked != 1 || twice != 23 {
		t.Fatalf("booked %d, refused as already booked %d; want 1 and 23", booked, twice)
	}
	h.CheckInvariants(t)
}

func TestCancelFreesPlacesAndDoses(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 10, 0), 1)
	h.Deliver(t, "test", domain.Janssen, 1, day)
	a := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	b := h.Resident(t, domain.Date{Year: 1951, Month: 1, Day: 1})
	ap := hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: a.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 10, 0)}))
	if _, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: b.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 10, 0)}); !errors.Is(err, domain.ErrNoCapacity) {
		t.Fatalf("second booking of a one-place slot: %v, want no capacity", err)
	}
	if _, err := h.App.Cancel(ctx, ap.Reference, "resident"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: b.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 10, 0)}); err != nil {
		t.Fatalf("after cancelling, the place and the dose should be free: %v", err)
	}
	if _, err := h.App.Cancel(ctx, ap.Reference, "resident"); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("cancelling twice: %v, want conflict", err)
	}
	h.CheckInvariants(t)
}

func TestMoveIsAtomic(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 10, 0), 1)
	h.Slot(t, h.At(day, 11, 0), 1)
	h.Slot(t, h.At(day, 12, 0), 1)
	h.Deliver(t, "test", domain.Janssen, 10, day)
	a := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	b := h.Resident(t, domain.Date{Year: 1951, Month: 1, Day: 1})
	apA := hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: a.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 10, 0)}))
	hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: b.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 11, 0)}))
	// Moving into the full 11:00 slot fails and keeps 10:00.
	if _, err := h.App.Move(ctx, app.MoveInput{Reference: apA.Reference, SlotStart: h.At(day, 11, 0)}); !errors.Is(err, domain.ErrNoCapacity) {
		t.Fatalf("move into a full slot: %v, want no capacity", err)
	}
	got := hubtest.Must[*domain.Appointment](t)(h.App.Appointment(ctx, apA.Reference))
	if !got.Doses[0].Start.Equal(h.At(day, 10, 0)) || got.Status != domain.SeriesBooked {
		t.Fatalf("after a failed move: %+v, want the 10:00 booking unchanged", got)
	}
	moved := hubtest.Must[*domain.Appointment](t)(h.App.Move(ctx, app.MoveInput{Reference: apA.Reference, SlotStart: h.At(day, 12, 0)}))
	if !moved.Doses[0].Start.Equal(h.At(day, 12, 0)) || moved.Reference != apA.Reference {
		t.Fatalf("moved: %+v", moved)
	}
	if n := h.Count(t, `SELECT booked FROM slots WHERE starts_at = $1`, h.At(day, 10, 0)); n != 0 {
		t.Errorf("the old slot still holds %d", n)
	}
	h.CheckInvariants(t)
}

func TestNoDoseIsReservedBeforeItArrivesOrAfterItExpires(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.SingleCentre(t)
	h.OpenRules(t)
	d3, d5, d9 := h.Today().AddDays(3), h.Today().AddDays(5), h.Today().AddDays(9)
	for _, d := range []domain.Date{d3, d5, d9} {
		h.Slot(t, h.At(d, 10, 0), 5)
	}
	if _, err := h.App.RecordDelivery(ctx, app.Delivery{CentreID: "test", Product: domain.Janssen, Doses: 5, Arrives: d5, Expires: d5.AddDays(2)}); err != nil {
		t.Fatal(err)
	}
	people := make([]*app.Registered, 3)
	for i := range people {
		people[i] = h.Resident(t, domain.Date{Year: 1950 + i, Month: 1, Day: 1})
	}
	book := func(p *app.Registered, d domain.Date) error {
		_, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: p.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(d, 10, 0)})
		return err
	}
	if err := book(people[0], d3); !errors.Is(err, domain.ErrNoStock) {
		t.Errorf("before the delivery arrives: %v, want no stock", err)
	}
	if err := book(people[1], d9); !errors.Is(err, domain.ErrNoStock) {
		t.Errorf("after the batch expired: %v, want no stock", err)
	}
	if err := book(people[2], d5); err != nil {
		t.Errorf("on the day of the delivery: %v", err)
	}
	h.CheckInvariants(t)
}

func TestWaitlistIsServedInPriorityOrderWhenStockArrives(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	h.Slot(t, h.At(day, 9, 0), 10)
	g4 := h.Resident(t, domain.Date{Year: 1990, Month: 1, Day: 1}) // joins first, lowest priority
	g1 := h.Resident(t, domain.Date{Year: 1935, Month: 1, Day: 1})
	g2 := h.Resident(t, domain.Date{Year: 1948, Month: 1, Day: 1})
	for _, r := range []*app.Registered{g4, g1, g2} {
		if _, err := h.App.JoinWaitlist(ctx, r.Resident.ID, "test", "", domain.Janssen); err != nil {
			t.Fatal(err)
		}
		h.Clock.Advance(time.Minute)
	}
	h.Deliver(t, "test", domain.Janssen, 2, day) // two doses for three people
	for _, c := range []struct {
		who    *app.Registered
		served bool
	}{{g1, true}, {g2, true}, {g4, false}} {
		n := h.Count(t, `SELECT count(*) FROM waitlist WHERE resident_id = $1 AND status = 'served'`, c.who.Resident.ID)
		if (n == 1) != c.served {
			t.Errorf("resident born %s: served=%v, want %v", c.who.Resident.BirthDate, n == 1, c.served)
		}
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'waitlist.served'`); n != 2 {
		t.Errorf("%d waitlist.served events, want 2", n)
	}
	h.CheckInvariants(t)
}

func TestRuleSetTakesEffectAtItsTimeWithoutRestart(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 14)
	teacher := h.Resident(t, domain.Date{Year: 1975, Month: 6, Day: 1}, func(r *domain.Resident) { r.Indications = []domain.Indication{domain.IndTeacherPrimary} })
	before := hubtest.Must[*app.EntitlementView](t)(h.App.Entitlement(ctx, teacher.Resident.ID))
	if before.Group != 2 || !before.Open {
		t.Fatalf("teacher on 12 April 2021: %+v, want group 2, open", before)
	}
	rs, err := h.App.CurrentRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	closed := *rs
	closed.Version = "closed-from-noon"
	closed.EffectiveFrom = h.Clock.Now().Add(4 * time.Hour)
	closed.OpenGroups = []int{1}
	if err := h.App.PublishRuleSet(ctx, &closed); err != nil {
		t.Fatal(err)
	}
	still := hubtest.Must[*app.EntitlementView](t)(h.App.Entitlement(ctx, teacher.Resident.ID))
	if !still.Open {
		t.Fatalf("a rule set for noon applied at 08:00: %+v", still)
	}
	h.Clock.Advance(4*time.Hour + time.Second)
	after := hubtest.Must[*app.EntitlementView](t)(h.App.Entitlement(ctx, teacher.Resident.ID))
	if after.Open || after.RuleSet != "closed-from-noon" {
		t.Fatalf("after noon: %+v, want the new rule set, group 2 closed", after)
	}
}

func TestCheckInCheckOutNoShowAndReports(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 9, 0), 5)
	h.Deliver(t, "test", domain.Janssen, 5, day)
	birth := domain.Date{Year: 1955, Month: 2, Day: 28}
	comes := h.Resident(t, birth)
	stays := h.Resident(t, domain.Date{Year: 1990, Month: 1, Day: 1})
	apC := hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: comes.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 9, 0)}))
	apS := hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: stays.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: h.At(day, 9, 0)}))
	if _, err := h.App.CheckIn(ctx, apC.Reference, birth); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("check-in a day early: %v, want conflict (wrong day)", err)
	}
	h.Clock.Set(h.At(day, 8, 55))
	if _, err := h.App.CheckIn(ctx, apC.Reference, domain.Date{Year: 1955, Month: 3, Day: 1}); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("check-in with the wrong date of birth: %v, want not found", err)
	}
	hubtest.Must[*domain.Appointment](t)(h.App.CheckIn(ctx, apC.Reference, birth))
	if _, err := h.App.CheckOut(ctx, app.CheckOutInput{Reference: apC.Reference, Product: domain.Comirnaty, Batch: "EX1234", VaccinatorID: "dr-weiss"}); !errors.Is(err, domain.ErrProductNotAllowed) {
		t.Fatalf("checking out with another product: %v", err)
	}
	done := hubtest.Must[*domain.Appointment](t)(h.App.CheckOut(ctx, app.CheckOutInput{Reference: apC.Reference, Product: domain.Janssen, Batch: "EX1234", VaccinatorID: "dr-weiss"}))
	if done.Status != domain.SeriesCompleted || done.Doses[0].Batch != "EX1234" {
		t.Fatalf("after check-out: %+v", done)
	}
	h.Clock.Set(h.At(day, 21, 0))
	n, err := h.App.EndOfDay(ctx, "test", h.Clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("end of day: %d no-shows, %v; want 1", n, err)
	}
	gone := hubtest.Must[*domain.Appointment](t)(h.App.Appointment(ctx, apS.Reference))
	if gone.Status != domain.SeriesNoShow {
		t.Errorf("the absent resident's series is %s, want no-show", gone.Status)
	}
	p := hubtest.Must[*app.Progress](t)(h.App.Progress(ctx))
	if p.Totals["doses_administered"] != 1 || len(p.Doses) != 1 || p.Doses[0].AgeGroup != "60+" || p.Doses[0].Product != "janssen" {
		t.Errorf("progress: %+v", p)
	}
	rows := hubtest.Must[[]app.RKIRow](t)(h.App.RKIRows(ctx))
	want := app.RKIRow{Day: day.String(), DistrictAGS: "14627", AgeGroup: "60+", Protection: 2, Count: 1}
	if len(rows) != 1 || rows[0] != want {
		t.Errorf("RKI rows: %+v, want [%+v]", rows, want)
	}
	for _, typ := range []string{"appointment.checked-in", "appointment.dose-administered", "appointment.no-show"} {
		if c := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = $1`, typ); c != 1 {
			t.Errorf("%d %s events, want 1", c, typ)
		}
	}
	h.CheckInvariants(t)
}

func TestHealthDataIsSealedInTheDatabase(t *testing.T) {
	h := hubtest.New(t, april12(t))
	reg := h.Resident(t, domain.Date{Year: 1940, Month: 1, Day: 1}, func(r *domain.Resident) {
		r.Intolerances = []domain.Intolerance{domain.IntolerancePEG}
		r.Indications = []domain.Indication{domain.IndDementia}
	})
	var raw string
	if err := h.Pool.QueryRow(ctx, `SELECT r::text FROM residents r WHERE id = $1`, reg.Resident.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"peg", "dementia", "\\x7065"} { // \x7065 = "pe" in bytea hex
		if strings.Contains(raw, secret) {
			t.Errorf("the stored row reveals %q: %s", secret, raw)
		}
	}
	back := hubtest.Must[*domain.Resident](t)(h.App.Resident(ctx, reg.Resident.ID))
	if len(back.Intolerances) != 1 || back.Intolerances[0] != domain.IntolerancePEG || back.Indications[0] != domain.IndDementia {
		t.Errorf("health data did not come back: %+v", back)
	}
	var payloads string
	if err := h.Pool.QueryRow(ctx, `SELECT string_agg(payload::text, ' ') FROM outbox`).Scan(&payloads); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"peg", "dementia", "Nguyễn", "1940-01-01"} {
		if strings.Contains(payloads, secret) {
			t.Errorf("an event carries personal data %q", secret)
		}
	}
}

func TestBookingNeedsTheResidentsTokenUnlessStaffBooks(t *testing.T) {
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 30)
	reg := h.Resident(t, domain.Date{Year: 1940, Month: 5, Day: 1})
	other := h.Resident(t, domain.Date{Year: 1941, Month: 5, Day: 1})
	for _, tok := range []string{"", other.AccessToken, reg.AccessToken + "x"} {
		_, err := h.App.Book(ctx, app.BookingInput{AccessToken: tok, ResidentID: reg.Resident.ID, CentreID: "riesa"})
		if !errors.Is(err, domain.ErrForbidden) {
			t.Errorf("token %q: %v, want forbidden", tok, err)
		}
	}
	if _, err := h.App.Book(ctx, app.BookingInput{AccessToken: reg.AccessToken, ResidentID: reg.Resident.ID, CentreID: "riesa"}); err != nil {
		t.Errorf("with the resident's own token: %v", err)
	}
}
