package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Run starts each of fns in its own goroutine with a context that ends when
// ctx ends or stop is called, and returns stop: it cancels them, waits until
// every one has returned, then runs after (may be nil). A function that
// returns an error while running is logged with its name. Connectors use it
// for their pollers and consumers.
func Run(ctx context.Context, log *slog.Logger, after func(), fns map[string]func(context.Context) error) (stop func()) {
	return RunReporting(ctx, log, after, fns, nil)
}

// RunReporting is Run, and also hands failed (when not nil) every function
// that returns, with or without an error, before stop is called: the hub's
// supervisor stops the hub then, rather than run on without the part.
func RunReporting(ctx context.Context, log *slog.Logger, after func(), fns map[string]func(context.Context) error, failed func(error)) (stop func()) {
	if log == nil {
		log = slog.Default()
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-runCtx.Done():
		}
	}()
	var wg sync.WaitGroup
	for name, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn(runCtx)
			if err != nil && runCtx.Err() == nil {
				log.Error("stopped with an error", "part", name, "err", err)
			}
			if failed != nil && runCtx.Err() == nil {
				if err == nil {
					err = errors.New("returned while it should run")
				}
				failed(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if after != nil {
				after()
			}
		})
	}
}

// WaitOutOutages returns a copy of c for a consumer that calls an outside
// system: a transient failure (the system down, its breaker open) is retried
// without end, with a backoff capped at two seconds so that it catches up
// soon after the system is back, and the event waits in Kafka meanwhile.
// Permanent failures still go to the dead-letter topic (dlq when c has none).
func (c ConsumerConfig) WaitOutOutages(dlq Publisher) ConsumerConfig {
	c.MaxRetries = 1 << 30
	if c.BackoffMin == 0 {
		c.BackoffMin = 200 * time.Millisecond
	}
	if c.BackoffMax == 0 || c.BackoffMax > 2*time.Second {
		c.BackoffMax = 2 * time.Second
	}
	if c.DLQ == nil && dlq != nil {
		c.DLQ = dlq
	}
	return c
}
