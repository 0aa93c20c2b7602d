package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// OutboxInsert is one event a use case writes to the outbox in its own
// transaction. Payload is the JSON envelope.
type OutboxInsert struct {
	EventID string // UUID
	Topic   string
	Key     string // the aggregate's ID; the caller holds the aggregate's lock
	Type    string
	Payload []byte
	Headers map[string]string
}

// InsertOutbox inserts rows within tx, in the given order (ids ascend in that
// order). The caller must have locked the aggregate named by each Key in tx
// before, so that for one key id order is commit order (the relay publishes in
// id order per key).
func InsertOutbox(ctx context.Context, tx pgx.Tx, rows ...OutboxInsert) error {
	if len(rows) == 0 {
		return nil
	}
	var sb strings.Builder
	sb.WriteString(`INSERT INTO outbox (event_id, topic, key, event_type, payload, headers) VALUES `)
	args := make([]any, 0, 6*len(rows))
	for i, r := range rows {
		if r.EventID == "" || r.Topic == "" || r.Key == "" || r.Type == "" || len(r.Payload) == 0 {
			return fmt.Errorf("store: outbox row %d (%s): event ID, topic, key, type and payload are required", i, r.Type)
		}
		h := r.Headers
		if h == nil {
			h = map[string]string{}
		}
		hb, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("store: outbox row %d headers: %w", i, err)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		n := len(args)
		fmt.Fprintf(&sb, "($%d::uuid, $%d, $%d, $%d, $%d::jsonb, $%d::jsonb)", n+1, n+2, n+3, n+4, n+5, n+6)
		args = append(args, r.EventID, r.Topic, r.Key, r.Type, string(r.Payload), string(hb))
	}
	if _, err := tx.Exec(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("store: insert %d outbox rows: %w", len(rows), err)
	}
	return nil
}

// RecordEvents implements app.Events: it validates the events (when the
// store has Options.Events) and inserts them into the outbox in one
// transaction. Their keys are not locked: the caller records the events of
// one key one after another (the hotline: a call's events from the call's
// goroutine), so for one key id order is commit order.
func (s *Store) RecordEvents(ctx context.Context, events []domain.Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error { return s.writeEvents(ctx, tx, events) })
}

var _ app.Events = (*Store)(nil)

// MarkProcessed records, within tx, that consumer has handled eventID. first
// is false when it had been recorded before: the caller then skips the
// effect (the event is a redelivery) and commits nothing new.
func MarkProcessed(ctx context.Context, tx pgx.Tx, consumer string, eventID string) (first bool, err error) {
	if consumer == "" || eventID == "" {
		return false, errors.New("store: mark processed: consumer and event ID are required")
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("store: mark processed %s/%s: %w", consumer, eventID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// OutboxRow is one unsent outbox row. It is an alias of the same unnamed
// struct type as connectors/bus.OutboxRow, so that *Outbox satisfies
// bus.OutboxStore while neither package imports the other.
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

// ErrLeaseLost is returned by Pending for a shard this Outbox does not (or no
// longer) lease, for example because its lease connection died: another relay
// may own the shard now.
var ErrLeaseLost = errors.New("outbox shard lease lost")

// outboxLeaseClass is the first key of the two-key advisory locks that lease
// outbox shards (the second is the shard). Distinct from migrationLockID,
// which uses the one-key form.
const outboxLeaseClass = 7_261_002

// Outbox is the relay's view of the outbox table (bus.OutboxStore).
//
// Leases are PostgreSQL session advisory locks held on one dedicated
// connection, outside the pool. If that connection dies, PostgreSQL drops the
// locks and another relay leases the shards on its next try; this Outbox
// notices on the next Pending of a leased shard, which runs on the lease
// connection for exactly that reason.
type Outbox struct {
	pool *pgxpool.Pool

	mu    sync.Mutex
	lease *pgx.Conn
	gen   uint64         // incremented per lease connection
	held  map[int]uint64 // shard -> gen it was leased in
}

// NewOutbox returns the outbox store on pool. Close it to drop its leases.
func NewOutbox(pool *pgxpool.Pool) *Outbox {
	return &Outbox{pool: pool, held: map[int]uint64{}}
}

// Close closes the lease connection; every lease of this Outbox ends.
func (o *Outbox) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.dropLeaseConnLocked()
}

func (o *Outbox) dropLeaseConnLocked() {
	if o.lease != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = o.lease.Close(ctx)
		cancel()
	}
	o.lease = nil
	o.held = map[int]uint64{}
}

func (o *Outbox) leaseConnLocked(ctx context.Context) (*pgx.Conn, error) {
	if o.lease != nil && !o.lease.IsClosed() {
		return o.lease, nil
	}
	o.dropLeaseConnLocked()
	cfg := o.pool.Config().ConnConfig.Copy()
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["application_name"] = "vaxhub-outbox-lease"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: outbox lease connection: %w", err)
	}
	o.lease = c
	o.gen++
	return c, nil
}

// TryLease tries to lease shard for this Outbox (see Outbox).
func (o *Outbox) TryLease(ctx context.Context, shard int) (release func(), ok bool, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	c, err := o.leaseConnLocked(ctx)
	if err != nil {
		return nil, false, err
	}
	if g, have := o.held[shard]; have && g == o.gen {
		return nil, false, fmt.Errorf("store: outbox shard %d is already leased by this relay", shard)
	}
	if err := c.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, outboxLeaseClass, shard).Scan(&ok); err != nil {
		o.dropLeaseConnLocked()
		return nil, false, fmt.Errorf("store: lease outbox shard %d: %w", shard, err)
	}
	if !ok {
		return nil, false, nil
	}
	gen := o.gen
	o.held[shard] = gen
	release = func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		if g, have := o.held[shard]; !have || g != gen || o.lease == nil {
			return // already gone with its connection
		}
		delete(o.held, shard)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := o.lease.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, outboxLeaseClass, shard); err != nil {
			o.dropLeaseConnLocked() // closing the session releases the lock too
		}
	}
	return release, true, nil
}

// pendingSQL takes, per shard, the oldest unsent ids through the partial
// index (shard, id) (each a prefix of its shard, so per-key order holds), keeps
// the oldest $2 of them overall, and only then reads their payloads. Its cost
// does not grow with the backlog, and it needs no table statistics to pick
// the index.
const pendingSQL = `WITH ids AS (
		SELECT o.id FROM unnest($1::int[]) AS s(shard)
		CROSS JOIN LATERAL (SELECT id FROM outbox WHERE shard = s.shard AND sent_at IS NULL ORDER BY id LIMIT $2) o
		ORDER BY o.id LIMIT $2)
	SELECT id, event_id::text, topic, key, event_type, payload::text, headers, created_at
	FROM outbox WHERE id IN (SELECT id FROM ids) ORDER BY id`

// Pending returns up to limit unsent rows of the shards in id order. Every
// shard must be leased by this Outbox: the rows are read on the lease
// connection, so a lease lost with its connection shows as ErrLeaseLost
// instead of two relays publishing the same shard.
func (o *Outbox) Pending(ctx context.Context, shards []int, limit int) ([]OutboxRow, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, shard := range shards {
		if g, have := o.held[shard]; !have || g != o.gen || o.lease == nil {
			return nil, fmt.Errorf("store: outbox shard %d: %w", shard, ErrLeaseLost)
		}
	}
	rows, err := o.lease.Query(ctx, pendingSQL, shards, limit)
	if err != nil {
		o.dropLeaseConnLocked()
		return nil, fmt.Errorf("store: outbox shards %v: %w: %w", shards, ErrLeaseLost, err)
	}
	out, err := scanOutbox(rows)
	if err != nil {
		o.dropLeaseConnLocked()
		return nil, fmt.Errorf("store: outbox shards %v: %w: %w", shards, ErrLeaseLost, err)
	}
	return out, nil
}

func scanOutbox(rows pgx.Rows) ([]OutboxRow, error) {
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		var payload string
		if err := rows.Scan(&r.ID, &r.EventID, &r.Topic, &r.Key, &r.Type, &payload, &r.Headers, &r.CreatedAt); err != nil {
			return nil, err
		}
		r.Payload = []byte(payload)
		out = append(out, r)
	}
	return out, rows.Err()
}

// MarkSent records that the rows were acknowledged by the broker.
func (o *Outbox) MarkSent(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := o.pool.Exec(ctx, `UPDATE outbox SET sent_at = now() WHERE id = ANY($1) AND sent_at IS NULL`, ids); err != nil {
		return fmt.Errorf("store: mark %d outbox rows sent: %w", len(ids), err)
	}
	return nil
}

// Backlog counts unsent rows.
func (o *Outbox) Backlog(ctx context.Context) (int64, error) {
	var n int64
	if err := o.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: outbox backlog: %w", err)
	}
	return n, nil
}

// Notifications signals (coalesced) when outbox rows were committed, using
// LISTEN on channel "outbox" (the trigger of migration 0002). It reconnects
// by itself; the channel is closed when ctx ends. The relay polls as well, so
// a missed notification only costs latency.
func (o *Outbox) Notifications(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		for attempt := 0; ctx.Err() == nil; attempt++ {
			if o.listen(ctx, ch) {
				attempt = 0
			}
			d := min(time.Duration(1<<min(attempt, 5))*100*time.Millisecond, 3*time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
	}()
	return ch
}

// listen holds one LISTEN connection until it fails; it reports whether it
// got as far as listening.
func (o *Outbox) listen(ctx context.Context, ch chan<- struct{}) bool {
	c, err := pgx.ConnectConfig(ctx, o.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = c.Close(cctx)
		cancel()
	}()
	if _, err := c.Exec(ctx, `LISTEN outbox`); err != nil {
		return false
	}
	// Rows may have committed while we were not listening.
	select {
	case ch <- struct{}{}:
	default:
	}
	for {
		if _, err := c.WaitForNotification(ctx); err != nil {
			return true
		}
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
