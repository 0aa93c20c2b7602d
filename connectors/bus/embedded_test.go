package bus_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

func TestEmbeddedBrokerKeepsEventsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const topic = "vaxhub.appointment.v1"
	e, cfg := startBroker(t, dir, 3, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []bus.Message
	for i := range 10 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Sprintf("k%d", i%4), Value: envelope("k", i)})
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	addr := e.Addrs()[0]
	e.Close()

	e2, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: dir})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer e2.Close()
	var got inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: bus.Config{Brokers: e2.Addrs()}, Topic: topic, Group: "restart",
		Handler: func(_ context.Context, m bus.Message) error { got.add(m); return nil }})
	eventually(t, 20*time.Second, "10 events after restart", func() bool { return got.len() == 10 })
}
