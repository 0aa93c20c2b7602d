package domain

import (
	"errors"
	"testing"
	"time"
)

// series builds an open appointment with one dose per start time, each slot
// 15 minutes long.
func series(ref string, p ProductID, starts ...time.Time) *Appointment {
	a := &Appointment{Reference: ref, ResidentID: "res-1", CentreID: "dresden", Product: p, PriorityGroup: 2,
		Status: SeriesBooked, BookedAt: time.Date(2021, 3, 1, 9, 0, 0, 0, time.UTC)}
	for i, s := range starts {
		a.Doses = append(a.Doses, Dose{Number: i + 1, Product: p, SlotID: int64(i + 1), Start: s, End: s.Add(15 * time.Minute), Status: DoseBooked})
	}
	return a
}

func TestAppointmentCannotBeCheckedInOnAnotherDay(t *testing.T) {
	loc := berlin(t)
	slot := at(t, "2021-04-12", 9, 0)
	tests := []struct {
		name string
		when time.Time
		code string
	}{
		{"the evening before", at(t, "2021-04-11", 23, 59), "wrong-day"},
		{"the day before", at(t, "2021-04-11", 9, 0), "wrong-day"},
		{"the day after", at(t, "2021-04-13", 9, 0), "wrong-day"},
		{"a week later", at(t, "2021-04-19", 9, 0), "wrong-day"},
		{"just after local midnight (22:30 UTC the day before)", at(t, "2021-04-12", 0, 30), ""},
		{"early", at(t, "2021-04-12", 7, 45), ""},
		{"late the same day", at(t, "2021-04-12", 19, 55), ""},
		// 23:30 UTC on the 11th is already the 12th in Berlin; 22:30 UTC on the 12th is the 13th.
		{"UTC clock on the day before, Berlin on the day", time.Date(2021, 4, 11, 22, 30, 0, 0, time.UTC), ""},
		{"UTC clock on the day, Berlin the day after", time.Date(2021, 4, 12, 22, 30, 0, 0, time.UTC), "wrong-day"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := series("1234567890", Comirnaty, slot, at(t, "2021-05-10", 9, 0))
			got, err := a.CheckIn(tc.when, loc)
			if tc.code != "" {
				if refusalCode(err) != tc.code || !errors.Is(err, ErrConflict) {
					t.Fatalf("CheckIn = %v, want %s", err, tc.code)
				}
				if got != nil || a.Doses[0].Status != DoseBooked || a.Doses[0].CheckedInAt != nil {
					t.Fatalf("refused check-in changed the dose: %+v", a.Doses[0])
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckIn = %v", err)
			}
			if got != &a.Doses[0] || got.Status != DoseCheckedIn || got.CheckedInAt == nil || !got.CheckedInAt.Equal(tc.when) {
				t.Fatalf("checked-in dose %+v", got)
			}
			if a.Doses[1].Status != DoseBooked {
				t.Fatalf("dose 2 changed: %+v", a.Doses[1])
			}
		})
	}
}

func TestCheckInRefusals(t *testing.T) {
	loc := berlin(t)
	slot := at(t, "2021-04-12", 9, 0)
	now := at(t, "2021-04-12", 8, 50)

	a := series("1234567890", Comirnaty, slot)
	if _, err := a.CheckIn(now, loc); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CheckIn(now.Add(time.Minute), loc); refusalCode(err) != "already-checked-in" {
		t.Fatalf("second check-in: %v, want already-checked-in", err)
	}
	if !a.Doses[0].CheckedInAt.Equal(now) {
		t.Fatalf("second check-in moved the time to %s", a.Doses[0].CheckedInAt)
	}

	for _, st := range []SeriesStatus{SeriesCancelled, SeriesCompleted, SeriesNoShow} {
		b := series("1234567890", Comirnaty, slot)
		b.Status = st
		if _, err := b.CheckIn(now, loc); refusalCode(err) != "not-open" || !errors.Is(err, ErrConflict) {
			t.Errorf("check-in of %s series: %v, want not-open", st, err)
		}
	}

	c := series("1234567890", Comirnaty, slot)
	c.Doses[0].Status = DoseCancelled
	if _, err := c.CheckIn(now, loc); refusalCode(err) != "no-open-dose" {
		t.Fatalf("check-in without open dose: %v, want no-open-dose", err)
	}
}

func TestCheckInTakesTheFirstOpenDose(t *testing.T) {
	loc := berlin(t)
	a := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
	a.Doses[0].Status = DoseAdministered
	// Dose 2 is due on 10 May: checking in on the old day fails, on the day works.
	if _, err := a.CheckIn(at(t, "2021-04-12", 9, 0), loc); refusalCode(err) != "wrong-day" {
		t.Fatalf("check-in for dose 2 on dose 1's day: %v, want wrong-day", err)
	}
	got, err := a.CheckIn(at(t, "2021-05-10", 8, 55), loc)
	if err != nil || got.Number != 2 {
		t.Fatalf("check-in for dose 2: %+v %v", got, err)
	}
}

func TestAdministerCompletesSeries(t *testing.T) {
	loc := berlin(t)
	a := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
	if err := a.CanCancel(); err != nil {
		t.Fatalf("CanCancel before any dose: %v", err)
	}

	// Dose 1.
	if _, err := a.CheckIn(at(t, "2021-04-12", 8, 55), loc); err != nil {
		t.Fatal(err)
	}
	t1 := at(t, "2021-04-12", 9, 7)
	d1, err := a.Administer(Comirnaty, "EW2239", "vacc-7", t1)
	if err != nil {
		t.Fatal(err)
	}
	if d1.Number != 1 || d1.Status != DoseAdministered || d1.Batch != "EW2239" || d1.VaccinatorID != "vacc-7" || !d1.AdministeredAt.Equal(t1) {
		t.Fatalf("dose 1 = %+v", d1)
	}
	if a.Status != SeriesBooked {
		t.Fatalf("after dose 1 of 2 the series is %s, want booked", a.Status)
	}
	if open := a.OpenDose(); open == nil || open.Number != 2 {
		t.Fatalf("open dose after dose 1: %+v, want dose 2", open)
	}
	if err := a.CanCancel(); refusalCode(err) != "dose-given" || !errors.Is(err, ErrConflict) {
		t.Fatalf("CanCancel after dose 1: %v, want dose-given", err)
	}

	// Dose 2.
	if _, err := a.CheckIn(at(t, "2021-05-10", 8, 58), loc); err != nil {
		t.Fatal(err)
	}
	t2 := at(t, "2021-05-10", 9, 4)
	d2, err := a.Administer(Comirnaty, "FA4598", "vacc-3", t2)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Number != 2 || d2.Status != DoseAdministered || d2.Batch != "FA4598" || !d2.AdministeredAt.Equal(t2) {
		t.Fatalf("dose 2 = %+v", d2)
	}
	if a.Status != SeriesCompleted {
		t.Fatalf("after dose 2 of 2 the series is %s, want completed", a.Status)
	}
	if a.OpenDose() != nil {
		t.Fatalf("open dose after the series: %+v", a.OpenDose())
	}
	if d1.Batch != "EW2239" || a.Doses[0].Status != DoseAdministered {
		t.Fatalf("dose 2 changed dose 1: %+v", a.Doses[0])
	}
	if err := a.CanCancel(); refusalCode(err) != "not-open" {
		t.Fatalf("CanCancel of a completed series: %v, want not-open", err)
	}
	if _, err := a.CheckIn(at(t, "2021-05-10", 9, 30), loc); refusalCode(err) != "not-open" {
		t.Fatalf("CheckIn of a completed series: %v, want not-open", err)
	}

	// A single-dose series completes with its only dose.
	j := series("9999999990", Janssen, at(t, "2021-05-12", 10, 0))
	if _, err := j.CheckIn(at(t, "2021-05-12", 9, 50), loc); err != nil {
		t.Fatal(err)
	}
	if _, err := j.Administer(Janssen, "XD955", "vacc-1", at(t, "2021-05-12", 10, 3)); err != nil {
		t.Fatal(err)
	}
	if j.Status != SeriesCompleted {
		t.Fatalf("Janssen series is %s after its dose, want completed", j.Status)
	}
}

func TestAdministerRefusals(t *testing.T) {
	loc := berlin(t)
	when := at(t, "2021-04-12", 9, 5)
	checkedIn := func() *Appointment {
		a := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
		if _, err := a.CheckIn(at(t, "2021-04-12", 8, 55), loc); err != nil {
			t.Fatal(err)
		}
		return a
	}
	tests := []struct {
		name       string
		appt       func() *Appointment
		product    ProductID
		batch, vac string
		code       string // refusal code, or "field:<name>"
		kind       error
	}{
		{"not checked in", func() *Appointment {
			return series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0))
		}, Comirnaty, "EW2239", "vacc-7", "not-checked-in", ErrConflict},
		{"no batch", checkedIn, Comirnaty, "", "vacc-7", "field:batch", ErrInvalid},
		{"no vaccinator", checkedIn, Comirnaty, "EW2239", "", "field:vaccinator_id", ErrInvalid},
		{"another product than planned", checkedIn, Spikevax, "EW2239", "vacc-7", "wrong-product", ErrProductNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.appt()
			before := a.Doses[0]
			got, err := a.Administer(tc.product, tc.batch, tc.vac, when)
			if got != nil || !errors.Is(err, tc.kind) {
				t.Fatalf("Administer = %+v, %v; want %v", got, err, tc.kind)
			}
			var fe *FieldError
			switch {
			case errors.As(err, &fe):
				if "field:"+fe.Field != tc.code {
					t.Fatalf("field %s, want %s", fe.Field, tc.code)
				}
			case refusalCode(err) != tc.code:
				t.Fatalf("code %s, want %s", refusalCode(err), tc.code)
			}
			if a.Doses[0].Status != before.Status || a.Doses[0].AdministeredAt != nil || a.Status != SeriesBooked {
				t.Fatalf("refused administration changed the series: %+v", a)
			}
		})
	}
}

func TestCanCancel(t *testing.T) {
	loc := berlin(t)
	tests := []struct {
		name string
		edit func(a *Appointment)
		code string
	}{
		{"booked", func(a *Appointment) {}, ""},
		{"checked in, not yet given", func(a *Appointment) {
			if _, err := a.CheckIn(at(t, "2021-04-12", 8, 55), loc); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"cancelled", func(a *Appointment) { a.Status = SeriesCancelled }, "not-open"},
		{"no-show", func(a *Appointment) { a.Status = SeriesNoShow }, "not-open"},
		{"first dose given", func(a *Appointment) { a.Doses[0].Status = DoseAdministered }, "dose-given"},
	}
	for _, tc := range tests {
		a := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
		tc.edit(a)
		if got := refusalCode(a.CanCancel()); got != tc.code {
			t.Errorf("%s: CanCancel code %q, want %q", tc.name, got, tc.code)
		}
	}
}
