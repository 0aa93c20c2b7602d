package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresInbox is the Inbox on PostgreSQL: one row per consumer and event
// in processed_events (consumer, event_id, processed_at; primary key
// consumer, event_id). The table is created by the hub's first migrations;
// old rows may be pruned by processed_at once redelivery is impossible
// (longer than topic retention).
type PostgresInbox struct {
	pool *pgxpool.Pool
}

// NewPostgresInbox returns the inbox on pool.
func NewPostgresInbox(pool *pgxpool.Pool) *PostgresInbox { return &PostgresInbox{pool: pool} }

// Handled reports whether consumer's record of eventID has committed.
func (p *PostgresInbox) Handled(ctx context.Context, consumer, eventID string) (bool, error) {
	var ok bool
	err := p.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2)`,
		consumer, eventID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read processed_events: %w", err)
	}
	return ok, nil
}

// Begin opens a transaction and inserts the record in it. The insert of a
// key that an open transaction inserted waits for that transaction: when it
// commits, first is false; when it rolls back, this one records the event.
func (p *PostgresInbox) Begin(ctx context.Context, consumer, eventID string) (pgx.Tx, bool, error) {
	if consumer == "" || eventID == "" {
		return nil, false, errors.New("inbox: consumer and event ID are required")
	}
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, false, err
	}
	tag, err := tx.Exec(ctx, `INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, consumer, eventID)
	if err != nil || tag.RowsAffected() != 1 {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("insert into processed_events: %w", err)
		}
		return nil, false, nil
	}
	return tx, true, nil
}
