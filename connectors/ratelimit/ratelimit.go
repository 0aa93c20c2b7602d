// Package ratelimit is shared by the public edges (the portal in
// connectors/web and the JSON API in connectors/api): token buckets per key
// (a client address, a session, a token's hash), in memory on one replica,
// and the one way those edges tell a client's address. It never trusts an
// X-Forwarded-For header that no configured proxy vouches for, and it keeps
// no state for a key whose bucket has refilled.
package ratelimit

import (
	"math"
	"sync"
	"time"
)

// Buckets is a set of token buckets, one per key. Idle buckets are dropped.
// A nil *Buckets, or one with a rate of 0 or less, allows everything.
type Buckets struct {
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

// New returns buckets that refill at rate tokens per second up to burst.
// now is the clock (nil: time.Now).
func New(rate float64, burst int, now func() time.Time) *Buckets {
	if now == nil {
		now = time.Now
	}
	return &Buckets{rate: rate, burst: float64(burst), now: now, m: map[string]*bucket{}}
}

// Allow takes one token from key's bucket; false when it is empty.
func (b *Buckets) Allow(key string) bool {
	ok, _ := b.Take(key)
	return ok
}

// Take takes one token from key's bucket. When the bucket is empty it
// returns false and how long until the next token (at least one second, as
// Retry-After counts whole seconds).
func (b *Buckets) Take(key string) (ok bool, retryAfter time.Duration) {
	if b == nil || b.rate <= 0 {
		return true, 0
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if now.Sub(b.swept) > time.Minute {
		b.sweep(now)
	}
	k, found := b.m[key]
	if !found {
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	k.tokens = min(b.burst, k.tokens+now.Sub(k.last).Seconds()*b.rate)
	k.last = now
	if k.tokens < 1 {
		wait := math.Ceil((1 - k.tokens) / b.rate)
		return false, time.Duration(max(1, wait)) * time.Second
	}
	k.tokens--
	return true, 0
}

// sweep drops buckets that have refilled completely (they hold no state).
func (b *Buckets) sweep(now time.Time) {
	b.swept = now
	full := time.Duration(b.burst / b.rate * float64(time.Second))
	for key, k := range b.m {
		if now.Sub(k.last) > full {
			delete(b.m, key)
		}
	}
}
