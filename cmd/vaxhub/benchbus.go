package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vaxhub/vaxhub/connectors/audit"
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/schemas"
)

// benchBus measures the event backbone on a fresh database and an embedded
// broker: outbox-to-broker throughput of the relay against a bare kafka-go
// writer, and end-to-end latency from commit to a consumer's handling.
func benchBus(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("vaxhub bench bus", flag.ContinueOnError)
	n := fs.Int("n", 20000, "outbox rows for the throughput run (and messages for the bare writer)")
	rate := fs.Int("rate", 1000, "bookings per second in the latency run")
	duration := fs.Duration("duration", 10*time.Second, "length of the latency run")
	partitions := fs.Int("partitions", 6, "partitions of the topics")
	dbURL := fs.String("database-url", "", "PostgreSQL server to create the bench database on (env DATABASE_URL)")
	verbose := fs.Bool("v", false, "log the bus's warnings")
	handlerKind := fs.String("handler", "audit", "latency run's consumer: audit (the audit trail: one PostgreSQL transaction per event) or noop")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &usageError{helpShown}
		}
		return &usageError{err.Error()}
	}
	if *handlerKind != "audit" && *handlerKind != "noop" {
		return &usageError{"bench bus: -handler is audit or noop"}
	}
	if *n < 1 || *rate < 1 || *duration <= 0 || *partitions < 1 {
		return &usageError{"bench bus: -n, -rate, -duration and -partitions must be positive"}
	}
	dsn := defaultConfig().DatabaseURL
	if v := os.Getenv("DATABASE_URL"); v != "" {
		dsn = v
	}
	if *dbURL != "" {
		dsn = *dbURL
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	if *verbose {
		log = newLogger("warn")
	}
	out := os.Stdout

	// A fresh database, dropped afterwards.
	benchURL, drop, err := createBenchDatabase(ctx, dsn)
	if err != nil {
		return err
	}
	defer drop()
	pcfg, err := pgxpool.ParseConfig(benchURL)
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	pcfg.MaxConns = 32 // the inserters, the relay and one handler per partition never wait for a connection
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return fmt.Errorf("bench database: %w", err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		return err
	}
	reg, err := schemas.Load()
	if err != nil {
		return err
	}

	// One embedded broker for every phase, with SASL/SCRAM like every
	// embedded broker: the bench connects as a superuser of its own.
	benchPassword := newBusPassword()
	broker, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: *partitions,
		Users: []bus.User{{Name: "bench", Password: benchPassword, Superuser: true}}})
	if err != nil {
		return err
	}
	defer broker.Close()
	kcfg, err := broker.Config("bench")
	if err != nil {
		return err
	}
	kcfg.BatchTimeout = 5 * time.Millisecond // the bus default, explicit
	mech, err := scram.Mechanism(scram.SHA256, "bench", benchPassword)
	if err != nil {
		return err
	}
	const topic, bareTopic = "vaxhub.appointment.v1", "vaxhub.bench.bare"
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.EnsureTopics(tctx, kcfg, []bus.TopicSpec{{Name: topic, Partitions: *partitions},
		{Name: bareTopic, Partitions: *partitions}, {Name: bus.DLQTopic, Partitions: *partitions}})
	cancel()
	if err != nil {
		return err
	}

	// Realistic appointment.booked envelopes, as core/app writes them.
	events := make([]store.OutboxInsert, *n)
	size := 0
	for i := range events {
		events[i] = bookedRow(time.Now())
		size += len(events[i].Payload)
	}
	if err := reg.ValidateMessage(events[0].Payload); err != nil {
		return fmt.Errorf("bench event does not match its schema: %w", err)
	}
	avg := size / len(events)
	fmt.Fprintf(out, "vaxhub bench bus: embedded broker %s, topic %s (%d partitions), fresh database on %s\n",
		broker.Addrs()[0], topic, *partitions, maskURL(dsn))
	fmt.Fprintf(out, "  messages: appointment.booked envelopes, %d bytes on average (+ event_id, event_type, correlation_id headers)\n", avg)

	// Phase 1: N committed rows, then the relay, timed until all are marked sent.
	for start := 0; start < len(events); start += 1000 {
		batch := events[start:min(start+1000, len(events))]
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.InsertOutbox(ctx, tx, batch...) }); err != nil {
			return err
		}
	}
	pub, err := bus.NewPublisher(kcfg)
	if err != nil {
		return err
	}
	defer pub.Close()
	outbox := &countingOutbox{Outbox: store.NewOutbox(pool), done: make(chan struct{})}
	outbox.target.Store(int64(*n))
	defer outbox.Close()
	relayCfg := bus.RelayConfig{Logger: log}
	relay, err := bus.NewRelay(outbox, pub, relayCfg)
	if err != nil {
		return err
	}
	batchMsgs, batchBytes := pub.BatchLimits()
	relayBatch := min(500, batchMsgs) // bus.RelayConfig's default BatchSize, capped by the publisher's batch
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopRun()
	t0 := time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); _ = relay.Run(runCtx) }()
	select {
	case <-outbox.done:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("bench bus: relay sent %d of %d rows in 5 minutes", outbox.sent.Load(), *n)
	case <-ctx.Done():
		return ctx.Err()
	}
	relayTime := time.Since(t0)
	relayRate := float64(*n) / relayTime.Seconds()
	fmt.Fprintf(out, "  outbox -> broker (relay):    %7d events in %8.3fs = %9.0f events/s  (batch %d msgs, %d ms batch timeout, acks=all)\n",
		*n, relayTime.Seconds(), relayRate, relayBatch, kcfg.BatchTimeout.Milliseconds())

	// Phase 2: a bare kafka-go Writer, same broker, message size, headers and batches.
	w := &kafka.Writer{Addr: kafka.TCP(kcfg.Brokers...), Balancer: &kafka.Hash{}, RequiredAcks: kafka.RequireAll,
		BatchTimeout: kcfg.BatchTimeout, BatchSize: batchMsgs, BatchBytes: batchBytes, AllowAutoTopicCreation: false,
		Transport: &kafka.Transport{SASL: mech}} // SASL as the relay's publisher
	msgs := make([]kafka.Message, len(events))
	for i, e := range events {
		msgs[i] = kafka.Message{Topic: bareTopic, Key: []byte(e.Key), Value: e.Payload, Headers: []kafka.Header{
			{Key: bus.HeaderEventID, Value: []byte(e.EventID)}, {Key: bus.HeaderEventType, Value: []byte(e.Type)},
			{Key: bus.HeaderCorrelationID, Value: []byte(e.Headers[bus.HeaderCorrelationID])}}}
	}
	t0 = time.Now()
	for start := 0; start < len(msgs); start += relayBatch {
		if err := w.WriteMessages(ctx, msgs[start:min(start+relayBatch, len(msgs))]...); err != nil {
			w.Close()
			return fmt.Errorf("bare writer: %w", err)
		}
	}
	bareTime := time.Since(t0)
	w.Close()
	bareRate := float64(*n) / bareTime.Seconds()
	fmt.Fprintf(out, "  bare kafka-go Writer:        %7d events in %8.3fs = %9.0f events/s  (same batches, WriteMessages of %d)\n",
		*n, bareTime.Seconds(), bareRate, relayBatch)
	verdict := "goal >= 0.50 met"
	if relayRate/bareRate < 0.5 {
		verdict = "goal >= 0.50 NOT met"
	}
	fmt.Fprintf(out, "  ratio relay/bare:            %.2f  (%s)\n", relayRate/bareRate, verdict)

	// Phase 3: end-to-end latency at a target rate, with the relay running
	// and the audit consumer (one PostgreSQL transaction per event) handling.
	lat := &latencies{committed: map[string]time.Time{}, handled: map[string]time.Time{}}
	trail, err := audit.New(ctx, pool, log)
	if err != nil {
		return err
	}
	var backlogHandled atomic.Int64
	cons, err := bus.NewConsumer(bus.ConsumerConfig{Kafka: kcfg, Topic: topic, Group: "vaxhub-bench-" + randHex(4), Name: "bench",
		Validator: reg, Logger: log, Middleware: []bus.Middleware{bus.CorrelationIDMiddleware},
		Handler: func(ctx context.Context, m bus.Message) error {
			if *handlerKind == "audit" {
				if err := trail.Handle(ctx, m); err != nil {
					return err
				}
			}
			if !lat.handle(m.Headers[bus.HeaderEventID], time.Now()) {
				backlogHandled.Add(1)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	wg.Add(1)
	go func() { defer wg.Done(); _ = cons.Run(runCtx) }()
	// Let the consumer join and work through phase 1's events first (its
	// rate says what the handler can take).
	drainStart := time.Now()
	deadline := drainStart.Add(2 * time.Minute)
	for backlogHandled.Load() < int64(*n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("bench bus: the consumer handled %d of %d backlog events in 2 minutes", backlogHandled.Load(), *n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	drain := time.Since(drainStart)
	fmt.Fprintf(out, "  consumer (%s handler, %d partitions): joined and drained the %d-event backlog in %.3fs = %.0f events/s\n",
		*handlerKind, *partitions, *n, drain.Seconds(), float64(*n)/drain.Seconds())

	total := int(float64(*rate) * duration.Seconds())
	work := make(chan store.OutboxInsert, total)
	var insertErr atomic.Value
	var iwg sync.WaitGroup
	for range 16 { // inserters: enough for the rate, each one transaction at a time
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			for row := range work {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.InsertOutbox(ctx, tx, row) })
				if err != nil {
					insertErr.Store(err)
					continue
				}
				lat.commit(row.EventID, time.Now())
			}
		}()
	}
	t0 = time.Now()
	interval := time.Second / time.Duration(*rate)
	for i := range total {
		if d := time.Until(t0.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		work <- bookedRow(time.Now())
	}
	close(work)
	iwg.Wait()
	loadTime := time.Since(t0)
	if v := insertErr.Load(); v != nil {
		return fmt.Errorf("bench bus: insert: %w", v.(error))
	}
	deadline = time.Now().Add(30 * time.Second)
	for lat.done() < total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	ds := lat.durations()
	if len(ds) < total {
		fmt.Fprintf(out, "  WARNING: only %d of %d events were handled within 30 s after the load\n", len(ds), total)
	}
	if len(ds) == 0 {
		return errors.New("bench bus: no event handled in the latency run")
	}
	p50, p99, pmax := percentile(ds, 50), percentile(ds, 99), ds[len(ds)-1]
	verdict = "goal p99 < 100 ms met"
	if p99 >= 100*time.Millisecond {
		verdict = "goal p99 < 100 ms NOT met"
	}
	fmt.Fprintf(out, "  end-to-end commit -> handled: %d bookings at target %d/s (achieved %.0f/s over %.1fs), %d handled\n",
		total, *rate, float64(total)/loadTime.Seconds(), loadTime.Seconds(), len(ds))
	fmt.Fprintf(out, "    bookings simulated by inserting one appointment.booked outbox row per transaction via store.InsertOutbox (not core/app);\n")
	if *handlerKind == "audit" {
		fmt.Fprintf(out, "    handled = the audit consumer committed its PostgreSQL transaction (schema validated on consume)\n")
	} else {
		fmt.Fprintf(out, "    handled = a no-op handler returned (schema validated on consume)\n")
	}
	fmt.Fprintf(out, "    p50 %.1f ms   p99 %.1f ms   max %.1f ms   (%s)\n", ms(p50), ms(p99), ms(pmax), verdict)
	return nil
}

// bookedRow is an outbox row of a realistic appointment.booked event (two
// doses, three weeks apart), as core/app writes it.
func bookedRow(now time.Time) store.OutboxInsert {
	start := now.Add(48 * time.Hour).Truncate(15 * time.Minute)
	ap := &domain.Appointment{Reference: domain.NewReference(), ResidentID: domain.NewID(), CentreID: "eich-treuen",
		Product: domain.Comirnaty, PriorityGroup: 2, Doses: []domain.Dose{
			{Number: 1, Product: domain.Comirnaty, Start: start, End: start.Add(15 * time.Minute)},
			{Number: 2, Product: domain.Comirnaty, Start: start.AddDate(0, 0, 21), End: start.AddDate(0, 0, 21).Add(15 * time.Minute)}}}
	e := domain.BookedEvent(ap, "bench-"+domain.NewID(), now)
	return store.OutboxInsert{EventID: e.ID, Topic: e.Topic(), Key: e.Subject, Type: e.Type, Payload: e.JSON(),
		Headers: map[string]string{bus.HeaderCorrelationID: e.CorrelationID, bus.HeaderEventType: e.Type}}
}

// countingOutbox reports when target rows have been marked sent.
type countingOutbox struct {
	*store.Outbox
	sent, target atomic.Int64
	once         sync.Once
	done         chan struct{}
}

func (c *countingOutbox) MarkSent(ctx context.Context, ids []int64) error {
	if err := c.Outbox.MarkSent(ctx, ids); err != nil {
		return err
	}
	if c.sent.Add(int64(len(ids))) >= c.target.Load() {
		c.once.Do(func() { close(c.done) })
	}
	return nil
}

// latencies pairs commit and handling times by event ID.
type latencies struct {
	mu        sync.Mutex
	committed map[string]time.Time
	handled   map[string]time.Time
}

func (l *latencies) commit(id string, t time.Time) {
	l.mu.Lock()
	l.committed[id] = t
	l.mu.Unlock()
}

// handle records the handling of a latency-run event; it reports false for
// other events (the throughput run's).
func (l *latencies) handle(id string, t time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.committed[id]; !ok {
		return false
	}
	if _, dup := l.handled[id]; !dup {
		l.handled[id] = t
	}
	return true
}

func (l *latencies) done() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.handled)
}

func (l *latencies) durations() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]time.Duration, 0, len(l.handled))
	for id, h := range l.handled {
		out = append(out, max(h.Sub(l.committed[id]), 0))
	}
	slices.Sort(out)
	return out
}

func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// createBenchDatabase creates vaxhub_bench_<random> on the server of dsn and
// returns its URL and a function that drops it.
func createBenchDatabase(ctx context.Context, dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", nil, fmt.Errorf("database url: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	admin, err := pgx.Connect(cctx, dsn)
	if err != nil && strings.Contains(err.Error(), "does not exist") {
		au := *u
		au.Path = "/postgres"
		admin, err = pgx.Connect(cctx, au.String())
	}
	if err != nil {
		return "", nil, fmt.Errorf("PostgreSQL at %s does not answer (start it, e.g. with deploy/local/ensure-postgres.sh): %w", maskURL(dsn), err)
	}
	name := "vaxhub_bench_" + randHex(6)
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		return "", nil, fmt.Errorf("create bench database: %w", err)
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "vaxhub bench bus: drop database %s: %v\n", name, err)
		}
		admin.Close(dctx)
	}
	bu := *u
	bu.Path = "/" + name
	return bu.String(), drop, nil
}
