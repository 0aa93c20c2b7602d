// Package faults is the fault injection that every simulator shares: an
// http.Handler middleware that adds latency, errors, outages, 429s and
// simulator-specific custom faults, switched at start-up by flags and at run
// time through admin endpoints under /_sim/faults. It must never import
// anything from core/ or connectors/: simulators are the outside world.
package faults

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultAdminPath is where the admin endpoints are mounted unless
// Options.AdminPath says otherwise.
const DefaultAdminPath = "/_sim/faults"

// DefaultExemptPrefix is the path prefix that is never faulted unless
// Options.ExemptPrefixes says otherwise.
const DefaultExemptPrefix = "/_sim/"

// HeaderFault is set on every response the injector produces itself, naming
// the fault ("error", "rate_limit", "outage" or a custom fault's name), so a
// test or an operator can tell an injected failure from a real one.
const HeaderFault = "X-Sim-Fault"

// Options configures an Injector. The zero value is usable: no faults, a
// random seed, /_sim/ exempt, admin endpoints at /_sim/faults.
type Options struct {
	// Seed makes every random decision (jitter, error rate, 429 probability)
	// repeatable: the same seed and the same sequence of requests give the
	// same faults. Zero means "seed from the clock" (not repeatable).
	Seed uint64

	// ExemptPrefixes lists URL path prefixes that are never faulted (health
	// and admin endpoints). Nil means []string{"/_sim/"}; an empty, non-nil
	// slice exempts nothing but the admin path itself.
	ExemptPrefixes []string

	// AdminPath is where GET/PUT/POST/DELETE of the active faults are served.
	// Default "/_sim/faults". It is always exempt from faults.
	AdminPath string

	// Initial is the fault set that is active from New on (what the
	// --fault-* flags fill in). An initial outage starts when New is called.
	Initial Faults

	// Custom declares simulator-specific faults up front, so that
	// Initial.Flags may name them. More can be added later with Register.
	Custom []Custom
}

func (o *Options) setDefaults() {
	if o.ExemptPrefixes == nil {
		o.ExemptPrefixes = []string{DefaultExemptPrefix}
	}
	if o.AdminPath == "" {
		o.AdminPath = DefaultAdminPath
	}
}

// Validate reports the first problem with the options, naming the field.
func (o Options) Validate() error {
	if o.AdminPath != "" && !strings.HasPrefix(o.AdminPath, "/") {
		return fmt.Errorf("faults: AdminPath %q must start with /", o.AdminPath)
	}
	for _, p := range o.ExemptPrefixes {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("faults: exempt prefix %q must start with /", p)
		}
	}
	names := map[string]bool{}
	for _, c := range o.Custom {
		if err := c.validate(); err != nil {
			return err
		}
		if names[c.Name] {
			return fmt.Errorf("faults: custom fault %q declared twice", c.Name)
		}
		names[c.Name] = true
	}
	if err := o.Initial.Validate(); err != nil {
		return err
	}
	for name := range o.Initial.Flags {
		if !names[name] {
			return fmt.Errorf("faults: initial flag %q is not a declared custom fault", name)
		}
	}
	return nil
}

// Custom is a simulator's own fault, a named toggle that shows up in
// GET /_sim/faults and is switched with {"flags":{"<name>":true}}.
//
// With Handle nil it is a pure flag: the simulator asks Injector.Flag(name)
// where it matters (SAP: "csrf_expired" makes the next modifying call fail
// token validation). With Handle set, the middleware calls it for every
// non-exempt request while the flag is on, after latency and before 429s and
// errors; Handle returns true when it has written the response itself.
type Custom struct {
	Name   string
	Help   string
	Handle func(w http.ResponseWriter, r *http.Request) (handled bool)
}

var customName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

func (c Custom) validate() error {
	if !customName.MatchString(c.Name) {
		return fmt.Errorf("faults: custom fault name %q must match %s", c.Name, customName)
	}
	return nil
}

// Stats counts what the injector has seen and done since New. Counts are
// monotonic; clearing faults does not reset them.
type Stats struct {
	Requests    uint64 `json:"requests"`     // non-exempt requests seen
	Passed      uint64 `json:"passed"`       // handed to the simulator
	Delayed     uint64 `json:"delayed"`      // given added latency
	Errors      uint64 `json:"errors"`       // answered with an injected error status
	RateLimited uint64 `json:"rate_limited"` // answered with an injected 429
	Outage      uint64 `json:"outage"`       // reset or answered 503 during an outage
	Custom      uint64 `json:"custom"`       // answered by a custom hook
	Lost        uint64 `json:"lost"`         // served, and the answer lost
}

type counters struct {
	requests, passed, delayed, errors, rateLimited, outage, custom, lost atomic.Uint64
}

// state is one immutable fault configuration. It is replaced as a whole;
// only the 429 sequence counter inside it changes.
type state struct {
	faults      Faults // normalised
	outageUntil time.Time
	seq         atomic.Uint64 // requests reaching the 429 stage since this state began
	lost        atomic.Uint64 // requests that lost_answers applied to since this state began
}

// Injector injects faults into the handler it wraps. It is safe for
// concurrent use.
type Injector struct {
	adminPath string
	exempt    []string

	writeMu sync.Mutex // serialises read-modify-write of cur
	cur     atomic.Pointer[state]

	customMu sync.RWMutex
	custom   []Custom // in registration order

	rngMu sync.Mutex
	rng   *rand.Rand

	stats counters
}

// New returns an Injector with opts.Initial active. It panics if
// opts.Validate fails: options from the command line are already checked by
// the flags from RegisterFlags, so a panic here is a programming error.
func New(opts Options) *Injector {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	i := &Injector{
		adminPath: strings.TrimSuffix(opts.AdminPath, "/"),
		exempt:    append([]string(nil), opts.ExemptPrefixes...),
		custom:    append([]Custom(nil), opts.Custom...),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	i.cur.Store(newState(opts.Initial.normalised(), time.Now()))
	return i
}

func newState(f Faults, now time.Time) *state {
	s := &state{faults: f}
	if f.Outage != nil {
		if !f.Outage.Until.IsZero() {
			s.outageUntil = f.Outage.Until
		} else {
			s.outageUntil = now.Add(time.Duration(f.Outage.Duration))
		}
		f.Outage.Until = s.outageUntil
	}
	return s
}

// Register adds a custom fault after New. Registering a name twice is an error.
func (i *Injector) Register(c Custom) error {
	if err := c.validate(); err != nil {
		return err
	}
	i.customMu.Lock()
	defer i.customMu.Unlock()
	for _, have := range i.custom {
		if have.Name == c.Name {
			return fmt.Errorf("faults: custom fault %q already registered", c.Name)
		}
	}
	i.custom = append(i.custom, c)
	return nil
}

// Flag reports whether the named custom fault is switched on.
func (i *Injector) Flag(name string) bool {
	return i.cur.Load().faults.Flags[name]
}

// SetFlag switches the named custom fault on or off, leaving everything else
// as it is (the 429 counter restarts).
func (i *Injector) SetFlag(name string, on bool) error {
	return i.Merge(Faults{Flags: map[string]bool{name: on}})
}

// Active returns a copy of the faults in force now. An outage whose time is
// up is not included.
func (i *Injector) Active() Faults {
	s := i.cur.Load()
	f := s.faults.clone()
	if f.Outage != nil {
		left := time.Until(s.outageUntil)
		if left <= 0 {
			f.Outage = nil
		} else {
			f.Outage.Remaining = Duration(left.Round(time.Millisecond))
		}
	}
	return f
}

// Set replaces the whole fault set with f (PUT semantics).
func (i *Injector) Set(f Faults) error {
	if err := i.check(f); err != nil {
		return err
	}
	i.writeMu.Lock()
	defer i.writeMu.Unlock()
	i.cur.Store(newState(f.normalised(), time.Now()))
	return nil
}

// Merge changes only the faults that f mentions (POST semantics): a fault
// given replaces the one in force, a zero-valued fault switches it off, and
// flags are merged name by name.
func (i *Injector) Merge(f Faults) error {
	if err := i.check(f); err != nil {
		return err
	}
	i.writeMu.Lock()
	defer i.writeMu.Unlock()
	old := i.Active()
	next := old
	if f.Latency != nil {
		next.Latency = f.Latency
	}
	if f.Errors != nil {
		next.Errors = f.Errors
	}
	if f.Outage != nil {
		next.Outage = f.Outage
	}
	if f.RateLimit != nil {
		next.RateLimit = f.RateLimit
	}
	if f.Lost != nil {
		next.Lost = f.Lost
	}
	if len(f.Flags) > 0 {
		flags := make(map[string]bool, len(old.Flags)+len(f.Flags))
		for k, v := range old.Flags {
			flags[k] = v
		}
		for k, v := range f.Flags {
			flags[k] = v
		}
		next.Flags = flags
	}
	i.cur.Store(newState(next.normalised(), time.Now()))
	return nil
}

// Clear switches every fault and flag off.
func (i *Injector) Clear() {
	i.writeMu.Lock()
	defer i.writeMu.Unlock()
	i.cur.Store(newState(Faults{}, time.Now()))
}

// Stats returns the counters since New.
func (i *Injector) Stats() Stats {
	c := &i.stats
	return Stats{
		Requests:    c.requests.Load(),
		Passed:      c.passed.Load(),
		Delayed:     c.delayed.Load(),
		Errors:      c.errors.Load(),
		RateLimited: c.rateLimited.Load(),
		Outage:      c.outage.Load(),
		Custom:      c.custom.Load(),
		Lost:        c.lost.Load(),
	}
}

// check validates f and that every flag it names is a registered custom fault.
func (i *Injector) check(f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if len(f.Flags) == 0 {
		return nil
	}
	i.customMu.RLock()
	defer i.customMu.RUnlock()
	for name := range f.Flags {
		if !i.hasCustomLocked(name) {
			return fmt.Errorf("%w: unknown flag %q (registered: %s)", ErrInvalid, name, i.customNamesLocked())
		}
	}
	return nil
}

func (i *Injector) hasCustomLocked(name string) bool {
	for _, c := range i.custom {
		if c.Name == name {
			return true
		}
	}
	return false
}

func (i *Injector) customNamesLocked() string {
	if len(i.custom) == 0 {
		return "none"
	}
	names := make([]string, len(i.custom))
	for k, c := range i.custom {
		names[k] = c.Name
	}
	return strings.Join(names, ", ")
}

func (i *Injector) customs() []Custom {
	i.customMu.RLock()
	defer i.customMu.RUnlock()
	return append([]Custom(nil), i.custom...)
}

// float64 draws from the seeded generator.
func (i *Injector) float64() float64 {
	i.rngMu.Lock()
	defer i.rngMu.Unlock()
	return i.rng.Float64()
}

func (i *Injector) int64N(n int64) int64 {
	i.rngMu.Lock()
	defer i.rngMu.Unlock()
	return i.rng.Int64N(n)
}

func (i *Injector) isAdmin(path string) bool {
	return path == i.adminPath || path == i.adminPath+"/"
}

func (i *Injector) isExempt(path string) bool {
	for _, p := range i.exempt {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Wrap returns next with faults injected in front of it and the admin
// endpoints mounted at the admin path. For each non-exempt request, in this
// order: an active outage cuts it off; latency is added (abandoned if the
// client goes away); custom hooks that are switched on may answer it; a 429
// may answer it; an injected error may answer it; otherwise next serves it,
// and lost_answers may then lose its answer.
func (i *Injector) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i.isAdmin(r.URL.Path) {
			i.serveAdmin(w, r)
			return
		}
		if i.isExempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		i.stats.requests.Add(1)
		s := i.cur.Load()
		f := &s.faults

		if f.Outage != nil {
			if left := time.Until(s.outageUntil); left > 0 {
				i.stats.outage.Add(1)
				i.cutOff(w, r, f.Outage.Mode, left)
				return
			}
		}

		if l := f.Latency; l != nil {
			d := time.Duration(l.Fixed)
			if l.Jitter > 0 {
				d += time.Duration(i.int64N(int64(l.Jitter) + 1))
			}
			if d > 0 {
				i.stats.delayed.Add(1)
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-r.Context().Done():
					t.Stop()
					return
				}
			}
		}

		if len(f.Flags) > 0 {
			for _, c := range i.customs() {
				if c.Handle != nil && f.Flags[c.Name] && c.Handle(w, r) {
					i.stats.custom.Add(1)
					return
				}
			}
		}

		if rl := f.RateLimit; rl != nil {
			n := s.seq.Add(1)
			hit := rl.Every > 0 && n%uint64(rl.Every) == 0
			if !hit && rl.Probability > 0 {
				hit = i.float64() < rl.Probability
			}
			if hit {
				i.stats.rateLimited.Add(1)
				w.Header().Set("Retry-After", strconv.Itoa(rl.retryAfter()))
				writeBody(w, "rate_limit", http.StatusTooManyRequests, rl.Body, "")
				return
			}
		}

		if e := f.Errors; e != nil && i.float64() < e.Rate {
			i.stats.errors.Add(1)
			writeBody(w, "error", e.status(), e.Body, e.ContentType)
			return
		}

		if l := f.Lost; l != nil && l.applies(r.Method, r.URL.Path) {
			if n := s.lost.Add(1); l.Count == 0 || n <= uint64(l.Count) {
				i.stats.lost.Add(1)
				i.stats.passed.Add(1)
				loseAnswer(w, r, next, l.hold())
				return
			}
		}

		i.stats.passed.Add(1)
		next.ServeHTTP(w, r)
	})
}

// loseAnswer serves r in full into a buffer the client never sees, waits
// until the client gives up or hold has passed, and resets the connection.
func loseAnswer(w http.ResponseWriter, r *http.Request, next http.Handler, hold time.Duration) {
	next.ServeHTTP(&discard{h: http.Header{}}, r)
	// With the body read to its end the server notices the client going
	// away, which ends r's context.
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	t := time.NewTimer(hold)
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
	t.Stop()
	if !ResetConnection(w) {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream
	}
}

// ResetConnection hijacks the connection under w and closes it with
// SO_LINGER 0, so the client sees a connection reset and not a byte of an
// answer. It reports false when the connection cannot be hijacked (HTTP/2).
func ResetConnection(w http.ResponseWriter) bool {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
	return true
}

// discard is a ResponseWriter whose answer goes nowhere.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

// cutOff ends a request during an outage. Mode "reset" (the default) hijacks
// the connection and closes it with SO_LINGER 0, so the client sees a
// connection reset, as with a crashed or unreachable host; where the
// connection cannot be hijacked (HTTP/2) it falls back to 503. Mode "503"
// answers 503 Service Unavailable with Retry-After set to the seconds left,
// as a maintenance page or a load balancer without backends does.
func (i *Injector) cutOff(w http.ResponseWriter, r *http.Request, mode OutageMode, left time.Duration) {
	if mode != Outage503 && ResetConnection(w) {
		return
	}
	secs := int((left + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeBody(w, "outage", http.StatusServiceUnavailable, "", "")
}

func writeBody(w http.ResponseWriter, fault string, status int, body, contentType string) {
	if body == "" {
		body = fmt.Sprintf(`{"error":{"message":%q,"status":%d}}`, "fault injected: "+http.StatusText(status), status)
	}
	if contentType == "" {
		contentType = "text/plain; charset=utf-8"
		if t := strings.TrimSpace(body); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			contentType = "application/json"
		}
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set(HeaderFault, fault)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// ErrInvalid is wrapped by every error about a fault specification that
// cannot be applied; the admin endpoints answer it with 400.
var ErrInvalid = errors.New("invalid fault specification")
