package bus_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

// testLogger is quiet unless VAXHUB_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("VAXHUB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testUsers are the users of the test brokers: "admin", a superuser (the
// runtime tests need no narrower one; TestEmbeddedBrokerEnforcesACLs tests
// the ACLs).
var testUsers = []bus.User{{Name: "admin", Password: "admin-password-of-the-tests", Superuser: true}}

// startBroker starts an embedded broker on a free port for t and creates the
// topics (each with the given partitions) plus the dead-letter topic. cfg is
// the superuser's.
func startBroker(t *testing.T, dataDir string, partitions int, topics ...string) (*bus.Embedded, bus.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", DataDir: dataDir, Partitions: partitions, Users: testUsers})
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(e.Close)
	cfg, err := e.Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	specs := []bus.TopicSpec{{Name: bus.DLQTopic, Partitions: 2}}
	for _, tp := range topics {
		specs = append(specs, bus.TopicSpec{Name: tp, Partitions: partitions})
	}
	if err := bus.EnsureTopics(ctx, cfg, specs); err != nil {
		t.Fatalf("ensure topics: %v", err)
	}
	return e, cfg
}

func newPublisher(t *testing.T, cfg bus.Config) *bus.KafkaPublisher {
	t.Helper()
	p, err := bus.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// consumerFixture runs a consumer in the background until stopped.
type consumerFixture struct {
	cancel context.CancelFunc
	done   chan error
}

func runConsumer(t *testing.T, cfg bus.ConsumerConfig) *consumerFixture {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin, cfg.BackoffMax = 10*time.Millisecond, 50*time.Millisecond
	}
	c, err := bus.NewConsumer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &consumerFixture{cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- c.Run(ctx) }()
	t.Cleanup(func() { f.stop(t) })
	return f
}

// stop cancels the consumer and waits for its graceful shutdown.
func (f *consumerFixture) stop(t *testing.T) {
	t.Helper()
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("consumer: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("consumer did not shut down")
	}
}

// inbox collects handled messages.
type inbox struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (b *inbox) add(m bus.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
}

func (b *inbox) all() []bus.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]bus.Message(nil), b.msgs...)
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func envelope(key string, seq int) []byte {
	return fmt.Appendf(nil, `{"subject":%q,"seq":%d}`, key, seq)
}
