package bus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunStopsEveryPartThenRunsAfter(t *testing.T) {
	var running, afterRan atomic.Int32
	part := func(ctx context.Context) error {
		running.Add(1)
		<-ctx.Done()
		time.Sleep(20 * time.Millisecond) // finishing in-flight work
		running.Add(-1)
		return nil
	}
	stop := Run(context.Background(), nil, func() {
		if running.Load() != 0 {
			t.Error("after ran before every part had returned")
		}
		afterRan.Add(1)
	}, map[string]func(context.Context) error{"a": part, "b": part, "failing": func(context.Context) error { return errors.New("boom") }})
	deadline := time.Now().Add(2 * time.Second)
	for running.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	stop()
	stop() // twice is fine
	if running.Load() != 0 || afterRan.Load() != 1 {
		t.Fatalf("running %d, after ran %d times; want 0 and 1", running.Load(), afterRan.Load())
	}
}

func TestRunStopsWhenTheParentContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	stop := Run(ctx, nil, nil, map[string]func(context.Context) error{"p": func(c context.Context) error {
		<-c.Done()
		close(done)
		return nil
	}})
	defer stop()
	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("the part did not see the parent's end")
	}
}

func TestWaitOutOutagesRetriesWithoutEndAndKeepsGivenSettings(t *testing.T) {
	pub := &KafkaPublisher{}
	c := ConsumerConfig{}.WaitOutOutages(pub)
	if c.MaxRetries < 1<<20 || c.BackoffMin != 200*time.Millisecond || c.BackoffMax != 2*time.Second || c.DLQ != pub {
		t.Fatalf("defaults: %+v", c)
	}
	given := ConsumerConfig{BackoffMin: 10 * time.Millisecond, BackoffMax: 300 * time.Millisecond}.WaitOutOutages(nil)
	if given.BackoffMin != 10*time.Millisecond || given.BackoffMax != 300*time.Millisecond || given.DLQ != nil {
		t.Fatalf("given settings changed: %+v", given)
	}
	if capped := (ConsumerConfig{BackoffMax: time.Minute}).WaitOutOutages(nil); capped.BackoffMax != 2*time.Second {
		t.Fatalf("backoff not capped: %v", capped.BackoffMax)
	}
}
