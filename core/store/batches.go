package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

var _ app.StockBatches = (*Store)(nil)

// WithdrawStock implements app.StockBatches. It takes the doses from the
// received (not announced) deliveries of the batch, the first to expire
// first, never below what bookings hold (reserved).
func (s *Store) WithdrawStock(ctx context.Context, w app.Withdrawal, events func(applied int) []domain.Event) (int, bool, error) {
	applied, fresh := 0, false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		applied, fresh = 0, false
		tag, err := tx.Exec(ctx, `INSERT INTO stock_withdrawals (id, centre_id, product, batch, day, doses, applied, reason)
			VALUES ($1,$2,$3,$4,$5,$6,0,$7) ON CONFLICT (id) DO NOTHING`,
			w.ID, w.CentreID, string(w.Product), w.Batch, dayArg(w.Day), w.Doses, w.Reason)
		if err != nil {
			return fmt.Errorf("insert withdrawal: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return nil
		}
		fresh = true
		rows, err := tx.Query(ctx, `SELECT id, doses - reserved FROM deliveries
			WHERE centre_id = $1 AND product = $2 AND batch = $3 AND NOT announced AND doses > reserved
			ORDER BY expires_on NULLS LAST, arrives_on, id FOR UPDATE`, w.CentreID, string(w.Product), w.Batch)
		if err != nil {
			return fmt.Errorf("lock deliveries: %w", err)
		}
		type avail struct {
			id   string
			free int
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (avail, error) {
			var a avail
			return a, r.Scan(&a.id, &a.free)
		})
		if err != nil {
			return err
		}
		left := w.Doses
		for _, a := range list {
			if left == 0 {
				break
			}
			take := min(left, a.free)
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET doses = doses - $2 WHERE id = $1`, a.id, take); err != nil {
				return fmt.Errorf("withdraw from delivery %s: %w", a.id, err)
			}
			left -= take
			applied += take
		}
		if _, err := tx.Exec(ctx, `UPDATE stock_withdrawals SET applied = $2 WHERE id = $1`, w.ID, applied); err != nil {
			return err
		}
		return s.writeEvents(ctx, tx, events(applied))
	})
	return applied, fresh, err
}

// BatchStocks implements app.StockBatches: received doses per batch (less
// withdrawals, which lowered the deliveries) less the doses given with that
// batch at the centre.
func (s *Store) BatchStocks(ctx context.Context, centreID string, product domain.ProductID) ([]app.BatchStock, error) {
	rows, err := s.pool.Query(ctx, `WITH rec AS (
			SELECT centre_id, product, batch, min(expires_on) AS expires_on, sum(doses)::bigint AS doses
			  FROM deliveries WHERE NOT announced AND batch IS NOT NULL
			   AND ($1 = '' OR centre_id = $1) AND ($2 = '' OR product = $2)
			 GROUP BY 1, 2, 3),
		given AS (
			SELECT a.centre_id, d.product, d.batch, count(*)::bigint AS n
			  FROM doses d JOIN appointments a ON a.reference = d.reference
			 WHERE d.status = 'administered' AND d.batch IS NOT NULL
			   AND ($1 = '' OR a.centre_id = $1) AND ($2 = '' OR d.product = $2)
			 GROUP BY 1, 2, 3)
		SELECT coalesce(rec.centre_id, given.centre_id), coalesce(rec.product, given.product), coalesce(rec.batch, given.batch),
		       rec.expires_on, coalesce(rec.doses, 0) - coalesce(given.n, 0)
		  FROM rec FULL JOIN given ON given.centre_id = rec.centre_id AND given.product = rec.product AND given.batch = rec.batch
		 ORDER BY 1, 2, rec.expires_on NULLS LAST, 3`, centreID, string(product))
	if err != nil {
		return nil, fmt.Errorf("batch stock: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.BatchStock, error) {
		var b app.BatchStock
		var p string
		var exp pgDate
		err := r.Scan(&b.CentreID, &p, &b.Batch, &exp, &b.Doses)
		b.Product, b.Expires = domain.ProductID(p), domain.Date(exp)
		return b, err
	})
}

// DosesGivenByBatch implements app.StockBatches.
func (s *Store) DosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]app.DosesGiven, error) {
	rows, err := s.pool.Query(ctx, `SELECT a.centre_id, d.product, coalesce(d.batch, ''), (d.administered_at AT TIME ZONE $3)::date AS day, count(*)::bigint
		  FROM doses d JOIN appointments a ON a.reference = d.reference
		 WHERE d.status = 'administered' AND (d.administered_at AT TIME ZONE $3)::date BETWEEN $1 AND $2
		 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, dayArg(from), dayArg(to), s.loc.String())
	if err != nil {
		return nil, fmt.Errorf("doses given by batch: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (app.DosesGiven, error) {
		var g app.DosesGiven
		var p string
		var day pgDate
		err := r.Scan(&g.CentreID, &p, &g.Batch, &day, &g.Doses)
		g.Product, g.Day = domain.ProductID(p), domain.Date(day)
		return g, err
	})
}
