package bus

import (
	"math/rand/v2"
	"time"
)

// fullJitter returns a random delay in [0, min(max, base*2^attempt)]
// ("full jitter"), so that many consumers retrying the same outage do not
// retry in step.
func fullJitter(attempt int, base, max time.Duration) time.Duration {
	ceil := base
	for i := 0; i < attempt && ceil < max; i++ {
		ceil *= 2
	}
	if ceil > max {
		ceil = max
	}
	if ceil <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

// expBackoff is a capped exponential delay without jitter, for loops that
// wait for a broker or database to come back.
func expBackoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// sleep waits d or until done is closed; it reports whether the full delay passed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return false
	case <-t.C:
		return true
	}
}
