package simclock

import (
	"testing"
	"time"
)

func TestClockRunsScaledAdvancesAndNeverGoesBack(t *testing.T) {
	real := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return real }
	start := time.Date(2021, 1, 4, 10, 0, 0, 0, time.UTC)
	c := New(start, 60, now, time.Second)
	real = real.Add(10 * time.Second) // ten real seconds: ten simulated minutes
	if got, want := c.Now(), start.Add(10*time.Minute); !got.Equal(want) {
		t.Fatalf("scaled: %v, want %v", got, want)
	}
	c.Advance(7 * 24 * time.Hour)
	c.Advance(-time.Hour)
	if got, want := c.Now(), start.Add(10*time.Minute+7*24*time.Hour); !got.Equal(want) {
		t.Fatalf("after advancing a week (and trying to go back): %v, want %v", got, want)
	}
	c.SetScale(0)
	real = real.Add(time.Hour)
	if got, want := c.Now(), start.Add(10*time.Minute+7*24*time.Hour); !got.Equal(want) || c.Scale() != 0 {
		t.Fatalf("stopped clock moved: %v, want %v", got, want)
	}
	real = real.Add(1500 * time.Millisecond)
	c.SetScale(1)
	real = real.Add(1500 * time.Millisecond)
	if got := c.Now(); got.Nanosecond() != 0 {
		t.Fatalf("resolution of a second not applied: %v", got)
	}
}
