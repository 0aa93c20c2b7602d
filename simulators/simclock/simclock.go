// Package simclock is the simulated time of a simulator: it starts at a given
// moment, runs a chosen number of times as fast as the real clock (0 stops
// it), and can be moved forward but never back. It knows nothing about what
// a simulator does at a given time.
package simclock

import (
	"sync"
	"time"
)

// Clock is simulated time: base at realBase, running scale times as fast as
// real time, read to the given resolution.
type Clock struct {
	mu         sync.Mutex
	real       func() time.Time
	realBase   time.Time
	base       time.Time
	scale      float64
	resolution time.Duration
}

// New starts a clock at start running scale times as fast as now (nil: the
// real clock), read to resolution (0: no truncation).
func New(start time.Time, scale float64, now func() time.Time, resolution time.Duration) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{real: now, realBase: now(), base: start.UTC(), scale: scale, resolution: resolution}
}

// Now is the simulated time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Clock) nowLocked() time.Time {
	t := c.base.Add(time.Duration(float64(c.real().Sub(c.realBase)) * c.scale))
	if c.resolution > 0 {
		t = t.Truncate(c.resolution)
	}
	return t
}

// Advance moves simulated time forward by d (a negative d changes nothing).
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.realBase = c.nowLocked().Add(max(d, 0)), c.real()
}

// SetScale changes how fast simulated time runs from now on.
func (c *Clock) SetScale(x float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.realBase, c.scale = c.nowLocked(), c.real(), x
}

// Scale is how fast simulated time runs.
func (c *Clock) Scale() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.scale
}
