package bus_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// store.Outbox is the relay's store, without either package importing the other.
var _ bus.OutboxStore = (*store.Outbox)(nil)
var _ bus.OutboxNotifier = (*store.Outbox)(nil)

const relayTopic = "vaxhub.appointment.v1"

// insertEvent writes one outbox row the way a use case does: lock the
// aggregate (here a per-key counter row), then insert, in one transaction
// that stays open for hold before committing.
func insertEvent(ctx context.Context, pool *pgxpool.Pool, key string, hold time.Duration) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var seq int
		if err := tx.QueryRow(ctx, `INSERT INTO relay_test_seq (key, n) VALUES ($1, 1)
			ON CONFLICT (key) DO UPDATE SET n = relay_test_seq.n + 1 RETURNING n`, key).Scan(&seq); err != nil {
			return err
		}
		id := uuid.Must(uuid.NewV7()).String()
		if err := store.InsertOutbox(ctx, tx, store.OutboxInsert{EventID: id, Topic: relayTopic, Key: key,
			Type: "appointment.booked", Payload: fmt.Appendf(nil, `{"id":%q,"subject":%q,"seq":%d}`, id, key, seq)}); err != nil {
			return err
		}
		time.Sleep(hold)
		return nil
	})
}

func newRelayDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool := storetest.NewPool(t)
	if _, err := pool.Exec(context.Background(), `CREATE TABLE relay_test_seq (key text PRIMARY KEY, n int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return pool
}

type relayFixture struct {
	relay  *bus.Relay
	outbox *store.Outbox
	cancel context.CancelFunc
	done   chan struct{}
}

func startRelay(t *testing.T, pool *pgxpool.Pool, pub bus.Publisher) *relayFixture {
	t.Helper()
	ob := store.NewOutbox(pool)
	r, err := bus.NewRelay(ob, pub, bus.RelayConfig{PollInterval: 50 * time.Millisecond, LeaseInterval: 500 * time.Millisecond,
		BackoffMax: 500 * time.Millisecond, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &relayFixture{relay: r, outbox: ob, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(f.done); _ = r.Run(ctx) }()
	t.Cleanup(f.stop)
	return f
}

func (f *relayFixture) stop() {
	f.cancel()
	<-f.done
	f.outbox.Close()
}

// published reads every message on the topic with a fresh group and returns
// the sequence numbers per key in consumption order.
type seen struct {
	mu    sync.Mutex
	byKey map[string][]int
	ids   map[string]int
}

func consumeSeqs(t *testing.T, cfg bus.Config, group string) *seen {
	s := &seen{byKey: map[string][]int{}, ids: map[string]int{}}
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: relayTopic, Group: group,
		Handler: func(_ context.Context, m bus.Message) error {
			var env struct {
				ID      string `json:"id"`
				Subject string `json:"subject"`
				Seq     int    `json:"seq"`
			}
			if err := json.Unmarshal(m.Value, &env); err != nil {
				return bus.Permanent(err)
			}
			if m.Headers[bus.HeaderEventID] != env.ID || m.Key != env.Subject {
				return bus.Permanent(fmt.Errorf("headers %v do not match envelope %+v", m.Headers, env))
			}
			s.mu.Lock()
			s.byKey[m.Key] = append(s.byKey[m.Key], env.Seq)
			s.ids[env.ID]++
			s.mu.Unlock()
			return nil
		}})
	return s
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ids)
}

// checkOrder: per key, first deliveries come in sequence 1, 2, 3, ... with
// none missing (duplicates of earlier ones are allowed: at least once).
func (s *seen) checkOrder(t *testing.T, want map[string]int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, n := range want {
		next := 1
		for _, seq := range s.byKey[key] {
			switch {
			case seq == next:
				next++
			case seq < next: // a redelivery of an earlier one
			default:
				t.Fatalf("key %s: seq %d arrived before %d (got %v)", key, seq, next, s.byKey[key])
			}
		}
		if next-1 != n {
			t.Fatalf("key %s: %d of %d events arrived", key, next-1, n)
		}
	}
}

func backlog(t *testing.T, pool *pgxpool.Pool) int64 {
	n, err := store.NewOutbox(pool).Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRelayPublishesEveryRowInKeyOrderDespiteLateCommits(t *testing.T) {
	_, cfg := startBroker(t, "", 4, relayTopic)
	pool := newRelayDB(t)
	startRelay(t, pool, newPublisher(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	const writers, perWriter, keys = 16, 25, 10
	want := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for range perWriter {
				key := fmt.Sprintf("ref-%d", rng.IntN(keys))
				hold := time.Duration(rng.IntN(5)) * time.Millisecond
				if rng.IntN(10) == 0 {
					hold = time.Duration(100+rng.IntN(200)) * time.Millisecond // later ids commit meanwhile
				}
				if err := insertEvent(ctx, pool, key, hold); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				want[key]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := writers * perWriter
	eventually(t, 20*time.Second, "an empty outbox", func() bool { return backlog(t, pool) == 0 })
	s := consumeSeqs(t, cfg, "relay-check")
	eventually(t, 20*time.Second, "every event on the topic", func() bool { return s.distinct() == total })
	s.checkOrder(t, want)
}

// recording wraps the real publisher and notes who published what.
type recording struct {
	bus.Publisher
	mu  sync.Mutex
	ids []string
}

func (r *recording) Publish(ctx context.Context, msgs ...bus.Message) error {
	err := r.Publisher.Publish(ctx, msgs...)
	if err == nil {
		r.mu.Lock()
		for _, m := range msgs {
			r.ids = append(r.ids, m.Headers[bus.HeaderEventID])
		}
		r.mu.Unlock()
	}
	return err
}

func (r *recording) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func TestRelayShardHasOneOwnerAndFailsOver(t *testing.T) {
	_, cfg := startBroker(t, "", 4, relayTopic)
	pool := newRelayDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	pubA, pubB := &recording{Publisher: newPublisher(t, cfg)}, &recording{Publisher: newPublisher(t, cfg)}
	a := startRelay(t, pool, pubA)
	eventually(t, 5*time.Second, "relay A to lease every shard", func() bool { return len(a.relay.Owned()) == bus.OutboxShards })
	b := startRelay(t, pool, pubB)
	for i := range 40 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i%8), 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the first events published", func() bool { return backlog(t, pool) == 0 })
	time.Sleep(time.Second) // two lease intervals
	if n := len(b.relay.Owned()); n != 0 || pubB.count() != 0 {
		t.Fatalf("relay B holds %d shards and published %d rows while A holds all", n, pubB.count())
	}

	// A crashes: its lease connection dies without unlocking. B takes over
	// within a few seconds (A, still running, competes for the freed shards
	// too: each shard ends up with exactly one owner).
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND classid = 7261002 AND granted
		  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "every shard owned again", func() bool {
		return len(a.relay.Owned())+len(b.relay.Owned()) == bus.OutboxShards
	})
	ownedA := map[int]bool{}
	for _, s := range a.relay.Owned() {
		ownedA[s] = true
	}
	for _, s := range b.relay.Owned() {
		if ownedA[s] {
			t.Fatalf("shard %d owned by both relays", s)
		}
	}

	// A stops for good: B owns everything within a few seconds and publishes.
	start := time.Now()
	a.stop()
	eventually(t, 5*time.Second, "relay B to own every shard", func() bool { return len(b.relay.Owned()) == bus.OutboxShards })
	t.Logf("takeover after stop: %v", time.Since(start).Round(10*time.Millisecond))
	before := pubB.count()
	for i := range 8 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "B to publish the new events", func() bool { return backlog(t, pool) == 0 && pubB.count() >= before+8 })
	s := consumeSeqs(t, cfg, "failover-check")
	eventually(t, 20*time.Second, "every event on the topic", func() bool { return s.distinct() == 56 })
	s.checkOrder(t, map[string]int{"ref-0": 7, "ref-1": 7, "ref-2": 7, "ref-3": 7, "ref-4": 7, "ref-5": 7, "ref-6": 7, "ref-7": 7})
}

func TestRelayWaitsOutBrokerOutage(t *testing.T) {
	dir := t.TempDir()
	e, cfg := startBroker(t, dir, 4, relayTopic)
	pool := newRelayDB(t)
	startRelay(t, pool, newPublisher(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	for i := range 20 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i%5), 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the first events published", func() bool { return backlog(t, pool) == 0 })

	addr := e.Addrs()[0]
	e.Close()
	for i := range 20 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i%5), 0); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	if n := backlog(t, pool); n != 20 {
		t.Fatalf("backlog with the broker down: %d, want 20 (rows wait, none marked sent)", n)
	}

	e2, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: dir, Users: testUsers})
	if err != nil {
		t.Fatalf("restart broker on %s: %v", addr, err)
	}
	t.Cleanup(e2.Close)
	eventually(t, 20*time.Second, "the waiting rows published after the broker came back", func() bool { return backlog(t, pool) == 0 })
	s := consumeSeqs(t, cfg, "outage-check")
	eventually(t, 20*time.Second, "every event on the topic", func() bool { return s.distinct() == 40 })
	s.checkOrder(t, map[string]int{"ref-0": 8, "ref-1": 8, "ref-2": 8, "ref-3": 8, "ref-4": 8})
}
