package domain

import (
	"errors"
	"time"
)

// LockedError refuses an identification while its reference or resident is
// locked (issue 12). It wraps ErrLocked.
type LockedError struct {
	// Until is when the lock ends.
	Until time.Time
}

func (e *LockedError) Error() string {
	return "identification locked after too many failed attempts until " + e.Until.UTC().Format(time.RFC3339)
}

// Unwrap lets errors.Is(err, ErrLocked) match.
func (e *LockedError) Unwrap() error { return ErrLocked }

// LockedUntil returns the end of the lock err reports, or zero when err is
// not a lock.
func LockedUntil(err error) time.Time {
	var le *LockedError
	if errors.As(err, &le) {
		return le.Until
	}
	return time.Time{}
}

// AttemptPolicy says how many failed identifications a key (a reference or a
// resident) may have before it is locked, and for how long (issue 12).
//
// A key is locked when it has MaxFailures failures within Window, or
// LongMaxFailures within LongWindow (so that staying just under the short
// limit does not allow hundreds of guesses a day). The n-th lock in a row
// lasts FirstLock doubled n-1 times, at most MaxLock. The back-off level is
// forgotten after a success, or when Memory has passed since the last lock
// ended. A lock clears the failures: after it ends, the next lock comes
// after MaxFailures further failures.
type AttemptPolicy struct {
	MaxFailures     int           // default 5
	Window          time.Duration // default 15 min
	LongMaxFailures int           // default 20
	LongWindow      time.Duration // default 24 h
	FirstLock       time.Duration // default 15 min
	MaxLock         time.Duration // default 24 h
	Memory          time.Duration // default 24 h
}

// WithDefaults fills the zero fields of p with the defaults.
func (p AttemptPolicy) WithDefaults() AttemptPolicy {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if p.MaxFailures == 0 {
		p.MaxFailures = 5
	}
	if p.LongMaxFailures == 0 {
		p.LongMaxFailures = 20
	}
	def(&p.Window, 15*time.Minute)
	def(&p.LongWindow, 24*time.Hour)
	def(&p.FirstLock, 15*time.Minute)
	def(&p.MaxLock, 24*time.Hour)
	def(&p.Memory, 24*time.Hour)
	return p
}

// Validate reports the first thing wrong with p (after WithDefaults).
func (p AttemptPolicy) Validate() error {
	switch {
	case p.MaxFailures < 1 || p.LongMaxFailures < p.MaxFailures:
		return Invalid("attempts", "MaxFailures must be at least 1 and LongMaxFailures at least MaxFailures")
	case p.Window <= 0 || p.LongWindow < p.Window:
		return Invalid("attempts", "Window must be positive and LongWindow at least Window")
	case p.FirstLock <= 0 || p.MaxLock < p.FirstLock || p.Memory < 0:
		return Invalid("attempts", "FirstLock must be positive, MaxLock at least FirstLock, Memory not negative")
	}
	return nil
}

// LockFor is the length of the n-th lock in a row (n from 1): FirstLock,
// doubled for each further lock, capped at MaxLock.
func (p AttemptPolicy) LockFor(n int) time.Duration {
	d := p.FirstLock
	for i := 1; i < n && d < p.MaxLock; i++ {
		d *= 2
	}
	return min(d, p.MaxLock)
}

// AttemptRecord is the attempt ledger's state of one key.
type AttemptRecord struct {
	// Key is "reference:<reference>" or "resident:<resident id>".
	Key string
	// Failures are the times of the failures not yet forgiven, oldest first.
	Failures []time.Time
	// LockedUntil is the end of the current or the last lock (zero: none
	// remembered).
	LockedUntil time.Time
	// Lockouts is the back-off level: how many locks in a row.
	Lockouts int
}

// ReferenceKey is the ledger key of a booking reference.
func ReferenceKey(ref string) string { return "reference:" + ref }

// ResidentKey is the ledger key of a resident.
func ResidentKey(residentID string) string { return "resident:" + residentID }

// Locked tells whether the key is locked at now.
func (r AttemptRecord) Locked(now time.Time) bool { return now.Before(r.LockedUntil) }

// Empty tells whether the record holds nothing worth keeping.
func (r AttemptRecord) Empty() bool {
	return len(r.Failures) == 0 && r.LockedUntil.IsZero() && r.Lockouts == 0
}

// Fail records a failure at now. It returns how many failures the key holds
// with this one and whether this failure locked it; a lock clears the
// failures and raises the back-off level.
func (r *AttemptRecord) Fail(now time.Time, p AttemptPolicy) (failures int, locked bool) {
	if r.Lockouts > 0 && !now.Before(r.LockedUntil.Add(p.Memory)) {
		r.Lockouts = 0 // the last lock ended long enough ago
	}
	kept := make([]time.Time, 0, len(r.Failures)+1)
	short := 0
	for _, t := range r.Failures {
		if t.After(now.Add(-p.LongWindow)) {
			kept = append(kept, t)
			if t.After(now.Add(-p.Window)) {
				short++
			}
		}
	}
	kept = append(kept, now)
	short++
	if short < p.MaxFailures && len(kept) < p.LongMaxFailures {
		r.Failures = kept
		return len(kept), false
	}
	r.Lockouts++
	if until := now.Add(p.LockFor(r.Lockouts)); until.After(r.LockedUntil) {
		r.LockedUntil = until
	}
	r.Failures = nil
	return len(kept), true
}

// Succeed records a successful identification at now: the failures are
// forgiven, and when the key is not locked, the back-off level too. A lock
// in force stays (only staff identify a locked key; see core/app).
func (r *AttemptRecord) Succeed(now time.Time) {
	r.Failures = nil
	if r.Locked(now) {
		return
	}
	r.LockedUntil, r.Lockouts = time.Time{}, 0
}
