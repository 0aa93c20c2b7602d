package domain

import (
	"testing"
	"time"
)

func TestFieldDoseHoldReasons(t *testing.T) {
	camp := &MobileCampaign{ID: "c1", Team: "MT19", Status: "planned", Roster: []RosterEntry{{ResidentID: "r1"}}}
	cancelled := *camp
	cancelled.Status = "cancelled"
	good := FieldDose{RecordID: "x", Team: "MT19", ResidentID: "r1", Product: Comirnaty, Batch: "EJ6701", DoseNumber: 1,
		AdministeredAt: time.Date(2021, 1, 7, 9, 0, 0, 0, time.UTC)}
	ok := FieldDoseFacts{Campaign: camp, ResidentKnown: true, BatchKnown: true, BatchIssuedToTeam: true}
	cases := []struct {
		name  string
		dose  func(d *FieldDose)
		facts func(f *FieldDoseFacts)
		want  string
	}{
		{"counted", nil, nil, ""},
		{"no batch", func(d *FieldDose) { d.Batch = "" }, nil, HoldBadRecord},
		{"unknown product", func(d *FieldDose) { d.Product = "sputnik" }, nil, HoldBadRecord},
		{"unknown campaign", nil, func(f *FieldDoseFacts) { f.Campaign = nil }, HoldUnknownCampaign},
		{"visit cancelled", nil, func(f *FieldDoseFacts) { f.Campaign = &cancelled }, HoldVisitCancelled},
		{"unknown resident", nil, func(f *FieldDoseFacts) { f.ResidentKnown = false }, HoldUnknownResident},
		{"not on roster", func(d *FieldDose) { d.ResidentID = "r2" }, nil, HoldNotOnRoster},
		{"already vaccinated that day", nil, func(f *FieldDoseFacts) { f.VaccinatedThatDay = true }, HoldAlreadyVaccinatedToday},
		{"unknown batch", nil, func(f *FieldDoseFacts) { f.BatchKnown, f.BatchIssuedToTeam = false, false }, HoldUnknownBatch},
		{"batch of another team", nil, func(f *FieldDoseFacts) { f.BatchIssuedToTeam = false }, HoldBatchNotIssuedToTeam},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, f := good, ok
			if c.dose != nil {
				c.dose(&d)
			}
			if c.facts != nil {
				c.facts(&f)
			}
			got, detail := d.HoldReason(f)
			if got != c.want {
				t.Errorf("reason %q (%s), want %q", got, detail, c.want)
			}
			if got != "" && detail == "" {
				t.Errorf("held without a detail for staff")
			}
		})
	}
}

func TestMobileCampaignValidate(t *testing.T) {
	base := MobileCampaign{CareHome: "pflegeheim-pirna-copitz", Day: Date{Year: 2021, Month: 1, Day: 7}, Team: "MT21", CentreID: "pirna",
		PlannedStart: time.Date(2021, 1, 7, 8, 0, 0, 0, time.UTC), Doses: map[ProductID]int{Comirnaty: 6}}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	twice := base
	twice.Roster = []RosterEntry{{ResidentID: "a"}, {ResidentID: "a"}}
	noTeam := base
	noTeam.Team = " "
	badProduct := base
	badProduct.Doses = map[ProductID]int{"sputnik": 1}
	for name, c := range map[string]MobileCampaign{"listed twice": twice, "no team": noTeam, "bad product": badProduct} {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
