package bus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// BrokerProbe answers whether the broker is reachable with a given user's
// credentials: it connects (TCP, TLS, SASL) to one of the brokers and asks
// for the cluster's brokers. The answer is cached for TTL so that a readiness
// endpoint polled by a load balancer does not open a connection per poll.
type BrokerProbe struct {
	cfg     Config
	ttl     time.Duration
	timeout time.Duration
	now     func() time.Time

	mu     sync.Mutex
	at     time.Time // when the cached answer was made; zero: none yet
	err    error
	broker string // the broker that answered
}

// ProbeConfig configures a BrokerProbe.
type ProbeConfig struct {
	// TTL is how long an answer is reused. Default 2 s.
	TTL time.Duration
	// Timeout bounds one probe (connect, authenticate, ask). Default 1 s.
	Timeout time.Duration
}

// NewBrokerProbe returns a probe of the brokers of cfg, authenticating as
// cfg's SASL user.
func NewBrokerProbe(cfg Config, pc ProbeConfig) (*BrokerProbe, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pc.TTL == 0 {
		pc.TTL = 2 * time.Second
	}
	if pc.Timeout == 0 {
		pc.Timeout = time.Second
	}
	if pc.TTL < 0 || pc.Timeout < 0 {
		return nil, errors.New("bus: probe: TTL and Timeout must not be negative")
	}
	return &BrokerProbe{cfg: cfg, ttl: pc.TTL, timeout: pc.Timeout, now: time.Now}, nil
}

// BrokerState is the last answer of a BrokerProbe.
type BrokerState struct {
	// Broker is the address that answered; empty when none did.
	Broker string
	// User is the SASL user the probe authenticated as; empty without SASL.
	User string
	// CheckedAt is when the answer was made (it is reused for the TTL).
	CheckedAt time.Time
	// Err is why no broker answered; nil when one did.
	Err error
}

// Check returns the cached answer, probing again when it is older than the
// TTL. Callers arriving during a probe wait for it rather than start their own.
func (p *BrokerProbe) Check(ctx context.Context) BrokerState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.IsZero() || p.now().Sub(p.at) >= p.ttl {
		p.broker, p.err = p.probe(ctx)
		p.at = p.now()
	}
	return BrokerState{Broker: p.broker, User: p.cfg.SASL.Username, CheckedAt: p.at, Err: p.err}
}

func (p *BrokerProbe) probe(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	d, err := p.cfg.dialer()
	if err != nil {
		return "", err
	}
	var errs []error
	for _, addr := range p.cfg.Brokers {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl)
		}
		_, err = conn.Brokers() // one request after authenticating
		_ = conn.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", addr, err))
			continue
		}
		return addr, nil
	}
	if len(errs) == 0 {
		return "", errors.New("bus: probe: no brokers configured")
	}
	return "", fmt.Errorf("bus: no broker answers: %w", errors.Join(errs...))
}
