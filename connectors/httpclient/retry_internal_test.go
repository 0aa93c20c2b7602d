package httpclient

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"1", time.Second, true},
		{"120", 2 * time.Minute, true},
		{"-5", 0, false},
		{"soon", 0, false},
		{"99999999999", 24 * time.Hour, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sun, 01 Mar 2026 12:00:30 GMT", 30 * time.Second, true},
	}
	for _, tc := range tests {
		got, ok := parseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRetryAfterOnlyOn429And503(t *testing.T) {
	h := http.Header{"Retry-After": {"3"}}
	for status, want := range map[int]bool{429: true, 503: true, 500: false, 502: false, 408: false} {
		_, ok := retryAfter(&StatusError{Status: status, Header: h}, time.Now())
		if ok != want {
			t.Errorf("status %d: honoured = %v, want %v", status, ok, want)
		}
	}
	if _, ok := retryAfter(errors.New("network"), time.Now()); ok {
		t.Error("a network error has no Retry-After")
	}
}

func TestBackoffGrowsWithJitterAndIsCapped(t *testing.T) {
	c := &Client{cfg: Config{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		seen := map[time.Duration]bool{}
		for range 50 {
			d := c.backoff(n)
			if d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
			seen[d] = true
		}
		if len(seen) < 2 {
			t.Errorf("backoff(%d) has no jitter", n)
		}
	}
}

func TestBreakerClassification(t *testing.T) {
	tests := []struct {
		status  int
		success bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {409, true}, {412, true}, {422, true},
		{408, false}, {429, false}, {500, false}, {502, false}, {503, false}, {504, false},
	}
	for _, tc := range tests {
		if got := breakerSuccess(&StatusError{Status: tc.status}); got != tc.success {
			t.Errorf("status %d: breaker success = %v, want %v", tc.status, got, tc.success)
		}
	}
	if !breakerSuccess(nil) || breakerSuccess(errors.New("connection reset")) {
		t.Error("nil must be success, a network error a failure")
	}
}
