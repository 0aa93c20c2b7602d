package app_test

import (
	"strings"
	"testing"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// TestRecordEventGoesThroughTheOutbox: a connector's own event (here a
// call.started) enters the outbox with the correlation ID of ctx and its
// headers; one that does not match its schema, or lacks an ID, type or
// subject, is refused and stores nothing.
func TestRecordEventGoesThroughTheOutbox(t *testing.T) {
	h := hubtest.New(t, april12(t))
	type started struct {
		CallID     string `json:"call_id"`
		CallerHash string `json:"caller_hash"`
		Transport  string `json:"transport"`
	}
	good := domain.NewEvent("call.started", "call-1", "", h.App.Now(), started{"call-1", strings.Repeat("a", 32), "udp"})
	good.CorrelationID = ""
	if err := h.App.RecordEvent(app.WithCorrelationID(ctx, "corr-1"), good); err != nil {
		t.Fatal(err)
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE event_id = $1 AND topic = 'vaxhub.call.v1' AND key = 'call-1'
		AND payload->>'correlation_id' = 'corr-1' AND headers->>'correlation_id' = 'corr-1' AND headers->>'event_type' = 'call.started'`, good.ID); n != 1 {
		t.Fatalf("%d outbox rows for the recorded event, want 1", n)
	}
	for name, ev := range map[string]domain.Event{
		"not its schema": domain.NewEvent("call.started", "call-2", "c", h.App.Now(), map[string]any{"call_id": "call-2"}),
		"unknown type":   domain.NewEvent("call.no-such-type", "call-3", "c", h.App.Now(), started{"call-3", "x", "udp"}),
		"no subject":     domain.NewEvent("call.started", "", "c", h.App.Now(), started{"call-4", strings.Repeat("a", 32), "udp"}),
	} {
		if err := h.App.RecordEvent(ctx, ev); err == nil {
			t.Errorf("%s: recorded", name)
		}
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE topic = 'vaxhub.call.v1'`); n != 1 {
		t.Errorf("%d call events in the outbox, want only the good one", n)
	}
}

// TestRecordEventNeedsTheEventsPort: an App without Ports.Events says so.
func TestRecordEventNeedsTheEventsPort(t *testing.T) {
	h := hubtest.New(t, april12(t))
	a, err := app.New(app.Ports{Residents: h.Store, Campaign: h.Store, RuleSets: h.Store, Bookings: h.Store, Stock: h.Store,
		Waitlist: h.Store, Reports: h.Store, Attempts: h.Store}, app.Config{Location: h.Loc})
	if err != nil {
		t.Fatal(err)
	}
	err = a.RecordEvent(ctx, domain.NewEvent("call.started", "call-1", "c", a.Now(), nil))
	if err == nil || !strings.Contains(err.Error(), "Ports.Events") {
		t.Fatalf("got %v, want an error naming Ports.Events", err)
	}
}
