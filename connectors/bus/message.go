package bus

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// Message is one event on the bus. Value is the JSON envelope (docs/events.md);
// Key is the envelope's subject, so one aggregate's events share a partition
// and keep their order.
type Message struct {
	Topic   string
	Key     string
	Value   []byte
	Headers map[string]string

	// Partition and Offset are set on consumed messages only.
	Partition int
	Offset    int64
}

// Publisher sends messages. It returns only after the broker acknowledged
// every message (all in-sync replicas), or with an error; on error any subset
// may have been written, so callers retry and consumers deduplicate.
type Publisher interface {
	Publish(ctx context.Context, msgs ...Message) error
}

// HandlerFunc handles one consumed message. Returning nil means done (the
// offset may be committed); an error wrapped with Permanent goes straight to
// the dead-letter topic; any other error is retried.
type HandlerFunc func(ctx context.Context, msg Message) error

// Middleware wraps a handler, for cross-cutting concerns such as correlation
// IDs; the first middleware in a list is the outermost.
type Middleware func(HandlerFunc) HandlerFunc

// Chain applies mws to h so that mws[0] runs first.
func Chain(h HandlerFunc, mws ...Middleware) HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// Validator checks an envelope against its JSON Schema; schemas.Validator
// satisfies it. A message that fails goes to the dead-letter topic with the
// reason and is never handed to the handler.
type Validator interface {
	ValidateMessage(envelope []byte) error
}

func toKafkaHeaders(h map[string]string) []kafka.Header {
	if len(h) == 0 {
		return nil
	}
	out := make([]kafka.Header, 0, len(h))
	for k, v := range h {
		out = append(out, kafka.Header{Key: k, Value: []byte(v)})
	}
	return out
}

func fromKafka(m kafka.Message) Message {
	var h map[string]string
	if len(m.Headers) > 0 {
		h = make(map[string]string, len(m.Headers))
		for _, kh := range m.Headers {
			h[kh.Key] = string(kh.Value)
		}
	}
	return Message{
		Topic:     m.Topic,
		Key:       string(m.Key),
		Value:     m.Value,
		Headers:   h,
		Partition: m.Partition,
		Offset:    m.Offset,
	}
}
