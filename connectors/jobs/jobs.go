// Package jobs is the durable job queue that outbound connectors share:
// "do this at time T, retry until done". A job is enqueued in the caller's
// transaction, leased by one worker at a time (FOR UPDATE SKIP LOCKED, with a
// lease that runs out if the worker dies), retried with back-off and jitter,
// and ends done or dead with its reason. Schedule and Cancel make it a
// scheduler for time-based triggers on the clock the queue is given. It
// never decides what a job does; handlers do.
package jobs

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
)

// Namespace is the queue's migration namespace in component_migrations.
const Namespace = "jobs"

// channel is the LISTEN/NOTIFY channel on which a due job is announced; the
// payload is its kind.
const channel = "vaxhub_jobs"

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the queue's table. New calls it; it is safe to
// call from several replicas at once.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = pgmigrate.Apply(ctx, pool, Namespace, sub)
	return err
}

// Clock tells the time that decides what is due. app.Clock fits; so does
// *hubtest.Clock.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// DB runs a statement: a pgx.Tx (enqueue in the caller's transaction, so the
// job exists if and only if the caller's change commits) or a pool.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Job is a job to enqueue or schedule.
type Job struct {
	// Kind names the handler (for example "print.letter"); one queue
	// leases only the kinds it has handlers for.
	Kind string
	// Key makes the job idempotent within its kind: Enqueue with a key that
	// exists does nothing; Schedule moves the existing job.
	Key string
	// Payload is the handler's input (JSON; IDs, not personal data).
	// Default {}.
	Payload json.RawMessage
	// RunAt is when the job is due. Default: now on the queue's clock.
	RunAt time.Time
}

// Attempt is one run of a job, as a handler sees it.
type Attempt struct {
	ID, Kind, Key string
	Payload       json.RawMessage
	// Number counts the attempts, this one included (1 for the first).
	Number int
	// Last is true when a failure of this attempt kills the job.
	Last bool
}

// Handler runs one attempt of a job. nil: done. An error wrapped with
// Permanent: dead at once with the error as reason. Any other error: retried
// after a back-off, dead after MaxAttempts. Its ctx ends before the lease does.
type Handler func(ctx context.Context, a Attempt) error

// ErrPermanent marks an error that retrying cannot fix.
var ErrPermanent = errors.New("permanent")

// Permanent wraps err so that the job dies at once with err as reason.
func Permanent(err error) error { return fmt.Errorf("%w: %w", ErrPermanent, err) }

// Config configures a queue.
type Config struct {
	// Clock decides what is due. Default: the system clock. A scheduler of
	// the core's triggers is given the core's clock (app.Clock).
	Clock Clock
	// Workers run jobs in parallel in this process. Default 4.
	Workers int
	// Lease is how long a worker holds a job; a job whose worker died is
	// run again after it. A handler's context ends at 9/10 of it. Default 2 min.
	Lease time.Duration
	// MaxAttempts before a failing job is dead. Default 50.
	MaxAttempts int
	// RetryMin and RetryMax bound the back-off after a failed attempt: it
	// doubles from RetryMin up to RetryMax, and a random half of it is
	// jitter. Defaults 2 s and 5 min.
	RetryMin, RetryMax time.Duration
	// PollInterval is the longest a worker waits before it looks for due
	// jobs again when no notification woke it (LISTEN/NOTIFY lost, or a job
	// came due on the clock). Default 1 s.
	PollInterval time.Duration
	// Registerer receives the queue's metrics (vaxhub_jobs_*). Default: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 50
	}
	if c.RetryMin == 0 {
		c.RetryMin = 2 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Workers < 1 || c.MaxAttempts < 1:
		return errors.New("jobs: Workers and MaxAttempts must be positive")
	case c.Lease <= 0 || c.PollInterval <= 0:
		return errors.New("jobs: Lease and PollInterval must be positive")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("jobs: retry back-off %v..%v", c.RetryMin, c.RetryMax)
	}
	return nil
}

// Queue enqueues jobs and runs those of the kinds it has handlers for.
type Queue struct {
	pool    *pgxpool.Pool
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	wake    chan struct{}

	mu       sync.RWMutex
	handlers map[string]Handler
	kinds    []string
}

// New applies the queue's migrations and returns a queue on pool.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Queue, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("jobs: a pool is required")
	}
	if err := Migrate(ctx, pool); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Queue{pool: pool, cfg: cfg, log: cfg.Logger.With("component", "jobs"), metrics: m,
		wake: make(chan struct{}, 1), handlers: map[string]Handler{}}, nil
}

// Handle makes the queue run jobs of kind with h. Call it before Run.
func (q *Queue) Handle(kind string, h Handler) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.handlers[kind]; !ok {
		q.kinds = append(q.kinds, kind)
	}
	q.handlers[kind] = h
}

func (q *Queue) handler(kind string) (Handler, []string) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.handlers[kind], q.kinds
}

// Now is the time on the queue's clock.
func (q *Queue) Now() time.Time { return q.cfg.Clock.Now() }

func (q *Queue) prepare(j Job) (Job, error) {
	if j.Kind == "" || j.Key == "" {
		return j, errors.New("jobs: a job needs a kind and a key")
	}
	if len(j.Payload) == 0 {
		j.Payload = json.RawMessage("{}")
	}
	if !json.Valid(j.Payload) {
		return j, fmt.Errorf("jobs: the payload of %s %s is not JSON", j.Kind, j.Key)
	}
	if j.RunAt.IsZero() {
		j.RunAt = q.Now()
	}
	return j, nil
}

// Enqueue adds j unless a job of its kind with its key exists (done, dead or
// pending); it reports whether it added one. Given a transaction, the job
// exists once the transaction commits, and a due job wakes a worker then.
func (q *Queue) Enqueue(ctx context.Context, db DB, j Job) (bool, error) {
	j, err := q.prepare(j)
	if err != nil {
		return false, err
	}
	tag, err := db.Exec(ctx, `INSERT INTO jobs (id, kind, key, payload, run_at) VALUES ($1, $2, $3, $4::jsonb, $5)
		ON CONFLICT (kind, key) DO NOTHING`, uuid.New(), j.Kind, j.Key, string(j.Payload), j.RunAt)
	if err != nil {
		return false, fmt.Errorf("jobs: enqueue %s %s: %w", j.Kind, j.Key, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	q.metrics.enqueued.WithLabelValues(j.Kind).Inc()
	return true, q.announce(ctx, db, j)
}

// announce wakes the workers of every replica when j is due now (on commit,
// if db is a transaction).
func (q *Queue) announce(ctx context.Context, db DB, j Job) error {
	if j.RunAt.After(q.Now()) {
		return nil
	}
	if _, err := db.Exec(ctx, `SELECT pg_notify($1, $2)`, channel, j.Kind); err != nil {
		return fmt.Errorf("jobs: notify %s: %w", j.Kind, err)
	}
	return nil
}

// Wake makes an idle worker of this process look for due jobs now (for
// example after a test moved the clock).
func (q *Queue) Wake() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Run runs Workers workers and a listener for new jobs until ctx ends; the
// job a worker holds then is released to be run again at once.
func (q *Queue) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range q.cfg.Workers {
		wg.Go(func() { q.worker(ctx) })
	}
	wg.Go(func() { q.listen(ctx) })
	wg.Wait()
	return nil
}

func (q *Queue) worker(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for ctx.Err() == nil {
		ran, err := q.RunOne(ctx)
		if err != nil && ctx.Err() == nil {
			q.log.Warn("running a job failed", "err", err)
		}
		if ran && err == nil {
			continue
		}
		t.Reset(q.idle(ctx))
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-t.C:
		}
	}
}

// idle is how long a worker with nothing to do waits: until the next job of
// its kinds is due, at most PollInterval.
func (q *Queue) idle(ctx context.Context) time.Duration {
	_, kinds := q.handler("")
	var next *time.Time
	if err := q.pool.QueryRow(ctx, `SELECT min(run_at) FROM jobs WHERE status = 'pending' AND kind = ANY($1)`, kinds).Scan(&next); err != nil || next == nil {
		return q.cfg.PollInterval
	}
	return min(max(next.Sub(q.Now()), 5*time.Millisecond), q.cfg.PollInterval)
}

// listen turns notifications of due jobs of this queue's kinds into wake-ups,
// on a connection of its own, reconnecting after a failure.
func (q *Queue) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := q.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		q.log.Warn("listening for new jobs failed; polling until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(q.cfg.PollInterval):
		}
	}
}

func (q *Queue) listenOnce(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, q.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
		return err
	}
	q.Wake() // anything announced while nobody listened
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if h, _ := q.handler(n.Payload); h != nil {
			q.Wake()
		}
	}
}

// RunOne leases the job of this queue's kinds that is due first, if any,
// runs it and records the outcome. It reports whether it ran one.
func (q *Queue) RunOne(ctx context.Context) (bool, error) {
	_, kinds := q.handler("")
	if len(kinds) == 0 {
		return false, nil
	}
	if ctx.Err() != nil {
		return false, nil
	}
	now := q.Now()
	token := uuid.New()
	var a Attempt
	// The lease is taken on a context that shutdown does not cancel: a
	// statement cancelled after it committed would leave a job leased by
	// nobody, hidden until its lease ran out. A lease taken while the queue
	// was stopping is handed back at once below.
	lctx, lcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer lcancel()
	err := q.pool.QueryRow(lctx, `UPDATE jobs SET attempts = attempts + 1, lease = $1, run_at = $2, updated_at = now()
		WHERE id = (SELECT id FROM jobs WHERE status = 'pending' AND run_at <= $3 AND kind = ANY($4)
			ORDER BY run_at LIMIT 1 FOR UPDATE SKIP LOCKED)
		RETURNING id::text, kind, key, payload, attempts`, token, now.Add(q.cfg.Lease), now, kinds).
		Scan(&a.ID, &a.Kind, &a.Key, &a.Payload, &a.Number)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("jobs: lease: %w", err)
	}
	if ctx.Err() != nil {
		// Stopping: give the job back untried, due at once for whoever runs next.
		if _, err := q.pool.Exec(lctx, `UPDATE jobs SET attempts = attempts - 1, lease = NULL, run_at = $3, updated_at = now()
			WHERE id = $1 AND lease = $2`, a.ID, token, now); err != nil {
			return false, fmt.Errorf("jobs: hand back %s %s at shutdown: %w", a.Kind, a.ID, err)
		}
		q.metrics.attempts.WithLabelValues(a.Kind, "released").Inc()
		return false, nil
	}
	q.Wake() // another idle worker may find the next one
	a.Last = a.Number >= q.cfg.MaxAttempts
	h, _ := q.handler(a.Kind)
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, q.cfg.Lease*9/10)
	runErr := run(hctx, h, a)
	cancel()
	q.metrics.seconds.WithLabelValues(a.Kind).Observe(time.Since(start).Seconds())
	return true, q.record(ctx, a, token, runErr)
}

func run(ctx context.Context, h Handler, a Attempt) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("jobs: handler panicked: %v", p)
		}
	}()
	return h(ctx, a)
}

// record writes the outcome of an attempt, unless the lease was lost
// meanwhile (run out and taken, rescheduled or cancelled). It is written even
// when ctx has ended: the work may have been done.
func (q *Queue) record(ctx context.Context, a Attempt, token uuid.UUID, runErr error) error {
	rctx := context.WithoutCancel(ctx)
	log := q.log.With("job", a.ID, "kind", a.Kind, "attempt", a.Number)
	var outcome, sql string
	args := []any{a.ID, token}
	switch {
	case runErr == nil:
		outcome, sql = "done", `UPDATE jobs SET status = 'done', lease = NULL, last_error = NULL, finished_at = now(), updated_at = now()
			WHERE id = $1 AND lease = $2`
	case errors.Is(runErr, ErrPermanent) || a.Last:
		outcome, sql = "dead", `UPDATE jobs SET status = 'dead', lease = NULL, last_error = $3, finished_at = now(), updated_at = now()
			WHERE id = $1 AND lease = $2`
		args = append(args, runErr.Error())
	default:
		wait := q.backoff(a.Number)
		outcome = "retry"
		if ctx.Err() != nil {
			wait, outcome = 0, "released" // shutting down: due again at once, for whoever runs next
		}
		sql = `UPDATE jobs SET lease = NULL, run_at = $3, last_error = $4, updated_at = now() WHERE id = $1 AND lease = $2`
		args = append(args, q.Now().Add(wait), runErr.Error())
		log = log.With("retry_in", wait)
	}
	tag, err := q.pool.Exec(rctx, sql, args...)
	if err != nil {
		return fmt.Errorf("jobs: record %s %s: %w", a.Kind, a.ID, err)
	}
	if tag.RowsAffected() == 0 {
		outcome = "lease_lost"
		log.Warn("job outcome not recorded: its lease ran out, or it was rescheduled or cancelled meanwhile", "err", runErr)
	} else if outcome == "dead" {
		log.Error("job dead", "reason", runErr)
	} else if runErr != nil {
		log.Warn("job failed; will retry", "err", runErr)
	}
	q.metrics.attempts.WithLabelValues(a.Kind, outcome).Inc()
	return nil
}

// backoff is the wait after failed attempt n: RetryMin doubled n-1 times, at
// most RetryMax, of which a random half is jitter.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.RetryMin
	for i := 1; i < n && d < q.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, q.cfg.RetryMax)
	return d/2 + rand.N(d/2+1)
}

// State is a job as stored, for inspection.
type State struct {
	ID, Kind, Key, Status, LastError string
	Payload                          json.RawMessage
	RunAt                            time.Time
	Attempts                         int
}

// ErrNotFound: no job of that kind and key.
var ErrNotFound = errors.New("jobs: no such job")

// Lookup reads the job of kind with key.
func (q *Queue) Lookup(ctx context.Context, kind, key string) (State, error) {
	var s State
	err := q.pool.QueryRow(ctx, `SELECT id::text, kind, key, status, COALESCE(last_error, ''), payload, run_at, attempts
		FROM jobs WHERE kind = $1 AND key = $2`, kind, key).
		Scan(&s.ID, &s.Kind, &s.Key, &s.Status, &s.LastError, &s.Payload, &s.RunAt, &s.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, fmt.Errorf("%w: %s %s", ErrNotFound, kind, key)
	}
	return s, err
}
