// Package sms simulates an SMS gateway in the style of Twilio's Programmable
// Messaging REST API (2010-04-01 Messages resource): Basic auth with account
// SID and auth token, form-encoded message creation, Twilio's error bodies
// and codes, statuses that move from queued to delivered (or failed,
// undelivered) over time, and status callbacks signed with X-Twilio-Signature.
// It must never import anything from core/ or connectors/: it is the outside
// world.
package sms

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Message statuses, as Twilio names them.
const (
	StatusQueued      = "queued"
	StatusAccepted    = "accepted" // created through a Messaging Service
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusFailed      = "failed"
	StatusUndelivered = "undelivered"
)

// Outcomes that can be configured for a recipient number.
const (
	OutcomeDelivered   = "delivered"
	OutcomeFailed      = "failed"      // never leaves the gateway: error 30006
	OutcomeUndelivered = "undelivered" // sent, then the carrier gives up: error 30003
)

// Custom faults of this simulator.
const (
	// FaultLoseCallbacks: no status callbacks while it is on; clients must
	// poll GET .../Messages/{Sid}.json.
	FaultLoseCallbacks = "lose_callbacks"
	// FaultDropAnswer: a valid message is created, then the connection is
	// reset before the answer is written, as when a client's timeout fires
	// after the gateway has done the work.
	FaultDropAnswer = "drop_answer"
)

// MaxBodyChars is the longest Body Twilio accepts (error 21617 beyond).
const MaxBodyChars = 1600

// DefaultMessagingService is the Messaging Service SID the simulator knows
// unless configured otherwise.
const DefaultMessagingService = "MG00000000000000000000000000005105"

// Config configures the simulator.
type Config struct {
	// AccountSID and AuthToken are the Basic auth credentials, and the path
	// segment /Accounts/{AccountSID}. AuthToken also signs status callbacks.
	// Default "sim" / "sim".
	AccountSID string
	AuthToken  string
	// MessagingService is the SID accepted as MessagingServiceSid; its
	// messages are sent from ServiceSender. Defaults DefaultMessagingService
	// and "VAXHUB".
	MessagingService string
	ServiceSender    string
	// StatusCallback receives status callbacks for messages that name no
	// StatusCallback of their own (Twilio: the Messaging Service's URL).
	StatusCallback string
	// Step is how long a message stays queued and sent before it moves on.
	// Default 1 s.
	Step time.Duration
	// RatePerSecond bounds message creations per account and second of real
	// time; beyond it the API answers 429 (code 20429) with Retry-After.
	// 0: no limit.
	RatePerSecond int
	// Outcomes maps an E.164 number to OutcomeFailed or OutcomeUndelivered;
	// every other number is delivered. Changed at run time through
	// /_sim/outcomes.
	Outcomes map[string]string
	// Faults configures the shared fault injection.
	Faults faults.Options
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.AccountSID == "" {
		c.AccountSID = "sim"
	}
	if c.AuthToken == "" {
		c.AuthToken = "sim"
	}
	if c.MessagingService == "" {
		c.MessagingService = DefaultMessagingService
	}
	if c.ServiceSender == "" {
		c.ServiceSender = "VAXHUB"
	}
	if c.Step == 0 {
		c.Step = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first bad value.
func (c *Config) Validate() error {
	switch {
	case c.Step < 0:
		return errors.New("sms sim: Step must not be negative")
	case c.RatePerSecond < 0:
		return errors.New("sms sim: RatePerSecond must not be negative")
	}
	for n, o := range c.Outcomes {
		if err := checkOutcome(n, o); err != nil {
			return fmt.Errorf("sms sim: %w", err)
		}
	}
	return c.Faults.Validate()
}

func checkOutcome(number, outcome string) error {
	if !isE164(number) {
		return fmt.Errorf("outcome for %q: not an E.164 number", number)
	}
	switch outcome {
	case OutcomeDelivered, OutcomeFailed, OutcomeUndelivered:
		return nil
	}
	return fmt.Errorf("outcome for %s: %q is none of delivered, failed, undelivered", number, outcome)
}

// Message is one message as the simulator keeps it.
type Message struct {
	SID                 string    `json:"sid"`
	AccountSID          string    `json:"account_sid"`
	To                  string    `json:"to"`
	From                string    `json:"from"`
	MessagingServiceSID string    `json:"messaging_service_sid,omitempty"`
	Body                string    `json:"body"`
	Segments            int       `json:"num_segments"`
	Status              string    `json:"status"`
	ErrorCode           int       `json:"error_code,omitempty"`
	ErrorMessage        string    `json:"error_message,omitempty"`
	StatusCallback      string    `json:"status_callback,omitempty"`
	Created             time.Time `json:"date_created"`
	Updated             time.Time `json:"date_updated"`
	Sent                time.Time `json:"date_sent,omitzero"`
	// Callbacks counts status callbacks the receiver acknowledged with 2xx.
	Callbacks int `json:"callbacks_delivered"`

	outcome string
	next    time.Time
}

// Sim is the simulator. Create it with New, serve Handler, stop it with Close.
type Sim struct {
	cfg    Config
	faults *faults.Injector
	log    *slog.Logger

	mu       sync.Mutex
	messages map[string]*Message
	order    []string
	outcomes map[string]string
	window   time.Time // start of the current rate-limit second
	inWindow int

	hookWG sync.WaitGroup
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	hc     *http.Client
}

// New checks cfg and starts the simulator's clock.
func New(cfg Config) (*Sim, error) {
	cfg.setDefaults()
	for _, c := range customFaults() {
		if !slices.ContainsFunc(cfg.Faults.Custom, func(d faults.Custom) bool { return d.Name == c.Name }) {
			cfg.Faults.Custom = append(cfg.Faults.Custom, c)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Sim{
		cfg:      cfg,
		faults:   faults.New(cfg.Faults),
		log:      cfg.Logger.With("component", "sim.sms"),
		messages: map[string]*Message{},
		outcomes: maps.Clone(cfg.Outcomes),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		hc:       &http.Client{Timeout: 5 * time.Second},
	}
	if s.outcomes == nil {
		s.outcomes = map[string]string{}
	}
	go s.clock()
	return s, nil
}

func customFaults() []faults.Custom {
	return []faults.Custom{
		{Name: FaultLoseCallbacks, Help: "status callbacks are not sent while on (clients must poll)"},
		{Name: FaultDropAnswer, Help: "a valid message is created, then the connection is reset before the answer"},
	}
}

// Close stops the clock and waits for callbacks in flight.
func (s *Sim) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.hookWG.Wait()
}

// Faults is the simulator's fault injector.
func (s *Sim) Faults() *faults.Injector { return s.faults }

// AccountSID is the account the simulator serves.
func (s *Sim) AccountSID() string { return s.cfg.AccountSID }

// SetOutcome makes messages created from now on to number end in outcome
// (OutcomeDelivered removes a configured outcome).
func (s *Sim) SetOutcome(number, outcome string) error {
	if err := checkOutcome(number, outcome); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if outcome == OutcomeDelivered {
		delete(s.outcomes, number)
	} else {
		s.outcomes[number] = outcome
	}
	return nil
}

// Messages returns a copy of every message to the number to (all when
// empty), oldest first.
func (s *Sim) Messages(to string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, 0, len(s.order))
	for _, id := range s.order {
		if m := s.messages[id]; to == "" || m.To == to {
			out = append(out, *m)
		}
	}
	return out
}

// clock moves messages on: queued -> sent -> delivered or undelivered, or
// queued -> failed, one Step each.
func (s *Sim) clock() {
	defer close(s.done)
	t := time.NewTicker(max(s.cfg.Step/4, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.advance(now)
		}
	}
}

func (s *Sim) advance(now time.Time) {
	s.mu.Lock()
	var changed []Message
	for _, id := range s.order {
		m := s.messages[id]
		if m.next.IsZero() || now.Before(m.next) {
			continue
		}
		switch {
		case (m.Status == StatusQueued || m.Status == StatusAccepted) && m.outcome == OutcomeFailed:
			m.Status, m.ErrorCode, m.ErrorMessage = StatusFailed, 30006, "Landline or unreachable carrier"
		case m.Status == StatusQueued || m.Status == StatusAccepted:
			m.Status, m.Sent = StatusSent, now.UTC()
		case m.Status == StatusSent && m.outcome == OutcomeUndelivered:
			m.Status, m.ErrorCode, m.ErrorMessage = StatusUndelivered, 30003, "Unreachable destination handset"
		case m.Status == StatusSent:
			m.Status = StatusDelivered
		}
		m.Updated = now.UTC()
		if m.Status == StatusSent {
			m.next = now.Add(s.cfg.Step)
		} else {
			m.next = time.Time{}
		}
		changed = append(changed, *m)
	}
	s.mu.Unlock()
	for _, m := range changed {
		s.callback(m)
	}
}

// allow counts one creation against the rate limit; it reports how many
// seconds to wait when the limit is reached.
func (s *Sim) allow(now time.Time) (ok bool, retryAfter int) {
	if s.cfg.RatePerSecond == 0 {
		return true, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.window) >= time.Second {
		s.window, s.inWindow = now, 0
	}
	if s.inWindow >= s.cfg.RatePerSecond {
		return false, 1
	}
	s.inWindow++
	return true, 0
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newSID returns a message SID: "SM" and 32 hex digits, as Twilio's are.
func newSID() string { return "SM" + randomHex(16) }
