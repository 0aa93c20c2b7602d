package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// The mobile campaigns of issue 7 (app.MobileStore).

const campaignCols = `id::text, care_home, day, team, centre_id, planned_start, roster, doses, version, planner_status, coalesce(planner_team, ''), created_at, updated_at`

func scanCampaign(row pgx.Row) (*domain.MobileCampaign, error) {
	var c domain.MobileCampaign
	var day pgDate
	var roster, doses []byte
	if err := row.Scan(&c.ID, &c.CareHome, &day, &c.Team, &c.CentreID, &c.PlannedStart, &roster, &doses, &c.Version,
		&c.Status, &c.PlannerTeam, &c.Created, &c.Updated); err != nil {
		return nil, err
	}
	c.Day = domain.Date(day)
	if err := json.Unmarshal(roster, &c.Roster); err != nil {
		return nil, fmt.Errorf("campaign %s roster: %w", c.ID, err)
	}
	if err := json.Unmarshal(doses, &c.Doses); err != nil {
		return nil, fmt.Errorf("campaign %s doses: %w", c.ID, err)
	}
	if c.Doses == nil {
		c.Doses = map[domain.ProductID]int{}
	}
	return &c, nil
}

// CreateMobileCampaign implements app.MobileStore.
func (s *Store) CreateMobileCampaign(ctx context.Context, c *domain.MobileCampaign, events []domain.Event) error {
	roster, err := json.Marshal(c.Roster)
	if err != nil {
		return err
	}
	doses, err := json.Marshal(c.Doses)
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO mobile_campaigns (id, care_home, day, team, centre_id, planned_start, roster, doses, version,
			planner_status, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)`,
			c.ID, c.CareHome, dayArg(c.Day), c.Team, c.CentreID, c.PlannedStart, roster, doses, c.Version, c.Status, c.Created, c.Updated); err != nil {
			return fmt.Errorf("insert mobile campaign: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
}

// MobileCampaign implements app.MobileStore.
func (s *Store) MobileCampaign(ctx context.Context, id string) (*domain.MobileCampaign, error) {
	if !isUUID(id) {
		return nil, notFound("mobile campaign", id)
	}
	c, err := scanCampaign(s.pool.QueryRow(ctx, `SELECT `+campaignCols+` FROM mobile_campaigns WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("mobile campaign", id)
	}
	return c, err
}

// UpdateMobileCampaign implements app.MobileStore.
func (s *Store) UpdateMobileCampaign(ctx context.Context, id string, fn func(*domain.MobileCampaign) ([]domain.Event, error)) (*domain.MobileCampaign, error) {
	if !isUUID(id) {
		return nil, notFound("mobile campaign", id)
	}
	var out *domain.MobileCampaign
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		c, err := scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignCols+` FROM mobile_campaigns WHERE id = $1 FOR UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("mobile campaign", id)
		}
		if err != nil {
			return err
		}
		events, err := fn(c)
		if err != nil {
			return err
		}
		out = c
		if len(events) == 0 {
			return nil
		}
		roster, _ := json.Marshal(c.Roster)
		doses, _ := json.Marshal(c.Doses)
		if _, err := tx.Exec(ctx, `UPDATE mobile_campaigns SET day=$2, planned_start=$3, roster=$4, doses=$5, version=$6, updated_at=$7 WHERE id=$1`,
			id, dayArg(c.Day), c.PlannedStart, roster, doses, c.Version, c.Updated); err != nil {
			return fmt.Errorf("update mobile campaign: %w", err)
		}
		return s.writeEvents(ctx, tx, events)
	})
	return out, err
}

// SetVisitProgress implements app.MobileStore.
func (s *Store) SetVisitProgress(ctx context.Context, id, status, team string, at time.Time) error {
	if !isUUID(id) {
		return notFound("mobile campaign", id)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE mobile_campaigns SET planner_status = $2, planner_team = nullif($3, ''), updated_at = $4 WHERE id = $1`,
		id, status, team, at)
	if err != nil {
		return fmt.Errorf("visit progress: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("mobile campaign", id)
	}
	return nil
}

// RecordFieldDose implements app.MobileStore.
func (s *Store) RecordFieldDose(ctx context.Context, d domain.FieldDose, dayFrom, dayTo time.Time,
	decide func(domain.FieldDoseFacts) (app.FieldDoseOutcome, error)) (*app.FieldDoseResult, error) {
	var res *app.FieldDoseResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// One resident's doses are decided one at a time: two doses of the
		// same day arriving at once cannot both be counted.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('mobile-resident:' || $1))`, d.ResidentID); err != nil {
			return err
		}
		var status string
		var reason, detail, ref *string
		err := tx.QueryRow(ctx, `SELECT status, reason, detail, reference FROM mobile_doses WHERE record_id = $1`, d.RecordID).
			Scan(&status, &reason, &detail, &ref)
		if err == nil {
			res = &app.FieldDoseResult{RecordID: d.RecordID, Status: status, Reason: deref(reason), Detail: deref(detail), Reference: deref(ref)}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var f domain.FieldDoseFacts
		var campaignID *string
		if isUUID(d.CampaignID) {
			c, err := scanCampaign(tx.QueryRow(ctx, `SELECT `+campaignCols+` FROM mobile_campaigns WHERE id = $1`, d.CampaignID))
			switch {
			case err == nil:
				f.Campaign, campaignID = c, &c.ID
			case !errors.Is(err, pgx.ErrNoRows):
				return err
			}
		}
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM mobile_doses WHERE resident_id = $1 AND status = 'accepted' AND administered_at >= $2 AND administered_at < $3)
			OR EXISTS (SELECT 1 FROM doses x JOIN appointments a ON a.reference = x.reference
				WHERE a.resident_id::text = $1 AND x.status = 'administered' AND x.administered_at >= $2 AND x.administered_at < $3),
			EXISTS (SELECT 1 FROM mobile_issues WHERE batch = $4) OR EXISTS (SELECT 1 FROM deliveries WHERE batch = $4),
			EXISTS (SELECT 1 FROM mobile_issues WHERE batch = $4 AND team = $5 AND day < $3::date + 1)`,
			d.ResidentID, dayFrom, dayTo, d.Batch, d.Team).Scan(&f.VaccinatedThatDay, &f.BatchKnown, &f.BatchIssuedToTeam); err != nil {
			return fmt.Errorf("field dose facts: %w", err)
		}
		out, err := decide(f)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO mobile_doses (record_id, campaign_id, team, resident_id, product, batch, dose_number, vaccinator_id,
			administered_at, centre_id, status, reason, detail, reference, event_id, recorded_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,nullif($10,''),$11,nullif($12,''),nullif($13,''),nullif($14,''),nullif($15,''),now())`,
			d.RecordID, campaignID, d.Team, d.ResidentID, string(d.Product), d.Batch, d.DoseNumber, d.VaccinatorID, d.AdministeredAt,
			out.CentreID, out.Status, out.Reason, out.Detail, out.Reference, out.EventID); err != nil {
			return fmt.Errorf("insert field dose: %w", err)
		}
		res = &app.FieldDoseResult{RecordID: d.RecordID, Status: out.Status, Reason: out.Reason, Detail: out.Detail, Reference: out.Reference, Fresh: true}
		return s.writeEvents(ctx, tx, out.Events)
	})
	return res, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const fieldDoseCols = `record_id, coalesce(campaign_id::text, ''), team, resident_id, product, batch, dose_number, vaccinator_id, administered_at`

func scanFieldDose(row pgx.Row, extra ...any) (domain.FieldDose, error) {
	var d domain.FieldDose
	var product string
	err := row.Scan(append([]any{&d.RecordID, &d.CampaignID, &d.Team, &d.ResidentID, &product, &d.Batch, &d.DoseNumber, &d.VaccinatorID, &d.AdministeredAt}, extra...)...)
	d.Product = domain.ProductID(product)
	d.AdministeredAt = d.AdministeredAt.UTC()
	return d, err
}

// DecideHeldFieldDose implements app.MobileStore.
func (s *Store) DecideHeldFieldDose(ctx context.Context, recordID string, decide func(d domain.FieldDose) (app.FieldDoseOutcome, error)) (*app.FieldDoseResult, error) {
	var res *app.FieldDoseResult
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var status string
		d, err := scanFieldDose(tx.QueryRow(ctx, `SELECT `+fieldDoseCols+`, status FROM mobile_doses WHERE record_id = $1 FOR UPDATE`, recordID), &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound("field dose", recordID)
		}
		if err != nil {
			return err
		}
		if status != "held" {
			return fmt.Errorf("field dose %s is %s, not held: %w", recordID, status, domain.ErrConflict)
		}
		out, err := decide(d)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE mobile_doses SET status = $2, centre_id = coalesce(nullif($3,''), centre_id), reference = nullif($4,''),
			event_id = nullif($5,''), decided_at = now(), decided_by = nullif($6,'') WHERE record_id = $1`,
			recordID, out.Status, out.CentreID, out.Reference, out.EventID, out.DecidedBy); err != nil {
			return err
		}
		res = &app.FieldDoseResult{RecordID: recordID, Status: out.Status, Reference: out.Reference, Fresh: true}
		return s.writeEvents(ctx, tx, out.Events)
	})
	return res, err
}

// HeldFieldDoses implements app.MobileStore.
func (s *Store) HeldFieldDoses(ctx context.Context) ([]domain.HeldFieldDose, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+fieldDoseCols+`, coalesce(reason,''), coalesce(detail,''), recorded_at
		FROM mobile_doses WHERE status = 'held' ORDER BY recorded_at, administered_at, record_id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.HeldFieldDose, error) {
		var h domain.HeldFieldDose
		d, err := scanFieldDose(row, &h.Reason, &h.Detail, &h.RecordedAt)
		h.FieldDose = d
		return h, err
	})
}

// FieldDose implements app.MobileStore.
func (s *Store) FieldDose(ctx context.Context, recordID string) (*domain.FieldDose, error) {
	d, err := scanFieldDose(s.pool.QueryRow(ctx, `SELECT `+fieldDoseCols+` FROM mobile_doses WHERE record_id = $1`, recordID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("field dose", recordID)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// RecordFieldDoseEdit implements app.MobileStore.
func (s *Store) RecordFieldDoseEdit(ctx context.Context, e app.FieldDoseEdit) (bool, error) {
	ch, err := json.Marshal(e.Changes)
	if err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO mobile_dose_edits (record_id, revision, changes, reason, recorded_at) VALUES ($1,$2,$3,$4,$5)
		ON CONFLICT DO NOTHING`, e.RecordID, e.Revision, ch, e.Reason, e.RecordedAt)
	if err != nil {
		return false, fmt.Errorf("record field dose edit: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// FieldDoseEdits implements app.MobileStore.
func (s *Store) FieldDoseEdits(ctx context.Context) ([]app.FieldDoseEdit, error) {
	rows, err := s.pool.Query(ctx, `SELECT record_id, revision, changes, reason, status, recorded_at FROM mobile_dose_edits
		WHERE status = 'held' ORDER BY recorded_at, record_id, revision`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.FieldDoseEdit, error) {
		var e app.FieldDoseEdit
		var ch []byte
		if err := row.Scan(&e.RecordID, &e.Revision, &ch, &e.Reason, &e.Status, &e.RecordedAt); err != nil {
			return e, err
		}
		return e, json.Unmarshal(ch, &e.Changes)
	})
}

// RecordTeamIssue implements app.MobileStore.
func (s *Store) RecordTeamIssue(ctx context.Context, i app.TeamIssue) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO mobile_issues (id, team, day, product, batch, doses) VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING`,
		i.ID, i.Team, dayArg(i.Day), string(i.Product), i.Batch, i.Doses)
	if err != nil {
		return false, fmt.Errorf("record team issue: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// RecordTeamReturn implements app.MobileStore.
func (s *Store) RecordTeamReturn(ctx context.Context, r app.TeamReturn) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO mobile_returns (id, team, day, product, batch, returned, wasted) VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT DO NOTHING`,
		r.ID, r.Team, dayArg(r.Day), string(r.Product), r.Batch, r.Returned, r.Wasted)
	if err != nil {
		return false, fmt.Errorf("record team return: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// MobileReconciliation implements app.MobileStore.
func (s *Store) MobileReconciliation(ctx context.Context, from, to domain.Date) ([]app.MobileReconRow, error) {
	rows, err := s.pool.Query(ctx, `WITH parts (team, day, product, requested, transferred, administered, held, returned, wasted, rest) AS (
		SELECT c.team, c.day, p.key, p.value::int, 0, 0, 0, 0, 0, 0 FROM mobile_campaigns c, jsonb_each_text(c.doses) p WHERE c.planner_status <> 'cancelled'
		UNION ALL SELECT team, day, product, 0, doses, 0, 0, 0, 0, 0 FROM mobile_issues
		UNION ALL SELECT team, (administered_at AT TIME ZONE $3)::date, product, 0, 0,
			(count(*) FILTER (WHERE status = 'accepted'))::int, (count(*) FILTER (WHERE status = 'held'))::int, 0, 0, 0
			FROM mobile_doses GROUP BY 1, 2, 3
		UNION ALL SELECT team, day, product, 0, 0, 0, 0, returned, wasted, 0 FROM mobile_returns
		UNION ALL SELECT x.team, x.day, x.product, 0, 0, 0, 0, 0, 0, (ceil(x.n::numeric / pr.doses_per_vial) * pr.doses_per_vial - x.n)::int
			FROM (SELECT team, (administered_at AT TIME ZONE $3)::date AS day, product, batch, count(*) AS n FROM mobile_doses
				WHERE status = 'accepted' GROUP BY 1, 2, 3, 4) x JOIN products pr ON pr.id = x.product)
		SELECT team, to_char(day, 'YYYY-MM-DD'), product, sum(requested)::int, sum(transferred)::int, sum(administered)::int, sum(held)::int,
			sum(returned)::int, sum(wasted)::int, sum(rest)::int
		FROM parts WHERE day BETWEEN $1 AND $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, dayArg(from), dayArg(to), s.loc.String())
	if err != nil {
		return nil, fmt.Errorf("mobile reconciliation: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.MobileReconRow, error) {
		var r app.MobileReconRow
		err := row.Scan(&r.Team, &r.Day, &r.Product, &r.Requested, &r.Transferred, &r.Administered, &r.Held, &r.Returned, &r.Wasted, &r.OpenVialRest)
		r.Difference = r.Transferred - r.Administered - r.Held - r.Returned - r.Wasted
		return r, err
	})
}

var _ app.MobileStore = (*Store)(nil)

// FieldDoseByReference returns the accepted field dose that was given
// reference (its appointment.dose-administered), or domain.ErrNotFound when
// the reference is not a field dose (a check-out at a centre).
func (s *Store) FieldDoseByReference(ctx context.Context, reference string) (*domain.FieldDose, error) {
	d, err := scanFieldDose(s.pool.QueryRow(ctx, `SELECT `+fieldDoseCols+` FROM mobile_doses WHERE reference = $1 AND status = 'accepted'`, reference))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("field dose", reference)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// MobileDosesGivenByBatch counts accepted field doses per centre (the
// campaign's), product, batch and day (campaign time zone) on days
// [from, to], as DosesGivenByBatch does for doses given at the centres.
func (s *Store) MobileDosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]app.DosesGiven, error) {
	rows, err := s.pool.Query(ctx, `SELECT centre_id, product, batch, (administered_at AT TIME ZONE $3)::date AS day, count(*)::bigint
		  FROM mobile_doses
		 WHERE status = 'accepted' AND centre_id IS NOT NULL AND (administered_at AT TIME ZONE $3)::date BETWEEN $1 AND $2
		 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, dayArg(from), dayArg(to), s.loc.String())
	if err != nil {
		return nil, fmt.Errorf("mobile doses given by batch: %w", err)
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

var _ app.MobileDoseReader = (*Store)(nil)
