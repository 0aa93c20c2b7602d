package bus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
)

// Router runs several consumers that share the Kafka configuration,
// validator, dead-letter publisher, middleware, inbox and metrics. Every
// consumer of the hub is built through one, so that its middleware reaches
// all of them: CorrelationIDMiddleware always (outermost), then what Use
// adds, then, when the defaults carry an Inbox, ExactlyOnce under each
// handler's name.
type Router struct {
	defaults  ConsumerConfig
	consumers []*Consumer
	started   bool
}

// NewRouter returns a router whose consumers start from defaults (Topic,
// Group, Name and Handler are ignored there).
func NewRouter(defaults ConsumerConfig) *Router {
	if defaults.Logger == nil {
		defaults.Logger = slog.Default()
	}
	defaults.Middleware = append([]Middleware{CorrelationIDMiddleware}, defaults.Middleware...)
	return &Router{defaults: defaults}
}

// Use appends middleware applied to every handler added afterwards.
func (r *Router) Use(mws ...Middleware) {
	r.defaults.Middleware = append(append([]Middleware(nil), r.defaults.Middleware...), mws...)
}

// Handle adds a consumer of topic in group; name identifies the handler
// (dlq-handler header, metrics), default group.
func (r *Router) Handle(name, topic, group string, h HandlerFunc, mws ...Middleware) error {
	if r.started {
		return errors.New("bus: router: Handle after Run")
	}
	cfg := r.defaults
	cfg.Name, cfg.Topic, cfg.Group, cfg.Handler = name, topic, group, h
	cfg.Middleware = append(append([]Middleware(nil), r.defaults.Middleware...), mws...)
	c, err := NewConsumer(cfg)
	if err != nil {
		return err
	}
	r.consumers = append(r.consumers, c)
	return nil
}

// Run runs every consumer until ctx is cancelled and all have shut down.
func (r *Router) Run(ctx context.Context) error {
	r.started = true
	var wg sync.WaitGroup
	errs := make([]error, len(r.consumers))
	for i, c := range r.consumers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.Run(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
