package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// The channels through which a resident identifies with a secret (a date of
// birth), as the attempt ledger records them (issue 12).
const (
	ChannelWeb   = "web"   // the portal
	ChannelAPI   = "api"   // the public JSON API
	ChannelPhone = "phone" // the hotline's IVR
	ChannelStaff = "staff" // check-in by centre staff
	ChannelOther = "other" // no channel given
)

const channelKey ctxKey = 2

// WithChannel tags ctx with the channel a request came through; the attempt
// ledger records it with every failure and lock.
func WithChannel(ctx context.Context, channel string) context.Context {
	return context.WithValue(ctx, channelKey, channel)
}

// ChannelOf returns the channel of ctx, or ChannelOther.
func ChannelOf(ctx context.Context) string {
	switch s, _ := ctx.Value(channelKey).(string); s {
	case ChannelWeb, ChannelAPI, ChannelPhone, ChannelStaff:
		return s
	}
	return ChannelOther
}

// Attempt outcomes, as audited.
const (
	AttemptFailure  = "failure"  // a wrong secret, counted
	AttemptLocked   = "locked"   // a wrong secret that locked the key
	AttemptRefused  = "refused"  // refused unchecked: the key was locked
	AttemptOverride = "override" // staff identified a locked resident in person
)

// AttemptAudit is one audited identification attempt: never the secret
// that was typed.
type AttemptAudit struct {
	Reference     string // empty when identified by resident
	ResidentID    string // empty when the reference belongs to nobody
	Channel       string
	Outcome       string
	Failures      int       // failures of the most-failed key, with this one
	LockedUntil   time.Time // the lock in force or just set; zero when none
	CorrelationID string
	At            time.Time
}

// Attempts is the attempt ledger's storage: one ledger for every channel,
// keyed by reference and by resident (domain.ReferenceKey, ResidentKey).
type Attempts interface {
	// Attempt locks the ledger records of keys (empty records for keys not
	// yet known), in a fixed order, for one transaction, and lets decide
	// judge the attempt on their current state. It saves the records decide
	// returns (an Empty record is removed), the audit row when not nil and
	// the events, in the same transaction. Attempts on a shared key, from any
	// goroutine or process, are decided one after another. decide may run
	// more than once (a retried transaction).
	Attempt(ctx context.Context, keys []string, decide func(cur []domain.AttemptRecord) (next []domain.AttemptRecord, audit *AttemptAudit, events []domain.Event)) error
}

// identification is what one attempt names and whether the secret matched.
type identification struct {
	reference  string // the reference typed (may belong to nobody)
	residentID string // the resident named or found (empty: nobody)
	match      bool
	staff      bool // staff see the person: a lock does not stop them
}

// attempt passes one identification through the attempt ledger. It returns
// nil when the secret matched and the keys are not locked (or staff
// identified), a *domain.LockedError while locked or when this failure locks,
// and mismatch for any other failure.
func (a *App) attempt(ctx context.Context, id identification, mismatch error) error {
	var keys []string
	if id.reference != "" {
		keys = append(keys, domain.ReferenceKey(id.reference))
	}
	if id.residentID != "" {
		keys = append(keys, domain.ResidentKey(id.residentID))
	}
	if len(keys) == 0 {
		return mismatch
	}
	channel := ChannelOf(ctx)
	if id.staff {
		channel = ChannelStaff
	}
	now := a.Now()
	corr := CorrelationID(ctx)
	policy := a.cfg.Attempts
	var result error
	err := a.p.Attempts.Attempt(ctx, keys, func(cur []domain.AttemptRecord) ([]domain.AttemptRecord, *AttemptAudit, []domain.Event) {
		result = nil
		audit := &AttemptAudit{Reference: id.reference, ResidentID: id.residentID, Channel: channel, CorrelationID: corr, At: now}
		var until time.Time
		for _, r := range cur {
			if r.Locked(now) && r.LockedUntil.After(until) {
				until = r.LockedUntil
			}
		}
		if !until.IsZero() && !id.staff {
			audit.Outcome, audit.LockedUntil = AttemptRefused, until
			result = &domain.LockedError{Until: until}
			return nil, audit, nil // unchanged: nothing to save
		}
		next := make([]domain.AttemptRecord, len(cur))
		for i, r := range cur {
			r.Failures = append([]time.Time(nil), r.Failures...)
			next[i] = r
		}
		if id.match {
			for i := range next {
				next[i].Succeed(now)
			}
			if until.IsZero() {
				return next, nil, nil
			}
			audit.Outcome, audit.LockedUntil = AttemptOverride, until
			return next, audit, nil
		}
		audit.Outcome = AttemptFailure
		lockout := 0
		for i := range next {
			n, locked := next[i].Fail(now, policy)
			audit.Failures = max(audit.Failures, n)
			if locked {
				audit.Outcome = AttemptLocked
				lockout = max(lockout, next[i].Lockouts)
			}
			if next[i].Locked(now) && next[i].LockedUntil.After(audit.LockedUntil) {
				audit.LockedUntil = next[i].LockedUntil
			}
		}
		if audit.Outcome != AttemptLocked {
			result = mismatch
			return next, audit, nil
		}
		result = &domain.LockedError{Until: audit.LockedUntil}
		subject := id.residentID
		if subject == "" {
			subject = id.reference
		}
		ev := domain.NewEvent("resident.lockout", subject, corr, now, domain.ResidentLockout{
			ResidentID: id.residentID, Reference: id.reference, Channel: channel,
			LockedUntil: domain.Time(audit.LockedUntil), Failures: audit.Failures, Lockout: lockout})
		a.cfg.Logger.WarnContext(ctx, "identification locked after failed attempts", "reference", id.reference,
			"resident_id", id.residentID, "channel", channel, "locked_until", audit.LockedUntil, "lockout", lockout,
			"correlation_id", corr)
		return next, audit, []domain.Event{ev}
	})
	if err != nil {
		return fmt.Errorf("attempt ledger: %w", err)
	}
	return result
}

// VerifyHolder checks a booking reference against the holder's date of birth
// (the portal, the API and the phone line identify people this way). Every
// answer goes through the attempt ledger: a mismatch counts against the
// reference and its resident, and while either is locked even the right
// date is refused with a *domain.LockedError (errors.Is ErrLocked). A wrong
// date and an unknown reference get the same ErrNotFound, and lock the same
// way, so that neither tells whether the reference exists.
func (a *App) VerifyHolder(ctx context.Context, ref string, birth domain.Date) (*domain.Appointment, error) {
	return a.verifyHolder(ctx, ref, birth, false)
}

func (a *App) verifyHolder(ctx context.Context, ref string, birth domain.Date, staff bool) (*domain.Appointment, error) {
	ref = domain.NormalizeReference(ref)
	if !domain.ValidReference(ref) {
		return nil, domain.Invalid("reference", "is not a valid booking reference (10 digits with check digit)")
	}
	id := identification{reference: ref, staff: staff}
	ap, err := a.p.Bookings.Appointment(ctx, ref)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		ap = nil
	case err != nil:
		return nil, err
	default:
		r, err := a.p.Residents.Resident(ctx, ap.ResidentID)
		if err != nil {
			return nil, err
		}
		id.residentID, id.match = r.ID, r.BirthDate == birth
	}
	if err := a.attempt(ctx, id, fmt.Errorf("reference and date of birth do not match: %w", domain.ErrNotFound)); err != nil {
		return nil, err
	}
	return ap, nil
}

// VerifyResident checks a resident ID (the hotline's registration number)
// against the resident's date of birth, through the attempt ledger like
// VerifyHolder (keyed by the resident only).
func (a *App) VerifyResident(ctx context.Context, residentID string, birth domain.Date) (*domain.Resident, error) {
	if !domain.ValidID(residentID) {
		return nil, fmt.Errorf("resident %q: %w", residentID, domain.ErrNotFound)
	}
	id := identification{residentID: residentID}
	r, err := a.p.Residents.Resident(ctx, residentID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		r = nil
	case err != nil:
		return nil, err
	default:
		id.match = r.BirthDate == birth
	}
	if err := a.attempt(ctx, id, fmt.Errorf("registration number and date of birth do not match: %w", domain.ErrNotFound)); err != nil {
		return nil, err
	}
	return r, nil
}
