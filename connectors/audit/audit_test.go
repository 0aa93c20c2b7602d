package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/audit"
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

var ctx = context.Background()

func testLogger() *slog.Logger { return bustest.Logger() }

// startAudit runs the audit trail on every event topic, validating on consume.
func startAudit(t *testing.T, pool *pgxpool.Pool, b *bustest.Bus) {
	t.Helper()
	r := bus.NewRouter(b.Consumer())
	r.Use(bus.CorrelationIDMiddleware)
	if err := newTrail(t, pool, testLogger()).Register(r, bustest.EventTopics(b.Schemas)); err != nil {
		t.Fatal(err)
	}
	bustest.Background(t, "audit consumers", r.Run)
}

// newTrail builds the trail as Start does: its migrations first.
func newTrail(t *testing.T, pool *pgxpool.Pool, log *slog.Logger) *audit.Trail {
	t.Helper()
	trail, err := audit.New(ctx, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	return trail
}

// bookedEvent is an appointment.booked event as core/app emits it.
func bookedEvent(corr string) domain.Event {
	start := time.Date(2021, 4, 20, 8, 0, 0, 0, time.UTC)
	ap := &domain.Appointment{Reference: domain.NewReference(), ResidentID: domain.NewID(), CentreID: "riesa",
		Product: domain.Janssen, PriorityGroup: 3, Doses: []domain.Dose{{Number: 1, Product: domain.Janssen, Start: start, End: start.Add(15 * time.Minute)}}}
	return domain.BookedEvent(ap, corr, time.Date(2021, 4, 12, 9, 30, 0, 0, time.UTC))
}

// writeOutbox commits events to the outbox the way the store's use cases do.
func writeOutbox(t *testing.T, pool *pgxpool.Pool, events ...domain.Event) {
	t.Helper()
	rows := make([]store.OutboxInsert, len(events))
	for i, e := range events {
		rows[i] = store.OutboxInsert{EventID: e.ID, Topic: e.Topic(), Key: e.Subject, Type: e.Type, Payload: e.JSON(),
			Headers: map[string]string{"correlation_id": e.CorrelationID, "event_type": e.Type}}
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.InsertOutbox(ctx, tx, rows...) }); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestOutboxEventsReachTheAuditTrailThroughTheRelay(t *testing.T) {
	pool := storetest.NewPool(t)
	b := bustest.Start(t, pool)
	startAudit(t, pool, b)

	var events []domain.Event
	for range 20 {
		events = append(events, bookedEvent("req-audit-1"))
	}
	ruleset := domain.NewEvent("ruleset.published", "2021-04-12", "req-audit-2", time.Date(2021, 4, 12, 0, 0, 0, 0, time.UTC),
		domain.RuleSetPublished{Version: "2021-04-12", EffectiveFrom: "2021-04-12T00:00:00Z", OpenGroups: []int{1, 2}, Products: []domain.ProductID{domain.Comirnaty}})
	events = append(events, ruleset)
	writeOutbox(t, pool, events...)

	waitFor(t, "21 audit rows", 20*time.Second, func() bool { return count(t, pool, `SELECT count(*) FROM audit_events`) == len(events) })

	for _, e := range events {
		var typ, subject, topic, corr string
		var partition int
		var offset int64
		var at, received time.Time
		err := pool.QueryRow(ctx, `SELECT type, subject, topic, "partition", "offset", correlation_id, event_time, received_at
			FROM audit_events WHERE event_id = $1`, e.ID).Scan(&typ, &subject, &topic, &partition, &offset, &corr, &at, &received)
		if err != nil {
			t.Fatalf("event %s (%s): %v", e.ID, e.Type, err)
		}
		wantAt, _ := time.Parse(time.RFC3339, e.Time)
		if typ != e.Type || subject != e.Subject || topic != e.Topic() || corr != e.CorrelationID || !at.Equal(wantAt) {
			t.Errorf("event %s: got type=%s subject=%s topic=%s correlation=%s time=%v, want %s %s %s %s %v",
				e.ID, typ, subject, topic, corr, at, e.Type, e.Subject, e.Topic(), e.CorrelationID, wantAt)
		}
		if partition < 0 || partition > 2 || offset < 0 || received.Before(at) {
			t.Errorf("event %s: partition %d offset %d received %v", e.ID, partition, offset, received)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM processed_events WHERE consumer = 'audit'`); n != len(events) {
		t.Errorf("processed_events has %d audit rows, want %d", n, len(events))
	}
}

func TestAnEventPublishedTwiceIsAuditedOnce(t *testing.T) {
	pool := storetest.NewPool(t)
	b := bustest.Start(t, nil)
	cfg := b.Kafka
	startAudit(t, pool, b)
	pub, err := bus.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()

	e := bookedEvent("req-twice")
	msg := bus.Message{Topic: e.Topic(), Key: e.Subject, Value: e.JSON(), Headers: map[string]string{bus.HeaderEventID: e.ID, bus.HeaderCorrelationID: e.CorrelationID}}
	// The same event twice (a relay that crashed between publishing and
	// marking sent does exactly this), then a marker with the same key: the
	// partition is handled in order, so once the marker is recorded both
	// copies have been handled.
	marker := bookedEvent("req-marker")
	marker.Subject = e.Subject
	marker.Data = e.Data
	if err := pub.Publish(ctx, msg, msg, bus.Message{Topic: e.Topic(), Key: e.Subject, Value: marker.JSON()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker's audit row", 20*time.Second, func() bool {
		return count(t, pool, `SELECT count(*) FROM audit_events WHERE event_id = $1`, marker.ID) == 1
	})
	if n := count(t, pool, `SELECT count(*) FROM audit_events WHERE event_id = $1`, e.ID); n != 1 {
		t.Errorf("the event published twice has %d audit rows, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM processed_events WHERE consumer = 'audit'`); n != 2 {
		t.Errorf("processed_events has %d audit rows, want 2 (event and marker)", n)
	}
	// The first copy's position is the one recorded.
	var offset int64
	if err := pool.QueryRow(ctx, `SELECT "offset" FROM audit_events WHERE event_id = $1`, e.ID).Scan(&offset); err != nil {
		t.Fatal(err)
	}
	var markerOffset int64
	if err := pool.QueryRow(ctx, `SELECT "offset" FROM audit_events WHERE event_id = $1`, marker.ID).Scan(&markerOffset); err != nil {
		t.Fatal(err)
	}
	if markerOffset != offset+2 {
		t.Errorf("event at offset %d, marker at %d: want the first copy recorded (marker = event + 2)", offset, markerOffset)
	}
}

func TestHandleRefusesWhatIsNotAnEnvelopeAsPermanent(t *testing.T) {
	pool := storetest.NewPool(t)
	trail := newTrail(t, pool, testLogger())
	cases := map[string]string{
		"not JSON":   `this is not json`,
		"no type":    `{"id":"0190a1b2-0000-7000-8000-000000000001","subject":"x"}`,
		"no subject": `{"id":"0190a1b2-0000-7000-8000-000000000001","type":"appointment.booked"}`,
		"no id":      `{"type":"appointment.booked","subject":"x"}`,
	}
	for name, value := range cases {
		t.Run(name, func(t *testing.T) {
			err := trail.Handle(ctx, bus.Message{Topic: "vaxhub.appointment.v1", Value: []byte(value)})
			if !bus.IsPermanent(err) || !errors.Is(err, audit.ErrNotAnEvent) {
				t.Fatalf("got %v, want a permanent ErrNotAnEvent", err)
			}
		})
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_events`); n != 0 {
		t.Errorf("%d audit rows written for refused messages", n)
	}
}

func TestTheTrailStoresNoEventData(t *testing.T) {
	pool := storetest.NewPool(t)
	newTrail(t, pool, testLogger())
	rows, err := pool.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = 'audit_events' ORDER BY ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"event_id", "type", "subject", "topic", "partition", "offset", "correlation_id", "event_time", "received_at"}
	if len(cols) != len(want) {
		t.Fatalf("audit_events has columns %v, want exactly %v (no payload, no personal data)", cols, want)
	}
	for i := range want {
		if cols[i] != want[i] {
			t.Fatalf("audit_events has columns %v, want exactly %v (no payload, no personal data)", cols, want)
		}
	}
}

func TestLogsCarryTheCorrelationID(t *testing.T) {
	pool := storetest.NewPool(t)
	var buf bytes.Buffer
	trail := newTrail(t, pool, slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	e := bookedEvent("req-log-7")
	msg := bus.Message{Topic: e.Topic(), Key: e.Subject, Value: e.JSON(), Partition: 2, Offset: 41}
	for range 2 { // recorded, then a redelivery
		if err := trail.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 log lines, got:\n%s", buf.String())
	}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if rec["correlation_id"] != "req-log-7" || rec["event_id"] != e.ID {
			t.Errorf("log line lacks the correlation and event IDs: %s", line)
		}
	}
}
