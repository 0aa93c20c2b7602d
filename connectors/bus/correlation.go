package bus

import (
	"context"
	"encoding/json"

	"github.com/vaxhub/vaxhub/schemas"
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
// causes carry it on. An ID the envelope schema would refuse (a forged or
// broken header) is not passed on: the envelope's is used, or none.
func CorrelationIDMiddleware(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, msg Message) error {
		if id := MessageCorrelationID(msg); id != "" {
			ctx = WithCorrelationID(ctx, id)
		}
		return next(ctx, msg)
	}
}

// MessageCorrelationID returns the message's correlation ID: the header when
// it is valid (schemas.ValidCorrelationID), else the envelope's field when
// that is valid, else "".
func MessageCorrelationID(msg Message) string {
	if id := msg.Headers[HeaderCorrelationID]; schemas.ValidCorrelationID(id) {
		return id
	}
	var env struct {
		CorrelationID string `json:"correlation_id"`
	}
	if json.Unmarshal(msg.Value, &env) == nil && schemas.ValidCorrelationID(env.CorrelationID) {
		return env.CorrelationID
	}
	return ""
}
