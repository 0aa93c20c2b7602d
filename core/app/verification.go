package app

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// VerificationConsumer is the name under which the register connector's
// handled events are recorded (processed_events), with its verdicts.
const VerificationConsumer = "register"

// Verifications stores what the population register said about residents
// (issue 5). Absent a record, a resident is unverified.
type Verifications interface {
	// Verification returns the resident's verification; a resident never
	// checked is RegisterUnverified. Unknown resident: ErrNotFound.
	Verification(ctx context.Context, residentID string) (*domain.Verification, error)
	// ChangeVerification locks the resident's verification and lets decide
	// change it, in one transaction with decide's events and an audit row.
	// holder is the resident who already holds registerID verified (empty
	// when registerID is empty or nobody holds it). When eventID is not
	// empty it is recorded for consumer in the same transaction; a second
	// call with the same eventID changes nothing and returns changed false.
	ChangeVerification(ctx context.Context, residentID, registerID, consumer, eventID string,
		decide func(cur domain.Verification, holder string) (next domain.Verification, events []domain.Event, err error)) (v *domain.Verification, changed bool, err error)
	// ContactCounts counts the residents registered from from to to
	// (inclusive) with this phone number and with this e-mail address (0
	// for an empty one).
	ContactCounts(ctx context.Context, phone, email string, from, to time.Time) (byPhone, byEmail int, err error)
}

// Verification returns a resident's register status.
func (a *App) Verification(ctx context.Context, residentID string) (*domain.Verification, error) {
	if a.p.Verifications == nil {
		return nil, errors.New("app: no Verifications port configured")
	}
	return a.p.Verifications.Verification(ctx, residentID)
}

// ApplyVerdict records the register's verdict about a resident and emits
// resident.verified, resident.rejected or resident.needs-review through the
// outbox in the same transaction. It is idempotent: a resident already
// decided keeps the decision, and the verdict's EventID is recorded so a
// redelivered event changes nothing (changed false).
//
// The core's fraud checks apply on top of the register's answer: a register
// person already held by another verified resident is refused as a
// duplicate and flagged; an address outside the state is refused while the
// rule set in force requires residence; more registrations from one phone
// number or e-mail address within Config.BurstWindow than Config.BurstLimit
// are sent to review and flagged.
func (a *App) ApplyVerdict(ctx context.Context, residentID string, v domain.Verdict) (*domain.Verification, bool, error) {
	if a.p.Verifications == nil {
		return nil, false, errors.New("app: no Verifications port configured")
	}
	if err := v.Validate(); err != nil {
		return nil, false, fmt.Errorf("verdict for %s: %w", residentID, err)
	}
	r, err := a.p.Residents.Resident(ctx, residentID)
	if err != nil {
		return nil, false, err
	}
	var f domain.FraudFindings
	rs, err := a.CurrentRules(ctx)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return nil, false, err
	}
	if rs != nil && rs.ResidencePrefix != "" && !strings.HasPrefix(r.Address.MunicipalityKey, rs.ResidencePrefix) {
		f.OutsideState = true
	}
	if a.cfg.BurstLimit > 0 && (r.Phone != "" || r.Email != "") {
		byPhone, byEmail, err := a.p.Verifications.ContactCounts(ctx, r.Phone, r.Email, r.RegisteredAt.Add(-a.cfg.BurstWindow), r.RegisteredAt)
		if err != nil {
			return nil, false, err
		}
		f.BurstPhone, f.BurstEmail = byPhone > a.cfg.BurstLimit, byEmail > a.cfg.BurstLimit
	}
	now := a.Now()
	corr := CorrelationID(ctx)
	registerID := ""
	if v.Status == domain.RegisterVerified {
		registerID = v.RegisterID
	}
	return a.p.Verifications.ChangeVerification(ctx, residentID, registerID, VerificationConsumer, v.EventID,
		func(cur domain.Verification, holder string) (domain.Verification, []domain.Event, error) {
			f.Holder = holder
			next, changed := cur.Decide(v, f, now)
			if !changed {
				return cur, nil, nil
			}
			if len(next.Flags) > 0 {
				a.cfg.Logger.WarnContext(ctx, "registration flagged", "resident_id", residentID, "flags", next.Flags,
					"status", next.Status, "reason", next.Reason, "correlation_id", corr)
			}
			return next, []domain.Event{domain.VerificationEvent(next, v.Candidates, corr, now)}, nil
		})
}

// VerifyByHand records that staff verified a resident's identity after
// checking an ID card (the caller checks the staff member's role). It is
// audited: who, when and the note are stored, and resident.verified
// (method staff) is emitted. A resident already verified stays as is.
func (a *App) VerifyByHand(ctx context.Context, residentID, staffName, note string) (*domain.Verification, error) {
	if a.p.Verifications == nil {
		return nil, errors.New("app: no Verifications port configured")
	}
	r, err := a.p.Residents.Resident(ctx, residentID)
	if err != nil {
		return nil, err
	}
	if rs, err := a.CurrentRules(ctx); err == nil && rs.ResidencePrefix != "" && !strings.HasPrefix(r.Address.MunicipalityKey, rs.ResidencePrefix) {
		return nil, &domain.Refusal{Kind: domain.ErrNotEntitled, Code: "not-resident",
			Message: "Die angegebene Anschrift liegt nicht in Sachsen; eine Bestätigung ist nicht möglich."}
	}
	now := a.Now()
	corr := CorrelationID(ctx)
	v, _, err := a.p.Verifications.ChangeVerification(ctx, residentID, "", "", "",
		func(cur domain.Verification, _ string) (domain.Verification, []domain.Event, error) {
			next, changed, err := cur.VerifyByHand(strings.TrimSpace(staffName), strings.TrimSpace(note), now)
			if err != nil || !changed {
				return cur, nil, err
			}
			return next, []domain.Event{domain.VerificationEvent(next, 0, corr, now)}, nil
		})
	return v, err
}

// mayBook refuses an unverified resident while Config.RequireVerification
// is on.
func (a *App) mayBook(ctx context.Context, residentID string) error {
	if !a.cfg.RequireVerification {
		return nil
	}
	v, err := a.p.Verifications.Verification(ctx, residentID)
	if err != nil {
		return err
	}
	return v.MayBook()
}
