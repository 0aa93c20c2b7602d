package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// TestWhatIfVaxzevriaRestrictionOf30March2021 replays the rule change of 30
// March 2021 (Vaxzevria only for 60 and over) as a draft against bookings made
// on 20 March: the answer must name every booked under-60 Vaxzevria second
// dose, and nothing else, and change nothing.
func TestWhatIfVaxzevriaRestrictionOf30March2021(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 3, 20, 10, 0, 0, 0, hubtest.Berlin(t)))
	c := h.Saxony(t, 100)
	if rs, err := h.App.CurrentRules(ctx); err != nil || rs.Version != "2021-03-19" {
		t.Fatalf("rules in force on 20 March 2021: %v %v, want 2021-03-19", rs, err)
	}
	teacher := func(r *domain.Resident) { r.Indications = []domain.Indication{domain.IndTeacherPrimary} }
	book := func(reg *app.Registered, centre string, p domain.ProductID) *domain.Appointment {
		t.Helper()
		return hubtest.Must[*domain.Appointment](t)(h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: centre, Product: p}))
	}
	var wantBroken []string
	for i, centre := range []string{"riesa", "dresden", "leipzig"} { // teachers in their forties: group 2
		ap := book(h.Resident(t, domain.Date{Year: 1976 + i, Month: 5, Day: 1}, teacher), centre, domain.Vaxzevria)
		wantBroken = append(wantBroken, ap.Reference)
	}
	book(h.Resident(t, domain.Date{Year: 1949, Month: 1, Day: 1}), "riesa", domain.Vaxzevria)          // 72: stays allowed
	book(h.Resident(t, domain.Date{Year: 1950, Month: 7, Day: 1}), "pirna", domain.Vaxzevria)          // 70: stays allowed
	book(h.Resident(t, domain.Date{Year: 1980, Month: 1, Day: 1}, teacher), "riesa", domain.Comirnaty) // mRNA: unaffected
	h.Resident(t, domain.Date{Year: 1956, Month: 1, Day: 1})                                           // 65: group 3 opens on 30 March

	var draft domain.RuleSet
	for _, rs := range c.RuleSets {
		if rs.Version == "2021-03-30" {
			draft = rs
		}
	}
	draft.Version = "draft-2021-03-30"
	outboxBefore := h.Count(t, `SELECT count(*) FROM outbox`)
	rep := hubtest.Must[*domain.WhatIfReport](t)(h.App.WhatIf(ctx, &draft))

	var gotBroken []string
	for _, b := range rep.BrokenDoses {
		if b.DoseNumber != 2 || b.Product != domain.Vaxzevria || b.Code != "product-age" {
			t.Errorf("unexpected broken dose: %+v", b)
		}
		gotBroken = append(gotBroken, b.Reference)
	}
	slices.Sort(gotBroken)
	slices.Sort(wantBroken)
	if !slices.Equal(gotBroken, wantBroken) {
		t.Errorf("broken second doses: %v, want exactly the under-60 Vaxzevria series %v", gotBroken, wantBroken)
	}
	if rep.Residents != 7 || rep.NewlyEntitled != 1 || rep.ChangedGroup != 0 || rep.NoLongerEntitled != 0 {
		t.Errorf("counts: %+v, want 7 residents, 1 newly entitled (the 65-year-old), 0 changed group", rep)
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox`); n != outboxBefore {
		t.Errorf("what-if wrote %d outbox rows", n-outboxBefore)
	}
	if n := h.Count(t, `SELECT count(*) FROM rulesets WHERE version = $1`, draft.Version); n != 0 {
		t.Error("what-if published the draft")
	}
	// From 31 March on, a teacher in her forties who had Vaxzevria first
	// gets an mRNA second dose.
	h.Clock.Set(time.Date(2021, 3, 31, 9, 0, 0, 0, h.Loc))
	rs := hubtest.Must[*domain.RuleSet](t)(h.App.CurrentRules(ctx))
	if rs.Version != "2021-03-30" {
		t.Fatalf("rules in force on 31 March: %s", rs.Version)
	}
	forty := &domain.Resident{BirthDate: domain.Date{Year: 1977, Month: 5, Day: 1}, Indications: []domain.Indication{domain.IndTeacherPrimary},
		Address: domain.Address{MunicipalityKey: "14627230"}}
	next, err := rs.NextDoseFor(domain.Vaxzevria, forty, domain.Date{Year: 2021, Month: 3, Day: 21})
	if err != nil || next.Product != domain.Comirnaty {
		t.Errorf("second dose after Vaxzevria for a 44-year-old: %+v %v, want comirnaty", next, err)
	}
}
