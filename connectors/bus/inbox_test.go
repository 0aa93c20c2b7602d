package bus_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// inboxFixture is a fresh migrated database with an effects table that
// has no unique key: only the inbox can keep a second row out.
func inboxFixture(t *testing.T) (*pgxpool.Pool, *bus.PostgresInbox) {
	t.Helper()
	pool := storetest.NewPool(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE effects (event_id text NOT NULL, attempt int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return pool, bus.NewPostgresInbox(pool)
}

func countRows(t *testing.T, pool *pgxpool.Pool, q string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func event(id, typ string) bus.Message {
	return bus.Message{Topic: "vaxhub.test.v1", Key: "k-" + id,
		Value: fmt.Appendf(nil, `{"id":%q,"type":%q,"subject":"k-%s","correlation_id":"c-%s","data":{"n":7}}`, id, typ, id, id)}
}

// writeEffect is a handler that writes one effects row in the inbox's
// transaction.
func writeEffect(calls *atomic.Int32) bus.HandlerFunc {
	return func(ctx context.Context, msg bus.Message) error {
		n := calls.Add(1)
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO effects (event_id, attempt) VALUES ($1, $2)`, bus.MessageEventID(msg), n)
		return err
	}
}

func TestInboxSkipsAnEventHandledBefore(t *testing.T) {
	pool, in := inboxFixture(t)
	var calls atomic.Int32
	h := bus.ExactlyOnce(in, "tester")(writeEffect(&calls))
	ctx := context.Background()
	msg := event("e-1", "test.done")
	for i := 0; i < 3; i++ {
		if err := h(ctx, msg); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if c := calls.Load(); c != 1 {
		t.Errorf("handler called %d times for one event delivered three times, want 1", c)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM effects`); n != 1 {
		t.Errorf("%d effects, want 1", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM processed_events WHERE consumer = 'tester' AND event_id = 'e-1'`); n != 1 {
		t.Errorf("%d inbox rows, want 1", n)
	}
	// Another consumer has an inbox of its own: it handles the event too.
	if err := bus.ExactlyOnce(in, "other")(writeEffect(&calls))(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM effects`); n != 2 {
		t.Errorf("%d effects after a second consumer, want 2", n)
	}
}

func TestInboxHandlerErrorRollsBackSoTheEventIsRetried(t *testing.T) {
	pool, in := inboxFixture(t)
	var calls atomic.Int32
	fail := true
	h := bus.ExactlyOnce(in, "tester")(func(ctx context.Context, msg bus.Message) error {
		if err := writeEffect(&calls)(ctx, msg); err != nil {
			return err
		}
		if fail {
			return errors.New("the outside system is down")
		}
		return nil
	})
	ctx := context.Background()
	msg := event("e-2", "test.done")
	if err := h(ctx, msg); err == nil {
		t.Fatal("a failing handler's error was swallowed")
	}
	if n := countRows(t, pool, `SELECT count(*) FROM effects`) + countRows(t, pool, `SELECT count(*) FROM processed_events`); n != 0 {
		t.Fatalf("a failed attempt left %d rows (effect or inbox record), want none", n)
	}
	fail = false
	if err := h(ctx, msg); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("handler called %d times, want 2 (failed, then retried)", c)
	}
	var attempt int
	if err := pool.QueryRow(ctx, `SELECT attempt FROM effects`).Scan(&attempt); err != nil || attempt != 2 {
		t.Errorf("effect of attempt %d (%v), want only the retry's (2)", attempt, err)
	}
	// A panic is an error too: nothing of it commits.
	p := bus.ExactlyOnce(in, "tester")(func(ctx context.Context, msg bus.Message) error {
		if err := writeEffect(&calls)(ctx, msg); err != nil {
			return err
		}
		return bus.Permanent(errors.New("refused"))
	})
	if err := p(ctx, event("e-3", "test.done")); !bus.IsPermanent(err) {
		t.Fatalf("a permanent error came back as %v", err)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM effects WHERE event_id = 'e-3'`); n != 0 {
		t.Errorf("a dead-lettered event left %d effects", n)
	}
}

// TestInboxParallelRedeliveryYieldsOneEffect: deliveries of one event that
// run at the same time (two consumers of a group during a rebalance, a
// redelivery racing a slow first attempt) all pass the "handled before?"
// check, all do their reads, and still only one effect commits.
func TestInboxParallelRedeliveryYieldsOneEffect(t *testing.T) {
	pool, in := inboxFixture(t)
	const deliveries = 8
	var calls atomic.Int32
	var ready sync.WaitGroup
	ready.Add(deliveries)
	start := make(chan struct{})
	h := bus.ExactlyOnce(in, "tester")(func(ctx context.Context, msg bus.Message) error {
		calls.Add(1)
		ready.Done()
		<-start // every delivery is past the check before any writes
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO effects (event_id, attempt) VALUES ($1, 0)`, bus.MessageEventID(msg)); err != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond) // hold the record while the others wait for it
		return nil
	})
	errs := make(chan error, deliveries)
	for i := 0; i < deliveries; i++ {
		go func() { errs <- h(context.Background(), event("e-4", "test.done")) }()
	}
	ready.Wait()
	close(start)
	for i := 0; i < deliveries; i++ {
		if err := <-errs; err != nil {
			t.Errorf("delivery: %v", err)
		}
	}
	if c := calls.Load(); c != deliveries {
		t.Fatalf("only %d of %d deliveries reached the handler: the test did not race", c, deliveries)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM effects`); n != 1 {
		t.Errorf("%d parallel deliveries of one event gave %d effects, want 1", deliveries, n)
	}
}

// TestInboxThroughTheRouterOnTheBus: the production path. One event is
// published three times under different keys (so that two partitions
// handle it at the same time) and again after it was handled; a router
// with the inbox gives one effect, skips other event types without
// recording them, and dead-letters data that does not decode.
func TestInboxThroughTheRouterOnTheBus(t *testing.T) {
	const topic = "vaxhub.test.v1"
	pool, in := inboxFixture(t)
	_, cfg := startBroker(t, "", 2, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type done struct {
		N int `json:"n"`
	}
	var calls atomic.Int32
	var sawCorr sync.Map // event ID -> app.CorrelationID(ctx) in the handler
	r := bus.NewRouter(bus.ConsumerConfig{Kafka: cfg, Inbox: in, Logger: testLogger(), MaxRetries: 2,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond})
	err := r.Handle("tester", topic, "inbox-router", bus.On("test.done", func(ctx context.Context, env bus.Envelope, d done) error {
		calls.Add(1)
		sawCorr.Store(env.ID, app.CorrelationID(ctx))
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO effects (event_id, attempt) VALUES ($1, $2)`, env.ID, d.N)
		time.Sleep(20 * time.Millisecond)
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	routerDone := make(chan error, 1)
	go func() { routerDone <- r.Run(runCtx) }()
	defer func() {
		stop()
		<-routerDone
	}()

	same := event("e-5", "test.done")
	var msgs []bus.Message
	for _, key := range []string{"a", "b", "c", "d"} {
		m := same
		m.Key = key
		msgs = append(msgs, m)
	}
	other := event("e-6", "test.other")
	bad := event("e-7", "test.done")
	bad.Value = []byte(`{"id":"e-7","type":"test.done","data":{"n":"seven"}}`)
	if err := pub.Publish(ctx, append(msgs, other, bad)...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the event handled and the bad one dead-lettered", func() bool {
		dls, err := bus.ListDLQ(ctx, cfg, 10)
		return countRows(t, pool, `SELECT count(*) FROM effects`) >= 1 && err == nil && len(dls) == 1
	})
	// A redelivery after the commit, then a marker behind it in its
	// partition: once the marker's effect is there, the redelivery was
	// consumed.
	marker := event("e-8", "test.done")
	marker.Key = "a"
	if err := pub.Publish(ctx, msgs[0], marker); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the marker behind the redelivery", func() bool {
		return countRows(t, pool, `SELECT count(*) FROM effects WHERE event_id = 'e-8'`) == 1
	})
	time.Sleep(500 * time.Millisecond) // let anything late arrive
	if n := countRows(t, pool, `SELECT count(*) FROM effects WHERE event_id = 'e-5'`); n != 1 {
		t.Errorf("five deliveries of one event gave %d effects, want 1", n)
	}
	if n := countRows(t, pool, `SELECT count(*) FROM processed_events WHERE event_id = 'e-6'`); n != 0 {
		t.Errorf("an event of another type was recorded (%d rows): the inbox fills with what the handler skips", n)
	}
	if c, _ := sawCorr.Load("e-5"); c != "c-e-5" {
		t.Errorf("handler saw correlation ID %q under core/app's key, want c-e-5 (the router's middleware)", c)
	}
}
