package logcap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// rec is one record to log and the time it is logged at (seconds from t0).
type rec struct {
	at    int
	level slog.Level
	msg   string
	attrs []any
}

func TestHandler(t *testing.T) {
	long := strings.Repeat("x", 32<<10)
	garbage := string(bytes.Repeat([]byte{0xff, '<', 0x01}, 10<<10))
	for _, tc := range []struct {
		name  string
		opts  Options
		recs  []rec
		check func(t *testing.T, lines []map[string]any, raw []string)
	}{{
		name: "a 32 KB string is cut to 256 bytes and says how much was cut",
		recs: []rec{{msg: "failed to parse", attrs: []any{"data", long}}},
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			d := lines[0]["data"].(string)
			if !strings.HasPrefix(d, strings.Repeat("x", 256)+"…[+") || !strings.HasSuffix(d, fmt.Sprintf("+%d bytes]", 32<<10-256)) {
				t.Errorf("data = %.300q...", d)
			}
		},
	}, {
		name: "binary garbage stays short once escaped",
		recs: []rec{{level: slog.LevelError, msg: garbage, attrs: []any{"data", garbage, "err", errors.New(garbage), "raw", []byte(garbage)}}},
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			if len(raw[0]) > 1024*2 { // four values of at most ~300 bytes each, plus time and level
				t.Errorf("line of %d bytes", len(raw[0]))
			}
			for _, k := range []string{"msg", "data", "err", "raw"} {
				if s, _ := lines[0][k].(string); !strings.Contains(s, "…[+") {
					t.Errorf("%s not cut: %.80q", k, s)
				}
			}
		},
	}, {
		name: "short values, numbers and groups are left alone",
		recs: []rec{{msg: "call refused", attrs: []any{"source", "127.0.0.1", "n", 3, slog.Group("g", "k", long)}}},
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			l := lines[0]
			if l["source"] != "127.0.0.1" || l["n"] != 3.0 || l["msg"] != "call refused" {
				t.Errorf("changed: %v", l)
			}
			if g := l["g"].(map[string]any)["k"].(string); len(g) > 300 {
				t.Errorf("group value not cut: %d bytes", len(g))
			}
		},
	}, {
		name: "the ceiling lowers ERROR to WARN and leaves INFO",
		opts: Options{Ceiling: slog.LevelWarn},
		recs: []rec{{level: slog.LevelError, msg: "a"}, {level: slog.LevelInfo, msg: "b"}},
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			if lines[0]["level"] != "WARN" || lines[1]["level"] != "INFO" {
				t.Errorf("levels %v, %v", lines[0]["level"], lines[1]["level"])
			}
		},
	}, {
		name: "a burst per message per interval passes, the rest is dropped and reported",
		opts: Options{Burst: 3, Interval: 10 * time.Second},
		recs: append(append(repeat(rec{at: 0, level: slog.LevelWarn, msg: "flood"}, 10),
			rec{at: 1, level: slog.LevelWarn, msg: "other"}),
			rec{at: 11, level: slog.LevelWarn, msg: "flood"}, rec{at: 11, level: slog.LevelWarn, msg: "flood"}),
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			var got []string
			for _, l := range lines {
				got = append(got, fmt.Sprintf("%v/%v", l["msg"], l[DroppedKey]))
			}
			want := "flood/<nil> flood/<nil> flood/<nil> other/<nil> flood/7 flood/<nil>"
			if strings.Join(got, " ") != want {
				t.Errorf("got %v, want %s", got, want)
			}
		},
	}, {
		name: "debug records are not limited by default",
		opts: Options{Burst: 1},
		recs: repeat(rec{level: slog.LevelDebug, msg: "request"}, 5),
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			if len(lines) != 5 {
				t.Errorf("%d lines, want 5", len(lines))
			}
		},
	}, {
		name: "messages beyond MaxKeys share one budget",
		opts: Options{Burst: 2, MaxKeys: 2},
		recs: []rec{{msg: "a"}, {msg: "b"}, {msg: "c"}, {msg: "d"}, {msg: "e"}, {msg: "a"}},
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			var got []string
			for _, l := range lines {
				got = append(got, l["msg"].(string))
			}
			if strings.Join(got, "") != "abcda" {
				t.Errorf("passed %v, want a b c d a", got)
			}
		},
	}, {
		name: "a negative burst turns the limit off",
		opts: Options{Burst: -1},
		recs: repeat(rec{level: slog.LevelWarn, msg: "m"}, 500),
		check: func(t *testing.T, lines []map[string]any, raw []string) {
			if len(lines) != 500 {
				t.Errorf("%d lines", len(lines))
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			h := New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}), tc.opts)
			t0 := time.Date(2021, 4, 12, 8, 0, 0, 0, time.UTC)
			for _, r := range tc.recs {
				sr := slog.NewRecord(t0.Add(time.Duration(r.at)*time.Second), r.level, r.msg, 0)
				sr.Add(r.attrs...)
				if h.Enabled(context.Background(), r.level) {
					if err := h.Handle(context.Background(), sr); err != nil {
						t.Fatal(err)
					}
				}
			}
			var lines []map[string]any
			var raw []string
			for _, s := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if s == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(s), &m); err != nil {
					t.Fatalf("%v: %.200s", err, s)
				}
				lines, raw = append(lines, m), append(raw, s)
			}
			if len(lines) == 0 {
				t.Fatal("nothing logged")
			}
			tc.check(t, lines, raw)
		})
	}
}

func repeat(r rec, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func TestDerivedHandlersShareTheBudgetAndCapTheirAttrs(t *testing.T) {
	var buf bytes.Buffer
	log := Logger(slog.NewJSONHandler(&buf, nil), Options{Burst: 2})
	a := log.With("caller", strings.Repeat("c", 1000))
	b := log.WithGroup("g")
	a.Warn("same")
	b.Warn("same")
	a.Warn("same")
	out := strings.TrimSpace(buf.String())
	if n := strings.Count(out, "\n") + 1; n != 2 {
		t.Fatalf("%d lines, want 2 (one budget):\n%s", n, out)
	}
	if strings.Contains(out, strings.Repeat("c", 257)) {
		t.Error("a With attribute was not cut")
	}
}

func TestCeilingAppliesToEnabled(t *testing.T) {
	h := New(slog.NewJSONHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelWarn}), Options{Ceiling: slog.LevelWarn})
	if !h.Enabled(context.Background(), slog.LevelError) || h.Enabled(context.Background(), slog.LevelInfo) {
		t.Error("Enabled ignores the ceiling or the wrapped level")
	}
}
