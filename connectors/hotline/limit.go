package hotline

import (
	"sync"
	"time"
)

// refusal is why admission turned a new call away ("" when admitted).
type refusal string

const (
	refusedRate   refusal = "source-rate"  // the source's token bucket is empty
	refusedSource refusal = "source-calls" // the source holds MaxCallsPerSource calls
	refusedFull   refusal = "max-calls"    // the IVR holds MaxCalls calls
)

// admission decides whether a new call from a source IP may start, before
// anything is held for it: a token bucket of new calls per source, a cap on
// the calls one source holds at once, and a cap on all calls held.
type admission struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	perSource int
	total     int
	held      int
	sources   map[string]*source
	swept     time.Time
}

type source struct {
	tokens float64
	at     time.Time
	held   int
}

func newAdmission(rate float64, burst, perSource, total int) *admission {
	return &admission{rate: rate, burst: float64(burst), perSource: perSource, total: total, sources: map[string]*source{}}
}

// admit takes a token and a place for a call from src at now. On success
// release gives the place back (once; further calls do nothing).
func (a *admission) admit(src string, now time.Time) (release func(), why refusal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if now.Sub(a.swept) > time.Minute { // forget idle sources
		for k, s := range a.sources {
			if s.held == 0 && now.Sub(s.at) > time.Minute {
				delete(a.sources, k)
			}
		}
		a.swept = now
	}
	s, ok := a.sources[src]
	if !ok {
		s = &source{tokens: a.burst, at: now}
		a.sources[src] = s
	}
	s.tokens = min(a.burst, s.tokens+now.Sub(s.at).Seconds()*a.rate)
	s.at = now
	if s.tokens < 1 {
		return nil, refusedRate
	}
	s.tokens--
	switch {
	case s.held >= a.perSource:
		return nil, refusedSource
	case a.held >= a.total:
		return nil, refusedFull
	}
	s.held++
	a.held++
	var once sync.Once
	return func() {
		once.Do(func() {
			a.mu.Lock()
			s.held--
			a.held--
			a.mu.Unlock()
		})
	}, ""
}
