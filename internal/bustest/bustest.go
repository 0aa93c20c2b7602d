// Package bustest starts the real event backbone for integration tests: an
// in-process Kafka-protocol broker on a free port with every event topic and
// the dead-letter topic, a publisher, and the outbox relay of a test's
// database. The broker requires SASL/SCRAM like every embedded broker; the
// tests connect as "tester", a superuser with a password made up per test.
// Test support only; nothing in production imports it.
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/schemas"
)

// Partitions is the partition count of every test topic.
const Partitions = 3

// User is the user every client of a test broker connects as.
const User = "tester"

// Bus is a running backbone.
type Bus struct {
	// Kafka is the configuration of the tester, a superuser.
	Kafka     bus.Config
	Broker    *bus.Embedded
	Publisher *bus.KafkaPublisher
	Schemas   *schemas.Registry
	Logger    *slog.Logger
}

// Logger logs to stderr when VAXHUB_TEST_LOG is set, else nowhere.
func Logger() *slog.Logger {
	if os.Getenv("VAXHUB_TEST_LOG") != "" {
		return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// Start starts a broker with the event topics (one per aggregate of the
// schema registry) and vaxhub.dlq, a publisher, and, when pool is not nil,
// the outbox relay of pool. Everything stops when the test ends.
func Start(t testing.TB, pool *pgxpool.Pool) *Bus {
	t.Helper()
	ctx := context.Background()
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: Partitions,
		Users: []bus.User{{Name: User, Password: hex.EncodeToString(pw), Superuser: true}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	kcfg, err := e.Config(User)
	if err != nil {
		t.Fatal(err)
	}
	b := &Bus{Kafka: kcfg, Broker: e, Schemas: reg, Logger: Logger()}
	specs := []bus.TopicSpec{{Name: bus.DLQTopic, Partitions: Partitions}}
	for _, topic := range EventTopics(reg) {
		specs = append(specs, bus.TopicSpec{Name: topic, Partitions: Partitions})
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := bus.EnsureTopics(tctx, b.Kafka, specs); err != nil {
		t.Fatal(err)
	}
	if b.Publisher, err = bus.NewPublisher(b.Kafka); err != nil {
		t.Fatal(err)
	}
	if pool == nil {
		t.Cleanup(func() { b.Publisher.Close() })
		return b
	}
	outbox := store.NewOutbox(pool)
	relay, err := bus.NewRelay(outbox, b.Publisher, bus.RelayConfig{Logger: b.Logger, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outbox.Close(); b.Publisher.Close() }) // after the relay stopped: cleanups run last-in first-out
	Background(t, "relay", relay.Run)
	return b
}

// EventTopics lists vaxhub.<aggregate>.v1 for every event type with a schema.
func EventTopics(reg *schemas.Registry) []string {
	seen := map[string]bool{}
	var out []string
	for _, typ := range reg.Types() {
		agg, _, _ := strings.Cut(typ, ".")
		if topic := "vaxhub." + agg + ".v1"; !seen[topic] {
			seen[topic] = true
			out = append(out, topic)
		}
	}
	return out
}

// KcatConfig is a librdkafka configuration file (kcat -F) for the tester.
func (b *Bus) KcatConfig(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kcat.conf")
	conf := fmt.Sprintf("bootstrap.servers=%s\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms=%s\nsasl.username=%s\nsasl.password=%s\n",
		strings.Join(b.Kafka.Brokers, ","), bus.EmbeddedMechanism, b.Kafka.SASL.Username, b.Kafka.SASL.Password)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Consumer is a consumer configuration with the broker, the schema
// validator and timings short enough for tests.
func (b *Bus) Consumer() bus.ConsumerConfig {
	return bus.ConsumerConfig{Kafka: b.Kafka, Validator: b.Schemas, Logger: b.Logger, MaxRetries: 3,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 300 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		SessionTimeout: 2 * time.Second, HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond}
}

// Background runs fn until the test ends, then cancels it and waits for it.
func Background(t testing.TB, name string, fn func(context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop within 20 s", name)
		}
	})
}
