package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Attempt implements app.Attempts. Each key's row is created or locked by
// one INSERT ... ON CONFLICT DO UPDATE (a row lock held to the end of the
// transaction), keys in sorted order so that two attempts sharing keys
// cannot deadlock; decide then sees the state no other attempt can change
// until this one commits, on every replica.
func (s *Store) Attempt(ctx context.Context, keys []string,
	decide func(cur []domain.AttemptRecord) ([]domain.AttemptRecord, *app.AttemptAudit, []domain.Event)) error {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		cur := make([]domain.AttemptRecord, 0, len(keys))
		for _, k := range keys {
			r := domain.AttemptRecord{Key: k}
			var until *time.Time
			if err := tx.QueryRow(ctx, `INSERT INTO attempt_ledger (key) VALUES ($1)
				ON CONFLICT (key) DO UPDATE SET key = excluded.key
				RETURNING failures, locked_until, lockouts`, k).Scan(&r.Failures, &until, &r.Lockouts); err != nil {
				return fmt.Errorf("lock ledger key: %w", err)
			}
			if until != nil {
				r.LockedUntil = until.UTC()
			}
			for i := range r.Failures {
				r.Failures[i] = r.Failures[i].UTC()
			}
			cur = append(cur, r)
		}
		next, audit, events := decide(cur)
		for _, r := range next {
			if !slices.Contains(keys, r.Key) {
				return errors.New("attempt ledger: decide returned a key it was not given")
			}
			if r.Empty() {
				if _, err := tx.Exec(ctx, `DELETE FROM attempt_ledger WHERE key = $1`, r.Key); err != nil {
					return fmt.Errorf("clear ledger key: %w", err)
				}
				continue
			}
			failures := r.Failures
			if failures == nil {
				failures = []time.Time{}
			}
			if _, err := tx.Exec(ctx, `UPDATE attempt_ledger SET failures = $2, locked_until = $3, lockouts = $4, updated_at = now()
				WHERE key = $1`, r.Key, failures, nullTime(r.LockedUntil), r.Lockouts); err != nil {
				return fmt.Errorf("save ledger key: %w", err)
			}
		}
		if audit != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO attempt_log
				(reference, resident_id, channel, outcome, failures, locked_until, correlation_id, at)
				VALUES (NULLIF($1,''), NULLIF($2,''), $3, $4, $5, $6, NULLIF($7,''), $8)`,
				audit.Reference, audit.ResidentID, audit.Channel, audit.Outcome, audit.Failures,
				nullTime(audit.LockedUntil), audit.CorrelationID, audit.At); err != nil {
				return fmt.Errorf("audit attempt: %w", err)
			}
		}
		return s.writeEvents(ctx, tx, events)
	})
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// AttemptLog is one audited identification attempt (app.AttemptAudit as
// stored).
type AttemptLog struct {
	Reference     string
	ResidentID    string
	Channel       string
	Outcome       string
	Failures      int
	LockedUntil   time.Time
	CorrelationID string
	At            time.Time
}

// AttemptLog lists the audited attempts on a reference or a resident
// (whichever is not empty; both: either), oldest first.
func (s *Store) AttemptLog(ctx context.Context, reference, residentID string) ([]AttemptLog, error) {
	rows, err := s.pool.Query(ctx, `SELECT coalesce(reference,''), coalesce(resident_id,''), channel, outcome, failures,
		locked_until, coalesce(correlation_id,''), at FROM attempt_log
		WHERE ($1 <> '' AND reference = $1) OR ($2 <> '' AND resident_id = $2) ORDER BY id`, reference, residentID)
	if err != nil {
		return nil, fmt.Errorf("attempt log: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AttemptLog, error) {
		var l AttemptLog
		var until *time.Time
		err := row.Scan(&l.Reference, &l.ResidentID, &l.Channel, &l.Outcome, &l.Failures, &until, &l.CorrelationID, &l.At)
		if until != nil {
			l.LockedUntil = until.UTC()
		}
		l.At = l.At.UTC()
		return l, err
	})
}
