package bus

import (
	"context"
	"time"
)

// OutboxRow is one unsent outbox row as the relay sees it.
//
// It is an alias of an unnamed struct type on purpose: core/store declares the
// identical alias, so store.Outbox satisfies OutboxStore without the core
// importing a connector or the bus importing the core.
type OutboxRow = struct {
	ID        int64
	EventID   string
	Topic     string
	Key       string
	Type      string
	Payload   []byte // the JSON envelope
	Headers   map[string]string
	CreatedAt time.Time
}

// OutboxStore is what the relay needs from the outbox table (core/store.Outbox
// implements it with PostgreSQL).
type OutboxStore interface {
	// TryLease tries to become the only publisher of shard. ok is false when
	// another relay holds it. The lease lasts until release is called or the
	// store loses the connection that holds it; Pending on a lost lease fails.
	TryLease(ctx context.Context, shard int) (release func(), ok bool, err error)
	// Pending returns up to limit unsent rows of the given (leased) shards in
	// id order, in one read. It selects by "not sent", never by "id above the
	// last one seen", so a row whose transaction commits late is still found.
	Pending(ctx context.Context, shards []int, limit int) ([]OutboxRow, error)
	// MarkSent records that the rows were acknowledged by the broker.
	MarkSent(ctx context.Context, ids []int64) error
	// Backlog counts unsent rows over all shards.
	Backlog(ctx context.Context) (int64, error)
}

// OutboxNotifier is optionally implemented by an OutboxStore that can signal
// new rows (PostgreSQL LISTEN/NOTIFY on channel "outbox"), so the relay
// publishes without waiting for its next poll. The channel is closed when ctx
// ends.
type OutboxNotifier interface {
	Notifications(ctx context.Context) <-chan struct{}
}

// Headers the relay adds to every published event (unless the row has them).
const (
	HeaderEventID   = "event_id"
	HeaderEventType = "event_type"
)
