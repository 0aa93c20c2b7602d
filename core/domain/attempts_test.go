package domain

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2021, 4, 12, 8, 0, 0, 0, time.UTC)

func TestAttemptPolicyDefaultsAndBackOffSchedule(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	if p.MaxFailures != 5 || p.Window != 15*time.Minute || p.LongMaxFailures != 20 || p.LongWindow != 24*time.Hour {
		t.Errorf("defaults %+v", p)
	}
	for _, c := range []struct {
		n    int
		want time.Duration
	}{{1, 15 * time.Minute}, {2, 30 * time.Minute}, {3, time.Hour}, {4, 2 * time.Hour}, {5, 4 * time.Hour},
		{6, 8 * time.Hour}, {7, 16 * time.Hour}, {8, 24 * time.Hour}, {9, 24 * time.Hour}, {1000, 24 * time.Hour}} {
		if got := p.LockFor(c.n); got != c.want {
			t.Errorf("lock %d lasts %v, want %v", c.n, got, c.want)
		}
	}
}

func TestAttemptPolicyValidate(t *testing.T) {
	for _, p := range []AttemptPolicy{
		{MaxFailures: -1}, {MaxFailures: 5, LongMaxFailures: 4}, {Window: time.Hour, LongWindow: time.Minute},
		{FirstLock: time.Hour, MaxLock: time.Minute}, {Memory: -time.Second},
	} {
		if err := p.WithDefaults().Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want invalid", p, err)
		}
	}
}

// fail records n failures, one every gap, starting at at; it returns the
// time after the last and whether the last one locked.
func fail(r *AttemptRecord, p AttemptPolicy, at time.Time, n int, gap time.Duration) (time.Time, bool) {
	locked := false
	for range n {
		_, locked = r.Fail(at, p)
		at = at.Add(gap)
	}
	return at, locked
}

func TestFifthFailureWithinTheWindowLocks(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	r := AttemptRecord{Key: ReferenceKey("1234567890")}
	at, locked := fail(&r, p, t0, 4, time.Minute)
	if locked || r.Locked(at) {
		t.Fatal("locked after 4 failures")
	}
	n, locked := r.Fail(at, p)
	if !locked || n != 5 || !r.Locked(at) || r.LockedUntil != at.Add(15*time.Minute) || r.Lockouts != 1 || len(r.Failures) != 0 {
		t.Fatalf("after 5 failures: n=%d locked=%v %+v", n, locked, r)
	}
	if r.Locked(r.LockedUntil) {
		t.Error("still locked at LockedUntil")
	}
}

func TestFailuresOutsideTheWindowDoNotLock(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	r := AttemptRecord{}
	// 4 failures, then the window passes, then 4 more: never 5 within 15 min.
	at, _ := fail(&r, p, t0, 4, time.Minute)
	at, locked := fail(&r, p, at.Add(15*time.Minute), 4, time.Minute)
	if locked || r.Locked(at) {
		t.Fatalf("locked by failures 15 min apart: %+v", r)
	}
}

func TestStayingUnderTheShortLimitLocksAtTheLongLimit(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	r := AttemptRecord{}
	at := t0
	var locked bool
	total := 0
	for !locked && total < 100 {
		at, locked = fail(&r, p, at, 1, 4*time.Minute) // 3.75 per 15 min
		total++
	}
	if total != 20 || !locked {
		t.Fatalf("locked after %d failures (locked=%v), want 20", total, locked)
	}
}

func TestLocksGrowAndAreForgottenAfterASuccessOrAfterMemory(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	r := AttemptRecord{}
	at := t0
	var got []time.Duration
	for range 9 {
		var locked bool
		at, locked = fail(&r, p, at, 5, time.Second)
		if !locked {
			t.Fatal("5 failures did not lock")
		}
		got = append(got, r.LockedUntil.Sub(at.Add(-time.Second)))
		at = r.LockedUntil
	}
	want := "[15m0s 30m0s 1h0m0s 2h0m0s 4h0m0s 8h0m0s 16h0m0s 24h0m0s 24h0m0s]"
	if fmt.Sprint(got) != want {
		t.Errorf("locks %v, want %v", got, want)
	}
	// A success after the lock forgets the level.
	r.Succeed(at)
	if !r.Empty() {
		t.Fatalf("after success: %+v", r)
	}
	at, _ = fail(&r, p, at, 5, time.Second)
	if r.Lockouts != 1 {
		t.Fatalf("level %d after a success, want 1", r.Lockouts)
	}
	// Memory: a day after the lock ended, the level starts again at 1.
	at, _ = fail(&r, p, r.LockedUntil, 5, time.Second)
	if r.Lockouts != 2 {
		t.Fatalf("level %d right after the lock, want 2", r.Lockouts)
	}
	at, _ = fail(&r, p, r.LockedUntil.Add(p.Memory), 5, time.Second)
	if r.Lockouts != 1 || r.LockedUntil != at.Add(-time.Second).Add(15*time.Minute) {
		t.Fatalf("level %d a day after the last lock ended, want 1", r.Lockouts)
	}
}

func TestSuccessWhileLockedKeepsTheLock(t *testing.T) {
	p := AttemptPolicy{}.WithDefaults()
	r := AttemptRecord{}
	at, _ := fail(&r, p, t0, 5, time.Second)
	r.Succeed(at)
	if !r.Locked(at) || r.Lockouts != 1 {
		t.Fatalf("a success ended the lock: %+v", r)
	}
}

func TestLockedErrorIsErrLocked(t *testing.T) {
	err := fmt.Errorf("verify: %w", &LockedError{Until: t0})
	if !errors.Is(err, ErrLocked) || !LockedUntil(err).Equal(t0) {
		t.Fatalf("%v", err)
	}
	if !LockedUntil(ErrNotFound).IsZero() {
		t.Error("not a lock, but has an end")
	}
}
