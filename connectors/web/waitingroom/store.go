package waitingroom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// roomState is the room's one shared row.
type roomState struct {
	paused        bool
	limit         int
	maxRate       float64
	releaseAt     time.Time // zero: no release round ever announced
	preBase       int64
	postBase      int64
	rankBase      int64
	preTotal      int64
	frozen        bool // preTotal is fixed
	admittedUpTo  int64
	expiredUpTo   int64
	rateClock     time.Time
	now           time.Time // database clock when read
	issuedPre     int64     // pre-release sequence value
	issuedArrival int64     // arrival sequence value
	active        int64     // admission sessions alive
	redeemedCalls int64     // tickets with rank in (expiredUpTo, admittedUpTo] already redeemed
}

// preRound reports a release round announced and not yet fixed: nobody is
// admitted and new visitors all queue.
func (s *roomState) preRound() bool { return !s.releaseAt.IsZero() && !s.frozen }

// issuedRanks is the highest rank handed out so far (false while a release
// round is not fixed yet).
func (s *roomState) issuedRanks() (int64, bool) {
	if s.preRound() {
		return 0, false
	}
	pre := int64(0)
	if !s.releaseAt.IsZero() {
		pre = s.preTotal
	}
	return s.rankBase + pre + (s.issuedArrival - s.postBase), true
}

// waiting is the number of tickets not yet called.
func (s *roomState) waiting() int64 {
	if s.preRound() {
		return s.issuedPre - s.preBase + s.issuedArrival - s.postBase
	}
	n, _ := s.issuedRanks()
	return max(0, n-s.admittedUpTo)
}

// pending is the called visitors that may still come (reserved slots).
func (s *roomState) pending() int64 {
	return max(0, s.admittedUpTo-s.expiredUpTo-s.redeemedCalls)
}

// free is the session slots neither used nor reserved.
func (s *roomState) free() int64 {
	return max(0, int64(s.limit)-s.active-s.pending())
}

// budget is the GCRA admission limiter: tokens admissions may happen now at
// rate per second with a burst of at most burst, and the limiter's virtual
// time before spending them. Admitting k moves the clock by k/rate, so over
// any interval T the admissions never exceed rate·T + burst.
func budget(clock, now time.Time, rate, burst float64) (int64, time.Time) {
	if rate <= 0 || math.IsNaN(rate) {
		return 0, now
	}
	floor := now.Add(-time.Duration(burst / rate * float64(time.Second)))
	if clock.Before(floor) {
		clock = floor
	}
	if !now.After(clock) {
		return 0, clock
	}
	return int64(now.Sub(clock).Seconds()*rate + 1e-9), clock
}

func spend(clock time.Time, k int64, rate float64) time.Time {
	return clock.Add(time.Duration(float64(k) / rate * float64(time.Second)))
}

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func (r *Room) ensureRoom(ctx context.Context) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// Serialise concurrent replicas creating the same sequences.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7261010, hashtext($1))`, r.cfg.Room); err != nil {
			return err
		}
		for _, seq := range []string{r.seqArrival, r.seqPre} {
			if _, err := tx.Exec(ctx, `CREATE SEQUENCE IF NOT EXISTS `+seq+` MINVALUE 0 START WITH 1`); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO waiting_room_state (room, session_limit, max_rate)
			VALUES ($1, $2, $3) ON CONFLICT (room) DO NOTHING`, r.cfg.Room, r.cfg.SessionLimit, r.cfg.MaxRate)
		return err
	})
}

// readState reads the shared row, the two sequences and the session counts
// in one round trip; lock is "" or "FOR UPDATE" or "FOR UPDATE SKIP LOCKED".
func (r *Room) readState(ctx context.Context, q querier, lock string) (roomState, bool, error) {
	var s roomState
	var release *time.Time
	var preTotal *int64
	err := q.QueryRow(ctx, `SELECT paused, session_limit, max_rate, release_at, pre_base, post_base, rank_base,
			pre_total, admitted_up_to, expired_up_to, rate_clock, clock_timestamp()
		FROM waiting_room_state WHERE room = $1 `+lock, r.cfg.Room).Scan(
		&s.paused, &s.limit, &s.maxRate, &release, &s.preBase, &s.postBase, &s.rankBase,
		&preTotal, &s.admittedUpTo, &s.expiredUpTo, &s.rateClock, &s.now)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, false, nil
	}
	if err != nil {
		return s, false, fmt.Errorf("waitingroom: read state: %w", err)
	}
	if release != nil {
		s.releaseAt = *release
	}
	if preTotal != nil {
		s.preTotal, s.frozen = *preTotal, true
	}
	if err := r.readCounts(ctx, q, &s); err != nil {
		return s, false, err
	}
	return s, true, nil
}

func (r *Room) readCounts(ctx context.Context, q querier, s *roomState) error {
	err := q.QueryRow(ctx, `SELECT
			(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM `+r.seqPre+`),
			(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM `+r.seqArrival+`),
			(SELECT count(*) FROM waiting_room_sessions WHERE room = $1 AND ended_at IS NULL AND expires_at > $2),
			(SELECT count(*) FROM waiting_room_sessions WHERE room = $1 AND ticket_rank > $3)`,
		r.cfg.Room, s.now, s.expiredUpTo).Scan(&s.issuedPre, &s.issuedArrival, &s.active, &s.redeemedCalls)
	if err != nil {
		return fmt.Errorf("waitingroom: read counts: %w", err)
	}
	return nil
}

func (r *Room) burst(rate float64) float64 {
	return max(1, rate*2*r.cfg.Tick.Seconds())
}

// advance is one step of the shared queue, done by whichever replica gets
// the row lock first in this tick (the others skip): expire stale calls, fix
// the pre-release count after the release, and call the next visitors, at
// most as many as there are free slots and as the capacity allows.
func (r *Room) advance(ctx context.Context) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		s, ok, err := r.readState(ctx, tx, "FOR UPDATE SKIP LOCKED")
		if err != nil || !ok {
			return err
		}
		var expired int64
		if err := tx.QueryRow(ctx, `WITH old AS (
				DELETE FROM waiting_room_calls WHERE room = $1 AND called_at <= $2 RETURNING up_to)
			SELECT coalesce(max(up_to), 0) FROM old`, r.cfg.Room, s.now.Add(-r.cfg.CallGrace)).Scan(&expired); err != nil {
			return fmt.Errorf("waitingroom: expire calls: %w", err)
		}
		if expired > s.expiredUpTo {
			s.expiredUpTo = expired
			if err := r.readCounts(ctx, tx, &s); err != nil {
				return err
			}
		}
		if s.preRound() && !s.now.Before(s.releaseAt.Add(r.cfg.FreezeGrace)) {
			s.preTotal, s.frozen = s.issuedPre-s.preBase, true
		}
		rate := effectiveRate(r.cfg.Capacity.BookingsPerSecond(), s.maxRate)
		tokens, clock := budget(s.rateClock, s.now, rate, r.burst(rate))
		var k int64
		if s.paused || s.preRound() {
			clock = s.now // no burst saved up while nobody may be admitted
		} else {
			k = min(tokens, s.free(), s.waiting())
		}
		if k > 0 {
			s.admittedUpTo += k
			clock = spend(clock, k, rate)
			if _, err := tx.Exec(ctx, `INSERT INTO waiting_room_calls (room, up_to, called_at) VALUES ($1, $2, $3)`,
				r.cfg.Room, s.admittedUpTo, s.now); err != nil {
				return fmt.Errorf("waitingroom: record call: %w", err)
			}
		}
		var preTotal *int64
		if s.frozen {
			preTotal = &s.preTotal
		}
		if _, err := tx.Exec(ctx, `UPDATE waiting_room_state SET admitted_up_to = $2, expired_up_to = $3,
				pre_total = $4, rate_clock = $5, updated_at = $6 WHERE room = $1`,
			r.cfg.Room, s.admittedUpTo, s.expiredUpTo, preTotal, clock, s.now); err != nil {
			return fmt.Errorf("waitingroom: advance: %w", err)
		}
		return nil
	})
}

var errNoRoom = errors.New("waitingroom: no free session")

// admitDirectly opens a session without a ticket when nobody waits, a slot is
// free and the rate allows; otherwise errNoRoom (the visitor queues).
func (r *Room) admitDirectly(ctx context.Context, sid string) (pass, error) {
	var p pass
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		s, ok, err := r.readState(ctx, tx, "FOR UPDATE")
		if err != nil {
			return err
		}
		if !ok || s.paused || s.preRound() || s.waiting() > 0 || s.free() < 1 {
			return errNoRoom
		}
		rate := effectiveRate(r.cfg.Capacity.BookingsPerSecond(), s.maxRate)
		tokens, clock := budget(s.rateClock, s.now, rate, r.burst(rate))
		if tokens < 1 {
			return errNoRoom
		}
		p = pass{id: uuid.New(), expires: s.now.Add(r.cfg.SessionTTL).Truncate(time.Millisecond)}
		if _, err := tx.Exec(ctx, `INSERT INTO waiting_room_sessions (id, room, sid_hash, admitted_at, expires_at, keep_until)
			VALUES ($1, $2, $3, $4, $5, $5)`, p.id, r.cfg.Room, sidHash(sid), s.now, p.expires); err != nil {
			return fmt.Errorf("waitingroom: open session: %w", err)
		}
		_, err = tx.Exec(ctx, `UPDATE waiting_room_state SET rate_clock = $2 WHERE room = $1`, r.cfg.Room, spend(clock, 1, rate))
		return err
	})
	return p, err
}

// issueTicket draws the next arrival number; before a release time it comes
// from the pre-release sequence (decided by the database clock, so every
// replica agrees).
func (r *Room) issueTicket(ctx context.Context) (ticket, error) {
	var class string
	var t ticket
	err := r.pool.QueryRow(ctx, `SELECT c, CASE WHEN c = 'p' THEN nextval('`+r.seqPre+`') ELSE nextval('`+r.seqArrival+`') END, clock_timestamp()
		FROM (SELECT CASE WHEN release_at IS NOT NULL AND pre_total IS NULL AND clock_timestamp() < release_at
			THEN 'p' ELSE 'a' END AS c FROM waiting_room_state WHERE room = $1) x`, r.cfg.Room).Scan(&class, &t.n, &t.issued)
	if err != nil {
		return t, fmt.Errorf("waitingroom: issue ticket: %w", err)
	}
	t.class = class[0]
	t.issued = t.issued.Truncate(time.Millisecond)
	return t, nil
}

// redeemTicket turns a called ticket into an admission session.
//
// Why a consumed-ticket key and not only the session binding: the ticket is
// bound to the browser's session cookie, so another browser cannot use it;
// but the same browser could present it again after its session ended (or
// after deleting the pass cookie) and would be admitted again. The unique
// (room, ticket_rank) of waiting_room_sessions makes the admission itself
// the record of consumption: one row per admitted visitor, which the session
// limit bounds anyway, kept until the ticket would have expired and then
// pruned. No row ever exists for a visitor who only waits.
func (r *Room) redeemTicket(ctx context.Context, sid string, rank int64, t ticket) (pass, error) {
	p := pass{id: uuid.New()}
	keep := t.issued.Add(r.cfg.TicketTTL)
	err := r.pool.QueryRow(ctx, `INSERT INTO waiting_room_sessions (id, room, sid_hash, ticket_rank, admitted_at, expires_at, keep_until)
		SELECT $1, $2, $3, $4, clock_timestamp(), date_trunc('milliseconds', clock_timestamp() + $5::interval), greatest($6, clock_timestamp() + $5::interval)
		FROM waiting_room_state WHERE room = $2 AND $4 <= admitted_up_to AND $4 > expired_up_to
		ON CONFLICT (room, ticket_rank) DO NOTHING RETURNING expires_at`,
		p.id, r.cfg.Room, sidHash(sid), rank, r.cfg.SessionTTL, keep).Scan(&p.expires)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return p, fmt.Errorf("waitingroom: redeem: %w", err)
	}
	var used, called, expired bool
	if err := r.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM waiting_room_sessions WHERE room = $1 AND ticket_rank = $2),
			$2 <= s.admitted_up_to, $2 <= s.expired_up_to
		FROM waiting_room_state s WHERE room = $1`, r.cfg.Room, rank).Scan(&used, &called, &expired); err != nil {
		return p, fmt.Errorf("waitingroom: redeem: %w", err)
	}
	switch {
	case used:
		return p, ErrTicketUsed
	case expired:
		return p, ErrCallExpired
	case !called:
		return p, errNoRoom
	}
	return p, fmt.Errorf("waitingroom: redeem rank %d: refused for no known reason", rank)
}

// sessionAlive reports whether the pass's session is open (not left, not expired).
func (r *Room) sessionAlive(ctx context.Context, p pass, sid string) (bool, error) {
	var ok bool
	err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM waiting_room_sessions WHERE id = $1 AND room = $2
		AND sid_hash = $3 AND ended_at IS NULL AND expires_at > clock_timestamp())`, p.id, r.cfg.Room, sidHash(sid)).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("waitingroom: check session: %w", err)
	}
	return ok, nil
}

func (r *Room) endSession(ctx context.Context, p pass, sid string) error {
	_, err := r.pool.Exec(ctx, `UPDATE waiting_room_sessions SET ended_at = clock_timestamp()
		WHERE id = $1 AND room = $2 AND sid_hash = $3 AND ended_at IS NULL`, p.id, r.cfg.Room, sidHash(sid))
	if err != nil {
		return fmt.Errorf("waitingroom: end session: %w", err)
	}
	return nil
}

func (r *Room) prune(ctx context.Context) error {
	_, err := r.pool.Exec(ctx, `DELETE FROM waiting_room_sessions WHERE room = $1 AND keep_until < clock_timestamp()`, r.cfg.Room)
	if err != nil {
		return fmt.Errorf("waitingroom: prune: %w", err)
	}
	return nil
}
