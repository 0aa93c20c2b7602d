package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// OutboxShards is the number of outbox shards (core/store/migrations: the
// shard column is hashtext(key) mod 16).
const OutboxShards = 16

// RelayConfig configures the outbox relay.
type RelayConfig struct {
	// Shards is the number of outbox shards. Default OutboxShards.
	Shards int
	// BatchSize is the most rows published in one call. Default 500; it is
	// lowered to the publisher's BatchLimits so that one call is one produce
	// batch per partition (a failed earlier batch can then never be
	// overtaken by a later one of the same key).
	BatchSize int
	// BatchBytes is the most payload bytes in one call. Default 900 KiB (below
	// the broker's 1 MiB message.max.bytes, leaving room for headers).
	BatchBytes int64
	// PollInterval is how often the relay looks for rows when it is not
	// woken by a notification. Default 100 ms.
	PollInterval time.Duration
	// LeaseInterval is how often it tries to lease the shards it does not
	// hold, so that a dead replica's shards move within about this time.
	// Default 1 s.
	LeaseInterval time.Duration
	// BackoffMin and BackoffMax bound the wait after a broker or database
	// error. Rows stay unsent meanwhile; nothing is lost. Defaults 100 ms, 5 s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// BacklogInterval is how often the backlog gauge is refreshed. Default 5 s.
	BacklogInterval time.Duration
	Metrics         *Metrics
	Logger          *slog.Logger
}

func (c *RelayConfig) setDefaults() {
	if c.Shards == 0 {
		c.Shards = OutboxShards
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 900 << 10
	}
	if c.PollInterval == 0 {
		c.PollInterval = 100 * time.Millisecond
	}
	if c.LeaseInterval == 0 {
		c.LeaseInterval = time.Second
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.BacklogInterval == 0 {
		c.BacklogInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first thing wrong with c.
func (c *RelayConfig) Validate() error {
	switch {
	case c.Shards < 1:
		return errors.New("bus: relay: Shards must be positive")
	case c.BatchSize < 1 || c.BatchBytes < 1:
		return errors.New("bus: relay: BatchSize and BatchBytes must be positive")
	case c.PollInterval <= 0 || c.LeaseInterval <= 0 || c.BacklogInterval <= 0:
		return errors.New("bus: relay: intervals must be positive")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("bus: relay: backoff %v..%v", c.BackoffMin, c.BackoffMax)
	}
	return nil
}

// Relay publishes outbox rows to Kafka: for every shard it leases, the unsent
// rows in id order, marking them sent only after the broker acknowledged
// them. Delivery is at least once (a crash between publish and mark sends a
// row again); consumers deduplicate on the event ID.
type Relay struct {
	store OutboxStore
	pub   Publisher
	cfg   RelayConfig
	log   *slog.Logger

	mu    sync.Mutex
	owned map[int]func() // shard -> release
	rot   int

	health relayHealth // guarded by mu
}

// relayHealth is what Probe reports, updated by Run.
type relayHealth struct {
	running   bool
	lastRound time.Time // end of the last round without error; the start of Run before the first
	waiting   time.Time // created_at of the oldest row a failed round left unsent; zero when none
	lastErr   error
}

// NewRelay returns a relay; Run starts it.
func NewRelay(store OutboxStore, pub Publisher, cfg RelayConfig) (*Relay, error) {
	cfg.setDefaults()
	if lim, ok := pub.(interface{ BatchLimits() (int, int64) }); ok {
		n, b := lim.BatchLimits()
		cfg.BatchSize = min(cfg.BatchSize, n)
		cfg.BatchBytes = min(cfg.BatchBytes, b*9/10)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || pub == nil {
		return nil, errors.New("bus: relay: store and publisher are required")
	}
	return &Relay{
		store: store, pub: pub, cfg: cfg,
		log:   cfg.Logger.With("component", "bus.relay"),
		owned: map[int]func(){},
	}, nil
}

// Owned returns the shards this relay holds a lease on, sorted.
func (r *Relay) Owned() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int, 0, len(r.owned))
	for s := range r.owned {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Run relays until ctx is cancelled, then releases its leases and returns nil.
// Broker and database errors never end it: it backs off and resumes by itself.
func (r *Relay) Run(ctx context.Context) error {
	defer r.releaseAll()
	var wake <-chan struct{}
	if n, ok := r.store.(OutboxNotifier); ok {
		wake = n.Notifications(ctx)
	}
	var nextLease, nextBacklog time.Time
	failures := 0
	poll := time.NewTimer(0)
	defer poll.Stop()
	r.setRunning(true)
	defer r.setRunning(false)
	r.log.Info("relay started", "shards", r.cfg.Shards)
	for {
		if ctx.Err() != nil {
			r.log.Info("relay stopped")
			return nil
		}
		now := time.Now()
		if !now.Before(nextLease) {
			r.lease(ctx)
			nextLease = now.Add(r.cfg.LeaseInterval)
		}
		if !now.Before(nextBacklog) {
			if n, err := r.store.Backlog(ctx); err == nil {
				r.cfg.Metrics.backlog(n)
			}
			nextBacklog = now.Add(r.cfg.BacklogInterval)
		}
		n, full, err := r.round(ctx)
		r.roundDone(err, ctx.Err() != nil)
		if err != nil && ctx.Err() == nil {
			failures++
			r.cfg.Metrics.relayError()
			delay := expBackoff(failures-1, r.cfg.BackoffMin, r.cfg.BackoffMax)
			r.log.Warn("relay round failed; rows wait", "err", err, "published", n, "retry_in", delay)
			sleep(ctx.Done(), delay)
			continue
		}
		failures = 0
		if full {
			continue // more waiting; go on at once
		}
		wait := r.cfg.PollInterval
		if until := time.Until(nextLease); until < wait {
			wait = max(until, 0)
		}
		poll.Reset(wait)
		select {
		case <-ctx.Done():
		case <-poll.C:
		case <-wake:
			poll.Stop() // Go 1.23+ timers: no stale tick to drain
		}
	}
}

// RelayHealth is the relay's state as Probe reports it.
type RelayHealth struct {
	// Running is true while Run is relaying.
	Running bool
	// Shards is the number of outbox shards it holds a lease on (zero is
	// fine when other replicas hold them all).
	Shards int
	// LastRound is when its last round without error ended (the start of
	// Run before the first).
	LastRound time.Time
	// OldestWaiting is how long the oldest row that it read but could not
	// publish yet has been waiting; zero when its last round left nothing
	// behind.
	OldestWaiting time.Duration
	// LastError is why its last round failed; nil after a good one.
	LastError error
}

// Probe reports the relay's state and whether it relays: it is not ready when
// it is not running, when no round succeeded for maxLag, or when a row it
// could not publish has been waiting for longer than maxLag. It reads only
// what Run recorded: it costs no query and no connection.
func (r *Relay) Probe(maxLag time.Duration) (RelayHealth, error) {
	r.mu.Lock()
	h := r.health
	shards := len(r.owned)
	r.mu.Unlock()
	now := time.Now()
	out := RelayHealth{Running: h.running, Shards: shards, LastRound: h.lastRound, LastError: h.lastErr}
	if !h.waiting.IsZero() {
		out.OldestWaiting = max(now.Sub(h.waiting), 0)
	}
	cause := ""
	if h.lastErr != nil {
		cause = ": " + h.lastErr.Error()
	}
	since := max(now.Sub(h.lastRound), 0)
	switch {
	case !h.running:
		return out, errors.New("the outbox relay is not running")
	case out.OldestWaiting > maxLag || since > maxLag:
		return out, fmt.Errorf("the outbox relay is behind (limit %s): last good round %s ago, oldest unsent outbox row waiting %s%s",
			maxLag, since.Round(time.Millisecond), out.OldestWaiting.Round(time.Millisecond), cause)
	}
	return out, nil
}

func (r *Relay) setRunning(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health.running = on
	if on {
		r.health.lastRound = time.Now()
		r.health.waiting, r.health.lastErr = time.Time{}, nil
	}
}

// noteWaiting records the oldest row a round read; roundDone forgets it when
// the round published everything.
func (r *Relay) noteWaiting(created time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.health.waiting.IsZero() || created.Before(r.health.waiting) {
		r.health.waiting = created
	}
}

func (r *Relay) roundDone(err error, stopping bool) {
	if stopping {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.health.lastErr = err
		return
	}
	r.health.lastRound, r.health.waiting, r.health.lastErr = time.Now(), time.Time{}, nil
}

// lease tries to take every shard not held yet.
func (r *Relay) lease(ctx context.Context) {
	for s := 0; s < r.cfg.Shards; s++ {
		r.mu.Lock()
		_, have := r.owned[s]
		r.mu.Unlock()
		if have {
			continue
		}
		release, ok, err := r.store.TryLease(ctx, s)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warn("lease failed", "shard", s, "err", err)
			}
			break // the database is unreachable; try again next interval
		}
		if ok {
			r.mu.Lock()
			r.owned[s] = release
			r.mu.Unlock()
			r.log.Debug("shard leased", "shard", s)
		}
	}
	r.cfg.Metrics.shardsOwned(len(r.Owned()))
}

func (r *Relay) drop(s int) {
	r.mu.Lock()
	release := r.owned[s]
	delete(r.owned, s)
	r.mu.Unlock()
	if release != nil {
		release()
	}
	r.cfg.Metrics.shardsOwned(len(r.Owned()))
}

func (r *Relay) releaseAll() {
	for _, s := range r.Owned() {
		r.drop(s)
	}
}

// round publishes one batch gathered from the owned shards. full reports that
// the batch was full, so more rows are probably waiting.
func (r *Relay) round(ctx context.Context) (published int, full bool, err error) {
	shards := r.Owned()
	if len(shards) == 0 {
		return 0, false, nil
	}
	// One read for all owned shards, oldest rows first: no shard can starve
	// another, and a round costs one query however many shards are held.
	var errs []error
	rows, err := r.store.Pending(ctx, shards, r.cfg.BatchSize)
	if err != nil {
		// The leases are gone with their connection: give the shards up and
		// lease them again later (possibly after another relay did).
		for _, s := range shards {
			r.drop(s)
		}
		return 0, false, fmt.Errorf("shards %v: %w", shards, err)
	}
	full = len(rows) >= r.cfg.BatchSize
	if len(rows) > 0 {
		r.noteWaiting(rows[0].CreatedAt)
	}
	// Rows of one key come from one shard, in id order, contiguous. Chunks
	// go out one after another and the first failure stops the round, so a
	// later row of a key is never acknowledged before an earlier one.
	for len(rows) > 0 {
		n, size := 0, int64(0)
		for n < len(rows) && (n == 0 || size+int64(len(rows[n].Payload)) <= r.cfg.BatchBytes) {
			size += int64(len(rows[n].Payload))
			n++
		}
		chunk := rows[:n]
		rows = rows[n:]
		if err := r.publish(ctx, chunk); err != nil {
			return published, false, errors.Join(append(errs, err)...)
		}
		published += len(chunk)
	}
	return published, full, errors.Join(errs...)
}

func (r *Relay) publish(ctx context.Context, rows []OutboxRow) error {
	msgs := make([]Message, len(rows))
	ids := make([]int64, len(rows))
	var oldest time.Time
	for i, row := range rows {
		h := make(map[string]string, len(row.Headers)+2)
		for k, v := range row.Headers {
			h[k] = v
		}
		if _, ok := h[HeaderEventID]; !ok {
			h[HeaderEventID] = row.EventID
		}
		if _, ok := h[HeaderEventType]; !ok {
			h[HeaderEventType] = row.Type
		}
		msgs[i] = Message{Topic: row.Topic, Key: row.Key, Value: row.Payload, Headers: h}
		ids[i] = row.ID
		if oldest.IsZero() || row.CreatedAt.Before(oldest) {
			oldest = row.CreatedAt
		}
	}
	if err := r.pub.Publish(ctx, msgs...); err != nil {
		return fmt.Errorf("publish %d rows: %w", len(rows), err)
	}
	// Acknowledged: now, and only now, mark them. If this fails they are
	// published again later (at least once).
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := r.store.MarkSent(mctx, ids); err != nil {
		return fmt.Errorf("mark %d rows sent: %w", len(rows), err)
	}
	r.cfg.Metrics.published(len(rows), oldest)
	return nil
}
