package domain

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// vaxSeries is an open Vaxzevria series of resident r: dose 1 given (or
// booked) at d1, dose 2 booked at d2.
func vaxSeries(ref string, r *Resident, p1, p2 ProductID, d1 time.Time, s1 DoseStatus, d2 time.Time, s2 DoseStatus) *Appointment {
	a := series(ref, p1, d1, d2)
	a.ResidentID = r.ID
	a.Doses[0].Status = s1
	a.Doses[1].Product, a.Doses[1].Status = p2, s2
	return a
}

func TestWhatIfNamesEveryBrokenVaxzevriaSecondDose(t *testing.T) {
	loc := berlin(t)
	w := NewWhatIf(ruleSet(t, "2021-03-19"), ruleSet(t, "2021-03-30"), Date{2021, 3, 25}, loc)
	if w.Report.JudgedOn != "2021-03-30" || w.Report.CurrentVersion != "2021-03-19" || w.Report.DraftVersion != "2021-03-30" {
		t.Fatalf("report header %+v", w.Report)
	}

	teacher := resident(t, "1976-05-01", IndTeacherPrimary) // 44, 45 from 1 May
	teacher.ID = "teacher"
	senior := resident(t, "1955-05-01", IndChronicCondition) // 65
	senior.ID = "senior"
	carer := resident(t, "1985-10-10", IndCareHomeStaff) // 35
	carer.ID = "carer"
	police := resident(t, "1966-01-15", IndPolice) // 55
	police.ID = "police"
	turning60 := resident(t, "1961-05-01", IndPolice) // 59 now, 60 on 1 May
	turning60.ID = "turning60"
	early := resident(t, "1980-02-02", IndCareHomeStaff) // 41
	early.ID = "early"
	quitter := resident(t, "1971-01-01", IndPolice)
	quitter.ID = "quitter"

	given, booked, checkedIn := DoseAdministered, DoseBooked, DoseCheckedIn
	cancelled := vaxSeries("1000000009", quitter, Vaxzevria, Vaxzevria, at(t, "2021-03-22", 10, 0), booked, at(t, "2021-05-24", 10, 0), booked)
	cancelled.Status = SeriesCancelled
	appts := []struct {
		a *Appointment
		r *Resident
	}{
		// Under 60 with Vaxzevria dose 2 after 30 March: broken.
		{vaxSeries("1111111111", teacher, Vaxzevria, Vaxzevria, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), teacher},
		// 60 and over: fine.
		{vaxSeries("2222222222", senior, Vaxzevria, Vaxzevria, at(t, "2021-03-23", 9, 0), given, at(t, "2021-05-25", 9, 0), booked), senior},
		// Both doses still to come: both broken.
		{vaxSeries("3333333333", carer, Vaxzevria, Vaxzevria, at(t, "2021-04-01", 11, 15), booked, at(t, "2021-06-10", 11, 15), booked), carer},
		// mRNA series: fine.
		{vaxSeries("4444444444", teacher, Comirnaty, Comirnaty, at(t, "2021-03-29", 9, 0), given, at(t, "2021-04-19", 9, 0), booked), teacher},
		// Dose 1 before the draft takes effect is not judged; dose 2 is.
		{vaxSeries("5555555555", police, Vaxzevria, Vaxzevria, at(t, "2021-03-29", 23, 45), booked, at(t, "2021-05-31", 8, 0), booked), police},
		// 60 by the day of dose 2: fine.
		{vaxSeries("6666666666", turning60, Vaxzevria, Vaxzevria, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), turning60},
		// Checked in counts as still to be given.
		{vaxSeries("7777777777", early, Vaxzevria, Vaxzevria, at(t, "2021-02-08", 9, 0), given, at(t, "2021-04-12", 9, 0), checkedIn), early},
		// Cancelled series are not judged.
		{cancelled, quitter},
		// Re-planned to mRNA already: fine.
		{vaxSeries("8888888888", teacher, Vaxzevria, Comirnaty, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), teacher},
	}
	before, _ := json.Marshal(appts[0].a)
	for _, x := range appts {
		w.AddAppointment(x.a, x.r)
	}
	if after, _ := json.Marshal(appts[0].a); string(after) != string(before) {
		t.Fatalf("what-if changed an appointment:\n%s\n%s", before, after)
	}

	want := []BrokenBooking{
		{Reference: "1111111111", ResidentID: "teacher", CentreID: "dresden", DoseNumber: 2, Product: Vaxzevria, SlotStart: at(t, "2021-05-24", 9, 0), Code: "product-age", Reason: "Dieser Impfstoff ist für Ihr Alter (45 Jahre) nicht freigegeben."},
		{Reference: "3333333333", ResidentID: "carer", CentreID: "dresden", DoseNumber: 1, Product: Vaxzevria, SlotStart: at(t, "2021-04-01", 11, 15), Code: "product-age", Reason: "Dieser Impfstoff ist für Ihr Alter (35 Jahre) nicht freigegeben."},
		{Reference: "3333333333", ResidentID: "carer", CentreID: "dresden", DoseNumber: 2, Product: Vaxzevria, SlotStart: at(t, "2021-06-10", 11, 15), Code: "product-age", Reason: "Dieser Impfstoff ist für Ihr Alter (35 Jahre) nicht freigegeben."},
		{Reference: "5555555555", ResidentID: "police", CentreID: "dresden", DoseNumber: 2, Product: Vaxzevria, SlotStart: at(t, "2021-05-31", 8, 0), Code: "product-age", Reason: "Dieser Impfstoff ist für Ihr Alter (55 Jahre) nicht freigegeben."},
		{Reference: "7777777777", ResidentID: "early", CentreID: "dresden", DoseNumber: 2, Product: Vaxzevria, SlotStart: at(t, "2021-04-12", 9, 0), Code: "product-age", Reason: "Dieser Impfstoff ist für Ihr Alter (41 Jahre) nicht freigegeben."},
	}
	got := w.Report.BrokenDoses
	if len(got) != len(want) {
		t.Fatalf("%d broken doses, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.SlotStart.Equal(w.SlotStart) {
			t.Errorf("broken dose %d starts %s, want %s", i, g.SlotStart, w.SlotStart)
		}
		g.SlotStart, w.SlotStart = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("broken dose %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestWhatIfFollowUpChecks(t *testing.T) {
	loc := berlin(t)
	senior := resident(t, "1955-05-01", IndChronicCondition) // 65
	senior.ID = "senior"
	given, booked := DoseAdministered, DoseBooked

	withoutVaxzevria := ruleSet(t, "2021-03-30")
	withoutVaxzevria.Vaccines = slices.DeleteFunc(withoutVaxzevria.Vaccines, func(v VaccineRule) bool { return v.Product == Vaxzevria })

	tests := []struct {
		name  string
		draft *RuleSet
		a     *Appointment
		code  string
	}{
		{"interval too short", ruleSet(t, "2021-03-30"),
			vaxSeries("1111111111", senior, Vaxzevria, Vaxzevria, at(t, "2021-04-01", 9, 0), booked, at(t, "2021-05-20", 9, 0), booked), "interval"},
		{"interval too long", ruleSet(t, "2021-03-30"),
			vaxSeries("1111111111", senior, Vaxzevria, Vaxzevria, at(t, "2021-04-01", 9, 0), booked, at(t, "2021-06-25", 9, 0), booked), "interval"},
		{"interval at 63 days", ruleSet(t, "2021-03-30"),
			vaxSeries("1111111111", senior, Vaxzevria, Vaxzevria, at(t, "2021-04-01", 9, 0), booked, at(t, "2021-06-03", 9, 0), booked), ""},
		{"interval at 84 days", ruleSet(t, "2021-03-30"),
			vaxSeries("1111111111", senior, Vaxzevria, Vaxzevria, at(t, "2021-04-01", 9, 0), booked, at(t, "2021-06-24", 9, 0), booked), ""},
		{"heterologous follow-up allowed", ruleSet(t, "2021-03-30"),
			vaxSeries("1111111111", senior, Vaxzevria, Spikevax, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), ""},
		{"heterologous follow-up not in the draft", ruleSet(t, "2021-03-19"),
			vaxSeries("1111111111", senior, Vaxzevria, Comirnaty, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), "follow-up-not-allowed"},
		{"first dose's product dropped", withoutVaxzevria,
			vaxSeries("1111111111", senior, Vaxzevria, Comirnaty, at(t, "2021-03-22", 9, 0), given, at(t, "2021-05-24", 9, 0), booked), "product-unknown"},
		{"mRNA 28 days after Vaxzevria is fine from 1 July", ruleSet(t, "2021-07-01"),
			vaxSeries("1111111111", senior, Vaxzevria, Comirnaty, at(t, "2021-07-02", 9, 0), booked, at(t, "2021-07-30", 9, 0), booked), ""},
		{"mRNA 27 days after Vaxzevria is too early", ruleSet(t, "2021-07-01"),
			vaxSeries("1111111111", senior, Vaxzevria, Comirnaty, at(t, "2021-07-02", 9, 0), booked, at(t, "2021-07-29", 9, 0), booked), "interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWhatIf(nil, tc.draft, Date{2021, 3, 1}, loc)
			w.AddAppointment(tc.a, senior)
			got := w.Report.BrokenDoses
			if tc.code == "" {
				if len(got) != 0 {
					t.Fatalf("broken %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || got[0].DoseNumber != 2 || got[0].Code != tc.code || got[0].Reason == "" {
				t.Fatalf("broken %+v, want dose 2 with %s", got, tc.code)
			}
		})
	}
}

func TestWhatIfCountsResidents(t *testing.T) {
	loc := berlin(t)
	pegCarer := resident(t, "1991-01-01", IndCareHomeStaff)
	pegCarer.Intolerances = []Intolerance{IntolerancePEG}
	residents := []*Resident{
		resident(t, "1976-05-01", IndTeacherPrimary),   // group 2 both times, entitled both times
		resident(t, "1955-05-01", IndChronicCondition), // group 3 opens: newly entitled
		resident(t, "1975-09-09", IndRetail),           // group 3 opens: newly entitled
		resident(t, "1981-01-01"),                      // group 4: never entitled
		pegCarer,                                       // only Vaxzevria, now 60+ only: no longer entitled
		resident(t, "1935-07-01"),                      // group 1: entitled both times
	}
	w := NewWhatIf(ruleSet(t, "2021-03-19"), ruleSet(t, "2021-03-30"), Date{2021, 3, 25}, loc)
	for _, r := range residents {
		w.AddResident(r)
	}
	r := w.Report
	if r.Residents != 6 || r.ChangedGroup != 0 || r.NewlyEntitled != 2 || r.NoLongerEntitled != 1 {
		t.Fatalf("report %+v, want 6 residents, 0 changed group, 2 newly and 1 no longer entitled", r)
	}

	// 24 February: primary-school staff move from group 4 to group 2.
	w = NewWhatIf(ruleSet(t, "2021-02-08"), ruleSet(t, "2021-02-24"), Date{2021, 2, 20}, loc)
	w.AddResident(resident(t, "1985-09-09", IndTeacherPrimary))
	w.AddResident(resident(t, "1948-05-01")) // group 2 both times, opens now
	w.AddResident(resident(t, "1935-07-01"))
	if r := w.Report; r.Residents != 3 || r.ChangedGroup != 1 || r.NewlyEntitled != 2 || r.NoLongerEntitled != 0 || r.JudgedOn != "2021-02-24" {
		t.Fatalf("report %+v, want 3 residents, 1 changed group, 2 newly entitled", r)
	}

	// Without a rule set in force every resident with a group changes group.
	w = NewWhatIf(nil, ruleSet(t, "2020-12-27"), Date{2020, 12, 20}, loc)
	w.AddResident(resident(t, "1935-07-01"))
	w.AddResident(resident(t, "2008-01-01")) // 12: no group
	if r := w.Report; r.CurrentVersion != "" || r.Residents != 2 || r.ChangedGroup != 1 || r.NewlyEntitled != 1 {
		t.Fatalf("report %+v", r)
	}
}

func TestWhatIfJudgesOnTheLaterOfTodayAndTheEffectiveDay(t *testing.T) {
	loc := berlin(t)
	draft := ruleSet(t, "2021-03-30")
	if got := NewWhatIf(nil, draft, Date{2021, 3, 25}, loc).Report.JudgedOn; got != "2021-03-30" {
		t.Errorf("judged on %s, want the effective day 2021-03-30", got)
	}
	if got := NewWhatIf(nil, draft, Date{2021, 4, 5}, loc).Report.JudgedOn; got != "2021-04-05" {
		t.Errorf("judged on %s, want today 2021-04-05", got)
	}
	// 22:30 UTC on 29 March is 00:30 on the 30th in Berlin: the effective day is the 30th.
	draft.EffectiveFrom = time.Date(2021, 3, 29, 22, 30, 0, 0, time.UTC)
	if got := NewWhatIf(nil, draft, Date{2021, 3, 1}, loc).Report.JudgedOn; got != "2021-03-30" {
		t.Errorf("judged on %s, want 2021-03-30 (Berlin)", got)
	}
	b, err := json.Marshal(NewWhatIf(nil, draft, Date{2021, 3, 1}, loc).Report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"broken_doses":[]`) {
		t.Errorf("empty report JSON %s, want broken_doses []", b)
	}
}
