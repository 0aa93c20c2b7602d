package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

func outboxRow(key string, n int) store.OutboxInsert {
	id := uuid.Must(uuid.NewV7()).String()
	return store.OutboxInsert{EventID: id, Topic: "vaxhub.appointment.v1", Key: key, Type: "appointment.booked",
		Payload: fmt.Appendf(nil, `{"id":%q,"subject":%q,"n":%d}`, id, key, n), Headers: map[string]string{"correlation_id": "c"}}
}

// sameShardKeys returns two keys in one outbox shard, and the shard.
func sameShardKeys(t *testing.T, pool *pgxpool.Pool) (string, string, int) {
	t.Helper()
	var a, b string
	var shard int
	err := pool.QueryRow(context.Background(), `
		WITH k AS (SELECT 'ref-' || g AS key, (hashtext('ref-' || g) & 2147483647) % 16 AS shard FROM generate_series(1, 200) g)
		SELECT k1.key, k2.key, k1.shard FROM k k1 JOIN k k2 ON k1.shard = k2.shard AND k1.key < k2.key LIMIT 1`).Scan(&a, &b, &shard)
	if err != nil {
		t.Fatal(err)
	}
	return a, b, shard
}

func TestOutboxPendingFindsLateCommitsInIDOrder(t *testing.T) {
	pool := storetest.NewPool(t)
	ctx := context.Background()
	keyA, keyB, shard := sameShardKeys(t, pool)
	ob := store.NewOutbox(pool)
	defer ob.Close()
	release, ok, err := ob.TryLease(ctx, shard)
	if err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	defer release()

	// tx1 takes the lower id and stays open while tx2 commits a higher one.
	tx1, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx1.Rollback(ctx) //nolint:errcheck
	if err := store.InsertOutbox(ctx, tx1, outboxRow(keyA, 1), outboxRow(keyA, 2)); err != nil {
		t.Fatal(err)
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.InsertOutbox(ctx, tx, outboxRow(keyB, 1)) }); err != nil {
		t.Fatal(err)
	}
	rows, err := ob.Pending(ctx, []int{shard}, 10)
	if err != nil || len(rows) != 1 || rows[0].Key != keyB {
		t.Fatalf("pending before the late commit: %v %v", rows, err)
	}
	if err := ob.MarkSent(ctx, []int64{rows[0].ID}); err != nil {
		t.Fatal(err)
	}
	if err := tx1.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rows, err = ob.Pending(ctx, []int{shard}, 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("pending after the late commit: %v %v", rows, err)
	}
	if rows[0].Key != keyA || rows[1].Key != keyA || rows[0].ID >= rows[1].ID {
		t.Fatalf("late rows not in id order: %+v", rows)
	}
	r := rows[0]
	if r.Type != "appointment.booked" || r.Topic != "vaxhub.appointment.v1" || r.Headers["correlation_id"] != "c" ||
		r.CreatedAt.IsZero() || !isJSONObject(r.Payload) {
		t.Fatalf("row fields: %+v", r)
	}
	if n, err := ob.Backlog(ctx); err != nil || n != 2 {
		t.Fatalf("backlog %d %v", n, err)
	}
	if err := ob.MarkSent(ctx, []int64{rows[0].ID, rows[1].ID}); err != nil {
		t.Fatal(err)
	}
	if n, _ := ob.Backlog(ctx); n != 0 {
		t.Fatalf("backlog after mark sent: %d", n)
	}
}

func isJSONObject(b []byte) bool { return len(b) > 0 && b[0] == '{' }

func TestInsertOutboxRejectsIncompleteRows(t *testing.T) {
	pool := storetest.NewPool(t)
	ctx := context.Background()
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return store.InsertOutbox(ctx, tx, store.OutboxInsert{EventID: uuid.NewString(), Topic: "t", Type: "x.y", Payload: []byte(`{}`)})
	})
	if err == nil {
		t.Fatal("a row without key was accepted")
	}
}

func TestMarkProcessedRecordsEachEventOncePerConsumer(t *testing.T) {
	pool := storetest.NewPool(t)
	ctx := context.Background()
	mark := func(consumer, id string) bool {
		var first bool
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) (err error) {
			first, err = store.MarkProcessed(ctx, tx, consumer, id)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return first
	}
	id := uuid.NewString()
	if !mark("print", id) {
		t.Fatal("first delivery not first")
	}
	if mark("print", id) {
		t.Fatal("redelivery counted as first")
	}
	if !mark("sap", id) {
		t.Fatal("another consumer's first delivery not first")
	}
	// Rolled back with the effect: the event counts as unprocessed.
	other := uuid.NewString()
	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := store.MarkProcessed(ctx, tx, "print", other); err != nil {
			return err
		}
		return errors.New("effect failed")
	})
	if !mark("print", other) {
		t.Fatal("a rolled-back mark survived")
	}
}

func TestOutboxLeaseIsExclusiveAndEndsWithItsConnection(t *testing.T) {
	pool := storetest.NewPool(t)
	ctx := context.Background()
	a, b := store.NewOutbox(pool), store.NewOutbox(pool)
	defer b.Close()
	relA, ok, err := a.TryLease(ctx, 3)
	if err != nil || !ok {
		t.Fatalf("A lease: %v %v", ok, err)
	}
	if _, ok, err := b.TryLease(ctx, 3); err != nil || ok {
		t.Fatalf("B leased a shard A holds: %v %v", ok, err)
	}
	if _, err := b.Pending(ctx, []int{3}, 10); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("B read a shard it does not lease: %v", err)
	}
	relA()
	relB, ok, err := b.TryLease(ctx, 3)
	if err != nil || !ok {
		t.Fatalf("B after A released: %v %v", ok, err)
	}
	relB()

	if _, ok, _ := a.TryLease(ctx, 5); !ok {
		t.Fatal("A could not lease shard 5")
	}
	// A's lease connection dies (crash, network): PostgreSQL frees the shard.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 7261002 AND objid = 5 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok, err := b.TryLease(ctx, 5); err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("B never got the shard of A's dead connection")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := a.Pending(ctx, []int{5}, 10); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("A did not notice its lost lease: %v", err)
	}
	a.Close()
}

func TestOutboxNotifiesOnCommit(t *testing.T) {
	pool := storetest.NewPool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := store.NewOutbox(pool).Notifications(ctx)
	select { // the initial signal (rows may have committed before LISTEN)
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no initial signal")
	}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.InsertOutbox(ctx, tx, outboxRow("ref-1", 1)) }); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no notification after commit")
	}
	cancel()
	for range ch { //nolint:revive // drain until closed
	}
}
