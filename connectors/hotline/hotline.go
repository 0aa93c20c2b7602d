// Package hotline is the phone line of the campaign: an IVR that answers SIP
// calls over UDP and TCP, reads German prompts, collects keypad digits (RFC 4733
// and SIP INFO) and books, reads out or cancels appointments through core/app.
// It never touches the database except to append call events to the outbox,
// and it never puts a caller's phone number or date of birth into an event.
package hotline

//go:generate sh prompts/generate.sh

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/internal/logcap"
)

// Config configures the IVR.
type Config struct {
	// Addr is the SIP listening address (host:port), for every transport.
	// Default 127.0.0.1:5060.
	Addr string
	// Transports to listen on; default udp and tcp.
	Transports []string
	// ExternalHost and ExternalPort, when set, are put into Contact and SDP
	// instead of the bind address (NAT).
	ExternalHost string
	ExternalPort int
	// RTPPortStart and RTPPortEnd bound the RTP ports (RTCP is RTP+1). Zero:
	// random ports. diago keeps the range in package globals, so it is per
	// process, not per IVR.
	RTPPortStart, RTPPortEnd int

	// FirstDigitTimeout is how long the IVR waits for the first key after a
	// prompt; InterDigitTimeout for each further key. Defaults 6 s and 4 s.
	FirstDigitTimeout time.Duration
	InterDigitTimeout time.Duration
	// Attempts per question before the caller is handed to an agent; default 3.
	Attempts int
	// MaxCallDuration ends any call after this long; default 10 minutes.
	MaxCallDuration time.Duration

	// CallsPerSecondPerSource and BurstPerSource limit new calls from one
	// source IP (token bucket); defaults 5 per second, burst 20. A call over
	// the limit is answered 503 with Retry-After.
	CallsPerSecondPerSource float64
	BurstPerSource          int
	// MaxCallsPerSource limits the calls one source IP holds at once;
	// default 20. Over it: 503. A SIP trunk or proxy that brings every
	// caller from one address needs it (and the rate) raised.
	MaxCallsPerSource int
	// MaxCalls limits calls held at once; default 2000. Over it: 503.
	MaxCalls int
	// AckTimeout is how long an answered call waits for the caller's ACK
	// before the IVR gives it up (the INVITE transaction is ended; the call
	// ends at the next 200 OK retransmission, 0.5 s or a multiple of 4 s
	// after the answer, so about 4.5 s by default); default 4 s.
	AckTimeout time.Duration

	// Agents are the SIP URIs of the agent phones (simulators/agent or real
	// phones). Empty: callers who ask for an agent hear that nobody is free.
	Agents []string
	// AgentRingTimeout is how long an agent phone may ring; default 20 s.
	AgentRingTimeout time.Duration
	// PositionEvery is how often a waiting caller hears their position;
	// default 30 s.
	PositionEvery time.Duration
	// CallbackAfter is the wait after which a callback is offered; default 2 min.
	CallbackAfter time.Duration

	// Events records call events (vaxhub.call.v1). Nil: events are dropped.
	Events EventRecorder
	// CallerHashKey keys the HMAC that pseudonymises caller numbers in
	// events. Empty: a random key per process (hashes are then comparable
	// only within one run).
	CallerHashKey []byte
	// Registerer, when set, receives the hotline's gauges (calls in
	// progress, queue length, agents free) for /metrics and the dashboard.
	Registerer prometheus.Registerer

	// MaxTCPConnsPerSource and MaxTCPConns cap the TCP connections held
	// from one source IP and in all; over a cap a connection is closed at
	// once (defaults 50 and 4000). TCPFirstDataTimeout closes a connection
	// that sends nothing that long after it opens (default 10 s);
	// TCPIdleTimeout one that then stays silent (default MaxCallDuration +
	// 30 s, so that a call never loses its connection).
	MaxTCPConnsPerSource, MaxTCPConns   int
	TCPFirstDataTimeout, TCPIdleTimeout time.Duration
	Logger                              *slog.Logger

	// prompts replaces the embedded prompts (tests of timing use short ones).
	prompts *Prompts
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:5060"
	}
	if len(c.Transports) == 0 {
		c.Transports = []string{"udp", "tcp"}
	}
	if c.FirstDigitTimeout == 0 {
		c.FirstDigitTimeout = 6 * time.Second
	}
	if c.InterDigitTimeout == 0 {
		c.InterDigitTimeout = 4 * time.Second
	}
	if c.Attempts == 0 {
		c.Attempts = 3
	}
	if c.MaxCallDuration == 0 {
		c.MaxCallDuration = 10 * time.Minute
	}
	if c.CallsPerSecondPerSource == 0 {
		c.CallsPerSecondPerSource = 5
	}
	if c.BurstPerSource == 0 {
		c.BurstPerSource = 20
	}
	if c.MaxCallsPerSource == 0 {
		c.MaxCallsPerSource = 20
	}
	if c.MaxCalls == 0 {
		c.MaxCalls = 2000
	}
	if c.AckTimeout == 0 {
		c.AckTimeout = 4 * time.Second
	}
	if c.MaxTCPConnsPerSource == 0 {
		c.MaxTCPConnsPerSource = 50
	}
	if c.MaxTCPConns == 0 {
		c.MaxTCPConns = 4000
	}
	if c.TCPFirstDataTimeout == 0 {
		c.TCPFirstDataTimeout = 10 * time.Second
	}
	if c.TCPIdleTimeout == 0 {
		c.TCPIdleTimeout = c.MaxCallDuration + 30*time.Second
	}
	if c.AgentRingTimeout == 0 {
		c.AgentRingTimeout = 20 * time.Second
	}
	if c.PositionEvery == 0 {
		c.PositionEvery = 30 * time.Second
	}
	if c.CallbackAfter == 0 {
		c.CallbackAfter = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("hotline: addr %q: %w", c.Addr, err)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("hotline: addr %q: host must be an IP address", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("hotline: addr %q: bad port", c.Addr)
	}
	for _, t := range c.Transports {
		if t != "udp" && t != "tcp" {
			return fmt.Errorf("hotline: transport %q: want udp or tcp", t)
		}
	}
	switch {
	case c.RTPPortStart < 0 || c.RTPPortEnd < c.RTPPortStart || c.RTPPortEnd > 65535:
		return fmt.Errorf("hotline: rtp ports %d-%d: bad range", c.RTPPortStart, c.RTPPortEnd)
	case c.FirstDigitTimeout < 0 || c.InterDigitTimeout < 0:
		return errors.New("hotline: digit timeouts must be positive")
	case c.Attempts < 1:
		return errors.New("hotline: attempts must be at least 1")
	case c.CallsPerSecondPerSource < 0 || c.BurstPerSource < 1:
		return errors.New("hotline: call rate limit must be positive")
	case c.AgentRingTimeout < 0 || c.PositionEvery <= 0 || c.CallbackAfter < 0:
		return errors.New("hotline: agent timings must be positive")
	case c.MaxCalls < 1 || c.MaxCallsPerSource < 1:
		return errors.New("hotline: max calls (in all and per source) must be at least 1")
	case c.AckTimeout < 0:
		return errors.New("hotline: ack timeout must be positive")
	case c.MaxTCPConnsPerSource < 1 || c.MaxTCPConns < 1 || c.TCPFirstDataTimeout < 0 || c.TCPIdleTimeout < 0:
		return errors.New("hotline: TCP connection caps must be at least 1 and timeouts positive")
	}
	return nil
}

// IVR is the running phone line.
type IVR struct {
	app     *app.App
	cfg     Config
	dg      *diago.Diago
	srv     *sipgo.Server
	tcp     *tcpGuard // nil until it listens on TCP
	prompts *Prompts
	admit   *admission
	edge    *slog.Logger // for what callers cause: at most WARN, capped (internal/logcap)
	agents  *agentQueue
	hashKey []byte

	calls   sync.Map // SIP Call-ID -> *call, for SIP INFO digits
	pending sync.Map // INVITE server transaction key -> *admitted, while its handler runs
	active  atomic.Int64

	mu      sync.Mutex // guards closing and wg.Add against wg.Wait
	closing bool
	wg      sync.WaitGroup
}

// enter registers a call; false once the IVR is stopping.
func (v *IVR) enter() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closing {
		return false
	}
	v.wg.Add(1)
	return true
}

// drain refuses new calls and waits for the held ones to end.
func (v *IVR) drain() {
	v.mu.Lock()
	v.closing = true
	v.mu.Unlock()
	v.wg.Wait()
}

// New builds an IVR over the use cases a.
func New(a *app.App, cfg Config) (*IVR, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if a == nil {
		return nil, errors.New("hotline: app is required")
	}
	var err error
	p := cfg.prompts
	if p == nil {
		if p, err = LoadPrompts(); err != nil {
			return nil, err
		}
	}
	key := cfg.CallerHashKey
	if len(key) == 0 {
		key = randomKey()
	}
	if cfg.RTPPortStart > 0 {
		media.RTPPortStart, media.RTPPortEnd = cfg.RTPPortStart, cfg.RTPPortEnd
	}
	v := &IVR{app: a, cfg: cfg, prompts: p, hashKey: key,
		admit: newAdmission(cfg.CallsPerSecondPerSource, cfg.BurstPerSource, cfg.MaxCallsPerSource, cfg.MaxCalls)}
	if v.agents, err = newAgentQueue(cfg.Agents, time.Now()); err != nil {
		return nil, err
	}
	if cfg.Registerer != nil {
		if err := v.registerMetrics(cfg.Registerer); err != nil {
			return nil, err
		}
	}
	host, port, _ := net.SplitHostPort(cfg.Addr)
	pn, _ := strconv.Atoi(port)
	// What the SIP stack logs, anyone who can send a datagram causes (a
	// parse error logs the whole payload): at most WARN, strings cut to 256
	// bytes, 100 lines per message per 10 s.
	sipLog := logcap.Logger(cfg.Logger.Handler(), logcap.Options{Ceiling: slog.LevelWarn})
	v.edge = sipLog
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("vaxhub-hotline"),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog)))
	if err != nil {
		return nil, fmt.Errorf("hotline: user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		return nil, fmt.Errorf("hotline: sip server: %w", err)
	}
	opts := []diago.DiagoOption{diago.WithServer(srv), diago.WithLogger(sipLog),
		diago.WithServerRequestMiddleware(v.admitInvites)}
	for _, t := range cfg.Transports {
		opts = append(opts, diago.WithTransport(diago.Transport{Transport: t, BindHost: host, BindPort: pn,
			ExternalHost: cfg.ExternalHost, ExternalPort: cfg.ExternalPort}))
	}
	v.dg = diago.NewDiago(ua, opts...)
	v.srv = srv
	// diago answers INFO with 406 and has no parser for dtmf-relay: take it over.
	srv.OnInfo(v.onInfo)
	return v, nil
}

// Serve answers calls until ctx ends. It returns once listening failed or ctx
// is done and every call has ended.
func (v *IVR) Serve(ctx context.Context) error {
	serve, err := v.listen(ctx)
	if err == nil {
		err = serve()
	}
	v.drain()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Start listens and answers calls in the background; it returns once every
// transport listens. Call the returned stop to end and wait for calls.
func (v *IVR) Start(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	serve, err := v.listen(ctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("hotline: listen on %s: %w", v.cfg.Addr, err)
	}
	go func() {
		if err := serve(); err != nil && ctx.Err() == nil {
			v.cfg.Logger.Error("hotline: serving stopped", "err", err)
		}
	}()
	v.cfg.Logger.Info("hotline listening", "addr", v.cfg.Addr, "transports", strings.Join(v.cfg.Transports, ","))
	return func() { cancel(); v.drain() }, nil
}

// ActiveCalls is the number of calls held now.
func (v *IVR) ActiveCalls() int { return int(v.active.Load()) }

// onInfo takes SIP INFO application/dtmf-relay (and application/dtmf) digits
// and answers 200; other bodies get 415, unknown dialogs 481.
func (v *IVR) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	respond := func(code int, reason string) {
		if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
			v.cfg.Logger.Debug("hotline: respond to INFO", "err", err)
		}
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = strings.ToLower(strings.TrimSpace(h.Value()))
	}
	if ct != "application/dtmf-relay" && ct != "application/dtmf" {
		respond(415, "Unsupported Media Type")
		return
	}
	cid := req.CallID()
	if cid == nil {
		respond(400, "Bad Request")
		return
	}
	c, ok := v.calls.Load(cid.Value())
	if !ok {
		respond(481, "Call/Transaction Does Not Exist")
		return
	}
	d, ok := parseDTMFRelay(req.Body())
	if !ok {
		respond(400, "Bad Request")
		return
	}
	c.(*call).keys.push(d)
	respond(200, "OK")
}

// parseDTMFRelay reads "Signal=5\r\nDuration=160" (or a bare digit for application/dtmf).
func parseDTMFRelay(body []byte) (rune, bool) {
	s := strings.TrimSpace(string(body))
	for _, line := range strings.Split(s, "\n") {
		k, val, found := strings.Cut(strings.TrimSpace(line), "=")
		if !found {
			if len(k) == 1 {
				val = k
			} else {
				continue
			}
		} else if !strings.EqualFold(strings.TrimSpace(k), "signal") {
			continue
		}
		val = strings.ToUpper(strings.TrimSpace(val))
		switch {
		case len(val) == 1 && strings.ContainsAny(val, "0123456789*#ABCD"):
			return rune(val[0]), true
		case val == "10":
			return '*', true
		case val == "11":
			return '#', true
		}
	}
	return 0, false
}

// listen opens the configured transports itself, instead of letting diago
// do it, so that TCP goes through tcpGuard (diago's own listening offers no
// hook for it); the returned serve blocks until ctx ends or a transport
// fails. With port 0 (an ephemeral port) diago listens, as it must learn
// the port for its Contact headers; TCP is then unguarded.
func (v *IVR) listen(ctx context.Context) (serve func() error, err error) {
	_, port, _ := net.SplitHostPort(v.cfg.Addr)
	if port == "0" {
		return func() error { return v.dg.Serve(ctx, v.handle) }, nil
	}
	v.dg.HandleFunc(v.handle)
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	var runs []func() error
	for _, t := range v.cfg.Transports {
		switch t {
		case "udp":
			pc, err := net.ListenPacket("udp", v.cfg.Addr)
			if err != nil {
				closeAll()
				return nil, err
			}
			closers = append(closers, func() { _ = pc.Close() })
			runs = append(runs, func() error { return v.srv.ServeUDP(pc) })
		case "tcp":
			l, err := net.Listen("tcp", v.cfg.Addr)
			if err != nil {
				closeAll()
				return nil, err
			}
			g := newTCPGuard(l, v.cfg.MaxTCPConnsPerSource, v.cfg.MaxTCPConns, v.cfg.TCPFirstDataTimeout, v.cfg.TCPIdleTimeout, v.edge)
			v.tcp = g
			closers = append(closers, func() { _ = l.Close() })
			runs = append(runs, func() error { return v.srv.ServeTCP(g) })
		}
	}
	return func() error {
		errc := make(chan error, len(runs))
		for _, run := range runs {
			go func() { errc <- run() }()
		}
		var err error
		select {
		case <-ctx.Done():
		case err = <-errc:
		}
		closeAll()
		return err
	}, nil
}
