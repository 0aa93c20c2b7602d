package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vaxhub/vaxhub/core/app"
)

// KafkaPublisher publishes with a kafka-go Writer: acks from all in-sync
// replicas, the key hashed to pick the partition, no automatic topic creation
// (topics come from EnsureTopics), batches flushed after milliseconds.
type KafkaPublisher struct {
	w   *kafka.Writer
	cfg Config
}

var _ Publisher = (*KafkaPublisher)(nil)

// NewPublisher returns a publisher for cfg. It does not connect until the
// first Publish. Close it when done.
func NewPublisher(cfg Config) (*KafkaPublisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	tr, err := cfg.transport()
	if err != nil {
		return nil, err
	}
	w := &kafka.Writer{
		Addr:                   kafka.TCP(cfg.Brokers...),
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		BatchTimeout:           cfg.BatchTimeout,
		BatchSize:              cfg.BatchSize,
		BatchBytes:             cfg.BatchBytes,
		WriteTimeout:           cfg.WriteTimeout,
		ReadTimeout:            cfg.WriteTimeout,
		MaxAttempts:            3,
		WriteBackoffMin:        50 * time.Millisecond,
		WriteBackoffMax:        500 * time.Millisecond,
		AllowAutoTopicCreation: false,
		Transport:              tr,
	}
	return &KafkaPublisher{w: w, cfg: cfg}, nil
}

// Publish writes msgs and returns once every one is acknowledged. A message
// without a correlation_id header gets the one carried by ctx, if any.
func (p *KafkaPublisher) Publish(ctx context.Context, msgs ...Message) error {
	if len(msgs) == 0 {
		return nil
	}
	corr := app.CorrelationID(ctx)
	kms := make([]kafka.Message, len(msgs))
	for i, m := range msgs {
		if m.Topic == "" {
			return fmt.Errorf("bus: publish: message %d has no topic", i)
		}
		h := toKafkaHeaders(m.Headers)
		if corr != "" {
			if _, ok := m.Headers[HeaderCorrelationID]; !ok {
				h = append(h, kafka.Header{Key: HeaderCorrelationID, Value: []byte(corr)})
			}
		}
		kms[i] = kafka.Message{Topic: m.Topic, Key: []byte(m.Key), Value: m.Value, Headers: h}
	}
	if err := p.w.WriteMessages(ctx, kms...); err != nil {
		return fmt.Errorf("bus: publish %d messages: %w", len(msgs), err)
	}
	return nil
}

// BatchLimits returns the most messages and bytes one Publish call may carry
// so that it is a single produce batch per partition.
func (p *KafkaPublisher) BatchLimits() (messages int, bytes int64) {
	return p.cfg.BatchSize, p.cfg.BatchBytes
}

// Close flushes and closes the writer.
func (p *KafkaPublisher) Close() error { return p.w.Close() }
