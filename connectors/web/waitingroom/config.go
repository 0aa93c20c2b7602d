package waitingroom

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"
)

// Config configures a Room. New calls setDefaults and Validate.
type Config struct {
	// Room names the queue; replicas with the same name share it. Lower-case
	// letters, digits and '_', at most 32. Default "booking".
	Room string
	// Secret keys every HMAC (tickets, admission passes, the release
	// shuffle). At least 32 bytes, the same on every replica, from
	// configuration, never from code.
	Secret []byte
	// Capacity is the core's measured booking capacity; admissions per
	// second never exceed it. Required (a *BookingMeter wrapped around the
	// booking endpoint, or FixedCapacity in tests).
	Capacity CapacitySource

	// SessionLimit is the initial number of active booking sessions; it
	// lives in the database from then on and operators change it at
	// runtime. Default 500.
	SessionLimit int
	// MaxRate is the initial operator ceiling on admissions per second
	// (0 = capacity alone). Runtime-changeable like SessionLimit.
	MaxRate float64

	// SessionTTL bounds an admission session's lifetime. Default 15 min.
	SessionTTL time.Duration
	// TicketTTL bounds a ticket's lifetime, and so how long a consumed
	// ticket is remembered. Default 12 h.
	TicketTTL time.Duration
	// CallGrace is how long a called visitor keeps their turn; they count
	// against the session limit meanwhile. The waiting page refreshes well
	// inside it. Default 2 min.
	CallGrace time.Duration
	// FreezeGrace is how long after the release time the number of
	// pre-release tickets is fixed (lets in-flight ticket requests land).
	// Default 500 ms.
	FreezeGrace time.Duration
	// Tick is how often a replica tries to advance the queue and refreshes
	// its snapshot. Default 200 ms.
	Tick time.Duration
	// Refresh is the waiting page's refresh interval. Default 10 s.
	Refresh time.Duration

	// SecureCookies sets the Secure attribute (on wherever TLS is on).
	SecureCookies bool
	// SessionID, when set, returns the portal's own browser session ID;
	// tickets and passes are bound to it. When nil the room sets its own
	// random session cookie.
	SessionID func(*http.Request) (string, bool)
	// Now is the clock for cookie checks (tests). Default time.Now.
	Now func() time.Time
	// Log receives the errors of the background loop. Default slog.Default().
	Log *slog.Logger
}

const (
	cookieSession = "vh_wr_sid"
	cookieTicket  = "vh_wr_ticket"
	cookiePass    = "vh_wr_pass"
)

var roomName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func (c *Config) setDefaults() {
	if c.Room == "" {
		c.Room = "booking"
	}
	if c.SessionLimit == 0 {
		c.SessionLimit = 500
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = 15 * time.Minute
	}
	if c.TicketTTL == 0 {
		c.TicketTTL = 12 * time.Hour
	}
	if c.CallGrace == 0 {
		c.CallGrace = 2 * time.Minute
	}
	if c.FreezeGrace == 0 {
		c.FreezeGrace = 500 * time.Millisecond
	}
	if c.Tick == 0 {
		c.Tick = 200 * time.Millisecond
	}
	if c.Refresh == 0 {
		c.Refresh = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
}

// Validate reports the first thing wrong with c.
func (c *Config) Validate() error {
	switch {
	case !roomName.MatchString(c.Room):
		return fmt.Errorf("waitingroom: Room %q: want ^[a-z][a-z0-9_]{0,31}$", c.Room)
	case len(c.Secret) < 32:
		return errors.New("waitingroom: Secret must be at least 32 bytes (from configuration)")
	case c.Capacity == nil:
		return errors.New("waitingroom: Capacity is required (a BookingMeter around the booking endpoint)")
	case c.SessionLimit < 0:
		return errors.New("waitingroom: SessionLimit must not be negative")
	case c.MaxRate < 0:
		return errors.New("waitingroom: MaxRate must not be negative")
	case c.SessionTTL < time.Second || c.TicketTTL < c.SessionTTL:
		return errors.New("waitingroom: SessionTTL must be at least 1s and TicketTTL at least SessionTTL")
	case c.CallGrace < time.Second || c.CallGrace < 3*c.Refresh:
		return errors.New("waitingroom: CallGrace must be at least 1s and three Refresh intervals")
	case c.Tick < time.Millisecond || c.Refresh < time.Second:
		return errors.New("waitingroom: Tick must be at least 1ms and Refresh at least 1s")
	case c.FreezeGrace < 0:
		return errors.New("waitingroom: FreezeGrace must not be negative")
	}
	return nil
}
