package web

import (
	"time"

	"github.com/vaxhub/vaxhub/connectors/ratelimit"
)

// buckets is a set of token buckets, one per key (a client IP or a session),
// in memory on this replica: connectors/ratelimit, which the JSON API shares.
type buckets struct{ b *ratelimit.Buckets }

func newBuckets(rate float64, burst int, now func() time.Time) *buckets {
	return &buckets{b: ratelimit.New(rate, burst, now)}
}

// allow takes one token from key's bucket; false when it is empty.
func (b *buckets) allow(key string) bool {
	if b == nil {
		return true
	}
	return b.b.Allow(key)
}
