// Package logcap bounds what one log record can cost, so that nobody outside
// the hub can fill its logs: a slog.Handler wrapper that shortens long
// strings, lets only so many records with one message through per interval
// (and reports how many it dropped), and can cap the level of records that an
// outside party causes. It never adds a record or raises a level.
package logcap

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// DroppedKey is the attribute that tells, on the next record with the same
// message that passes, how many records with that message were dropped.
const DroppedKey = "log_dropped"

// Options configures a Handler. The zero value gives the defaults.
type Options struct {
	// MaxValueLen caps the message and every string value (also error texts,
	// fmt.Stringer values and byte slices) at about this many bytes as
	// written: a control character, an invalid byte or one of < > & counts
	// 6 (its JSON escape), a quote or backslash 2. A longer value is cut and
	// ends in "…[+N bytes]". Default 256.
	MaxValueLen int
	// Burst records with one message pass per Interval; further ones are
	// dropped and counted. Defaults 100 per 10 s. Negative Burst: no limit.
	Burst    int
	Interval time.Duration
	// LimitFrom is the lowest level that is rate-limited; default
	// slog.LevelInfo (debug records, off in production, are not limited).
	LimitFrom slog.Leveler
	// Ceiling, when set, lowers records above it to it: slog.LevelWarn for
	// a library whose records an anonymous caller causes.
	Ceiling slog.Leveler
	// MaxKeys bounds the messages tracked; records with further messages
	// share one budget. Default 1024.
	MaxKeys int
}

func (o *Options) setDefaults() {
	if o.MaxValueLen <= 0 {
		o.MaxValueLen = 256
	}
	if o.Burst == 0 {
		o.Burst = 100
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.LimitFrom == nil {
		o.LimitFrom = slog.LevelInfo
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1024
	}
}

// Handler wraps another slog.Handler; see the package comment.
type Handler struct {
	next  slog.Handler
	opts  Options
	state *limiter // shared by the handlers derived with WithAttrs/WithGroup
}

// New wraps next.
func New(next slog.Handler, opts Options) *Handler {
	opts.setDefaults()
	return &Handler{next: next, opts: opts, state: &limiter{windows: map[string]*window{}}}
}

// Logger is slog.New(New(next, opts)).
func Logger(next slog.Handler, opts Options) *slog.Logger { return slog.New(New(next, opts)) }

func (h *Handler) level(l slog.Level) slog.Level {
	if h.opts.Ceiling != nil && l > h.opts.Ceiling.Level() {
		return h.opts.Ceiling.Level()
	}
	return l
}

// Enabled reports whether next takes records of level (after the ceiling).
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, h.level(l))
}

// Handle caps, rate-limits and passes r on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	level := h.level(r.Level)
	msg := capString(r.Message, h.opts.MaxValueLen)
	var dropped int
	if h.opts.Burst > 0 && level >= h.opts.LimitFrom.Level() {
		now := r.Time
		if now.IsZero() {
			now = time.Now()
		}
		var pass bool
		if pass, dropped = h.state.take(msg, now, h.opts); !pass {
			return nil
		}
	}
	out := slog.NewRecord(r.Time, level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.capAttr(a))
		return true
	})
	if dropped > 0 {
		out.AddAttrs(slog.Int(DroppedKey, dropped))
	}
	return h.next.Handle(ctx, out)
}

// WithAttrs caps attrs and returns a handler sharing this one's budget.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	capped := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		capped[i] = h.capAttr(a)
	}
	return &Handler{next: h.next.WithAttrs(capped), opts: h.opts, state: h.state}
}

// WithGroup returns a handler sharing this one's budget.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), opts: h.opts, state: h.state}
}

func (h *Handler) capAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, capString(v.String(), h.opts.MaxValueLen))
	case slog.KindGroup:
		g := v.Group()
		capped := make([]any, len(g))
		for i, ga := range g {
			capped[i] = h.capAttr(ga)
		}
		return slog.Group(a.Key, capped...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return slog.String(a.Key, capString(x.Error(), h.opts.MaxValueLen))
		case []byte:
			return slog.String(a.Key, capString(string(x), h.opts.MaxValueLen))
		case fmt.Stringer:
			return slog.String(a.Key, capString(x.String(), h.opts.MaxValueLen))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// capString returns s when it costs at most max bytes as written (see
// Options.MaxValueLen), else its longest prefix that does, and a note of
// what was cut.
func capString(s string, max int) string {
	cost := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		c := size
		switch {
		case r == utf8.RuneError && size == 1, r < 0x20, r == 0x7f, r == '<', r == '>', r == '&',
			r == '\u2028', r == '\u2029', !unicode.IsPrint(r):
			c = 6
		case r == '"', r == '\\':
			c = 2
		}
		if cost+c > max {
			return s[:i] + "…[+" + strconv.Itoa(len(s)-i) + " bytes]"
		}
		cost += c
		i += size
	}
	return s
}

// limiter counts records per message in fixed windows.
type limiter struct {
	mu      sync.Mutex
	windows map[string]*window
}

type window struct {
	start   time.Time
	passed  int
	dropped int // not yet reported
}

// overflowKey is the shared budget of messages beyond Options.MaxKeys.
const overflowKey = "\x00logcap-overflow"

// take reports whether a record with msg at now may pass and, if so, how many
// records with msg were dropped since the last one that passed.
func (l *limiter) take(msg string, now time.Time, o Options) (pass bool, dropped int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[msg]
	if !ok {
		if len(l.windows) >= o.MaxKeys {
			l.sweep(now, o.Interval)
		}
		if len(l.windows) >= o.MaxKeys {
			msg = overflowKey
			w = l.windows[msg]
		}
		if w == nil {
			w = &window{start: now}
			l.windows[msg] = w
		}
	}
	if now.Sub(w.start) >= o.Interval || now.Before(w.start) {
		w.start, w.passed = now, 0
	}
	if w.passed >= o.Burst {
		w.dropped++
		return false, 0
	}
	w.passed++
	dropped, w.dropped = w.dropped, 0
	return true, dropped
}

// sweep forgets windows that ended with nothing left to report.
func (l *limiter) sweep(now time.Time, interval time.Duration) {
	for k, w := range l.windows {
		if w.dropped == 0 && now.Sub(w.start) >= interval {
			delete(l.windows, k)
		}
	}
}
