package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/domain"
)

const verificationColumns = `status, coalesce(reason,''), coalesce(register_id,''), coalesce(score,0), flags,
	coalesce(duplicate_of::text,''), coalesce(decided_by,''), decided_at, coalesce(note,'')`

func scanVerification(row pgx.Row, residentID string) (domain.Verification, error) {
	v := domain.Verification{ResidentID: residentID}
	var status string
	var decidedAt *time.Time
	err := row.Scan(&status, &v.Reason, &v.RegisterID, &v.Score, &v.Flags, &v.DuplicateOf, &v.DecidedBy, &decidedAt, &v.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return domain.Verification{ResidentID: residentID, Status: domain.RegisterUnverified}, nil
	}
	if err != nil {
		return v, err
	}
	v.Status = domain.RegisterStatus(status)
	if decidedAt != nil {
		v.DecidedAt = decidedAt.UTC()
	}
	if len(v.Flags) == 0 {
		v.Flags = nil
	}
	return v, nil
}

// Verification implements app.Verifications.
func (s *Store) Verification(ctx context.Context, residentID string) (*domain.Verification, error) {
	if !isUUID(residentID) {
		return nil, notFound("resident", residentID)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM residents WHERE id = $1)`, residentID).Scan(&exists); err != nil {
		return nil, fmt.Errorf("load verification: %w", err)
	}
	if !exists {
		return nil, notFound("resident", residentID)
	}
	v, err := scanVerification(s.pool.QueryRow(ctx, `SELECT `+verificationColumns+` FROM resident_verifications WHERE resident_id = $1`, residentID), residentID)
	if err != nil {
		return nil, fmt.Errorf("load verification: %w", err)
	}
	return &v, nil
}

// ChangeVerification implements app.Verifications. The resident's row is
// locked (FOR NO KEY UPDATE, so bookings referencing it are not blocked)
// for the decision; a verdict racing another resident's for the same
// register person meets the unique index and is decided again, now seeing
// the holder.
func (s *Store) ChangeVerification(ctx context.Context, residentID, registerID, consumer, eventID string,
	decide func(cur domain.Verification, holder string) (domain.Verification, []domain.Event, error)) (*domain.Verification, bool, error) {
	if !isUUID(residentID) {
		return nil, false, notFound("resident", residentID)
	}
	var out domain.Verification
	var changed bool
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.inTx(ctx, func(tx pgx.Tx) error {
			changed = false
			var id string
			if err := tx.QueryRow(ctx, `SELECT id::text FROM residents WHERE id = $1 FOR NO KEY UPDATE`, residentID).Scan(&id); err != nil {
				if errors.Is(err, pgx.ErrNoRows) {
					return notFound("resident", residentID)
				}
				return fmt.Errorf("lock resident: %w", err)
			}
			cur, err := scanVerification(tx.QueryRow(ctx, `SELECT `+verificationColumns+` FROM resident_verifications WHERE resident_id = $1`, residentID), residentID)
			if err != nil {
				return fmt.Errorf("load verification: %w", err)
			}
			out = cur
			if eventID != "" {
				first, err := MarkProcessed(ctx, tx, consumer, eventID)
				if err != nil || !first {
					return err
				}
			}
			holder := ""
			if registerID != "" {
				err := tx.QueryRow(ctx, `SELECT resident_id::text FROM resident_verifications
					WHERE register_id = $1 AND status = 'verified' AND resident_id <> $2`, registerID, residentID).Scan(&holder)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("find holder of register person: %w", err)
				}
			}
			next, events, err := decide(cur, holder)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				return nil
			}
			flags := next.Flags
			if flags == nil {
				flags = []string{}
			}
			if _, err := tx.Exec(ctx, `INSERT INTO resident_verifications
				(resident_id, status, reason, register_id, score, flags, duplicate_of, decided_by, decided_at, note, updated_at)
				VALUES ($1, $2, NULLIF($3,''), NULLIF($4,''), $5, $6, NULLIF($7,'')::uuid, NULLIF($8,''), $9, NULLIF($10,''), now())
				ON CONFLICT (resident_id) DO UPDATE SET status = excluded.status, reason = excluded.reason,
					register_id = excluded.register_id, score = excluded.score, flags = excluded.flags,
					duplicate_of = excluded.duplicate_of, decided_by = excluded.decided_by, decided_at = excluded.decided_at,
					note = excluded.note, updated_at = now()`,
				residentID, string(next.Status), next.Reason, next.RegisterID, next.Score, flags, next.DuplicateOf,
				next.DecidedBy, next.DecidedAt, next.Note); err != nil {
				return fmt.Errorf("save verification: %w", err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO resident_verification_log
				(resident_id, status, reason, register_id, score, flags, decided_by, note, at)
				VALUES ($1, $2, NULLIF($3,''), NULLIF($4,''), $5, $6, $7, NULLIF($8,''), $9)`,
				residentID, string(next.Status), next.Reason, next.RegisterID, next.Score, flags, next.DecidedBy, next.Note, next.DecidedAt); err != nil {
				return fmt.Errorf("audit verification: %w", err)
			}
			if err := s.writeEvents(ctx, tx, events); err != nil {
				return err
			}
			out, changed = next, true
			return nil
		})
		if !isUniqueViolation(err, "resident_verifications_one_per_person") {
			break
		}
	}
	if err != nil {
		return nil, false, err
	}
	return &out, changed, nil
}

// VerificationLog is one audited change of a resident's verification.
type VerificationLog struct {
	Status     string
	Reason     string
	RegisterID string
	Score      float64
	Flags      []string
	DecidedBy  string
	Note       string
	At         time.Time
}

// VerificationLog lists the audited changes of a resident's verification,
// oldest first.
func (s *Store) VerificationLog(ctx context.Context, residentID string) ([]VerificationLog, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, coalesce(reason,''), coalesce(register_id,''), coalesce(score,0), flags,
		decided_by, coalesce(note,''), at FROM resident_verification_log WHERE resident_id = $1 ORDER BY id`, residentID)
	if err != nil {
		return nil, fmt.Errorf("verification log: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (VerificationLog, error) {
		var l VerificationLog
		err := row.Scan(&l.Status, &l.Reason, &l.RegisterID, &l.Score, &l.Flags, &l.DecidedBy, &l.Note, &l.At)
		return l, err
	})
}

// ContactCounts implements app.Verifications.
func (s *Store) ContactCounts(ctx context.Context, phone, email string, from, to time.Time) (byPhone, byEmail int, err error) {
	if phone != "" {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM residents WHERE phone = $1 AND registered_at BETWEEN $2 AND $3`, phone, from, to).Scan(&byPhone); err != nil {
			return 0, 0, fmt.Errorf("count registrations by phone: %w", err)
		}
	}
	if email != "" {
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM residents WHERE email = $1 AND registered_at BETWEEN $2 AND $3`, email, from, to).Scan(&byEmail); err != nil {
			return 0, 0, fmt.Errorf("count registrations by e-mail: %w", err)
		}
	}
	return byPhone, byEmail, nil
}
