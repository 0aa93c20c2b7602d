package sap

import (
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

// TestGoodsIssueSpeed measures goods issues per second posted to the
// simulator through the broker and the connector, and with SAP_CATCHUP=1
// the catch-up time after a 60-second outage at 100 check-outs per second.
// Run with SAP_SPEED=1 (skipped otherwise: it is a measurement).
func TestGoodsIssueSpeed(t *testing.T) {
	if os.Getenv("SAP_SPEED") == "" {
		t.Skip("a measurement: run with SAP_SPEED=1 (and SAP_CATCHUP=1 for the 60 s outage)")
	}
	e := newEnv(t)
	e.startBroker()
	cfg := e.config()
	c := e.connector(cfg)
	today := e.h.Today()
	e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD6701", 100000, today, today.AddDays(60)))
	e.startConnector(cfg)
	posted := func() int { return e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE state = 'posted'`) }

	n := 2000
	if s := os.Getenv("SAP_SPEED_N"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	// The doses are given in the core first (the connector re-reads each
	// one there); their events are published again below, the relay's
	// copies are the same events and change nothing.
	msgs := e.doseEvents("dresden", domain.Janssen, "XD6701", n)
	start := time.Now()
	if err := e.pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every goods issue", 5*time.Minute, func() bool { return posted() == n })
	d := time.Since(start)
	t.Logf("%d goods issues in %v: %.0f per second", n, d.Round(time.Millisecond), float64(n)/d.Seconds())

	if os.Getenv("SAP_CATCHUP") == "" {
		return
	}
	later := e.doseEvents("dresden", domain.Janssen, "XD6701", 6000) // 60 s at 100 per second, given before the outage
	if err := e.sim.Faults().Merge(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(60 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	outageEnd := time.Now().Add(60 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond) // 10 per tick = 100 per second
	defer tick.Stop()
	sent := 0
	for time.Now().Before(outageEnd) && sent+10 <= len(later) {
		<-tick.C
		batch := later[sent : sent+10]
		if err := e.pub.Publish(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		sent += len(batch)
	}
	waitFor(t, "catch-up after the outage", 10*time.Minute, func() bool { return posted() == n+sent })
	t.Logf("catch-up after a 60 s outage with %d check-outs (100/s): %v after SAP was back", sent, time.Since(outageEnd).Round(time.Millisecond))
	if got := e.sapCount(c, "A_MaterialDocumentItem", "GoodsMovementType eq '201'"); got != n+sent {
		t.Fatalf("%d goods issues in SAP, want %d", got, n+sent)
	}
}
