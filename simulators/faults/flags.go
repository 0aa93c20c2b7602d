package faults

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RegisterFlags adds the --fault-* flags to fs, writing into o, so that
// `vaxhub sim NAME` can start a simulator with faults already active. Every
// value is checked when it is parsed, so fs.Parse reports a bad value with
// the flag's name and New never sees it.
//
//	--fault-seed N               seed for repeatable random faults (0: from the clock)
//	--fault-exempt LIST          comma-separated path prefixes never faulted (default /_sim/)
//	--fault-latency D            fixed added latency, e.g. 200ms
//	--fault-latency-jitter D     random extra latency 0..D
//	--fault-error-rate R         share of requests answered with an error, 0..1
//	--fault-error-status N       status of injected errors (default 500)
//	--fault-error-body S         body of injected errors
//	--fault-outage D             full outage for D from start-up
//	--fault-outage-mode M        reset (default) or 503
//	--fault-429-rate P           probability of a 429, 0..1
//	--fault-429-every N          answer every Nth request with 429
//	--fault-429-retry-after S    Retry-After seconds on injected 429s (default 1)
//	--fault-flag NAME            switch on a custom fault (repeatable)
func (o *Options) RegisterFlags(fs *flag.FlagSet) {
	latency := func() *Latency {
		if o.Initial.Latency == nil {
			o.Initial.Latency = &Latency{}
		}
		return o.Initial.Latency
	}
	errs := func() *Errors {
		if o.Initial.Errors == nil {
			o.Initial.Errors = &Errors{}
		}
		return o.Initial.Errors
	}
	outage := func() *Outage {
		if o.Initial.Outage == nil {
			o.Initial.Outage = &Outage{}
		}
		return o.Initial.Outage
	}
	rl := func() *RateLimit {
		if o.Initial.RateLimit == nil {
			o.Initial.RateLimit = &RateLimit{}
		}
		return o.Initial.RateLimit
	}

	fs.Var(value{func(s string) error {
		n, err := strconv.ParseUint(s, 10, 64)
		o.Seed = n
		return err
	}}, "fault-seed", "seed for repeatable random faults (0: seeded from the clock)")
	fs.Var(value{func(s string) error {
		var prefixes []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("prefix %q must start with /", p)
			}
			prefixes = append(prefixes, p)
		}
		o.ExemptPrefixes = append([]string{}, prefixes...)
		return nil
	}}, "fault-exempt", "comma-separated URL path prefixes that are never faulted (default "+DefaultExemptPrefix+")")
	fs.Var(value{func(s string) error {
		d, err := nonNegativeDuration(s)
		latency().Fixed = d
		return err
	}}, "fault-latency", "fixed latency added to every request, e.g. 200ms")
	fs.Var(value{func(s string) error {
		d, err := nonNegativeDuration(s)
		latency().Jitter = d
		return err
	}}, "fault-latency-jitter", "random extra latency, uniform in 0..D")
	fs.Var(value{func(s string) error {
		p, err := probability(s)
		errs().Rate = p
		return err
	}}, "fault-error-rate", "share of requests answered with an injected error, 0..1")
	fs.Var(value{func(s string) error {
		n, err := strconv.Atoi(s)
		if err == nil && (n < 400 || n > 599) {
			err = fmt.Errorf("status %d is outside 400..599", n)
		}
		errs().Status = n
		return err
	}}, "fault-error-status", "HTTP status of injected errors (default 500)")
	fs.Var(value{func(s string) error {
		errs().Body = s
		return nil
	}}, "fault-error-body", "body of injected errors (default a small JSON error)")
	fs.Var(value{func(s string) error {
		d, err := nonNegativeDuration(s)
		outage().Duration = Duration(d)
		return err
	}}, "fault-outage", "full outage for this long from start-up, e.g. 30s")
	fs.Var(value{func(s string) error {
		m := OutageMode(s)
		if m != OutageReset && m != Outage503 {
			return fmt.Errorf("mode must be %q or %q", OutageReset, Outage503)
		}
		outage().Mode = m
		return nil
	}}, "fault-outage-mode", "how an outage fails requests: reset (connection reset, default) or 503")
	fs.Var(value{func(s string) error {
		p, err := probability(s)
		rl().Probability = p
		return err
	}}, "fault-429-rate", "probability of answering a request with 429 Too Many Requests, 0..1")
	fs.Var(value{func(s string) error {
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = fmt.Errorf("must not be negative")
		}
		rl().Every = n
		return err
	}}, "fault-429-every", "answer every Nth request with 429 Too Many Requests")
	fs.Var(value{func(s string) error {
		n, err := strconv.Atoi(s)
		if err == nil && n < 0 {
			err = fmt.Errorf("must not be negative")
		}
		rl().RetryAfter = n
		return err
	}}, "fault-429-retry-after", "Retry-After seconds on injected 429s (default 1)")
	fs.Var(value{func(s string) error {
		if !customName.MatchString(s) {
			return fmt.Errorf("flag name %q must match %s", s, customName)
		}
		if o.Initial.Flags == nil {
			o.Initial.Flags = map[string]bool{}
		}
		o.Initial.Flags[s] = true
		return nil
	}}, "fault-flag", "switch on a simulator's custom fault by name (repeatable)")
}

// value is a flag.Value that only knows how to set itself; defaults are
// stated in the usage text.
type value struct{ set func(string) error }

func (v value) String() string     { return "" }
func (v value) Set(s string) error { return v.set(s) }

func nonNegativeDuration(s string) (Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %s must not be negative", s)
	}
	return Duration(d), nil
}

func probability(s string) (float64, error) {
	p, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if p < 0 || p > 1 {
		return 0, fmt.Errorf("%v is outside 0..1", p)
	}
	return p, nil
}
