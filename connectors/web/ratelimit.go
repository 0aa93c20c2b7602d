package web

import (
	"sync"
	"time"
)

// buckets is a set of token buckets, one per key (a client IP or a session),
// in memory on this replica. Idle buckets are dropped.
type buckets struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time

	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(rate float64, burst int, now func() time.Time) *buckets {
	return &buckets{rate: rate, burst: float64(burst), now: now, m: map[string]*bucket{}}
}

// allow takes one token from key's bucket; false when it is empty.
func (b *buckets) allow(key string) bool {
	if b == nil || b.rate <= 0 {
		return true
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > time.Minute {
		b.sweep(now)
	}
	k, ok := b.m[key]
	if !ok {
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	k.tokens = min(b.burst, k.tokens+now.Sub(k.last).Seconds()*b.rate)
	k.last = now
	if k.tokens < 1 {
		return false
	}
	k.tokens--
	return true
}

// sweep drops buckets that have refilled completely (they hold no state).
func (b *buckets) sweep(now time.Time) {
	b.swept = now
	full := time.Duration(b.burst / b.rate * float64(time.Second))
	for key, k := range b.m {
		if now.Sub(k.last) > full {
			delete(b.m, key)
		}
	}
}
