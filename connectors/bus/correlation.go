package bus

import (
	"context"
	"encoding/json"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/schemas"
)

// HeaderCorrelationID is the Kafka header that carries the correlation ID;
// the envelope's correlation_id field is the fallback.
const HeaderCorrelationID = "correlation_id"

// CorrelationIDMiddleware puts the message's correlation ID (header, else the
// envelope field) into the handler's context under core/app's key
// (app.WithCorrelationID; app.CorrelationID reads it), the one key of the
// hub, so that events the handler causes through core/app carry it on. An ID
// the envelope schema would refuse (a forged or broken header) is not passed
// on: the envelope's is used, or none. Every Router applies it.
func CorrelationIDMiddleware(next HandlerFunc) HandlerFunc {
	return func(ctx context.Context, msg Message) error {
		if id := MessageCorrelationID(msg); id != "" {
			ctx = app.WithCorrelationID(ctx, id)
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
