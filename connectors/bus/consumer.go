package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// ConsumerConfig configures one consumer: one topic, one consumer group, one
// handler.
type ConsumerConfig struct {
	Kafka Config
	// Topic to consume and Group (the Kafka consumer group) to consume it in.
	Topic string
	Group string
	// Name identifies the handler in the dlq-handler header, logs and
	// metrics. Default: Group.
	Name    string
	Handler HandlerFunc
	// Middleware wraps Handler; Middleware[0] is the outermost.
	Middleware []Middleware
	// Inbox, when set, makes the handler exactly-once: ExactlyOnce(Inbox,
	// Name) wraps it inside Middleware (the innermost), so a redelivered
	// event is skipped and the handler's effect commits with its record.
	Inbox Inbox
	// Validator, when set, checks every envelope before the handler sees it;
	// an invalid one is dead-lettered with the reason.
	Validator Validator
	// DLQ publishes dead letters. Default: a KafkaPublisher on Kafka, closed
	// when the consumer stops.
	DLQ Publisher
	// DLQTopic defaults to DLQTopic ("vaxhub.dlq").
	DLQTopic string
	// MaxRetries is how often a failed message is retried before it is
	// dead-lettered. Default 5; a negative value means no retries.
	MaxRetries int
	// BackoffMin and BackoffMax bound the exponential, fully jittered delay
	// between attempts. Defaults 100 ms and 10 s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// HandlerTimeout bounds one attempt, so that a stuck call cannot hold its
	// partition for ever. Default 30 s.
	HandlerTimeout time.Duration
	// MaxInFlight bounds the messages fetched and not yet committed, over all
	// partitions. A partition whose handler is slow holds its slots; the other
	// partitions go on until the slots run out. Default 256.
	MaxInFlight int
	// ShutdownTimeout bounds how long in-flight handlers may run after the
	// consumer's context is cancelled. Their own context is not cancelled by
	// shutdown (Watermill's pain point: handlers killed before they ack) until
	// this much time has passed. Default 30 s.
	ShutdownTimeout time.Duration
	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the group
	// membership. Defaults 10 s, 1 s and 10 s.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration
	// MaxWait is the fetch long-poll. Default 500 ms.
	MaxWait time.Duration
	// LagInterval is how often consumer lag is sampled into Metrics. Default 5 s.
	LagInterval time.Duration
	// Metrics, optional.
	Metrics *Metrics
	// Logger, default slog.Default().
	Logger *slog.Logger
}

func (c *ConsumerConfig) setDefaults() {
	c.Kafka.setDefaults()
	if c.Name == "" {
		c.Name = c.Group
	}
	if c.DLQTopic == "" {
		c.DLQTopic = DLQTopic
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	} else if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.BackoffMin == 0 {
		c.BackoffMin = 100 * time.Millisecond
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 10 * time.Second
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = 30 * time.Second
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 256
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 10 * time.Second
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.RebalanceTimeout == 0 {
		c.RebalanceTimeout = 10 * time.Second
	}
	if c.MaxWait == 0 {
		c.MaxWait = 500 * time.Millisecond
	}
	if c.LagInterval == 0 {
		c.LagInterval = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first thing wrong with c.
func (c *ConsumerConfig) Validate() error {
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	switch {
	case c.Topic == "":
		return errors.New("bus: consumer: no topic")
	case c.Group == "":
		return fmt.Errorf("bus: consumer of %s: no group (a group is required: offsets are committed per group)", c.Topic)
	case c.Handler == nil:
		return fmt.Errorf("bus: consumer %s: no handler", c.Group)
	case c.Topic == c.DLQTopic:
		return fmt.Errorf("bus: consumer %s: consuming the dead-letter topic would dead-letter into itself", c.Group)
	case c.BackoffMin < 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("bus: consumer %s: backoff %v..%v", c.Group, c.BackoffMin, c.BackoffMax)
	case c.MaxInFlight < 1 || c.HandlerTimeout < 0 || c.ShutdownTimeout < 0:
		return fmt.Errorf("bus: consumer %s: MaxInFlight, HandlerTimeout and ShutdownTimeout must be positive", c.Group)
	}
	return nil
}

// Consumer consumes one topic in one group: per message it validates, handles
// (with retries), dead-letters what cannot be handled, and only then commits.
// Partitions are handled in parallel, each strictly in order.
type Consumer struct {
	cfg     ConsumerConfig
	handler HandlerFunc
	log     *slog.Logger
}

// NewConsumer checks cfg and returns a consumer; Run starts it.
func NewConsumer(cfg ConsumerConfig) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mws := cfg.Middleware
	if cfg.Inbox != nil {
		mws = append(append([]Middleware(nil), mws...), ExactlyOnce(cfg.Inbox, cfg.Name))
	}
	return &Consumer{
		cfg:     cfg,
		handler: Chain(cfg.Handler, mws...),
		log:     cfg.Logger.With("component", "bus.consumer", "group", cfg.Group, "topic", cfg.Topic, "handler", cfg.Name),
	}, nil
}

// run is the state of one Run call.
type run struct {
	c      *Consumer
	reader *kafka.Reader
	dlq    Publisher

	sem      chan struct{} // in-flight slots
	shutdown chan struct{} // closed when fetching stops
	workCtx  context.Context
}

// Run consumes until ctx is cancelled, then stops fetching, lets the handlers
// that are running finish (bounded by ShutdownTimeout), commits what they
// finished and closes. Messages fetched but not started are left uncommitted
// and are delivered again. Run returns nil after a clean shutdown.
func (c *Consumer) Run(ctx context.Context) error {
	cfg := c.cfg
	d, err := cfg.Kafka.dialer()
	if err != nil {
		return err
	}
	dlq := cfg.DLQ
	if dlq == nil {
		p, err := NewPublisher(cfg.Kafka)
		if err != nil {
			return err
		}
		defer p.Close()
		dlq = p
	}
	reader := kafka.NewReader(kafka.ReaderConfig{
		Brokers:           cfg.Kafka.Brokers,
		GroupID:           cfg.Group,
		Topic:             cfg.Topic,
		Dialer:            d,
		MinBytes:          1,
		MaxBytes:          10 << 20,
		MaxWait:           cfg.MaxWait,
		CommitInterval:    0, // synchronous commits: CommitMessages returns after the broker stored the offset
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: cfg.HeartbeatInterval,
		SessionTimeout:    cfg.SessionTimeout,
		RebalanceTimeout:  cfg.RebalanceTimeout,
		JoinGroupBackoff:  500 * time.Millisecond,
		ReadBackoffMin:    100 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		ErrorLogger:       kafka.LoggerFunc(func(f string, a ...any) { c.log.Debug(fmt.Sprintf(f, a...)) }),
	})

	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	r := &run{
		c:        c,
		reader:   reader,
		dlq:      dlq,
		sem:      make(chan struct{}, cfg.MaxInFlight),
		shutdown: make(chan struct{}),
		workCtx:  workCtx,
	}

	lagDone := make(chan struct{})
	go r.sampleLag(ctx, lagDone)

	var wg sync.WaitGroup
	workers := map[int]chan kafka.Message{}
	dispatched := map[int]int64{}
	fetchErrs := 0
	c.log.Info("consumer started")
fetch:
	for {
		km, err := reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			fetchErrs++
			c.log.Warn("fetch failed", "err", err, "attempt", fetchErrs)
			if !sleep(ctx.Done(), expBackoff(fetchErrs, 100*time.Millisecond, 5*time.Second)) {
				break
			}
			continue
		}
		fetchErrs = 0
		// After a rebalance kafka-go fetches again from the committed offset;
		// what this process already queued for a partition is not queued twice.
		if last, ok := dispatched[km.Partition]; ok && km.Offset <= last {
			continue
		}
		select {
		case r.sem <- struct{}{}:
		case <-ctx.Done():
			break fetch
		}
		ch, ok := workers[km.Partition]
		if !ok {
			ch = make(chan kafka.Message, cfg.MaxInFlight)
			workers[km.Partition] = ch
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.partition(ch)
			}()
		}
		dispatched[km.Partition] = km.Offset
		ch <- km
	}

	// Shutdown: no new fetches, no new handler starts; running handlers get
	// ShutdownTimeout to finish.
	close(r.shutdown)
	for _, ch := range workers {
		close(ch)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTimer(cfg.ShutdownTimeout)
	select {
	case <-done:
		t.Stop()
	case <-t.C:
		c.log.Warn("shutdown timeout: cancelling in-flight handlers", "timeout", cfg.ShutdownTimeout)
		cancelWork()
		<-done
	}
	<-lagDone
	if err := reader.Close(); err != nil {
		c.log.Warn("close reader", "err", err)
	}
	c.log.Info("consumer stopped")
	return nil
}

// partition handles one partition's messages strictly in order. After a
// message it could not finish (shutdown), it commits nothing more.
func (r *run) partition(ch <-chan kafka.Message) {
	stuck := false
	for km := range ch {
		if !stuck && !r.stopping() {
			if r.process(km) {
				r.commit(km)
			} else {
				stuck = true
			}
		}
		<-r.sem
	}
}

func (r *run) stopping() bool {
	select {
	case <-r.shutdown:
		return true
	default:
		return false
	}
}

// process validates, handles and retries one message, or dead-letters it. It
// returns true when the message may be committed, false when shutdown cut it
// short (it will be delivered again).
func (r *run) process(km kafka.Message) bool {
	cfg := &r.c.cfg
	msg := fromKafka(km)
	m := cfg.Metrics
	if cfg.Validator != nil {
		if err := cfg.Validator.ValidateMessage(msg.Value); err != nil {
			return r.deadLetter(msg, fmt.Errorf("%w: %w", ErrInvalid, err))
		}
	}
	for attempt := 0; ; attempt++ {
		err := r.call(msg)
		if err == nil {
			m.handled(cfg.Group, cfg.Topic)
			return true
		}
		if IsPermanent(err) {
			return r.deadLetter(msg, err)
		}
		if attempt >= cfg.MaxRetries {
			return r.deadLetter(msg, fmt.Errorf("gave up after %d attempts: %w", attempt+1, err))
		}
		m.retried(cfg.Group, cfg.Topic)
		delay := fullJitter(attempt, cfg.BackoffMin, cfg.BackoffMax)
		r.c.log.Debug("handler failed, retrying", "partition", msg.Partition, "offset", msg.Offset, "attempt", attempt+1, "delay", delay, "err", err)
		if !sleep(r.shutdown, delay) {
			return false
		}
	}
}

// call runs the handler once, bounded by HandlerTimeout, turning a panic into
// an error.
func (r *run) call(msg Message) (err error) {
	ctx, cancel := context.WithTimeout(r.workCtx, r.c.cfg.HandlerTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v", p)
		}
	}()
	return r.c.handler(ctx, msg)
}

// deadLetter publishes msg to the dead-letter topic, retrying until the
// broker takes it: a dead letter is never dropped. It returns false only when
// shutdown interrupted it.
func (r *run) deadLetter(msg Message, reason error) bool {
	cfg := &r.c.cfg
	h := make(map[string]string, len(msg.Headers)+6)
	for k, v := range msg.Headers {
		h[k] = v
	}
	h[HeaderDLQReason] = reason.Error()
	h[HeaderDLQTopic] = msg.Topic
	h[HeaderDLQPartition] = strconv.Itoa(msg.Partition)
	h[HeaderDLQOffset] = strconv.FormatInt(msg.Offset, 10)
	h[HeaderDLQHandler] = cfg.Name
	h[HeaderDLQTime] = time.Now().UTC().Format(time.RFC3339Nano)
	delete(h, HeaderDLQSignature)
	if len(cfg.Kafka.DLQKey) > 0 {
		h[HeaderDLQSignature] = SignDeadLetter(cfg.Kafka.DLQKey, h, msg.Key, msg.Value)
	}
	dl := Message{Topic: cfg.DLQTopic, Key: msg.Key, Value: msg.Value, Headers: h}
	for attempt := 0; ; attempt++ {
		err := r.dlq.Publish(r.workCtx, dl)
		if err == nil {
			cfg.Metrics.deadLettered(cfg.Group, cfg.Topic)
			r.c.log.Warn("message dead-lettered", "partition", msg.Partition, "offset", msg.Offset, "reason", reason)
			return true
		}
		r.c.log.Error("dead-letter publish failed", "partition", msg.Partition, "offset", msg.Offset, "err", err)
		if r.workCtx.Err() != nil || !sleep(r.shutdown, expBackoff(attempt, cfg.BackoffMin, cfg.BackoffMax)) {
			return false
		}
	}
}

// commit stores the offset after km. Sequential per partition, so offsets only
// ever move past handled messages. A failed commit means redelivery, which
// idempotent handlers absorb.
func (r *run) commit(km kafka.Message) {
	for attempt := 0; attempt < 3; attempt++ {
		err := r.reader.CommitMessages(r.workCtx, km)
		if err == nil {
			return
		}
		r.c.log.Warn("commit failed", "partition", km.Partition, "offset", km.Offset, "err", err)
		if r.workCtx.Err() != nil || !sleep(r.workCtx.Done(), expBackoff(attempt, 100*time.Millisecond, time.Second)) {
			return
		}
	}
}

func (r *run) sampleLag(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	cfg := &r.c.cfg
	if cfg.Metrics == nil {
		return
	}
	t := time.NewTicker(cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			cfg.Metrics.consumerLag(cfg.Group, cfg.Topic, r.reader.Stats().Lag)
		}
	}
}
