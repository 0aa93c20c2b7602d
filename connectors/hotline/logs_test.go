package hotline

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a bytes.Buffer for a logger written from many goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestGarbageDatagramsLogShortWarnLines sends 32 KB datagrams of garbage to
// the IVR: the SIP stack's parse errors reach the IVR's logger (not the
// process default) at WARN at most, with the payload cut, no line over 1 KB.
func TestGarbageDatagramsLogShortWarnLines(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	l := startIVR(t, nil, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	s := newSIPUDP(t, l.addr)
	random := make([]byte, 32<<10)
	for i := range random {
		random[i] = byte(rand.IntN(256))
	}
	s.send(string(random))
	s.send("INVITE sip:116117@" + l.addr + " SIP/2.0\r\nVia: " + strings.Repeat("<&\x01garbage", 3<<10) + "\r\n\r\n")
	s.send(s.request("OPTIONS", "after-garbage-1", "")) // one socket, read in order: both were handled before
	if got := s.final("after-garbage-1"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Fatalf("OPTIONS after the garbage answered %q", got)
	}
	parseErrors := 0
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line (%v): %.200q", err, line)
		}
		if len(line) > 1024 {
			t.Errorf("a line of %d bytes: %.200s...", len(line), line)
		}
		if rec["level"] == "ERROR" {
			t.Errorf("an ERROR line for what a caller sent: %.300s", line)
		}
		if strings.Contains(rec["msg"].(string), "parse") {
			parseErrors++
		}
	}
	if parseErrors != 2 {
		t.Errorf("%d parse error lines in the IVR's log, want 2:\n%s", parseErrors, out.String())
	}
}
