package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Envelope is the event envelope (schemas/envelope.schema.json) as a typed
// handler receives it; Data is left raw and decoded into the handler's type.
type Envelope struct {
	ID            string    `json:"id"`
	Type          string    `json:"type"`
	Source        string    `json:"source"`
	Time          time.Time `json:"time"`
	Subject       string    `json:"subject"`
	CorrelationID string    `json:"correlation_id"`
	Schema        struct {
		Name    string `json:"name"`
		Version int    `json:"version"`
	} `json:"schema"`
	Data json.RawMessage `json:"data"`
	// Message is the bus message the envelope came in (topic, partition,
	// offset, headers).
	Message Message `json:"-"`
}

// On returns a handler of one event type: it decodes the envelope and its
// data into T and calls h; a message of another type on the topic is
// skipped (Skip: the inbox does not record it). A message that does not
// decode is a permanent error (dead letter). The schema check is the
// consumer's Validator's, before any handler runs: the data h gets has
// passed the event type's JSON Schema when the consumer has one.
func On[T any](eventType string, h func(ctx context.Context, env Envelope, data T) error) HandlerFunc {
	return func(ctx context.Context, msg Message) error {
		var env Envelope
		if err := json.Unmarshal(msg.Value, &env); err != nil {
			return Permanent(fmt.Errorf("%w: not an event envelope: %w", ErrInvalid, err))
		}
		if env.Type != eventType {
			Skip(ctx)
			return nil
		}
		if env.ID == "" {
			env.ID = msg.Headers[HeaderEventID]
		}
		if env.ID == "" {
			return Permanent(fmt.Errorf("%w: %s without id", ErrInvalid, eventType))
		}
		env.Message = msg
		var data T
		if err := json.Unmarshal(env.Data, &data); err != nil {
			return Permanent(fmt.Errorf("%w: %s %s data: %w", ErrInvalid, eventType, env.ID, err))
		}
		return h(ctx, env, data)
	}
}
