package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/connectors/ratelimit"
	"github.com/vaxhub/vaxhub/core/domain"
)

// What the public edge of the API does before a handler runs: rate limits
// per client address and per bearer token (the portal's figures), the
// waiting room in front of public booking, and the caching headers of
// personal data. Staff tokens pass both limits and the room: they are known
// machines and people with their own credentials.

// HeaderWaitingRoomTicket carries a waiting-room ticket or admission, both
// ways: the API hands it out (429 while waiting, and with an admission that
// is still open) and the client sends it back with its booking request.
const HeaderWaitingRoomTicket = "X-Waiting-Room-Ticket"

// WaitingRoomPath is where a ticket's position is read:
// GET WaitingRoomPath + ticket.
const WaitingRoomPath = "/api/v1/waiting-room/tickets/"

// WaitingRoom is the portal's digital waiting room as the API needs it
// (cmd/vaxhub adapts connectors/web/waitingroom). While a queue forms,
// public booking through the API needs an admission, like the portal's
// booking flow; client is a key derived from the caller's bearer token, to
// which tickets and admissions are bound.
type WaitingRoom interface {
	// Admit decides whether client may book now. presented is what it sent
	// in X-Waiting-Room-Ticket ("", a ticket or an admission). An error
	// wrapping ErrTicketRefused refuses the presented ticket; other errors
	// mean the room cannot decide (503).
	Admit(ctx context.Context, client, presented string) (RoomAdmission, error)
	// Position reads a ticket's place in the queue (errors as for Admit).
	Position(client, ticket string) (RoomPosition, error)
	// Release ends client's admission after its booking, calling the next.
	Release(ctx context.Context, client, admission string) error
}

// RoomAdmission is the room's decision for one booking request.
type RoomAdmission struct {
	// Admitted: book now. Admission is the value to send again (in
	// X-Waiting-Room-Ticket) while it lasts; Direct: let in without a
	// ticket, so the API ends the admission after this one request.
	Admitted  bool
	Direct    bool
	Admission string
	// Ticket is the client's place when not admitted; RetryAfter when to
	// look again.
	Ticket     string
	RetryAfter time.Duration
}

// RoomPosition is the answer of the position URL.
type RoomPosition struct {
	// State: waiting, or called (send the booking again with the ticket
	// now, within the call's grace period), or refused (code says why).
	State                string     `json:"state"`
	Position             int64      `json:"position,omitempty"`
	EstimatedWaitSeconds *int64     `json:"estimated_wait_seconds,omitempty"`
	RefreshAfterSeconds  int        `json:"refresh_after_seconds,omitempty"`
	Paused               bool       `json:"paused,omitempty"`
	ReleaseAt            *time.Time `json:"release_at,omitempty"`
	Code                 string     `json:"code,omitempty"`
}

// ErrTicketRefused: a presented waiting-room ticket is forged, another
// client's or used up. The adapter wraps it with the reason.
var ErrTicketRefused = errors.New("waiting-room ticket refused")

// errRateLimited is a refusal by a public limit; retryAfter as Retry-After.
type errRateLimited struct {
	what       string
	retryAfter time.Duration
}

func (e *errRateLimited) Error() string {
	return fmt.Sprintf("too many requests %s; try again in %d s", e.what, int(e.retryAfter.Seconds()))
}

// edge is the rate limiter of the public API.
type edge struct {
	addr    *ratelimit.Buckets
	token   *ratelimit.Buckets
	proxies ratelimit.TrustedProxies
}

func newEdge(c Config) *edge {
	return &edge{addr: ratelimit.New(c.IPRate, c.IPBurst, c.Now), token: ratelimit.New(c.TokenRate, c.TokenBurst, c.Now),
		proxies: c.TrustedProxies}
}

// limit applies the public limits to a request under /api/; nil lets it through.
func (e *edge) limit(r *http.Request, p principal) error {
	if p.staff != "" {
		return nil
	}
	if ok, wait := e.addr.Take(ratelimit.AddressKey(e.proxies.ClientAddress(r))); !ok {
		return &errRateLimited{"from this address", wait}
	}
	if p.bearer != "" {
		if ok, wait := e.token.Take(tokenKey("limit", p.bearer)); !ok {
			return &errRateLimited{"with this access token", wait}
		}
	}
	return nil
}

// tokenKey is a bearer token's key for purpose; the token itself is never
// kept.
func tokenKey(purpose, bearer string) string {
	h := sha256.Sum256([]byte("vaxhub api " + purpose + "\x00" + bearer))
	return hex.EncodeToString(h[:16])
}

// The caching of the public catalogue routes; every other answer of the
// API gets Cache-Control: no-store.
const (
	cachePublic     = "public, max-age=300"
	cacheRevalidate = "no-cache" // free slots change with every booking
)

// catalogue sets the caching of a public catalogue route.
func catalogue(policy string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", policy)
		h(w, r)
	}
}

// admission holds a booking request's pass through the waiting room.
type admission struct {
	room   WaitingRoom
	client string
	RoomAdmission
}

// admit lets a public booking request through the waiting room, or answers
// it (429 with the position URL, or the ticket's refusal) and returns nil.
// Staff with centre-staff and hubs without a room pass at once.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) (*admission, bool) {
	p := principalOf(r.Context())
	if s.cfg.WaitingRoom == nil || p.has(RoleCentreStaff) {
		return &admission{}, true
	}
	client := tokenKey("waiting room", p.bearer)
	d, err := s.cfg.WaitingRoom.Admit(r.Context(), client, strings.TrimSpace(r.Header.Get(HeaderWaitingRoomTicket)))
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	if !d.Admitted {
		pos := WaitingRoomPath + d.Ticket
		h := w.Header()
		h.Set("Location", pos)
		h.Set("Retry-After", strconv.Itoa(max(1, int(d.RetryAfter.Seconds()))))
		h.Set(HeaderWaitingRoomTicket, d.Ticket)
		writeProblem(w, Problem{Type: "/problems/waiting-room", Title: "In the waiting room", Status: http.StatusTooManyRequests,
			Detail: "booking is busy and you have a place in the waiting room: read position_url (with the same bearer token) until its state is " +
				"\"called\", then send this request again with the ticket in the " + HeaderWaitingRoomTicket + " header",
			PositionURL: pos, Ticket: d.Ticket, CorrelationID: correlationFrom(r)})
		return nil, false
	}
	return &admission{room: s.cfg.WaitingRoom, client: client, RoomAdmission: d}, true
}

// done ends the admission when the booking succeeded or the client was let
// in for this one request; otherwise the client keeps it (it waited for it)
// and is told in X-Waiting-Room-Ticket.
func (a *admission) done(w http.ResponseWriter, r *http.Request, ok bool, log func(error)) {
	if a == nil || a.room == nil {
		return
	}
	if ok || a.Direct {
		if err := a.room.Release(context.WithoutCancel(r.Context()), a.client, a.Admission); err != nil {
			log(err)
		}
		return
	}
	w.Header().Set(HeaderWaitingRoomTicket, a.Admission)
}

// waitingRoomPosition serves GET /api/v1/waiting-room/tickets/{ticket}.
func (s *Server) waitingRoomPosition(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r.Context())
	if p.bearer == "" {
		s.writeError(w, r, fmt.Errorf("%w: send the bearer token the ticket was issued to", errUnauthenticated))
		return
	}
	if s.cfg.WaitingRoom == nil {
		s.writeError(w, r, fmt.Errorf("this hub runs no waiting room: %w", domain.ErrNotFound))
		return
	}
	pos, err := s.cfg.WaitingRoom.Position(tokenKey("waiting room", p.bearer), r.PathValue("ticket"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if pos.RefreshAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pos.RefreshAfterSeconds))
	}
	writeJSON(w, http.StatusOK, pos)
}

// roomLog logs a failure to end an admission (the session then ends at its
// expiry instead).
func (s *Server) roomLog(r *http.Request) func(error) {
	return func(err error) {
		s.log.WarnContext(r.Context(), "waiting room: end admission", "err", err, "correlation_id", correlationFrom(r))
	}
}
