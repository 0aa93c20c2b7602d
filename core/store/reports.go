package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
)

// ageGroupSQL is the RKI age band of a resident on the day of the dose.
const ageGroupSQL = `CASE
	WHEN extract(year FROM age((d.administered_at AT TIME ZONE $1)::date, r.birth_date)) < 12 THEN '05-11'
	WHEN extract(year FROM age((d.administered_at AT TIME ZONE $1)::date, r.birth_date)) < 18 THEN '12-17'
	WHEN extract(year FROM age((d.administered_at AT TIME ZONE $1)::date, r.birth_date)) < 60 THEN '18-59'
	ELSE '60+' END`

// givenDosesSQL is every dose given: at a centre (doses of appointments)
// and in the field by a mobile team (accepted mobile_doses, counted for the
// centre of the team's district; issue 7).
const givenDosesSQL = `(SELECT x.administered_at, a.centre_id, x.product, x.dose_number, a.resident_id
		FROM doses x JOIN appointments a ON a.reference = x.reference WHERE x.status = 'administered'
	UNION ALL SELECT m.administered_at, m.centre_id, m.product, m.dose_number, m.resident_id::uuid
		FROM mobile_doses m WHERE m.status = 'accepted')`

// Progress implements app.Reports.
func (s *Store) Progress(ctx context.Context) (*app.Progress, error) {
	p := &app.Progress{Totals: map[string]int64{}}
	tz := s.loc.String()
	rows, err := s.pool.Query(ctx, `SELECT to_char((d.administered_at AT TIME ZONE $1)::date, 'YYYY-MM-DD'), d.centre_id, d.product, d.dose_number, `+ageGroupSQL+`, count(*)
		FROM `+givenDosesSQL+` d JOIN residents r ON r.id = d.resident_id
		GROUP BY 1,2,3,4,5 ORDER BY 1,2,3,4,5`, tz)
	if err != nil {
		return nil, fmt.Errorf("progress doses: %w", err)
	}
	p.Doses, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.DoseCount, error) {
		var c app.DoseCount
		return c, row.Scan(&c.Day, &c.CentreID, &c.Product, &c.DoseNumber, &c.AgeGroup, &c.Count)
	})
	if err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `SELECT c.id, pr.id,
		coalesce((SELECT sum(doses) FROM deliveries WHERE centre_id = c.id AND product = pr.id), 0),
		coalesce((SELECT sum(reserved) FROM deliveries WHERE centre_id = c.id AND product = pr.id), 0),
		coalesce((SELECT sum(administered) FROM deliveries WHERE centre_id = c.id AND product = pr.id), 0),
		(SELECT count(*) FROM doses d JOIN appointments a ON a.reference = d.reference
		  WHERE a.centre_id = c.id AND d.product = pr.id AND d.status IN ('booked','checked-in'))
		FROM centres c CROSS JOIN products pr ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("progress stock: %w", err)
	}
	p.Centres, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.CentreStock, error) {
		var c app.CentreStock
		err := row.Scan(&c.CentreID, &c.Product, &c.Delivered, &c.Reserved, &c.Administered, &c.BookedDoses)
		c.Free = c.Delivered - c.Reserved
		return c, err
	})
	if err != nil {
		return nil, err
	}
	var residents, open, given, waiting int64
	if err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM residents), (SELECT count(*) FROM appointments WHERE status = 'booked'),
		(SELECT count(*) FROM doses WHERE status = 'administered') + (SELECT count(*) FROM mobile_doses WHERE status = 'accepted'), (SELECT count(*) FROM waitlist WHERE status = 'waiting')`).
		Scan(&residents, &open, &given, &waiting); err != nil {
		return nil, err
	}
	p.WaitlistOpen = int(waiting)
	p.Totals["residents"], p.Totals["open_series"], p.Totals["doses_administered"], p.Totals["waitlist_waiting"] = residents, open, given, waiting
	if err := s.pool.QueryRow(ctx, `SELECT now()`).Scan(&p.GeneratedAt); err != nil {
		return nil, err
	}
	return p, nil
}

// RKIRows implements app.Reports: Impfschutz 1 is a first dose of a two-dose
// series, 2 a completed series (a second dose, or the one dose of Janssen).
func (s *Store) RKIRows(ctx context.Context) ([]app.RKIRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT to_char((d.administered_at AT TIME ZONE $1)::date, 'YYYY-MM-DD'), c.district_ags, `+ageGroupSQL+`,
		CASE WHEN d.dose_number = 1 AND d.product <> 'janssen' THEN 1 ELSE 2 END, count(*)
		FROM `+givenDosesSQL+` d JOIN residents r ON r.id = d.resident_id JOIN centres c ON c.id = d.centre_id
		GROUP BY 1,2,3,4 ORDER BY 1,2,3,4`, s.loc.String())
	if err != nil {
		return nil, fmt.Errorf("rki rows: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.RKIRow, error) {
		var r app.RKIRow
		return r, row.Scan(&r.Day, &r.DistrictAGS, &r.AgeGroup, &r.Protection, &r.Count)
	})
}
