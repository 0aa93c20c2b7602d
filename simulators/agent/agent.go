// Package agent simulates the hotline's agent phones: N SIP phones (diago)
// that ring, answer after a delay, talk for a while and hang up. It stands in
// for the people at the phones and imports nothing from core or connectors.
package agent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
)

// Config configures the phones.
type Config struct {
	// N is the number of phones; default 1.
	N int
	// BindHost is the address of every phone; default 127.0.0.1.
	BindHost string
	// FirstPort is the SIP port of phone 0, phone i listens on FirstPort+i
	// (UDP). Zero: free ports.
	FirstPort int
	// AnswerAfter is the ringing time before answering; default 500 ms.
	AnswerAfter time.Duration
	// TalkTime is how long an agent talks before hanging up; default 5 s.
	TalkTime time.Duration
	Logger   *slog.Logger
}

func (c *Config) setDefaults() {
	if c.N == 0 {
		c.N = 1
	}
	if c.BindHost == "" {
		c.BindHost = "127.0.0.1"
	}
	if c.AnswerAfter == 0 {
		c.AnswerAfter = 500 * time.Millisecond
	}
	if c.TalkTime == 0 {
		c.TalkTime = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.N < 0 || c.N > 1000:
		return errors.New("agent: n must be 1..1000")
	case net.ParseIP(c.BindHost) == nil:
		return fmt.Errorf("agent: bind host %q is not an IP address", c.BindHost)
	case c.FirstPort < 0 || c.FirstPort+c.N > 65535:
		return errors.New("agent: ports out of range")
	case c.AnswerAfter < 0 || c.TalkTime < 0:
		return errors.New("agent: durations must be positive")
	}
	return nil
}

// Phones are the running agent phones.
type Phones struct {
	// URIs are the phones' SIP URIs, in order.
	URIs     []string
	answered []atomic.Int64
	busy     []atomic.Bool
	active   atomic.Int64
}

// Answered is how many calls phone i has answered.
func (p *Phones) Answered(i int) int { return int(p.answered[i].Load()) }

// Active is the number of calls being talked now.
func (p *Phones) Active() int { return int(p.active.Load()) }

// Start starts the phones; they stop when ctx ends.
func Start(ctx context.Context, cfg Config) (*Phones, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Phones{answered: make([]atomic.Int64, cfg.N), busy: make([]atomic.Bool, cfg.N)}
	for i := 0; i < cfg.N; i++ {
		port := cfg.FirstPort + i
		if cfg.FirstPort == 0 {
			var err error
			if port, err = freeUDPPort(cfg.BindHost); err != nil {
				return nil, err
			}
		}
		user := "agent" + strconv.Itoa(i+1)
		ua, err := sipgo.NewUA(sipgo.WithUserAgent(user))
		if err != nil {
			return nil, err
		}
		dg := diago.NewDiago(ua, diago.WithLogger(cfg.Logger), diago.WithTransport(diago.Transport{Transport: "udp", BindHost: cfg.BindHost, BindPort: port}))
		i := i
		if err := dg.ServeBackground(ctx, func(in *diago.DialogServerSession) { p.answer(in, i, cfg) }); err != nil {
			return nil, fmt.Errorf("agent %d: listen on port %d: %w", i+1, port, err)
		}
		p.URIs = append(p.URIs, fmt.Sprintf("sip:%s@%s", user, net.JoinHostPort(cfg.BindHost, strconv.Itoa(port))))
	}
	return p, nil
}

// answer rings, answers, talks and hangs up. A phone takes one call at a
// time, like a person; a second call gets 486.
func (p *Phones) answer(in *diago.DialogServerSession, i int, cfg Config) {
	if !p.busy[i].CompareAndSwap(false, true) {
		_ = in.Respond(486, "Busy Here", nil)
		return
	}
	defer p.busy[i].Store(false)
	_ = in.Ringing()
	select {
	case <-time.After(cfg.AnswerAfter):
	case <-in.Context().Done():
		return
	}
	med, err := in.Answer(diago.AnswerOptions{})
	if err != nil {
		return
	}
	defer med.Close()
	p.answered[i].Add(1)
	p.active.Add(1)
	defer p.active.Add(-1)
	select {
	case <-time.After(cfg.TalkTime):
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = in.Hangup(ctx)
	case <-in.Context().Done():
	}
}

func freeUDPPort(host string) (int, error) {
	c, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Main runs the phones until ctx ends: `vaxhub sim agents -n 10
// -first-port 5070`. It prints the phones' URIs.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("agents", flag.ContinueOnError)
	fs.SetOutput(stdout)
	var cfg Config
	fs.IntVar(&cfg.N, "n", 10, "number of agent phones")
	fs.StringVar(&cfg.BindHost, "host", "127.0.0.1", "address")
	fs.IntVar(&cfg.FirstPort, "first-port", 5070, "SIP port of the first phone (UDP); the others follow")
	fs.DurationVar(&cfg.AnswerAfter, "answer-after", 2*time.Second, "ringing time")
	fs.DurationVar(&cfg.TalkTime, "talk-time", 30*time.Second, "talk time")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	for _, u := range p.URIs {
		fmt.Fprintln(stdout, u)
	}
	<-ctx.Done()
	return nil
}
