package bus

import (
	"context"
	"encoding/json"
)

// HeaderCorrelationID is the Kafka header that carries the correlation ID;
// the envelope's correlation_id field is the fallback.
const HeaderCorrelationID = "correlation_id"

type correlationKey struct{}

// WithCorrelationID returns ctx carrying id.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// CorrelationID returns the ID carried by ctx, or "".
func CorrelationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// CorrelationIDMiddleware puts the message's correlation ID (header, else the
// envelope field) into the handler's context, so that events the handler
// causes carry it on.
func CorrelationIDMiddleware(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, msg Message) error {
		id := msg.Headers[HeaderCorrelationID]
		if id == "" {
			var env struct {
				CorrelationID string `json:"correlation_id"`
			}
			if json.Unmarshal(msg.Value, &env) == nil {
				id = env.CorrelationID
			}
		}
		if id != "" {
			ctx = WithCorrelationID(ctx, id)
		}
		return next(ctx, msg)
	}
}
