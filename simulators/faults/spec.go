package faults

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"time"
)

// Faults is a set of faults; each nil or zero-valued member is off. It is
// also the JSON body of PUT and POST /_sim/faults and the core of GET's
// answer, for example:
//
//	{"latency":{"fixed":"200ms","jitter":"50ms"},
//	 "errors":{"rate":0.2,"status":503},
//	 "outage":{"duration":"30s","mode":"reset"},
//	 "rate_limit":{"every":5,"retry_after":2},
//	 "lost_answers":{"count":1,"methods":["POST"]},
//	 "flags":{"csrf_expired":true}}
type Faults struct {
	Latency   *Latency        `json:"latency,omitempty"`
	Errors    *Errors         `json:"errors,omitempty"`
	Outage    *Outage         `json:"outage,omitempty"`
	RateLimit *RateLimit      `json:"rate_limit,omitempty"`
	Lost      *LostAnswers    `json:"lost_answers,omitempty"`
	Flags     map[string]bool `json:"flags,omitempty"` // custom faults by name; only those on are shown
}

// Latency delays every non-exempt request by Fixed plus a uniformly random
// share of Jitter (0..Jitter).
type Latency struct {
	Fixed  Duration `json:"fixed"`
	Jitter Duration `json:"jitter,omitempty"`
}

// Errors answers a share Rate (0..1) of non-exempt requests with Status
// (default 500, 400..599 allowed) and Body (default a small JSON error).
type Errors struct {
	Rate        float64 `json:"rate"`
	Status      int     `json:"status,omitempty"`
	Body        string  `json:"body,omitempty"`
	ContentType string  `json:"content_type,omitempty"` // default: JSON if Body looks like JSON, else text/plain
}

func (e *Errors) status() int {
	if e.Status == 0 {
		return http.StatusInternalServerError
	}
	return e.Status
}

// OutageMode says how requests fail during an outage.
type OutageMode string

const (
	// OutageReset closes the connection with a TCP reset and writes nothing
	// (the default): the client sees a network error, as with a dead host.
	OutageReset OutageMode = "reset"
	// Outage503 answers 503 Service Unavailable with Retry-After.
	Outage503 OutageMode = "503"
)

// Outage fails every non-exempt request until it ends by itself, Duration
// after it was set. Until, if given, wins over Duration (so GET's answer can
// be PUT back without extending the outage). Remaining is output only.
type Outage struct {
	Duration  Duration   `json:"duration"`
	Mode      OutageMode `json:"mode,omitempty"`
	Until     time.Time  `json:"until,omitzero"`
	Remaining Duration   `json:"remaining,omitempty"`
}

// RateLimit answers with 429 Too Many Requests and Retry-After: RetryAfter
// seconds (default 1) on every Every-th non-exempt request, or with
// probability Probability, or both. The count restarts whenever the fault
// set changes.
type RateLimit struct {
	Every       int     `json:"every,omitempty"`
	Probability float64 `json:"probability,omitempty"`
	RetryAfter  int     `json:"retry_after,omitempty"`
	Body        string  `json:"body,omitempty"`
}

func (r *RateLimit) retryAfter() int {
	if r.RetryAfter <= 0 {
		return 1
	}
	return r.RetryAfter
}

// LostAnswers lets the simulator do the work of a request and then loses
// the answer, as when a timeout or a dropped connection hits after the
// outside system committed: the handler runs in full, then the client
// waits until it gives up (its own timeout) or Hold has passed, and the
// connection is reset without a byte of the answer. It applies to the first
// Count requests (0: every request) whose method is in Methods (default
// POST) after the fault was set; the count restarts whenever the fault set
// changes. A client that retries must find what the first attempt did
// instead of doing it twice. The zero value ({}) is off.
type LostAnswers struct {
	Count   int      `json:"count,omitempty"`
	Methods []string `json:"methods,omitempty"`
	// PathSuffix, if set, limits the fault to requests whose path ends
	// with it (the request that does the work, not a token request
	// before it).
	PathSuffix string `json:"path_suffix,omitempty"`
	// Hold bounds the wait for the client to give up. Default 30 s.
	Hold Duration `json:"hold,omitempty"`
}

func (l *LostAnswers) applies(method, path string) bool {
	if l.PathSuffix != "" && !strings.HasSuffix(path, l.PathSuffix) {
		return false
	}
	if len(l.Methods) == 0 {
		return method == http.MethodPost
	}
	for _, m := range l.Methods {
		if strings.EqualFold(m, method) {
			return true
		}
	}
	return false
}

func (l *LostAnswers) hold() time.Duration {
	if l.Hold <= 0 {
		return 30 * time.Second
	}
	return time.Duration(l.Hold)
}

// Validate reports the first value that is out of range.
func (f Faults) Validate() error {
	if l := f.Latency; l != nil {
		if l.Fixed < 0 || l.Jitter < 0 {
			return fmt.Errorf("%w: latency must not be negative", ErrInvalid)
		}
	}
	if e := f.Errors; e != nil {
		if e.Rate < 0 || e.Rate > 1 {
			return fmt.Errorf("%w: errors.rate %v is outside 0..1", ErrInvalid, e.Rate)
		}
		if e.Status != 0 && (e.Status < 400 || e.Status > 599) {
			return fmt.Errorf("%w: errors.status %d is outside 400..599", ErrInvalid, e.Status)
		}
	}
	if o := f.Outage; o != nil {
		if o.Duration < 0 {
			return fmt.Errorf("%w: outage.duration must not be negative", ErrInvalid)
		}
		switch o.Mode {
		case "", OutageReset, Outage503:
		default:
			return fmt.Errorf("%w: outage.mode %q is neither %q nor %q", ErrInvalid, o.Mode, OutageReset, Outage503)
		}
	}
	if r := f.RateLimit; r != nil {
		if r.Every < 0 {
			return fmt.Errorf("%w: rate_limit.every must not be negative", ErrInvalid)
		}
		if r.Probability < 0 || r.Probability > 1 {
			return fmt.Errorf("%w: rate_limit.probability %v is outside 0..1", ErrInvalid, r.Probability)
		}
		if r.RetryAfter < 0 {
			return fmt.Errorf("%w: rate_limit.retry_after must not be negative", ErrInvalid)
		}
	}
	if l := f.Lost; l != nil {
		if l.Count < 0 || l.Hold < 0 {
			return fmt.Errorf("%w: lost_answers.count and hold must not be negative", ErrInvalid)
		}
		for _, m := range l.Methods {
			if m == "" || strings.ToUpper(m) != m {
				return fmt.Errorf("%w: lost_answers.methods: %q is not an HTTP method in capitals", ErrInvalid, m)
			}
		}
	}
	for name := range f.Flags {
		if !customName.MatchString(name) {
			return fmt.Errorf("%w: flag name %q must match %s", ErrInvalid, name, customName)
		}
	}
	return nil
}

// normalised returns a deep copy with zero-valued faults switched off
// (nil), defaults filled in (so GET shows what is in force) and flags that
// are off dropped.
func (f Faults) normalised() Faults {
	var n Faults
	if l := f.Latency; l != nil && (l.Fixed > 0 || l.Jitter > 0) {
		c := *l
		n.Latency = &c
	}
	if e := f.Errors; e != nil && e.Rate > 0 {
		c := *e
		c.Status = e.status()
		n.Errors = &c
	}
	if o := f.Outage; o != nil && (o.Duration > 0 || !o.Until.IsZero()) {
		c := *o
		c.Remaining = 0
		if c.Mode == "" {
			c.Mode = OutageReset
		}
		n.Outage = &c
	}
	if r := f.RateLimit; r != nil && (r.Every > 0 || r.Probability > 0) {
		c := *r
		c.RetryAfter = r.retryAfter()
		n.RateLimit = &c
	}
	if l := f.Lost; l != nil && (l.Count > 0 || len(l.Methods) > 0 || l.Hold > 0 || l.PathSuffix != "") {
		c := *l
		c.Methods = append([]string(nil), l.Methods...)
		if len(c.Methods) == 0 {
			c.Methods = []string{http.MethodPost}
		}
		c.Hold = Duration(l.hold())
		n.Lost = &c
	}
	for name, on := range f.Flags {
		if on {
			if n.Flags == nil {
				n.Flags = map[string]bool{}
			}
			n.Flags[name] = true
		}
	}
	return n
}

func (f Faults) clone() Faults {
	c := Faults{Flags: maps.Clone(f.Flags)}
	if f.Latency != nil {
		v := *f.Latency
		c.Latency = &v
	}
	if f.Errors != nil {
		v := *f.Errors
		c.Errors = &v
	}
	if f.Outage != nil {
		v := *f.Outage
		c.Outage = &v
	}
	if f.RateLimit != nil {
		v := *f.RateLimit
		c.RateLimit = &v
	}
	if f.Lost != nil {
		v := *f.Lost
		v.Methods = append([]string(nil), f.Lost.Methods...)
		c.Lost = &v
	}
	return c
}

// Duration is a time.Duration written in JSON as a Go duration string
// ("250ms", "1m30s").
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: duration %s must be a string such as \"250ms\"", ErrInvalid, b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	*d = Duration(v)
	return nil
}

// String formats like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }
