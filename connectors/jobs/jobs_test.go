package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/internal/bustest"
)

var ctx = context.Background()

// clock is a clock the test moves.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2021, 4, 12, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func logger() *slog.Logger { return bustest.Logger() }

func newQueue(t *testing.T, pool *pgxpool.Pool, cfg jobs.Config) *jobs.Queue {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = logger()
	}
	q, err := jobs.New(ctx, pool, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// run runs q until the test ends and waits for it to stop.
func run(t *testing.T, q *jobs.Queue) context.CancelFunc {
	t.Helper()
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = q.Run(c) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func count(t *testing.T, p *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := p.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// runs counts the runs of each job key.
type runs struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *runs) add(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[key]++
	return r.n[key]
}

func (r *runs) get(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[key]
}

func TestEachJobRunsExactlyOnceUnderParallelWorkersOnTwoPools(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	pools := []*pgxpool.Pool{newPool(t, dsn), newPool(t, dsn)}
	var inFlight sync.Map
	var seen runs
	var overlaps atomic.Int32
	handler := func(_ context.Context, a jobs.Attempt) error {
		if _, busy := inFlight.LoadOrStore(a.Key, true); busy {
			overlaps.Add(1)
		}
		time.Sleep(time.Duration(rand.N(3)) * time.Millisecond)
		seen.add(a.Key)
		inFlight.Delete(a.Key)
		return nil
	}
	var queues []*jobs.Queue
	for _, p := range pools { // two replicas, four workers each
		q := newQueue(t, p, jobs.Config{Workers: 4, Lease: time.Minute, PollInterval: 50 * time.Millisecond})
		q.Handle("test.work", handler)
		queues = append(queues, q)
		run(t, q)
	}
	const n = 300
	for i := range n {
		j := jobs.Job{Kind: "test.work", Key: fmt.Sprintf("job-%03d", i), Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
		q, p := queues[i%2], pools[i%2]
		if i%3 == 0 { // in the caller's transaction
			if err := pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error { _, err := q.Enqueue(ctx, tx, j); return err }); err != nil {
				t.Fatal(err)
			}
		} else if _, err := q.Enqueue(ctx, p, j); err != nil {
			t.Fatal(err)
		}
		if created, err := queues[(i+1)%2].Enqueue(ctx, pools[(i+1)%2], j); err != nil || created { // the same key again
			t.Fatalf("enqueueing %s twice: created=%v, %v", j.Key, created, err)
		}
	}
	waitFor(t, "every job to be done", 60*time.Second, func() bool {
		return count(t, pools[0], `SELECT count(*) FROM jobs WHERE status = 'done'`) == n
	})
	for i := range n {
		if got := seen.get(fmt.Sprintf("job-%03d", i)); got != 1 {
			t.Errorf("job-%03d ran %d times", i, got)
		}
	}
	if o := overlaps.Load(); o != 0 {
		t.Errorf("%d runs started while another run of the same job held its lease", o)
	}
	if c := count(t, pools[1], `SELECT count(*) FROM jobs WHERE attempts <> 1 OR lease IS NOT NULL`); c != 0 {
		t.Errorf("%d jobs took more than one attempt or kept a lease", c)
	}
}

func TestKilledWorkersJobIsRetriedAfterTheLeaseRunsOut(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	clk := newClock()
	const lease = time.Minute
	// Replica A takes the job and dies in the middle of it: its context ends,
	// its connections are gone, the handler never returns in time.
	poolA := newPool(t, dsn)
	qa := newQueue(t, poolA, jobs.Config{Clock: clk, Workers: 1, Lease: lease, PollInterval: 20 * time.Millisecond})
	started, hang := make(chan struct{}), make(chan struct{})
	qa.Handle("test.work", func(context.Context, jobs.Attempt) error {
		close(started)
		<-hang
		return nil
	})
	killA := run(t, qa)
	t.Cleanup(func() { close(hang) }) // cleanups run last first: before run's waits for qa
	if _, err := qa.Enqueue(ctx, poolA, jobs.Job{Kind: "test.work", Key: "k"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("replica A did not start the job")
	}
	killA()
	poolA.Close()

	poolB := newPool(t, dsn)
	qb := newQueue(t, poolB, jobs.Config{Clock: clk, Workers: 2, Lease: lease, PollInterval: 20 * time.Millisecond})
	var ranB atomic.Int32
	qb.Handle("test.work", func(_ context.Context, a jobs.Attempt) error {
		if a.Number != 2 {
			t.Errorf("B's attempt is number %d, want 2", a.Number)
		}
		ranB.Add(1)
		return nil
	})
	run(t, qb)
	time.Sleep(300 * time.Millisecond)
	clk.Advance(lease - time.Second)
	qb.Wake()
	time.Sleep(300 * time.Millisecond)
	if ranB.Load() != 0 {
		t.Fatal("replica B ran the job while A's lease held")
	}
	clk.Advance(2 * time.Second)
	waitFor(t, "replica B to run the job after the lease ran out", 10*time.Second, func() bool { return ranB.Load() == 1 })
	waitFor(t, "the job to be done", 10*time.Second, func() bool {
		s, err := qb.Lookup(ctx, "test.work", "k")
		return err == nil && s.Status == "done" && s.Attempts == 2
	})
	time.Sleep(200 * time.Millisecond)
	if n := ranB.Load(); n != 1 {
		t.Errorf("B ran the job %d times", n)
	}
}

func TestFailingJobBacksOffAndEndsDeadWithItsReason(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	pool := newPool(t, dsn)
	cases := []struct {
		name         string
		err          error
		wantAttempts int
	}{
		{"transient until the attempt limit", errors.New("gateway answered 503"), 4},
		{"permanent at once", jobs.Permanent(errors.New("gateway answered 422: no such recipient")), 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := newClock()
			reg := prometheus.NewRegistry()
			q := newQueue(t, pool, jobs.Config{Clock: clk, MaxAttempts: 4, RetryMin: time.Minute, RetryMax: 3 * time.Minute, Registerer: reg})
			kind := "test.fail." + strings.Fields(c.name)[0]
			var lastSeen bool
			q.Handle(kind, func(_ context.Context, a jobs.Attempt) error { lastSeen = a.Last; return c.err })
			if _, err := q.Enqueue(ctx, pool, jobs.Job{Kind: kind, Key: "k"}); err != nil {
				t.Fatal(err)
			}
			bounds := []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute} // the cap
			for attempt := 1; ; attempt++ {
				ran, err := q.RunOne(ctx)
				if err != nil || !ran {
					t.Fatalf("attempt %d: ran=%v, %v", attempt, ran, err)
				}
				s, err := q.Lookup(ctx, kind, "k")
				if err != nil {
					t.Fatal(err)
				}
				if s.Status == "dead" {
					if attempt != c.wantAttempts || s.Attempts != c.wantAttempts || !lastSeen && c.wantAttempts > 1 {
						t.Errorf("dead after %d attempts (recorded %d, last flagged %v), want %d", attempt, s.Attempts, lastSeen, c.wantAttempts)
					}
					if s.LastError != c.err.Error() {
						t.Errorf("reason %q, want %q", s.LastError, c.err)
					}
					break
				}
				if attempt >= c.wantAttempts {
					t.Fatalf("still %s after %d attempts", s.Status, attempt)
				}
				wait := s.RunAt.Sub(clk.Now())
				d := bounds[min(attempt-1, len(bounds)-1)]
				if wait < d/2 || wait > d {
					t.Errorf("back-off after attempt %d: %v, want within [%v, %v]", attempt, wait, d/2, d)
				}
				if s.Status != "pending" || s.LastError != c.err.Error() {
					t.Errorf("after attempt %d: %+v", attempt, s)
				}
				clk.Advance(wait - time.Second)
				if ran, _ := q.RunOne(ctx); ran {
					t.Fatalf("attempt %d ran before its back-off was over", attempt+1)
				}
				clk.Advance(time.Second)
			}
			retries := (metric(t, reg, kind, "retry"))
			dead := (metric(t, reg, kind, "dead"))
			if int(retries) != c.wantAttempts-1 || dead != 1 {
				t.Errorf("metrics: %v retries, %v dead; want %d and 1", retries, dead, c.wantAttempts-1)
			}
		})
	}
}

func metric(t *testing.T, reg *prometheus.Registry, kind, outcome string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "vaxhub_jobs_attempts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["outcome"] == outcome {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestJobDueLaterIsNotRunEarly(t *testing.T) {
	pool := newPool(t, storetest.NewDatabase(t))
	clk := newClock()
	q := newQueue(t, pool, jobs.Config{Clock: clk, PollInterval: 20 * time.Millisecond})
	var seen runs
	q.Handle("test.later", func(_ context.Context, a jobs.Attempt) error { seen.add(a.Key); return nil })
	run(t, q)
	if _, err := q.Enqueue(ctx, pool, jobs.Job{Kind: "test.later", Key: "k", RunAt: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	clk.Advance(time.Hour - time.Second)
	time.Sleep(300 * time.Millisecond)
	if seen.get("k") != 0 {
		t.Fatal("the job ran before it was due")
	}
	clk.Advance(time.Second)
	waitFor(t, "the job to run once due", 5*time.Second, func() bool { return seen.get("k") == 1 })
	clk.Advance(24 * time.Hour)
	time.Sleep(200 * time.Millisecond)
	if n := seen.get("k"); n != 1 {
		t.Errorf("ran %d times", n)
	}
}

// TestNewJobWakesAnIdleWorkerAtOnce: with polling once a minute, a job
// enqueued from another replica still runs at once, and one enqueued in a
// transaction only when it commits.
func TestNewJobWakesAnIdleWorkerAtOnce(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	worker, other := newPool(t, dsn), newPool(t, dsn)
	q := newQueue(t, worker, jobs.Config{PollInterval: time.Minute})
	var seen runs
	q.Handle("test.now", func(_ context.Context, a jobs.Attempt) error { seen.add(a.Key); return nil })
	run(t, q)
	waitFor(t, "the listener", 10*time.Second, func() bool {
		return count(t, other, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN vaxhub_jobs'`) == 1
	})
	time.Sleep(100 * time.Millisecond) // the workers are idle, for a minute
	producer := newQueue(t, other, jobs.Config{})
	start := time.Now()
	if _, err := producer.Enqueue(ctx, other, jobs.Job{Kind: "test.now", Key: "standalone"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the standalone job", 5*time.Second, func() bool { return seen.get("standalone") == 1 })
	t.Logf("a job enqueued by another replica ran after %v", time.Since(start).Round(time.Millisecond))

	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := producer.Enqueue(ctx, tx, jobs.Job{Kind: "test.now", Key: "in-tx"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if seen.get("in-tx") != 0 {
		t.Fatal("a job ran before its transaction committed")
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the job of the committed transaction", 5*time.Second, func() bool { return seen.get("in-tx") == 1 })
}
