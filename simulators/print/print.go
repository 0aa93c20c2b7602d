// Package print simulates a Pingen-style hybrid-mail service: OAuth client
// credentials, a presigned file upload, letters created from the uploaded
// PDF and checked as a print house would, statuses that move from valid to
// sent (or undeliverable) over time, webhooks on every change and JSON:API
// error bodies. It must never import anything from core/ or connectors/: it
// is the outside world.
package print

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Letter statuses, as Pingen names them.
const (
	StatusValid         = "valid"
	StatusProcessing    = "processing"
	StatusPrinting      = "printing"
	StatusSent          = "sent"
	StatusUndeliverable = "undeliverable"
	StatusUnprintable   = "unprintable"
)

// Custom faults of this simulator.
const (
	// FaultUndeliverable: letters created while it is on come back
	// undeliverable instead of sent.
	FaultUndeliverable = "undeliverable"
	// FaultLoseWebhooks: webhooks are not delivered while it is on, so the
	// client has to poll.
	FaultLoseWebhooks = "lose_webhooks"
)

// DefaultOrganisation is the organisation ID the simulator serves unless
// configured otherwise.
const DefaultOrganisation = "0b7a1c2e-5d3f-4e6a-9b21-202104120001"

// Config configures the simulator.
type Config struct {
	ClientID     string // default "sim"
	ClientSecret string // default "sim"
	Organisation string // default DefaultOrganisation
	// MaxPages is the most pages a letter may have. Default 10.
	MaxPages int
	// MaxFileSize bounds an upload. Default 20 MiB.
	MaxFileSize int64
	// Step is how long a letter stays in each of valid, processing and
	// printing before it moves on. Default 2 s.
	Step time.Duration
	// TokenTTL is the lifetime of an access token. Default 12 h.
	TokenTTL time.Duration
	// WebhookURL, if set, receives a POST on every status change;
	// WebhookSecret signs it (header Signature: hex HMAC-SHA256 of the
	// body). More webhooks can be registered through the API.
	WebhookURL    string
	WebhookSecret string
	// Faults configures the shared fault injection.
	Faults faults.Options
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.ClientID == "" {
		c.ClientID = "sim"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "sim"
	}
	if c.Organisation == "" {
		c.Organisation = DefaultOrganisation
	}
	if c.MaxPages == 0 {
		c.MaxPages = 10
	}
	if c.MaxFileSize == 0 {
		c.MaxFileSize = 20 << 20
	}
	if c.Step == 0 {
		c.Step = 2 * time.Second
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = 12 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first bad value.
func (c *Config) Validate() error {
	switch {
	case c.MaxPages < 1:
		return errors.New("print sim: MaxPages must be at least 1")
	case c.Step < 0 || c.TokenTTL < 0 || c.MaxFileSize < 0:
		return errors.New("print sim: Step, TokenTTL and MaxFileSize must not be negative")
	}
	return c.Faults.Validate()
}

// Letter is one letter as the simulator keeps it.
type Letter struct {
	ID              string    `json:"id"`
	Organisation    string    `json:"organisation"`
	Status          string    `json:"status"`
	FileName        string    `json:"file_original_name"`
	FilePages       int       `json:"file_pages"`
	AddressPosition string    `json:"address_position"`
	AutoSend        bool      `json:"auto_send"`
	DeliveryProduct string    `json:"delivery_product"`
	PrintMode       string    `json:"print_mode"`
	PrintSpectrum   string    `json:"print_spectrum"`
	Issues          []string  `json:"issues,omitempty"`
	IdempotencyKey  string    `json:"idempotency_key,omitempty"`
	TrackingNumber  string    `json:"tracking_number,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	SubmittedAt     time.Time `json:"submitted_at,omitzero"`

	pdf           []byte
	undeliverable bool
	next          time.Time // when the letter moves on
}

type upload struct {
	id      string
	sig     string
	expires time.Time
	data    []byte
}

type webhook struct {
	ID         string
	URL        string
	SigningKey string
}

// Sim is the simulator. Create it with New, serve Handler, stop it with Close.
type Sim struct {
	cfg    Config
	faults *faults.Injector
	log    *slog.Logger
	key    []byte // signs upload URLs

	mu       sync.Mutex
	tokens   map[string]time.Time
	uploads  map[string]*upload
	letters  map[string]*Letter
	order    []string          // letter IDs in creation order
	idem     map[string]string // idempotency key -> letter ID
	idemFp   map[string]string // idempotency key -> request fingerprint
	webhooks []webhook
	hookWG   sync.WaitGroup

	stop chan struct{}
	done chan struct{}
	once sync.Once
	hc   *http.Client
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
		cfg:     cfg,
		faults:  faults.New(cfg.Faults),
		log:     cfg.Logger.With("component", "sim.print"),
		key:     randomBytes(32),
		tokens:  map[string]time.Time{},
		uploads: map[string]*upload{},
		letters: map[string]*Letter{},
		idem:    map[string]string{},
		idemFp:  map[string]string{},
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
		hc:      &http.Client{Timeout: 5 * time.Second},
	}
	if cfg.WebhookURL != "" {
		s.webhooks = append(s.webhooks, webhook{ID: newID(), URL: cfg.WebhookURL, SigningKey: cfg.WebhookSecret})
	}
	go s.clock()
	return s, nil
}

func customFaults() []faults.Custom {
	return []faults.Custom{
		{Name: FaultUndeliverable, Help: "letters created while on come back undeliverable"},
		{Name: FaultLoseWebhooks, Help: "webhooks are not delivered while on (clients must poll)"},
	}
}

// Close stops the clock and waits for webhooks in flight.
func (s *Sim) Close() {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	s.hookWG.Wait()
}

// Faults is the simulator's fault injector.
func (s *Sim) Faults() *faults.Injector { return s.faults }

// Organisation is the organisation ID the simulator serves.
func (s *Sim) Organisation() string { return s.cfg.Organisation }

// Letters returns a copy of every letter, oldest first.
func (s *Sim) Letters() []Letter {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Letter, 0, len(s.order))
	for _, id := range s.order {
		l := *s.letters[id]
		l.Issues = append([]string(nil), l.Issues...)
		out = append(out, l)
	}
	return out
}

// LetterPDF returns the file a letter was created from.
func (s *Sim) LetterPDF(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.letters[id]
	if !ok {
		return nil, false
	}
	return l.pdf, true
}

// clock moves letters on: valid -> processing -> printing -> sent or
// undeliverable, one Step each.
func (s *Sim) clock() {
	defer close(s.done)
	tick := max(s.cfg.Step/4, 5*time.Millisecond)
	t := time.NewTicker(tick)
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
	var changed []Letter
	for _, id := range s.order {
		l := s.letters[id]
		if l.next.IsZero() || now.Before(l.next) {
			continue
		}
		switch l.Status {
		case StatusValid:
			l.Status, l.SubmittedAt = StatusProcessing, now.UTC()
		case StatusProcessing:
			l.Status = StatusPrinting
		case StatusPrinting:
			if l.undeliverable {
				l.Status = StatusUndeliverable
				l.Issues = append(l.Issues, "Empfänger unter der angegebenen Anschrift nicht zu ermitteln")
			} else {
				l.Status = StatusSent
				l.TrackingNumber = "RR" + hex.EncodeToString(randomBytes(4)) + "DE"
			}
		}
		l.UpdatedAt = now.UTC()
		if l.Status == StatusSent || l.Status == StatusUndeliverable {
			l.next = time.Time{}
		} else {
			l.next = now.Add(s.cfg.Step)
		}
		changed = append(changed, *l)
	}
	s.mu.Unlock()
	for _, l := range changed {
		s.notify(l)
	}
}

// authorised checks the bearer token.
func (s *Sim) authorised(r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[h[len(prefix):]]
	return ok && time.Now().Before(exp)
}

func (s *Sim) sign(id string, expires time.Time) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s|%d", id, expires.Unix())
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns the hex HMAC-SHA256 of body under key, as in the Signature
// header of webhooks.
func Sign(key string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// newID returns a random UUID (version 4), as Pingen's IDs are.
func newID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Counts tells how many letters are in each status.
func (s *Sim) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, l := range s.letters {
		out[l.Status]++
	}
	return out
}
