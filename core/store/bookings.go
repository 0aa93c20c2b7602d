package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

var (
	refuseFull  = &domain.Refusal{Kind: domain.ErrNoCapacity, Code: "slot-full", Message: "Dieser Termin ist leider ausgebucht."}
	refuseNone  = &domain.Refusal{Kind: domain.ErrNoCapacity, Code: "no-slot", Message: "Im gewünschten Zeitraum ist kein Termin mehr frei."}
	refuseStock = &domain.Refusal{Kind: domain.ErrNoStock, Code: "no-stock", Message: "Für diesen Tag ist kein Impfstoff mehr verfügbar."}
	refuseDose2 = &domain.Refusal{Kind: domain.ErrNoCapacity, Code: "no-second-slot", Message: "Für die zweite Impfung ist im vorgeschriebenen Abstand kein Termin frei."}
	refuseTwice = &domain.Refusal{Kind: domain.ErrAlreadyBooked, Code: "already-booked", Message: "Sie haben bereits einen offenen Impftermin."}
)

// lockAppointment loads ref with its doses, holding a row lock until the transaction ends.
func lockAppointment(ctx context.Context, tx pgx.Tx, ref string) (*domain.Appointment, error) {
	return loadAppointment(ctx, tx, ref, " FOR UPDATE")
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func loadAppointment(ctx context.Context, q querier, ref, lock string) (*domain.Appointment, error) {
	var a domain.Appointment
	var product, status string
	err := q.QueryRow(ctx, `SELECT reference, resident_id::text, centre_id, product, priority_group, status, booked_at
		FROM appointments WHERE reference = $1`+lock, ref).Scan(&a.Reference, &a.ResidentID, &a.CentreID, &product, &a.PriorityGroup, &status, &a.BookedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("appointment", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("load appointment: %w", err)
	}
	a.Product, a.Status = domain.ProductID(product), domain.SeriesStatus(status)
	rows, err := q.Query(ctx, `SELECT dose_number, product, slot_id, starts_at, ends_at, status, coalesce(batch,''), coalesce(vaccinator_id,''),
		checked_in_at, administered_at FROM doses WHERE reference = $1 ORDER BY dose_number`, ref)
	if err != nil {
		return nil, err
	}
	a.Doses, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Dose, error) {
		var d domain.Dose
		var p, st string
		err := row.Scan(&d.Number, &p, &d.SlotID, &d.Start, &d.End, &st, &d.Batch, &d.VaccinatorID, &d.CheckedInAt, &d.AdministeredAt)
		d.Product, d.Status = domain.ProductID(p), domain.DoseStatus(st)
		return d, err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Appointment implements app.Bookings.
func (s *Store) Appointment(ctx context.Context, ref string) (*domain.Appointment, error) {
	return loadAppointment(ctx, s.pool, ref, "")
}

// OpenAppointmentOf implements app.Bookings.
func (s *Store) OpenAppointmentOf(ctx context.Context, residentID string) (*domain.Appointment, error) {
	if !isUUID(residentID) {
		return nil, notFound("resident", residentID)
	}
	var ref string
	err := s.pool.QueryRow(ctx, `SELECT reference FROM appointments WHERE resident_id = $1 AND status = 'booked'`, residentID).Scan(&ref)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("open appointment of resident", residentID)
	}
	if err != nil {
		return nil, err
	}
	return s.Appointment(ctx, ref)
}

// releaseOpenDoses gives back the place and the dose of every dose of ref
// that has not been given, and sets their status.
func releaseOpenDoses(ctx context.Context, tx pgx.Tx, ref string, status domain.DoseStatus) error {
	rows, err := tx.Query(ctx, `UPDATE doses SET status = $2 WHERE reference = $1 AND status IN ('booked','checked-in')
		RETURNING slot_id, delivery_id`, ref, string(status))
	if err != nil {
		return err
	}
	type hold struct {
		slot     int64
		delivery *string
	}
	held, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (hold, error) {
		var h hold
		return h, row.Scan(&h.slot, &h.delivery)
	})
	if err != nil {
		return err
	}
	for _, h := range held {
		if _, err := tx.Exec(ctx, `UPDATE slots SET booked = booked - 1 WHERE id = $1`, h.slot); err != nil {
			return err
		}
		if h.delivery != nil {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET reserved = reserved - 1 WHERE id = $1`, *h.delivery); err != nil {
				return err
			}
		}
	}
	return nil
}

// Cancel implements app.Bookings.
func (s *Store) Cancel(ctx context.Context, ref string, check func(*domain.Appointment) error, events func(*domain.Appointment) []domain.Event) (*domain.Appointment, error) {
	var out *domain.Appointment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := lockAppointment(ctx, tx, ref)
		if err != nil {
			return err
		}
		if err := check(a); err != nil {
			return err
		}
		if err := releaseOpenDoses(ctx, tx, ref, domain.DoseCancelled); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE appointments SET status = 'cancelled', updated_at = now() WHERE reference = $1`, ref); err != nil {
			return err
		}
		if out, err = loadAppointment(ctx, tx, ref, ""); err != nil {
			return err
		}
		return s.writeEvents(ctx, tx, events(out))
	})
	return out, err
}

// Move implements app.Bookings.
func (s *Store) Move(ctx context.Context, ref string, req app.BookRequest, check func(*domain.Appointment) error, events func(old, moved *domain.Appointment) []domain.Event) (*domain.Appointment, error) {
	var out *domain.Appointment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		old, err := lockAppointment(ctx, tx, ref)
		if err != nil {
			return err
		}
		if err := check(old); err != nil {
			return err
		}
		if err := releaseOpenDoses(ctx, tx, ref, domain.DoseCancelled); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM doses WHERE reference = $1 AND status = 'cancelled'`, ref); err != nil {
			return err
		}
		req.Reference = ref
		if err := s.bookOne(ctx, tx, req, true); err != nil {
			return err // the transaction rolls back: the old times stand
		}
		if out, err = loadAppointment(ctx, tx, ref, ""); err != nil {
			return err
		}
		return s.writeEvents(ctx, tx, events(old, out))
	})
	return out, err
}

// Update implements app.Bookings: check-in and check-out.
func (s *Store) Update(ctx context.Context, ref string, fn func(*domain.Appointment) ([]domain.Event, error)) (*domain.Appointment, error) {
	var out *domain.Appointment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		a, err := lockAppointment(ctx, tx, ref)
		if err != nil {
			return err
		}
		before := make(map[int]domain.DoseStatus, len(a.Doses))
		for _, d := range a.Doses {
			before[d.Number] = d.Status
		}
		evs, err := fn(a)
		if err != nil {
			return err
		}
		for _, d := range a.Doses {
			if before[d.Number] == d.Status {
				continue
			}
			if _, err := tx.Exec(ctx, `UPDATE doses SET status = $3, batch = nullif($4,''), vaccinator_id = nullif($5,''),
				checked_in_at = $6, administered_at = $7 WHERE reference = $1 AND dose_number = $2`,
				ref, d.Number, string(d.Status), d.Batch, d.VaccinatorID, d.CheckedInAt, d.AdministeredAt); err != nil {
				return err
			}
			if d.Status == domain.DoseAdministered {
				if _, err := tx.Exec(ctx, `UPDATE deliveries SET administered = administered + 1
					WHERE id = (SELECT delivery_id FROM doses WHERE reference = $1 AND dose_number = $2)`, ref, d.Number); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE appointments SET status = $2, updated_at = now() WHERE reference = $1`, ref, string(a.Status)); err != nil {
			return err
		}
		out = a
		return s.writeEvents(ctx, tx, evs)
	})
	return out, err
}

// Slots implements app.Bookings.
func (s *Store) Slots(ctx context.Context, centreID string, from, to time.Time, product domain.ProductID) ([]app.SlotView, error) {
	rows, err := s.pool.Query(ctx, `SELECT s.starts_at, s.ends_at, s.places, s.places - s.booked,
		coalesce((SELECT sum(d.doses - d.reserved) FROM deliveries d WHERE d.centre_id = s.centre_id AND ($4 = '' OR d.product = $4)
		          AND d.arrives_on <= s.day AND (d.expires_on IS NULL OR d.expires_on >= s.day)), 0)
		FROM slots s WHERE s.centre_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3 AND s.booked < s.places
		ORDER BY s.starts_at LIMIT 2000`, centreID, from, to, string(product))
	if err != nil {
		return nil, fmt.Errorf("list slots: %w", err)
	}
	all, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (app.SlotView, error) {
		var v app.SlotView
		return v, row.Scan(&v.Start, &v.End, &v.Places, &v.Free, &v.DosesFree)
	})
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, v := range all {
		if v.DosesFree > 0 {
			out = append(out, v)
		}
	}
	return out, nil
}

// EachOpenAppointment implements app.Bookings.
func (s *Store) EachOpenAppointment(ctx context.Context, fn func(*domain.Appointment) error) error {
	rows, err := s.pool.Query(ctx, `SELECT reference FROM appointments WHERE status = 'booked' ORDER BY reference`)
	if err != nil {
		return err
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, ref := range refs {
		a, err := s.Appointment(ctx, ref)
		if err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return nil
}

// MarkNoShows implements app.Bookings. A missed dose ends the series and
// frees what its other open doses held.
func (s *Store) MarkNoShows(ctx context.Context, centreID string, before time.Time, events func(*domain.Appointment, domain.Dose) []domain.Event) (int, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT d.reference FROM doses d JOIN appointments a ON a.reference = d.reference
		WHERE d.status = 'booked' AND d.ends_at <= $1 AND ($2 = '' OR a.centre_id = $2) AND a.status = 'booked'`, before, centreID)
	if err != nil {
		return 0, err
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, ref := range refs {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			a, err := lockAppointment(ctx, tx, ref)
			if err != nil {
				return err
			}
			var missed *domain.Dose
			for i := range a.Doses {
				if a.Doses[i].Status == domain.DoseBooked && !a.Doses[i].End.After(before) {
					missed = &a.Doses[i]
					break
				}
			}
			if a.Status != domain.SeriesBooked || missed == nil {
				return nil // changed meanwhile
			}
			if _, err := tx.Exec(ctx, `UPDATE doses SET status = 'no-show' WHERE reference = $1 AND dose_number = $2`, ref, missed.Number); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET reserved = reserved - 1 WHERE id = (SELECT delivery_id FROM doses WHERE reference = $1 AND dose_number = $2)`, ref, missed.Number); err != nil {
				return err
			}
			if err := releaseOpenDoses(ctx, tx, ref, domain.DoseCancelled); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE appointments SET status = 'no-show', updated_at = now() WHERE reference = $1`, ref); err != nil {
				return err
			}
			n++
			return s.writeEvents(ctx, tx, events(a, *missed))
		})
		if err != nil {
			return n, fmt.Errorf("no-show %s: %w", ref, err)
		}
	}
	return n, nil
}

// EnsureSlots implements app.Bookings.
func (s *Store) EnsureSlots(ctx context.Context, centreID string, slots []domain.SlotSpec) (int, error) {
	if len(slots) == 0 {
		return 0, nil
	}
	starts := make([]time.Time, len(slots))
	ends := make([]time.Time, len(slots))
	days := make([]time.Time, len(slots))
	places := make([]int32, len(slots))
	for i, sl := range slots {
		starts[i], ends[i], places[i] = sl.Start, sl.End, int32(sl.Places)
		days[i] = dayArg(domain.DateOf(sl.Start.In(s.loc)))
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO slots (centre_id, starts_at, ends_at, day, places)
		SELECT $1, s, e, d, p FROM unnest($2::timestamptz[], $3::timestamptz[], $4::date[], $5::int[]) AS t(s, e, d, p)
		ON CONFLICT (centre_id, starts_at) DO NOTHING`, centreID, starts, ends, days, places)
	if err != nil {
		return 0, fmt.Errorf("insert slots: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
