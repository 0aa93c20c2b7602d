// Package smtp simulates a mail server for the hub's e-mail notifications:
// an SMTP submission server (a subset of RFC 5321 with SIZE, 8BITMIME,
// ENHANCEDSTATUSCODES and AUTH PLAIN/LOGIN) that stores what it receives,
// parsed with net/mail and mime/multipart, and a small HTTP API to read it
// back and to switch faults. It must never import anything from core/ or
// connectors/: it is the outside world.
package smtp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Default addresses of `vaxhub sim smtp`.
const (
	DefaultAddr     = "127.0.0.1:2525"
	DefaultHTTPAddr = "127.0.0.1:8107"
)

// Recipient behaviours that can be configured per address.
const (
	RecipientOK      = "ok"
	RecipientUnknown = "unknown" // RCPT TO answers 550 5.1.1
	RecipientBusy    = "busy"    // RCPT TO answers 450 4.2.1
)

// Custom faults of this simulator (switched like every fault, through
// /_sim/faults or --fault-flag).
const (
	// FaultUnavailable: every new connection is greeted with 421 and closed.
	FaultUnavailable = "unavailable"
	// FaultBusy: every RCPT TO answers 450 4.2.1 mailbox busy.
	FaultBusy = "busy"
	// FaultTempfailData: the end of DATA answers 451 4.3.0; nothing is stored.
	FaultTempfailData = "tempfail_data"
	// FaultDropAfterData: the message is stored, then the connection is
	// closed before the reply, as when the client's timeout fires after the
	// server took the message.
	FaultDropAfterData = "drop_after_data"
)

// Config configures the simulator.
type Config struct {
	// Hostname is the name in the greeting and in Received headers.
	// Default "mail.sim.vaxhub.invalid".
	Hostname string
	// Username and Password are accepted by AUTH PLAIN and LOGIN. Default
	// "sim" / "sim".
	Username string
	Password string
	// RequireAuth refuses MAIL FROM before a successful AUTH (530 5.7.0).
	RequireAuth bool
	// MaxSize is the largest message accepted, in bytes, advertised with
	// SIZE; larger ones are refused with 552 5.3.4. Default 10 MiB.
	MaxSize int64
	// MaxRecipients per message; more are refused with 452 4.5.3. Default 100.
	MaxRecipients int
	// Recipients maps a lower-case address to RecipientUnknown or
	// RecipientBusy; every other address is accepted. Changed at run time
	// through /_sim/recipients.
	Recipients map[string]string
	// IdleTimeout closes a connection that sends nothing for this long
	// (421 4.4.2). Default 5 minutes.
	IdleTimeout time.Duration
	// Faults configures the shared fault set; see the package README for
	// how each fault shows on SMTP.
	Faults faults.Options
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Hostname == "" {
		c.Hostname = "mail.sim.vaxhub.invalid"
	}
	if c.Username == "" {
		c.Username = "sim"
	}
	if c.Password == "" {
		c.Password = "sim"
	}
	if c.MaxSize == 0 {
		c.MaxSize = 10 << 20
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 100
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first bad value.
func (c *Config) Validate() error {
	switch {
	case c.MaxSize < 0, c.MaxRecipients < 0, c.IdleTimeout < 0:
		return errors.New("smtp sim: MaxSize, MaxRecipients and IdleTimeout must not be negative")
	}
	for a, b := range c.Recipients {
		if err := checkRecipient(a, b); err != nil {
			return fmt.Errorf("smtp sim: %w", err)
		}
	}
	return c.Faults.Validate()
}

func checkRecipient(addr, behaviour string) error {
	if _, err := mail.ParseAddress(addr); err != nil || strings.ContainsAny(addr, "<> ") {
		return fmt.Errorf("recipient %q: not a bare address", addr)
	}
	switch behaviour {
	case RecipientOK, RecipientUnknown, RecipientBusy:
		return nil
	}
	return fmt.Errorf("recipient %s: %q is none of ok, unknown, busy", addr, behaviour)
}

// Server is the simulator. Create it with New, serve SMTP with Serve and the
// read API with Handler, stop it by cancelling Serve's context.
type Server struct {
	cfg    Config
	faults *faults.Injector
	log    *slog.Logger

	mu         sync.Mutex
	messages   []*Message
	recipients map[string]string
	seq        int    // messages stored, for IDs
	mailSeq    uint64 // MAIL commands seen since the rate limit changed
	lastRL     *faults.RateLimit

	rngMu sync.Mutex
	rng   *rand.Rand
}

// New checks cfg.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	for _, c := range customFaults() {
		if !slices.ContainsFunc(cfg.Faults.Custom, func(d faults.Custom) bool { return d.Name == c.Name }) {
			cfg.Faults.Custom = append(cfg.Faults.Custom, c)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	recipients := map[string]string{}
	for a, b := range cfg.Recipients {
		if b != RecipientOK {
			recipients[strings.ToLower(a)] = b
		}
	}
	seed := cfg.Faults.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	return &Server{
		cfg:        cfg,
		faults:     faults.New(cfg.Faults),
		log:        cfg.Logger.With("component", "sim.smtp"),
		recipients: recipients,
		rng:        rand.New(rand.NewPCG(seed, seed^0x5deece66d)),
	}, nil
}

func customFaults() []faults.Custom {
	return []faults.Custom{
		{Name: FaultUnavailable, Help: "new connections are greeted with 421 and closed"},
		{Name: FaultBusy, Help: "every RCPT TO answers 450 4.2.1 mailbox busy"},
		{Name: FaultTempfailData, Help: "the end of DATA answers 451 4.3.0; nothing is stored"},
		{Name: FaultDropAfterData, Help: "the message is stored, then the connection closes before the reply"},
	}
}

// Faults is the simulator's fault set.
func (s *Server) Faults() *faults.Injector { return s.faults }

// SetRecipient makes RCPT TO answer for addr as behaviour says
// (RecipientOK removes a configured behaviour).
func (s *Server) SetRecipient(addr, behaviour string) error {
	if err := checkRecipient(addr, behaviour); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if behaviour == RecipientOK {
		delete(s.recipients, strings.ToLower(addr))
	} else {
		s.recipients[strings.ToLower(addr)] = behaviour
	}
	return nil
}

func (s *Server) recipientBehaviour(addr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.recipients[strings.ToLower(addr)]
}

func (s *Server) recipientsView() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.recipients)
}

// Messages returns a copy of every stored message (without the raw text)
// that has to among its envelope recipients (all when empty), oldest first.
func (s *Server) Messages(to string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Message{}
	for _, m := range s.messages {
		if to == "" || slices.ContainsFunc(m.To, func(r string) bool { return strings.EqualFold(r, to) }) {
			c := *m
			c.Raw = ""
			out = append(out, c)
		}
	}
	return out
}

// Message returns one stored message with its raw text.
func (s *Server) Message(id string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		if m.ID == id {
			return *m, true
		}
	}
	return Message{}, false
}

// Reset forgets every stored message.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
}

func (s *Server) store(m *Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m.ID = fmt.Sprintf("%s%06d", m.Received.Format("20060102T150405"), s.seq)
	s.messages = append(s.messages, m)
}

// Serve accepts SMTP connections on ln until ctx is done, then closes ln and
// every open connection and waits for their goroutines.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	var connMu sync.Mutex
	conns := map[net.Conn]struct{}{}
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		connMu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		connMu.Unlock()
	})
	defer stop()
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("smtp sim: accept: %w", err)
		}
		connMu.Lock()
		conns[c] = struct{}{}
		connMu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				connMu.Lock()
				delete(conns, c)
				connMu.Unlock()
				_ = c.Close()
			}()
			s.session(c)
		}()
	}
}

func (s *Server) chance(p float64) bool {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Float64() < p
}

// rateLimited counts one MAIL command against an active rate_limit fault.
func (s *Server) rateLimited(rl *faults.RateLimit) (bool, int) {
	if rl == nil {
		return false, 0
	}
	s.mu.Lock()
	if s.lastRL == nil || *s.lastRL != *rl {
		c := *rl
		s.lastRL, s.mailSeq = &c, 0
	}
	s.mailSeq++
	n := s.mailSeq
	s.mu.Unlock()
	hit := rl.Every > 0 && n%uint64(rl.Every) == 0
	if !hit && rl.Probability > 0 {
		hit = s.chance(rl.Probability)
	}
	return hit, max(rl.RetryAfter, 1)
}
