package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// RecordDelivery implements app.Stock. The delivery ID makes it idempotent.
func (s *Store) RecordDelivery(ctx context.Context, d app.Delivery, events []domain.Event) (bool, error) {
	fresh := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var expires any
		if !d.Expires.IsZero() {
			expires = dayArg(d.Expires)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO deliveries (id, centre_id, product, arrives_on, expires_on, batch, announced, doses)
			VALUES ($1,$2,$3,$4,$5,nullif($6,''),$7,$8) ON CONFLICT (id) DO NOTHING`,
			d.ID, d.CentreID, string(d.Product), dayArg(d.Arrives), expires, d.Batch, d.Announced, d.Doses)
		if err != nil {
			return fmt.Errorf("insert delivery: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		fresh = true
		return s.writeEvents(ctx, tx, events)
	})
	return fresh, err
}

// JoinWaitlist implements app.Waitlist.
func (s *Store) JoinWaitlist(ctx context.Context, e *domain.WaitlistEntry, events []domain.Event) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO waitlist (id, resident_id, centre_id, district_ags, product, priority_group, joined_at, status)
			VALUES ($1,$2,nullif($3,''),nullif($4,''),nullif($5,''),$6,$7,'waiting')`,
			e.ID, e.ResidentID, e.CentreID, e.DistrictAGS, string(e.Product), e.PriorityGroup, e.JoinedAt)
		if isUniqueViolation(err, "waitlist_one_waiting") {
			return &domain.Refusal{Kind: domain.ErrConflict, Code: "already-waiting", Message: "Sie stehen bereits auf der Warteliste."}
		}
		if err != nil {
			return fmt.Errorf("insert waitlist entry: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
}

// Waiting implements app.Waitlist.
func (s *Store) Waiting(ctx context.Context, centreID, districtAGS string, limit int) ([]domain.WaitlistEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT id::text, resident_id::text, coalesce(centre_id,''), coalesce(district_ags,''), coalesce(product,''),
		priority_group, joined_at, status FROM waitlist
		WHERE status = 'waiting' AND (centre_id = $1 OR district_ags = $2)
		ORDER BY priority_group, joined_at, id LIMIT $3`, centreID, districtAGS, limit)
	if err != nil {
		return nil, fmt.Errorf("list waitlist: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.WaitlistEntry, error) {
		var e domain.WaitlistEntry
		var p string
		err := row.Scan(&e.ID, &e.ResidentID, &e.CentreID, &e.DistrictAGS, &p, &e.PriorityGroup, &e.JoinedAt, &e.Status)
		e.Product = domain.ProductID(p)
		return e, err
	})
}
