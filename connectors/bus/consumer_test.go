package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/app"
)

func TestPublishConsumeKeepsOrderPerKeyAcrossPartitions(t *testing.T) {
	const topic = "vaxhub.appointment.v1"
	_, cfg := startBroker(t, "", 4, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const keys, perKey = 12, 25
	var msgs []bus.Message
	for i := range perKey {
		for k := range keys {
			key := fmt.Sprintf("ref-%d", k)
			msgs = append(msgs, bus.Message{Topic: topic, Key: key, Value: envelope(key, i),
				Headers: map[string]string{"seq": strconv.Itoa(i)}})
		}
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	var got inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "order",
		Handler: func(_ context.Context, m bus.Message) error { got.add(m); return nil }})
	eventually(t, 20*time.Second, "every message", func() bool { return got.len() == keys*perKey })

	next := map[string]int{}
	parts := map[int]bool{}
	keyPart := map[string]int{}
	for _, m := range got.all() {
		seq, _ := strconv.Atoi(m.Headers["seq"])
		if seq != next[m.Key] {
			t.Fatalf("key %s: got seq %d, want %d", m.Key, seq, next[m.Key])
		}
		next[m.Key]++
		if p, ok := keyPart[m.Key]; ok && p != m.Partition {
			t.Fatalf("key %s in partitions %d and %d", m.Key, p, m.Partition)
		}
		keyPart[m.Key] = m.Partition
		parts[m.Partition] = true
	}
	if len(parts) < 2 {
		t.Fatalf("all keys landed in %d partition(s); the test needs several", len(parts))
	}
}

func TestConsumerNeverCommitsPastUnhandledMessage(t *testing.T) {
	const topic = "vaxhub.appointment.v1"
	_, cfg := startBroker(t, "", 4, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	var msgs []bus.Message
	for i := range 10 {
		for k := range 8 {
			key := fmt.Sprintf("ref-%d", k)
			msgs = append(msgs, bus.Message{Topic: topic, Key: key, Value: envelope(key, i),
				Headers: map[string]string{"seq": strconv.Itoa(i)}})
		}
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	// The handler blocks on ref-0's fourth message (seq 3) until shutdown
	// cancels it after ShutdownTimeout; everything else succeeds.
	const stuckKey, stuckSeq = "ref-0", 3
	var first inbox
	blocked := make(chan bus.Message, 1)
	c := runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "never-past",
		ShutdownTimeout: 300 * time.Millisecond, HandlerTimeout: time.Minute,
		Handler: func(ctx context.Context, m bus.Message) error {
			if m.Key == stuckKey && m.Headers["seq"] == strconv.Itoa(stuckSeq) {
				select {
				case blocked <- m:
				default:
				}
				<-ctx.Done()
				return ctx.Err()
			}
			first.add(m)
			return nil
		}})
	var stuck bus.Message
	select {
	case stuck = <-blocked:
	case <-ctx.Done():
		t.Fatal("the handler never reached the blocking message")
	}
	// Other partitions finish while ref-0's partition is stuck.
	eventually(t, 20*time.Second, "the other partitions", func() bool {
		perKey := map[string]int{}
		for _, m := range first.all() {
			if m.Partition != stuck.Partition {
				perKey[m.Key]++
			} else if _, ok := perKey[m.Key]; !ok {
				perKey[m.Key] = 0 // seen, in the stuck partition
			}
		}
		if len(perKey) < 8 {
			return false
		}
		for _, m := range first.all() {
			if m.Partition != stuck.Partition && perKey[m.Key] != 10 {
				return false
			}
		}
		return true
	})
	time.Sleep(300 * time.Millisecond)
	c.stop(t)
	handledInStuckPartition := map[string]int{}
	for _, m := range first.all() {
		if m.Partition == stuck.Partition {
			handledInStuckPartition[m.Key]++
			if m.Key == stuckKey {
				if seq, _ := strconv.Atoi(m.Headers["seq"]); seq > stuckSeq {
					t.Fatalf("ref-0 seq %d handled after the stuck seq %d", seq, stuckSeq)
				}
			}
		}
	}

	// Restart the group: the stuck message comes again, nothing committed comes again.
	var second inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "never-past",
		Handler: func(_ context.Context, m bus.Message) error { second.add(m); return nil }})
	eventually(t, 20*time.Second, "all messages handled once over both runs", func() bool {
		return first.len()+second.len() >= len(msgs)
	})
	time.Sleep(200 * time.Millisecond)
	redelivered := false
	for _, m := range second.all() {
		if m.Partition != stuck.Partition {
			t.Fatalf("committed message redelivered: partition %d offset %d", m.Partition, m.Offset)
		}
		if m.Offset < stuck.Offset {
			t.Fatalf("message before the stuck one redelivered: offset %d < %d", m.Offset, stuck.Offset)
		}
		if m.Offset == stuck.Offset {
			redelivered = true
		}
	}
	if !redelivered {
		t.Fatalf("the unhandled message (partition %d offset %d) was not redelivered", stuck.Partition, stuck.Offset)
	}
	if got := first.len() + second.len(); got != len(msgs) {
		t.Fatalf("handled %d messages over both runs, want %d", got, len(msgs))
	}
}

// schemaValidator stands in for schemas.Validator: an envelope must be a JSON
// object with a subject.
type schemaValidator struct{}

func (schemaValidator) ValidateMessage(b []byte) error {
	if len(b) == 0 || b[0] != '{' {
		return errors.New("envelope is not a JSON object")
	}
	return nil
}

func TestPoisonMessagesGoToDLQAndPartitionMovesOn(t *testing.T) {
	const topic = "vaxhub.appointment.v1"
	_, cfg := startBroker(t, "", 1, topic) // one partition: the poison sits in front of the good one
	cfg.DLQKey = []byte("the key that signs the dead letters of this test")
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx,
		bus.Message{Topic: topic, Key: "ref-1", Value: []byte("not json"), Headers: map[string]string{"correlation_id": "c-1"}},
		bus.Message{Topic: topic, Key: "ref-2", Value: envelope("ref-2", 0), Headers: map[string]string{"reject": "yes"}},
		bus.Message{Topic: topic, Key: "ref-3", Value: envelope("ref-3", 0)},
	); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := bus.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var good inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "poison", Name: "booking-mailer",
		Validator: schemaValidator{}, Metrics: metrics, MaxRetries: 3,
		Handler: func(_ context.Context, m bus.Message) error {
			if m.Headers["reject"] == "yes" {
				return bus.Permanent(errors.New("resident unknown (404)"))
			}
			good.add(m)
			return nil
		}})
	eventually(t, 20*time.Second, "the good message after two poison ones", func() bool { return good.len() == 1 })
	if k := good.all()[0].Key; k != "ref-3" {
		t.Fatalf("handled %s, want ref-3", k)
	}

	var dls []bus.DeadLetter
	eventually(t, 10*time.Second, "two dead letters", func() bool {
		dls, err = bus.ListDLQ(ctx, cfg, 10)
		return err == nil && len(dls) == 2
	})
	byKey := map[string]bus.DeadLetter{}
	for _, d := range dls {
		byKey[d.Key] = d
	}
	invalid, rejected := byKey["ref-1"], byKey["ref-2"]
	if string(invalid.Value) != "not json" || invalid.Headers["correlation_id"] != "c-1" {
		t.Fatalf("dead letter lost the original value or headers: %+v", invalid)
	}
	for _, d := range []bus.DeadLetter{invalid, rejected} {
		for _, h := range []string{bus.HeaderDLQReason, bus.HeaderDLQTopic, bus.HeaderDLQPartition, bus.HeaderDLQOffset, bus.HeaderDLQHandler, bus.HeaderDLQTime} {
			if d.Headers[h] == "" {
				t.Fatalf("dead letter %s lacks header %s: %v", d.ID, h, d.Headers)
			}
		}
		if d.OriginTopic() != topic || d.Handler() != "booking-mailer" {
			t.Fatalf("dead letter %s: topic %q handler %q", d.ID, d.OriginTopic(), d.Handler())
		}
	}
	if got := invalid.Reason(); !containsAll(got, "invalid message", "not a JSON object") {
		t.Fatalf("schema reason %q", got)
	}
	if got := rejected.Reason(); !containsAll(got, "permanent", "404") {
		t.Fatalf("permanent reason %q", got)
	}
	if got := metricSum(t, reg, "vaxhub_consumer_dead_lettered_total"); got != 2 {
		t.Fatalf("dead-lettered metric %v, want 2", got)
	}
	if got := metricSum(t, reg, "vaxhub_consumer_retried_total"); got != 0 {
		t.Fatalf("a permanent failure was retried %v times", got)
	}

	// Show and replay: the replayed original reaches the handler again.
	shown, err := bus.ShowDLQ(ctx, cfg, rejected.ID)
	if err != nil || shown.Key != "ref-2" {
		t.Fatalf("show %s: %+v, %v", rejected.ID, shown, err)
	}
	if _, err := bus.ShowDLQ(ctx, cfg, "0:999"); !errors.Is(err, bus.ErrDLQNotFound) {
		t.Fatalf("show missing: %v", err)
	}
	n, err := bus.ReplayDLQ(ctx, cfg, invalid.ID)
	if err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	eventually(t, 10*time.Second, "the replayed message dead-lettered again", func() bool {
		dls, err = bus.ListDLQ(ctx, cfg, 0)
		return err == nil && len(dls) == 3
	})
	last := dls[2]
	if last.Key != "ref-1" || last.Headers[bus.HeaderDLQReplayOf] != invalid.ID || last.Headers["correlation_id"] != "c-1" {
		t.Fatalf("replayed message: %+v", last)
	}

	// A "dead letter" written by anyone else (any consumer's user may write
	// the dead-letter topic) is not put back on an event topic: unsigned,
	// signed with another key, or a genuine one whose value was changed.
	forger, err := bus.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	forge := func(value string, sign []byte) bus.Message {
		h := map[string]string{bus.HeaderDLQReason: "timeout", bus.HeaderDLQTopic: topic, bus.HeaderDLQPartition: "0",
			bus.HeaderDLQOffset: "1", bus.HeaderDLQHandler: "booking-mailer", bus.HeaderDLQTime: "2026-12-01T20:00:00Z"}
		if sign != nil {
			h[bus.HeaderDLQSignature] = bus.SignDeadLetter(sign, h, "ref-9", []byte(`{"forged":true}`))
		}
		return bus.Message{Topic: bus.DLQTopic, Key: "ref-9", Value: []byte(value), Headers: h}
	}
	if err := forger.Publish(ctx, forge(`{"forged":true}`, nil), forge(`{"forged":true}`, []byte("another key")),
		forge(`{"forged":"changed"}`, cfg.DLQKey)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the three forged dead letters", func() bool {
		dls, err = bus.ListDLQ(ctx, cfg, 0)
		return err == nil && len(dls) == 6
	})
	for _, d := range dls[3:] {
		if n, err := bus.ReplayDLQ(ctx, cfg, d.ID); !errors.Is(err, bus.ErrDLQNotSigned) || n != 0 {
			t.Errorf("replay of forged dead letter %s: %d, %v; want ErrDLQNotSigned", d.ID, n, err)
		}
	}
	if n, err := bus.ReplayDLQ(ctx, cfg, "all"); !errors.Is(err, bus.ErrDLQNotSigned) || n != 0 {
		t.Errorf("replay all with forged dead letters among them: %d, %v; want nothing replayed", n, err)
	}
	noKey := cfg
	noKey.DLQKey = nil
	if _, err := bus.ReplayDLQ(ctx, noKey, invalid.ID); err == nil {
		t.Error("replay without the signing key succeeded")
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// metricSum sums every series of the named metric family.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func TestTransientErrorIsRetriedThenSucceeds(t *testing.T) {
	const topic = "vaxhub.stock.v1"
	_, cfg := startBroker(t, "", 1, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx,
		bus.Message{Topic: topic, Key: "riesa/comirnaty", Value: envelope("riesa/comirnaty", 0)},
		bus.Message{Topic: topic, Key: "riesa/comirnaty", Value: envelope("riesa/comirnaty", 1)},
	); err != nil {
		t.Fatal(err)
	}
	var attempts atomic.Int32
	var got inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "transient", MaxRetries: 5,
		Handler: func(_ context.Context, m bus.Message) error {
			if m.Offset == 0 && attempts.Add(1) < 3 {
				return errors.New("SAP answered 503")
			}
			got.add(m)
			return nil
		}})
	eventually(t, 20*time.Second, "both messages", func() bool { return got.len() == 2 })
	if a := attempts.Load(); a != 3 {
		t.Fatalf("first message attempted %d times, want 3", a)
	}
	if ms := got.all(); ms[0].Offset != 0 || ms[1].Offset != 1 {
		t.Fatalf("order: %d, %d", ms[0].Offset, ms[1].Offset)
	}
	if dls, err := bus.ListDLQ(ctx, cfg, 0); err != nil || len(dls) != 0 {
		t.Fatalf("dead letters after a transient error: %v, %v", dls, err)
	}
}

func TestGracefulShutdownFinishesInFlightHandlerAndCommits(t *testing.T) {
	const topic = "vaxhub.resident.v1"
	_, cfg := startBroker(t, "", 1, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Publish(ctx,
		bus.Message{Topic: topic, Key: "r-1", Value: envelope("r-1", 0), Headers: map[string]string{"correlation_id": "req-42"}},
		bus.Message{Topic: topic, Key: "r-1", Value: envelope("r-1", 1)},
	); err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	var once sync.Once
	var finished atomic.Bool
	var handlerCtxErr atomic.Value
	var corr atomic.Value
	c := runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "graceful", ShutdownTimeout: 10 * time.Second,
		Middleware: []bus.Middleware{bus.CorrelationIDMiddleware},
		Handler: func(ctx context.Context, m bus.Message) error {
			if m.Offset != 0 {
				return nil
			}
			corr.Store(app.CorrelationID(ctx))
			once.Do(func() { close(started) })
			time.Sleep(500 * time.Millisecond) // slow work, running when shutdown begins
			handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
			finished.Store(true)
			return nil
		}})
	<-started
	c.stop(t) // cancels while the handler runs; returns after it finished
	if !finished.Load() {
		t.Fatal("shutdown returned before the in-flight handler finished")
	}
	if e := handlerCtxErr.Load(); e != "<nil>" {
		t.Fatalf("the in-flight handler's context was cancelled by shutdown: %v", e)
	}
	if got := corr.Load(); got != "req-42" {
		t.Fatalf("correlation ID in handler context: %v", got)
	}
	// The finished message was committed: a new member starts after it.
	var again inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg, Topic: topic, Group: "graceful",
		Handler: func(_ context.Context, m bus.Message) error { again.add(m); return nil }})
	eventually(t, 20*time.Second, "the message after the in-flight one", func() bool { return again.len() >= 1 })
	time.Sleep(200 * time.Millisecond)
	for _, m := range again.all() {
		if m.Offset == 0 {
			t.Fatal("the message finished during shutdown was not committed")
		}
	}
}
