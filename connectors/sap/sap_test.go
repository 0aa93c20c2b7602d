package sap

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

func TestHeaderTextFitsSAPAndIsStable(t *testing.T) {
	id := domain.NewID()
	a, b := HeaderText(id), HeaderText(id)
	if a != b || len(a) != 25 || !isHubHeaderText(a) || HeaderText(domain.NewID()) == a {
		t.Fatalf("HeaderText(%s) = %q, %q", id, a, b)
	}
}

// TestDeliveryInSAPMakesSlotsBookable: a 101 receipt in SAP becomes stock
// at the centre, a booking succeeds, reading again (and after a restart)
// changes nothing, and transfers to a mobile team and scrapping lower the
// centre's stock as SAP's does.
func TestDeliveryInSAPMakesSlotsBookable(t *testing.T) {
	e := newEnv(t)
	c := e.connector(e.config())
	today := e.h.Today()
	resident := e.h.Resident(t, domain.Date{Year: 1950, Month: 5, Day: 5})
	book := func() error {
		_, err := e.h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: resident.Resident.ID, CentreID: "dresden", Product: domain.Janssen})
		return err
	}
	if err := book(); err == nil {
		t.Fatal("booked at Dresden before any stock arrived")
	}

	e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD100", 50, today, today.AddDays(60)))
	e.sapPost(c, receipt("SN00", "VAC-JANSSEN", "XD200", 500, today, today.AddDays(60))) // central store: not a centre's stock
	st, err := c.PollOnce(ctx)
	if err != nil || st.Applied != 1 || st.Skipped != 1 {
		t.Fatalf("poll: %+v, %v; want one applied and one skipped", st, err)
	}
	if err := book(); err != nil {
		t.Fatalf("book after the SAP delivery: %v", err)
	}

	// Read again, and again after a restart from the cursor: nothing changes.
	if st, err := c.PollOnce(ctx); err != nil || st.Items != 0 {
		t.Fatalf("second poll: %+v, %v; want nothing new after the cursor", st, err)
	}
	if _, err := e.h.Pool.Exec(ctx, `DELETE FROM sap_cursor`); err != nil {
		t.Fatal(err)
	}
	if st, err := e.connector(e.config()).PollOnce(ctx); err != nil || st.Items != 2 {
		t.Fatalf("poll from the start: %+v, %v", st, err)
	}
	if n := e.h.Count(t, `SELECT count(*) FROM deliveries`); n != 1 {
		t.Fatalf("%d deliveries after reading twice, want 1", n)
	}

	// 311 from the cold store to a mobile team (two lines), then 551 scrap.
	e.sapPost(c, map[string]any{"PostingDate": odataDay(today), "GoodsMovementCode": "04", "to_MaterialDocumentItem": []any{
		map[string]any{"Material": "VAC-JANSSEN", "Plant": "SN05", "StorageLocation": "KL01", "Batch": "XD100", "GoodsMovementType": "311",
			"IssuingOrReceivingStorageLoc": "MOB1", "QuantityInEntryUnit": "10", "EntryUnit": "ST"}}})
	e.sapPost(c, map[string]any{"PostingDate": odataDay(today), "GoodsMovementCode": "03", "to_MaterialDocumentItem": []any{
		map[string]any{"Material": "VAC-JANSSEN", "Plant": "SN05", "StorageLocation": "KL01", "Batch": "XD100", "GoodsMovementType": "551",
			"QuantityInEntryUnit": "5", "EntryUnit": "ST"}}})
	// A transfer back from the mobile team: stock arrives at the centre again.
	e.sapPost(c, map[string]any{"PostingDate": odataDay(today), "GoodsMovementCode": "04", "to_MaterialDocumentItem": []any{
		map[string]any{"Material": "VAC-JANSSEN", "Plant": "SN05", "StorageLocation": "MOB1", "Batch": "XD100", "GoodsMovementType": "311",
			"IssuingOrReceivingStorageLoc": "KL01", "QuantityInEntryUnit": "3", "EntryUnit": "ST"}}})
	if st, err := c.PollOnce(ctx); err != nil || st.Applied != 3 {
		t.Fatalf("poll of transfers and scrap: %+v, %v; want 3 applied", st, err)
	}
	stocks, err := e.h.App.BatchStocks(ctx, "dresden", domain.Janssen)
	if err != nil || len(stocks) != 1 || stocks[0].Doses != 50-10-5+3 {
		t.Fatalf("hub stock %+v, %v; want 38 doses of XD100", stocks, err)
	}
	diffs, err := c.Reconcile(ctx, today, today)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("reconcile: %v, %v", diffs, err)
	}
	e.h.CheckInvariants(t)
}

// TestCheckOutPostsExactlyOneGoodsIssue: a check-out in the hub becomes one
// 201 goods issue in SAP, through the outbox, the broker and the connector;
// check-out's suggested batch is the one that expires first.
func TestCheckOutPostsExactlyOneGoodsIssue(t *testing.T) {
	e := newEnv(t)
	e.startBroker()
	cfg := e.config()
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN12", "VAC-JANSSEN", "XD-LATE", 20, today, today.AddDays(60)))
	e.sapPost(c, receipt("SN12", "VAC-JANSSEN", "XD-SOON", 20, today, today.AddDays(10)))
	e.startConnector(cfg)
	waitFor(t, "the deliveries", 10*time.Second, func() bool { return e.h.Count(t, `SELECT count(*) FROM deliveries`) == 2 })

	b, err := e.h.App.SuggestBatchNow(ctx, "riesa", domain.Janssen)
	if err != nil || b.Batch != "XD-SOON" {
		t.Fatalf("suggested batch %+v, %v; want XD-SOON (first expired, first out)", b, err)
	}
	e.bookAndCheckOut("riesa", domain.Janssen, b.Batch, 1)
	waitFor(t, "the goods issue", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) == 1
	})
	time.Sleep(300 * time.Millisecond) // a second posting would show now
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201' and Plant eq 'SN12' and Batch eq 'XD-SOON' and CostCenter eq 'IMPFZ-12'"); n != 1 {
		t.Fatalf("%d goods issues in SAP, want 1", n)
	}
	diffs, err := c.Reconcile(ctx, today, today)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("reconcile: %v, %v", diffs, err)
	}
}

// TestGoodsIssueTimingOutAfterSAPBookedItYieldsOneDocument: SAP books the
// first POST but the answer never arrives; the retry looks the document up
// by its header text and posts nothing more.
func TestGoodsIssueTimingOutAfterSAPBookedItYieldsOneDocument(t *testing.T) {
	e := newEnv(t)
	cfg := e.config()
	cfg.Timeout = 300 * time.Millisecond
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD6701", 10, today, today.AddDays(30)))

	var swallowed atomic.Int32
	e.proxy.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !isGoodsIssuePost(r) || !swallowed.CompareAndSwap(0, 1) {
			return false
		}
		rec := httptest.NewRecorder()
		e.proxy.next.ServeHTTP(rec, r) // SAP books it ...
		<-r.Context().Done()           // ... and the answer is lost
		return true
	}
	msg := e.doseEvents("dresden", domain.Janssen, "XD6701", 1)[0]
	err := c.HandleDoseAdministered(ctx, msg)
	if err == nil || bus.IsPermanent(err) {
		t.Fatalf("first attempt: %v; want a transient error (timeout)", err)
	}
	for attempt := 0; attempt < 3; attempt++ { // the consumer retries
		if err = c.HandleDoseAdministered(ctx, msg); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 1 {
		t.Fatalf("%d goods issues in SAP after a lost answer, want 1", n)
	}
	var attempts int
	if err := e.h.Pool.QueryRow(ctx, `SELECT attempts FROM sap_goods_issues`).Scan(&attempts); err != nil || attempts != 1 {
		t.Fatalf("%d POSTs (%v), want 1: the retry must find the document instead of posting", attempts, err)
	}
	// Redelivered once more after success: nothing.
	if err := c.HandleDoseAdministered(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 1 {
		t.Fatalf("%d goods issues after a redelivery, want 1", n)
	}
}

// TestGoodsIssueSAPRefusesGoesToTheDeadLetterTopic: a batch SAP does not
// have is a 4xx that retrying cannot fix.
func TestGoodsIssueSAPRefusesIsPermanent(t *testing.T) {
	e := newEnv(t)
	c := e.connector(e.config())
	msg := e.doseEvents("dresden", domain.Janssen, "NOSUCH", 1)[0]
	err := c.HandleDoseAdministered(ctx, msg)
	if !bus.IsPermanent(err) || !strings.Contains(err.Error(), "M7/") {
		t.Fatalf("got %v; want a permanent error with SAP's message", err)
	}
	if c.odata.cl.BreakerState().String() != "closed" {
		t.Fatal("a 4xx tripped the breaker")
	}
}

// TestOutageDuringCheckOutsLosesAndDoublesNothing: SAP fails (connection
// resets) while check-outs go on; the breaker opens, goods issues wait in
// Kafka, and after SAP is back every one is posted once: reconciliation
// finds no difference.
func TestOutageDuringCheckOutsLosesAndDoublesNothing(t *testing.T) {
	e := newEnv(t)
	e.startBroker()
	cfg := e.config()
	cfg.Timeout = 500 * time.Millisecond
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN08", "VAC-JANSSEN", "XD300", 200, today, today.AddDays(60)))
	e.startConnector(cfg)
	waitFor(t, "the delivery", 10*time.Second, func() bool { return e.h.Count(t, `SELECT count(*) FROM deliveries`) == 1 })

	e.bookAndCheckOut("leipzig", domain.Janssen, "XD300", 10)
	waitFor(t, "the first goods issues", 20*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) == 10
	})
	if err := e.sim.Faults().Merge(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(3 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e.bookAndCheckOut("leipzig", domain.Janssen, "XD300", 30)
	waitFor(t, "every goods issue after the outage", 40*time.Second, func() bool {
		return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) == 40
	})
	t.Logf("30 check-outs during a 3 s outage: all posted %v after the outage began", time.Since(start).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	if n := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); n != 40 {
		t.Fatalf("%d goods issues in SAP, want 40", n)
	}
	diffs, err := c.Reconcile(ctx, today, today)
	if err != nil || len(diffs) != 0 {
		t.Fatalf("reconcile after recovery: %v, %v", diffs, err)
	}
	dls, err := bus.ListDLQ(ctx, e.kafka, 10)
	if err != nil || len(dls) != 0 {
		t.Fatalf("dead letters %+v, %v; want none", dls, err)
	}
}

// TestMalformedODataAnswerGoesToTheDeadLetterTopic: an unreadable page and
// an item the mapping refuses each end in vaxhub.dlq with a reason, and
// polling goes on.
func TestMalformedODataAnswerGoesToTheDeadLetterTopic(t *testing.T) {
	e := newEnv(t)
	e.startBroker()
	c := e.connector(e.config())
	today := e.h.Today()
	e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD100", 50, today, today.AddDays(60)))
	isItems := func(r *http.Request) bool {
		return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/A_MaterialDocumentItem")
	}

	// 1. Not JSON at all.
	e.proxy.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !isItems(r) {
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"d":{"results":[{"MaterialDocument":`))
		return true
	}
	if _, err := c.PollOnce(ctx); err == nil {
		t.Fatal("poll of a broken page succeeded")
	}
	// 2. A plant SAP knows and the mapping does not.
	e.proxy.hook = func(w http.ResponseWriter, r *http.Request) bool {
		if !isItems(r) {
			return false
		}
		rec := httptest.NewRecorder()
		e.proxy.next.ServeHTTP(rec, r)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(strings.ReplaceAll(rec.Body.String(), `"SN05"`, `"SN99"`)))
		return true
	}
	if st, err := c.PollOnce(ctx); err != nil || st.DeadLettered != 1 {
		t.Fatalf("poll with an unmappable item: %+v, %v", st, err)
	}
	// 3. Polling goes on: the next delivery is applied.
	e.proxy.hook = nil
	e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD101", 20, today, today.AddDays(60)))
	if st, err := c.PollOnce(ctx); err != nil || st.Applied != 1 {
		t.Fatalf("poll after the bad answers: %+v, %v", st, err)
	}

	var dls []bus.DeadLetter
	waitFor(t, "two dead letters", 10*time.Second, func() bool {
		var err error
		dls, err = bus.ListDLQ(ctx, e.kafka, 10)
		return err == nil && len(dls) == 2
	})
	var reasons []string
	for _, d := range dls {
		if d.Handler() != InboundHandler || d.Headers[HeaderDLQSource] == "" {
			t.Errorf("dead letter headers %v", d.Headers)
		}
		reasons = append(reasons, d.Reason())
	}
	all := strings.Join(reasons, "\n")
	if !strings.Contains(all, "malformed OData answer") || !strings.Contains(all, `lookup "plant_centre" has no entry (value "SN99")`) {
		t.Fatalf("dead-letter reasons:\n%s", all)
	}
	t.Logf("reasons:\n%s", all)
}
