package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

func mobileHub(t *testing.T) (*hubtest.Hub, *app.Mobile) {
	t.Helper()
	h := hubtest.New(t, april12(t))
	h.Saxony(t, 30)
	m, err := app.NewMobile(h.App, h.Store)
	if err != nil {
		t.Fatal(err)
	}
	return h, m
}

func TestFieldDoseIsCountedOnceAndReachesProgress(t *testing.T) {
	h, m := mobileHub(t)
	day := h.Today().AddDays(2)
	r1 := h.Resident(t, domain.Date{Year: 1935, Month: 3, Day: 1}).Resident.ID
	r2 := h.Resident(t, domain.Date{Year: 1938, Month: 4, Day: 2}).Resident.ID
	c, err := m.PlanMobileCampaign(ctx, app.MobileCampaignInput{CareHome: "seniorenheim-riesa-weida", Day: day, Team: "MT19", CentreID: "riesa",
		Roster: []domain.RosterEntry{{ResidentID: r1}, {ResidentID: r2, Staff: true}}, Doses: map[domain.ProductID]int{domain.Comirnaty: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE key = $1 AND event_type IN ('mobile.campaign-planned', 'mobile.transfer-requested')`, c.ID); n != 2 {
		t.Errorf("planning events: %d, want 2", n)
	}
	if _, err := m.RecordTeamIssue(ctx, app.TeamIssue{ID: "i1", Team: "MT19", Day: day, Product: domain.Comirnaty, Batch: "EJ6701", Doses: 6}); err != nil {
		t.Fatal(err)
	}
	before := h.Count(t, `SELECT count(*) FROM doses WHERE status = 'administered'`)
	at := day.In(h.Loc).Add(10 * time.Hour)
	d := domain.FieldDose{RecordID: "sn-1", CampaignID: c.ID, Team: "MT19", ResidentID: r1, Product: domain.Comirnaty, Batch: "EJ6701",
		DoseNumber: 1, VaccinatorID: "mt19-1", AdministeredAt: at}
	for i := range 3 {
		res, err := m.RecordFieldDose(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != "accepted" || res.Fresh != (i == 0) || !domain.ValidReference(res.Reference) {
			t.Fatalf("attempt %d: %+v", i, res)
		}
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.dose-administered'`); n != 1 {
		t.Errorf("dose events: %d, want 1", n)
	}
	p, err := h.App.Progress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.Totals["doses_administered"] != int64(before)+1 {
		t.Errorf("total doses %d, want %d", p.Totals["doses_administered"], before+1)
	}
	found := false
	for _, dc := range p.Doses {
		found = found || (dc.CentreID == "riesa" && dc.Day == day.String() && dc.AgeGroup == "60+" && dc.Count == 1)
	}
	if !found {
		t.Errorf("the field dose is not in Progress: %+v", p.Doses)
	}

	// The same resident again that day: held, with a reason.
	d2 := d
	d2.RecordID, d2.AdministeredAt = "sn-2", at.Add(2*time.Hour)
	res, err := m.RecordFieldDose(ctx, d2)
	if err != nil || res.Status != "held" || res.Reason != domain.HoldAlreadyVaccinatedToday {
		t.Fatalf("second dose that day: %+v, %v", res, err)
	}
	held, err := m.HeldFieldDoses(ctx)
	if err != nil || len(held) != 1 || held[0].RecordID != "sn-2" {
		t.Fatalf("held: %+v, %v", held, err)
	}
	if _, err := m.DecideHeldFieldDose(ctx, "sn-2", false, "staff-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DecideHeldFieldDose(ctx, "sn-2", true, "staff-1"); err == nil {
		t.Error("a decided dose was decided again")
	}

	// The team returns one dose and wastes the open vial's rest.
	if _, err := m.RecordTeamReturn(ctx, app.TeamReturn{ID: "ret-1", Team: "MT19", Day: day, Product: domain.Comirnaty, Batch: "EJ6701", Returned: 0, Wasted: 5}); err != nil {
		t.Fatal(err)
	}
	rows, err := m.MobileReconciliation(ctx, day, day)
	if err != nil || len(rows) != 1 {
		t.Fatalf("reconciliation: %+v, %v", rows, err)
	}
	r := rows[0]
	if r.Requested != 2 || r.Transferred != 6 || r.Administered != 1 || r.Held != 0 || r.Wasted != 5 || r.OpenVialRest != 5 || r.Difference != 0 {
		t.Errorf("reconciliation row: %+v", r)
	}
}

func TestChangeMobileCampaignMovesTheDayAndGrowsTheRoster(t *testing.T) {
	h, m := mobileHub(t)
	day := h.Today().AddDays(3)
	r1 := h.Resident(t, domain.Date{Year: 1935, Month: 3, Day: 1}).Resident.ID
	r2 := h.Resident(t, domain.Date{Year: 1936, Month: 3, Day: 1}).Resident.ID
	c, err := m.PlanMobileCampaign(ctx, app.MobileCampaignInput{CareHome: "seniorenheim-riesa-weida", Day: day, Team: "MT19", CentreID: "riesa",
		Roster: []domain.RosterEntry{{ResidentID: r1}}, Doses: map[domain.ProductID]int{domain.Comirnaty: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ChangeMobileCampaign(ctx, c.ID, app.MobileCampaignChange{AddToRoster: []domain.RosterEntry{{ResidentID: "nobody"}}}); err == nil ||
		!strings.Contains(err.Error(), "not registered") {
		t.Errorf("unregistered resident on the roster: %v", err)
	}
	got, err := m.ChangeMobileCampaign(ctx, c.ID, app.MobileCampaignChange{AddToRoster: []domain.RosterEntry{{ResidentID: r2}}, Day: day.AddDays(1)})
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 2 || len(got.Roster) != 2 || got.Day != day.AddDays(1) || !got.PlannedStart.Equal(c.PlannedStart.Add(24*time.Hour)) {
		t.Errorf("changed: %+v", got)
	}
	same, err := m.ChangeMobileCampaign(ctx, c.ID, app.MobileCampaignChange{AddToRoster: []domain.RosterEntry{{ResidentID: r2}}})
	if err != nil || same.Version != 2 {
		t.Errorf("a change that changes nothing: %+v, %v", same, err)
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE key = $1 AND event_type = 'mobile.campaign-planned'`, c.ID); n != 2 {
		t.Errorf("campaign-planned events: %d, want 2", n)
	}
}
