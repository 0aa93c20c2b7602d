package sap

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/bustest"
)

// TestForgedDoseEventPostsNothingToSAP: schema-valid
// appointment.dose-administered events that the core does not back, written
// straight to the topic by the tester (one for a booked but not vaccinated
// reference, one for a reference that does not exist, and later a copy of a
// real dose's event under a new ID), reach SAP as nothing: each is
// dead-lettered with reason not-in-core and counted in
// vaxhub_sap_refused_total. A real check-out still gives exactly one goods
// issue.
func TestForgedDoseEventPostsNothingToSAP(t *testing.T) {
	e := newEnv(t)
	e.startBroker()
	if e.kafka.SASL.Username != bustest.User {
		t.Fatalf("the test broker's user is %q, want the tester", e.kafka.SASL.Username)
	}
	cfg := e.config()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN12", "VAC-JANSSEN", "XD-FORGE", 20, today, today.AddDays(60)))
	e.startConnector(cfg)
	waitFor(t, "the delivery", 10*time.Second, func() bool { return e.h.Count(t, `SELECT count(*) FROM deliveries`) == 1 })

	// A booked appointment, not vaccinated.
	birth := domain.Date{Year: 1950, Month: 5, Day: 5}
	res := e.h.Resident(t, birth)
	booked, err := e.h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: res.Resident.ID, CentreID: "riesa", Product: domain.Janssen})
	if err != nil {
		t.Fatal(err)
	}
	forge := func(ref, residentID string) bus.Message {
		at := testNow(t).Add(time.Hour)
		ev := domain.NewEvent("appointment.dose-administered", ref, "forged", at, domain.DoseGiven{Reference: ref, ResidentID: residentID,
			CentreID: "riesa", Product: domain.Janssen, Batch: "XD-FORGE", DoseNumber: 1, VaccinatorID: "vacc-1",
			AdministeredAt: domain.Time(at), AgeGroup: "60+", SeriesComplete: true})
		if err := e.reg.ValidateMessage(ev.JSON()); err != nil {
			t.Fatalf("the forged event is not schema-valid, so it proves nothing: %v", err)
		}
		return bus.Message{Topic: bus.TopicFor(ev.Type), Key: ref, Value: ev.JSON()}
	}
	if err := e.pub.Publish(ctx, forge(booked.Reference, res.Resident.ID), forge(domain.NewReference(), domain.NewID())); err != nil {
		t.Fatal(err)
	}
	deadLetters := func(n int) []bus.DeadLetter {
		t.Helper()
		var dls []bus.DeadLetter
		waitFor(t, "the forged events' dead letters", 20*time.Second, func() bool {
			dls, err = bus.ListDLQ(ctx, e.kafka, 0)
			return err == nil && len(dls) >= n
		})
		return dls
	}
	dls := deadLetters(2)
	for _, d := range dls {
		if !strings.Contains(d.Reason(), "not-in-core") || d.Handler() != Consumer {
			t.Errorf("dead letter %s: reason %q, handler %q; want not-in-core from %s", d.ID, d.Reason(), d.Handler(), Consumer)
		}
	}
	if got := refusedCount(t, reg, refusedNotAdministered); got != 1 {
		t.Errorf("refused %s: %v, want 1", refusedNotAdministered, got)
	}
	if got := refusedCount(t, reg, refusedUnknownReference); got != 1 {
		t.Errorf("refused %s: %v, want 1", refusedUnknownReference, got)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 0 {
		t.Fatalf("%d goods issues in SAP for forged events, want 0", n)
	}
	if n := e.h.Count(t, `SELECT count(*) FROM sap_goods_issues`); n != 0 {
		t.Fatalf("%d goods issues recorded for forged events, want 0", n)
	}

	// A real check-out: exactly one goods issue.
	ref := e.bookAndCheckOut("riesa", domain.Janssen, "XD-FORGE", 1)[0]
	waitFor(t, "the real goods issue", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) == 1
	})
	// Its event again under a new ID: the dose already has its goods issue.
	real := e.doseEvent(ref)
	copyOf := strings.Replace(string(real.Value), eventID(t, real.Value), domain.NewID(), 1)
	if copyOf == string(real.Value) || e.reg.ValidateMessage([]byte(copyOf)) != nil {
		t.Fatal("the copy under a new ID is not a valid event")
	}
	if err := e.pub.Publish(ctx, bus.Message{Topic: real.Topic, Key: ref, Value: []byte(copyOf)}); err != nil {
		t.Fatal(err)
	}
	dls = deadLetters(3)
	if got := refusedCount(t, reg, refusedAlreadyIssued); got != 1 {
		t.Errorf("refused %s: %v, want 1 (dead letters %v)", refusedAlreadyIssued, got, dls)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 1 {
		t.Fatalf("%d goods issues in SAP, want exactly the real one", n)
	}
}

// refusedCount reads vaxhub_sap_refused_total{reason} from the registry the
// connector was configured with.
func refusedCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vaxhub_sap_refused_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func eventID(t *testing.T, payload []byte) string {
	t.Helper()
	var env struct{ ID string }
	decodeJSON(t, payload, &env)
	if env.ID == "" {
		t.Fatal("event without id")
	}
	return env.ID
}

func TestTransferRequestMustMatchTheCoresCampaign(t *testing.T) {
	day := domain.Date{Year: 2021, Month: 4, Day: 14}
	camp := &domain.MobileCampaign{Team: "MT03", CentreID: "riesa", Day: day, Version: 2, Doses: map[domain.ProductID]int{domain.Comirnaty: 12}}
	ok := domain.MobileTransferRequested{CampaignID: "c", Version: 2, Team: "MT03", CentreID: "riesa", Day: "2021-04-14",
		Doses: []domain.ProductDose{{Product: domain.Comirnaty, Doses: 12}}}
	for name, tc := range map[string]struct {
		change func(*domain.MobileTransferRequested)
		want   string
	}{
		"as in the core":  {func(*domain.MobileTransferRequested) {}, ""},
		"a newer version": {func(d *domain.MobileTransferRequested) { d.Version = 3 }, "unknown-version"},
		"more doses": {func(d *domain.MobileTransferRequested) {
			d.Doses = []domain.ProductDose{{Product: domain.Comirnaty, Doses: 500}}
		}, refusedDiffers},
		"another product": {func(d *domain.MobileTransferRequested) { d.Doses[0].Product = domain.Janssen }, refusedDiffers},
		"an extra product": {func(d *domain.MobileTransferRequested) {
			d.Doses = append(d.Doses, domain.ProductDose{Product: domain.Janssen, Doses: 1})
		}, refusedDiffers},
		"another team":   {func(d *domain.MobileTransferRequested) { d.Team = "MT04" }, refusedDiffers},
		"another centre": {func(d *domain.MobileTransferRequested) { d.CentreID = "dresden" }, refusedDiffers},
	} {
		d := ok
		d.Doses = append([]domain.ProductDose(nil), ok.Doses...)
		tc.change(&d)
		dd, _ := domain.ParseDate(d.Day)
		if got := transferMismatch(camp, d, dd); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}
