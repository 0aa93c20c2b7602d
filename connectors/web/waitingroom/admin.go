package waitingroom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
)

// Stats is the waiting room as the dashboard and the admin endpoint show it
// (this replica's snapshot, at most one Tick old).
type Stats struct {
	Room         string  `json:"room"`
	Paused       bool    `json:"paused"`
	SessionLimit int     `json:"session_limit"`
	MaxRate      float64 `json:"max_rate"`
	// Capacity is the measured booking capacity; Rate the admission rate
	// in force (Capacity capped by MaxRate), both per second.
	Capacity float64 `json:"capacity_per_second"`
	Rate     float64 `json:"admission_rate_per_second"`
	// AdmittedPerMinute is observed over the last minute.
	AdmittedPerMinute float64 `json:"admitted_per_minute"`
	ActiveSessions    int64   `json:"active_sessions"`
	Called            int64   `json:"called_not_arrived"`
	Waiting           int64   `json:"waiting"`
	AdmittedUpTo      int64   `json:"admitted_up_to"`
	// EstimatedWaitSeconds is for a visitor arriving now (-1: unknown).
	EstimatedWaitSeconds int64      `json:"estimated_wait_seconds"`
	ReleaseAt            *time.Time `json:"release_at,omitempty"`
	PreReleaseTickets    int64      `json:"pre_release_tickets"`
	Shuffled             bool       `json:"release_shuffle_fixed"`
	At                   time.Time  `json:"at"`
}

// Stats returns the replica's current view of the shared queue.
func (r *Room) Stats() Stats {
	v := r.view()
	s := Stats{
		Room: r.cfg.Room, Paused: v.paused, SessionLimit: v.limit, MaxRate: v.maxRate,
		Capacity: v.capacity, Rate: v.rate, AdmittedPerMinute: v.observed * 60,
		ActiveSessions: v.active, Called: v.pending(), Waiting: v.waiting(), AdmittedUpTo: v.admittedUpTo,
		EstimatedWaitSeconds: -1, At: v.now,
	}
	if est := v.estimate(s.Waiting + 1); est >= 0 {
		s.EstimatedWaitSeconds = int64(est.Seconds())
	}
	if !v.releaseAt.IsZero() {
		t := v.releaseAt
		s.ReleaseAt = &t
		s.Shuffled = v.frozen
		s.PreReleaseTickets = v.issuedPre - v.preBase
		if v.frozen {
			s.PreReleaseTickets = v.preTotal
		}
	}
	return s
}

// Settings is a runtime change; nil fields stay as they are.
type Settings struct {
	Paused       *bool    `json:"paused,omitempty"`
	SessionLimit *int     `json:"session_limit,omitempty"`
	MaxRate      *float64 `json:"max_rate,omitempty"`
	// ReleaseAt announces a release round (it must lie in the future and
	// nobody may be waiting); ReleaseNow releases an announced round at once.
	ReleaseAt  *time.Time `json:"release_at,omitempty"`
	ReleaseNow bool       `json:"release_now,omitempty"`
}

var errBadSettings = errors.New("waitingroom: bad settings")

// Change applies s to the shared row (every replica sees it within a Tick)
// and refreshes this replica's view.
func (r *Room) Change(ctx context.Context, s Settings) error {
	switch {
	case s.SessionLimit != nil && *s.SessionLimit < 0:
		return fmt.Errorf("%w: session_limit must not be negative", errBadSettings)
	case s.MaxRate != nil && *s.MaxRate < 0:
		return fmt.Errorf("%w: max_rate must not be negative", errBadSettings)
	case s.ReleaseAt != nil && s.ReleaseNow:
		return fmt.Errorf("%w: release_at and release_now exclude each other", errBadSettings)
	}
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		st, ok, err := r.readState(ctx, tx, "FOR UPDATE")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("waitingroom: room %q has no state row", r.cfg.Room)
		}
		if s.Paused != nil {
			st.paused = *s.Paused
		}
		if s.SessionLimit != nil {
			st.limit = *s.SessionLimit
		}
		if s.MaxRate != nil {
			st.maxRate = *s.MaxRate
		}
		var preTotal *int64
		if st.frozen {
			preTotal = &st.preTotal
		}
		switch {
		case s.ReleaseAt != nil && !s.ReleaseAt.After(st.now):
			return fmt.Errorf("%w: release_at %s is not in the future", errBadSettings, s.ReleaseAt.Format(time.RFC3339))
		case s.ReleaseAt != nil && st.preRound():
			st.releaseAt = *s.ReleaseAt // move the announced round
		case s.ReleaseAt != nil:
			if st.waiting() > 0 {
				return fmt.Errorf("%w: %d visitors wait; a release round starts from an empty queue (pause the portal and let it drain)", ErrQueueNotEmpty, st.waiting())
			}
			st.releaseAt, preTotal = *s.ReleaseAt, nil
			st.preBase, st.postBase, st.rankBase = st.issuedPre, st.issuedArrival, st.admittedUpTo
		case s.ReleaseNow && st.preRound():
			st.releaseAt = st.now
		}
		var release *time.Time
		if !st.releaseAt.IsZero() {
			release = &st.releaseAt
		}
		_, err = tx.Exec(ctx, `UPDATE waiting_room_state SET paused = $2, session_limit = $3, max_rate = $4,
				release_at = $5, pre_base = $6, post_base = $7, rank_base = $8, pre_total = $9, updated_at = $10
			WHERE room = $1`, r.cfg.Room, st.paused, st.limit, st.maxRate, release,
			st.preBase, st.postBase, st.rankBase, preTotal, st.now)
		return err
	})
	if err != nil {
		return err
	}
	return r.refresh(ctx)
}

// Admin serves GET (Stats as JSON) and PUT (a Settings JSON body; answers
// with the new Stats). The caller mounts it behind a staff role.
func (r *Room) Admin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPut:
			var s Settings
			body, err := io.ReadAll(io.LimitReader(req.Body, 1<<16))
			if err == nil {
				dec := json.NewDecoder(bytes.NewReader(body))
				dec.DisallowUnknownFields()
				err = dec.Decode(&s)
			}
			if err == nil {
				err = r.Change(req.Context(), s)
			}
			if err != nil {
				status := http.StatusInternalServerError
				switch {
				case errors.Is(err, ErrQueueNotEmpty):
					status = http.StatusConflict
				case errors.Is(err, errBadSettings), !errors.Is(err, context.Canceled) && isDecodeError(err):
					status = http.StatusBadRequest
				}
				w.Header().Set("Content-Type", "application/problem+json")
				writeJSON(w, status, map[string]any{"type": "/problems/waiting-room", "title": http.StatusText(status), "status": status, "detail": err.Error()})
				return
			}
		default:
			w.Header().Set("Allow", "GET, PUT")
			w.Header().Set("Content-Type", "application/problem+json")
			writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"type": "/problems/method", "title": "Method not allowed", "status": 405})
			return
		}
		writeJSON(w, http.StatusOK, r.Stats())
	})
}

func isDecodeError(err error) bool {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var pe *time.ParseError
	return errors.As(err, &se) || errors.As(err, &te) || errors.As(err, &pe) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		(err != nil && bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field")))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
