package sap

import (
	"strconv"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

func TestTeamLocationDefaultAndConfig(t *testing.T) {
	c := &Connector{cfg: Config{StorageLocation: "KL01", TeamLocations: map[string]string{"MT05": "MOB2"}}}
	for team, want := range map[string]string{"MT01": "MOB1", "MT12": "MOB2", "MT13": "MOB1", "MT05": "MOB2"} {
		if got := c.teamLocation(team); got != want {
			t.Errorf("teamLocation(%s) = %s, want %s", team, got, want)
		}
	}
	if a := TransferHeaderText("c", 1); len(a) != 25 || !isHubHeaderText(a) || a == TransferHeaderText("c", 2) {
		t.Fatalf("TransferHeaderText = %q", a)
	}
}

// sapStockAt returns SAP's unrestricted stock per batch at plant/sloc.
func (e *env) sapStockAt(c *Connector, plant, sloc string, p domain.ProductID) map[string]int {
	e.t.Helper()
	bs, err := c.sapBatches(ctx, plant, sloc, p)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, b := range bs {
		out[b.Batch] = b.Doses
	}
	return out
}

func transferMsg(ev domain.Event) bus.Message {
	return bus.Message{Topic: bus.TopicFor(ev.Type), Key: ev.Subject, Value: ev.JSON()}
}

// TestMobileTransferIssueAndFieldGoodsIssue: a planned mobile campaign's
// transfer request becomes exactly one 311 from the Dresden plant's cold
// store to team MT11's MOB1 (FEFO batches; a redelivery changes nothing);
// the batches are recorded as issued to the team and the hub's cold-store
// stock drops; a later version posts only the difference (more, then a
// return); a field dose with an issued batch is accepted and its goods issue
// is posted from MOB1 exactly once, one with a batch never issued to the
// team is held; reconciliation finds no difference.
func TestMobileTransferIssueAndFieldGoodsIssue(t *testing.T) {
	e := newEnv(t)
	e.startBroker()
	cfg := e.config()
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN05", "VAC-COMIRNATY", "EW-LATE", 30, today, today.AddDays(60)))
	e.sapPost(c, receipt("SN05", "VAC-COMIRNATY", "EW-SOON", 10, today, today.AddDays(20)))
	e.sapPost(c, receipt("SN05", "VAC-COMIRNATY", "EW-OTHER", 10, today, today.AddDays(40)))
	e.startConnector(cfg)
	waitFor(t, "the deliveries", 10*time.Second, func() bool { return e.h.Count(t, `SELECT count(*) FROM deliveries`) == 3 })

	mob, err := app.NewMobile(e.h.App, e.h.Store)
	if err != nil {
		t.Fatal(err)
	}
	r1 := e.h.Resident(t, domain.Date{Year: 1935, Month: 3, Day: 3})
	r2 := e.h.Resident(t, domain.Date{Year: 1938, Month: 4, Day: 4})
	camp, err := mob.PlanMobileCampaign(ctx, app.MobileCampaignInput{CareHome: "pflegeheim-dresden-test", Day: today, Team: "MT11",
		CentreID: "dresden", Roster: []domain.RosterEntry{{ResidentID: r1.Resident.ID}, {ResidentID: r2.Resident.ID}},
		Doses: map[domain.ProductID]int{domain.Comirnaty: 12}})
	if err != nil {
		t.Fatal(err)
	}
	text1 := TransferHeaderText(camp.ID, 1)
	waitFor(t, "the team issues", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM mobile_issues WHERE team = 'MT11'`) == 2
	})
	if n := e.sapCount(c, "A_MaterialDocumentHeader", "MaterialDocumentHeaderText eq '"+text1+"'"); n != 1 {
		t.Fatalf("%d transfer documents for version 1, want 1", n)
	}
	// FEFO: all of EW-SOON (expires first), then EW-OTHER; EW-LATE untouched.
	want := map[string]int{"EW-SOON": 10, "EW-OTHER": 2}
	if got := e.sapStockAt(c, "SN05", "MOB1", domain.Comirnaty); !equalMaps(got, want) {
		t.Fatalf("SAP stock at SN05 MOB1 %v, want %v", got, want)
	}
	if n := e.h.Count(t, `SELECT coalesce(sum(doses), 0) FROM mobile_issues WHERE team = 'MT11' AND day = '`+today.String()+`'`); n != 12 {
		t.Fatalf("%d doses recorded as issued to MT11, want 12", n)
	}

	// Redelivery, also as a fresh event of the same version: nothing new.
	again := camp.PlannedEvents("test", e.h.Clock.Now())[1]
	if err := c.HandleTransferRequested(ctx, transferMsg(again)); err != nil {
		t.Fatal(err)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '311'"); n != 4 {
		t.Fatalf("%d 311 lines after a redelivery, want 4 (two batches, two lines each)", n)
	}

	// Version 2 needs 15: only 3 more move. Version 3 needs 13: 2 go back.
	if _, err := mob.ChangeMobileCampaign(ctx, camp.ID, app.MobileCampaignChange{Doses: map[domain.ProductID]int{domain.Comirnaty: 15}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the second transfer", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT coalesce(sum(doses), 0) FROM mobile_issues WHERE team = 'MT11'`) == 15
	})
	if _, err := mob.ChangeMobileCampaign(ctx, camp.ID, app.MobileCampaignChange{Doses: map[domain.ProductID]int{domain.Comirnaty: 13}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the return", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT coalesce(sum(returned), 0) FROM mobile_returns WHERE team = 'MT11'`) == 2
	})
	want = map[string]int{"EW-SOON": 10, "EW-OTHER": 3}
	if got := e.sapStockAt(c, "SN05", "MOB1", domain.Comirnaty); !equalMaps(got, want) {
		t.Fatalf("SAP stock at SN05 MOB1 after three versions %v, want %v", got, want)
	}
	// A stale version 1 arriving late changes nothing.
	if err := c.HandleTransferRequested(ctx, transferMsg(again)); err != nil {
		t.Fatal(err)
	}
	if n := e.sapCount(c, "A_MaterialDocumentHeader", "GoodsMovementCode eq '04'"); n != 3 {
		t.Fatalf("%d transfer documents after three versions and a late redelivery, want 3", n)
	}

	// Field doses: with an issued batch accepted, with a batch the team
	// never got held.
	at := testNow(t).Add(3 * time.Hour)
	ok, err := mob.RecordFieldDose(ctx, domain.FieldDose{RecordID: "VAC0010001", CampaignID: camp.ID, Team: "MT11", ResidentID: r1.Resident.ID,
		Product: domain.Comirnaty, Batch: "EW-SOON", DoseNumber: 1, VaccinatorID: "vacc-9", AdministeredAt: at})
	if err != nil || ok.Status != "accepted" {
		t.Fatalf("field dose with an issued batch: %+v, %v", ok, err)
	}
	held, err := mob.RecordFieldDose(ctx, domain.FieldDose{RecordID: "VAC0010002", CampaignID: camp.ID, Team: "MT11", ResidentID: r2.Resident.ID,
		Product: domain.Comirnaty, Batch: "EW-LATE", DoseNumber: 1, VaccinatorID: "vacc-9", AdministeredAt: at})
	if err != nil || held.Status != "held" || held.Reason != domain.HoldBatchNotIssuedToTeam {
		t.Fatalf("field dose with a batch not issued to the team: %+v, %v", held, err)
	}
	waitFor(t, "the field dose's goods issue", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) == 1
	})
	time.Sleep(300 * time.Millisecond) // a second posting would show now
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201' and Plant eq 'SN05' and StorageLocation eq 'MOB1' and Batch eq 'EW-SOON' and CostCenter eq 'IMPFZ-05'"); n != 1 {
		t.Fatalf("%d goods issues from SN05 MOB1, want 1", n)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 1 {
		t.Fatalf("%d goods issues in SAP, want 1", n)
	}

	// The hub's cold-store stock follows SAP's (the poller applies the hub's
	// own transfers to the centre), and the field dose reconciles with its
	// goods issue.
	waitFor(t, "the poller to apply the transfers", 10*time.Second, func() bool {
		diffs, err := c.Reconcile(ctx, today, today)
		return err == nil && len(diffs) == 0
	})
	stocks, err := e.h.App.BatchStocks(ctx, "dresden", domain.Comirnaty)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, b := range stocks {
		got[b.Batch] = int(b.Doses)
	}
	if want := map[string]int{"EW-LATE": 30, "EW-SOON": 0, "EW-OTHER": 7}; !equalMaps(got, want) {
		t.Fatalf("hub stock at Dresden %v, want %v", got, want)
	}
	dls, err := bus.ListDLQ(ctx, e.kafka, 10)
	if err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %+v, %v; want none", dls, err)
	}
	e.h.CheckInvariants(t)
}

// TestTransferPostedByHandIsIssuedToTheNamedTeam: a 311 to MOB2 posted in
// SAP by hand with the team in the header text is recorded by the poller as
// issued to that team; one without a team is not recorded.
func TestTransferPostedByHandIsIssuedToTheNamedTeam(t *testing.T) {
	e := newEnv(t)
	c := e.connector(e.config())
	today := e.h.Today()
	e.sapPost(c, receipt("SN12", "VAC-JANSSEN", "XR1", 20, today, today.AddDays(60)))
	move := func(text string, n int) {
		e.sapPost(c, map[string]any{"PostingDate": odataDay(today), "GoodsMovementCode": "04", "MaterialDocumentHeaderText": text,
			"to_MaterialDocumentItem": []any{map[string]any{"Material": "VAC-JANSSEN", "Plant": "SN12", "StorageLocation": "KL01", "Batch": "XR1",
				"GoodsMovementType": "311", "IssuingOrReceivingStorageLoc": "MOB2", "QuantityInEntryUnit": strconv.Itoa(n), "EntryUnit": "ST"}}})
	}
	move("Team MT24 Pflegeheim", 5)
	move("Umlagerung", 2)
	if _, err := c.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.h.Count(t, `SELECT coalesce(sum(doses), 0) FROM mobile_issues WHERE team = 'MT24' AND batch = 'XR1'`); n != 5 {
		t.Fatalf("%d doses issued to MT24, want 5", n)
	}
	if n := e.h.Count(t, `SELECT count(*) FROM mobile_issues`); n != 1 {
		t.Fatalf("%d team issues, want 1", n)
	}
	if _, err := e.h.Pool.Exec(ctx, `DELETE FROM sap_cursor`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.h.Count(t, `SELECT count(*) FROM mobile_issues`); n != 1 {
		t.Fatalf("%d team issues after reading twice, want 1", n)
	}
	diffs, err := c.Reconcile(ctx, today, today)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("reconcile: %v, %v", diffs, err)
	}
}

func equalMaps(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}
