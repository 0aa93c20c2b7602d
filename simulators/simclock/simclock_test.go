package simclock

import (
	"net/http/httptest"
	"strings"
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

func TestAdvanceByReadsByAndTo(t *testing.T) {
	start := time.Date(2021, 1, 4, 10, 0, 0, 0, time.UTC)
	c := New(start, 0, nil, time.Second)
	parse := func(s string) (time.Time, error) { return time.Parse(time.RFC3339, s) }
	cases := []struct {
		name, query, body string
		want              time.Duration
		wantErr           string
	}{
		{"days in the query", "?by=7d", "", 7 * 24 * time.Hour, ""},
		{"duration in the body", "", `{"by":"90m"}`, 90 * time.Minute, ""},
		{"to a time", "", `{"to":"2021-01-05T10:00:00Z"}`, 24 * time.Hour, ""},
		{"both", "?by=1h&to=2021-01-05T10:00:00Z", "", 0, "not both"},
		{"back in time", "?to=2021-01-01T00:00:00Z", "", 0, "never goes back"},
		{"negative", "?by=-1h", "", 0, "want a duration"},
		{"bad time", "?to=tomorrow", "", 0, "want a time"},
		{"nothing", "", "", 0, "send"},
		{"unknown field", "", `{"until":"x"}`, 0, "bad body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/_sim/clock/advance"+tc.query, strings.NewReader(tc.body))
			d, err := c.AdvanceBy(r, parse)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, %v; want an error with %q", d, err, tc.wantErr)
				}
				return
			}
			if err != nil || d != tc.want {
				t.Fatalf("got %v, %v; want %v", d, err, tc.want)
			}
		})
	}
}
