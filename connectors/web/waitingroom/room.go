package waitingroom

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Room is one replica's handle on a shared waiting room. Build it with New,
// run its loop with Run, and put Gate in front of the booking flow.
type Room struct {
	cfg        Config
	pool       *pgxpool.Pool
	sign       signer
	seqArrival string
	seqPre     string

	cur atomic.Pointer[view]

	histMu sync.Mutex
	hist   []sample // admitted_up_to over the last minute, for the estimate
}

type sample struct {
	at time.Time
	up int64
}

// view is a replica's snapshot of the shared queue, refreshed every tick;
// position checks read it and never touch the database.
type view struct {
	roomState
	capacity float64 // measured booking capacity
	rate     float64 // admission rate: capacity capped by max_rate
	observed float64 // admissions per second over the last minute
	shuffle  shuffle
	loaded   time.Time
}

// New validates cfg, creates the room's row and sequences if they are
// missing (safe from several replicas at once) and reads the queue.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Room, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Room{
		cfg:        cfg,
		pool:       pool,
		sign:       signer{secret: cfg.Secret, room: cfg.Room},
		seqArrival: "waiting_room_arrival_" + cfg.Room,
		seqPre:     "waiting_room_pre_" + cfg.Room,
	}
	if err := r.ensureRoom(ctx); err != nil {
		return nil, fmt.Errorf("waitingroom: create room %q: %w", cfg.Room, err)
	}
	if err := r.refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Run advances the shared queue and refreshes this replica's snapshot every
// Tick until ctx ends. Every replica runs it; they coordinate through the
// row lock, so running it on one or on all gives the same queue.
func (r *Room) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	pruneEvery := max(1, int(time.Minute/r.cfg.Tick))
	for i := 1; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := r.step(ctx); err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("waiting room step failed", "room", r.cfg.Room, "err", err)
		}
		if i%pruneEvery == 0 {
			if err := r.prune(ctx); err != nil && ctx.Err() == nil {
				r.cfg.Log.Warn("waiting room prune failed", "room", r.cfg.Room, "err", err)
			}
		}
	}
}

func (r *Room) step(ctx context.Context) error {
	err := r.advance(ctx)
	return errors.Join(err, r.refresh(ctx))
}

func (r *Room) refresh(ctx context.Context) error {
	s, ok, err := r.readState(ctx, r.pool, "")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("waitingroom: room %q has no state row", r.cfg.Room)
	}
	v := &view{roomState: s, capacity: r.cfg.Capacity.BookingsPerSecond(), loaded: time.Now()}
	v.rate = effectiveRate(v.capacity, s.maxRate)
	if s.frozen && !s.releaseAt.IsZero() {
		if old := r.cur.Load(); old != nil && old.frozen && old.releaseAt.Equal(s.releaseAt) && old.preBase == s.preBase && old.preTotal == s.preTotal {
			v.shuffle = old.shuffle
		} else {
			v.shuffle = newShuffle(r.cfg.Secret, r.cfg.Room, s.releaseAt, s.preBase, s.preTotal)
		}
	}
	v.observed = r.observe(s.now, s.admittedUpTo)
	r.cur.Store(v)
	return nil
}

// observe records admitted_up_to and returns the admissions per second over
// the last minute.
func (r *Room) observe(now time.Time, up int64) float64 {
	r.histMu.Lock()
	defer r.histMu.Unlock()
	r.hist = append(r.hist, sample{now, up})
	i := 0
	for i < len(r.hist)-1 && now.Sub(r.hist[i].at) > time.Minute {
		i++
	}
	r.hist = r.hist[i:]
	first := r.hist[0]
	if el := now.Sub(first.at).Seconds(); el >= 1 && up >= first.up {
		return float64(up-first.up) / el
	}
	return 0
}

func (r *Room) view() *view { return r.cur.Load() }

type rankStatus int

const (
	rankKnown   rankStatus = iota
	rankPending            // a release round is not fixed yet
	rankStale              // from an earlier round: queue again
)

// rankOf is a ticket's place in the queue: arrival order, except that
// pre-release tickets take a shuffled rank among themselves.
func (v *view) rankOf(t ticket) (int64, rankStatus) {
	if t.class == classPreRelease {
		switch {
		case v.releaseAt.IsZero() || t.n <= v.preBase:
			return 0, rankStale
		case !v.frozen:
			return 0, rankPending
		case t.n-v.preBase > v.preTotal:
			return 0, rankStale
		}
		return v.rankBase + v.shuffle.rank(t.n-v.preBase), rankKnown
	}
	if t.n <= v.postBase {
		return 0, rankStale
	}
	if v.preRound() {
		return 0, rankPending
	}
	pre := int64(0)
	if !v.releaseAt.IsZero() {
		pre = v.preTotal
	}
	return v.rankBase + pre + t.n - v.postBase, rankKnown
}

// maybeRoom is the snapshot's guess that a new visitor can go straight in;
// admitDirectly decides under the row lock.
func (v *view) maybeRoom() bool {
	return !v.paused && !v.preRound() && v.waiting() == 0 && v.free() > 0 && v.rate > 0
}

// sessionID returns the browser's session ID, setting the room's own cookie
// when the portal does not provide one.
func (r *Room) sessionID(w http.ResponseWriter, req *http.Request) string {
	if r.cfg.SessionID != nil {
		if id, ok := r.cfg.SessionID(req); ok && id != "" {
			return id
		}
	}
	if c, err := req.Cookie(cookieSession); err == nil && len(c.Value) >= 16 {
		return c.Value
	}
	id := newSessionID()
	r.setCookie(w, cookieSession, id, 0)
	req.AddCookie(&http.Cookie{Name: cookieSession, Value: id})
	return id
}

func (r *Room) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: r.cfg.SecureCookies, SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		c.MaxAge = int(maxAge.Seconds())
	}
	http.SetCookie(w, c)
}

func (r *Room) clearCookie(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: r.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// Gate admits a request to next when its browser holds an open admission
// session; otherwise it admits it directly (nobody waiting, a slot free),
// redeems its called ticket, or shows the waiting page and issues a ticket.
// Put it in front of the booking flow only; information pages stay open.
func (r *Room) Gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx := req.Context()
		sid := r.sessionID(w, req)
		if c, err := req.Cookie(cookiePass); err == nil {
			if p, ok := r.sign.decodePass(c.Value, sid); ok && r.cfg.Now().Before(p.expires) {
				alive, err := r.sessionAlive(ctx, p, sid)
				if err != nil {
					r.refuse(w, req, err)
					return
				}
				if alive {
					next.ServeHTTP(w, req)
					return
				}
			}
			r.clearCookie(w, cookiePass)
		}
		v := r.view()
		var notice error
		if c, err := req.Cookie(cookieTicket); err == nil {
			t, err := r.sign.decodeTicket(c.Value, sid)
			if err != nil {
				r.clearCookie(w, cookieTicket)
				r.refuse(w, req, err)
				return
			}
			rank, st := v.rankOf(t)
			if st == rankStale && t.issued.After(v.now) {
				st = rankPending // this replica's snapshot predates the ticket's round
			}
			switch {
			case r.cfg.Now().Sub(t.issued) > r.cfg.TicketTTL || st == rankStale:
				notice = ErrTicketExpired
			case st == rankKnown && rank <= v.admittedUpTo:
				p, err := r.redeemTicket(ctx, sid, rank, t)
				switch {
				case err == nil:
					r.setCookie(w, cookiePass, r.sign.encodePass(p, sid), 0)
					r.clearCookie(w, cookieTicket)
					next.ServeHTTP(w, req)
					return
				case errors.Is(err, errNoRoom):
					r.waitPage(w, req, v, rank, st, nil)
					return
				case errors.Is(err, ErrCallExpired):
					notice = err
				default:
					if errors.Is(err, ErrTicketUsed) {
						r.clearCookie(w, cookieTicket)
					}
					r.refuse(w, req, err)
					return
				}
			default:
				r.waitPage(w, req, v, rank, st, nil)
				return
			}
		}
		if notice == nil && v.maybeRoom() {
			p, err := r.admitDirectly(ctx, sid)
			switch {
			case err == nil:
				r.setCookie(w, cookiePass, r.sign.encodePass(p, sid), 0)
				next.ServeHTTP(w, req)
				return
			case !errors.Is(err, errNoRoom):
				r.refuse(w, req, err)
				return
			}
		}
		t, err := r.issueTicket(ctx)
		if err != nil {
			r.refuse(w, req, err)
			return
		}
		r.setCookie(w, cookieTicket, r.sign.encodeTicket(t, sid), r.cfg.TicketTTL)
		rank, st := v.rankOf(t)
		if st == rankStale { // the snapshot predates a round the database already started
			st = rankPending
		}
		r.waitPage(w, req, v, rank, st, notice)
	})
}

// EndSession ends the browser's admission session (after a booking, or when
// the visitor leaves) so that the next visitor can be called.
func (r *Room) EndSession(w http.ResponseWriter, req *http.Request) error {
	c, err := req.Cookie(cookiePass)
	if err != nil {
		return nil
	}
	r.clearCookie(w, cookiePass)
	sid := r.sessionID(w, req)
	p, ok := r.sign.decodePass(c.Value, sid)
	if !ok {
		return nil
	}
	return r.endSession(req.Context(), p, sid)
}

// Leave is a POST handler that ends the admission session and redirects
// (303) to redirect.
func (r *Room) Leave(redirect string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if err := r.EndSession(w, req); err != nil {
			r.refuse(w, req, err)
			return
		}
		http.Redirect(w, req, redirect, http.StatusSeeOther)
	})
}

// position is how many called-or-waiting tickets are ahead, plus one.
func (v *view) position(rank int64) int64 { return max(0, rank-v.admittedUpTo) }

// estimate is the expected wait for a position.
func (v *view) estimate(pos int64) time.Duration {
	rate := v.observed
	if rate <= 0 {
		rate = v.rate
	}
	if rate <= 0 || v.paused {
		return -1
	}
	return time.Duration(float64(pos) / rate * float64(time.Second))
}
