package app

import (
	"context"
	"errors"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Events records events that no use case of the core emits (a connector's
// own, such as the hotline's call.* events) through the core's outbox, so
// that the outbox relay publishes them like the core's.
type Events interface {
	// RecordEvents validates the events and inserts them into the outbox
	// in one transaction, in the given order.
	RecordEvents(ctx context.Context, events []domain.Event) error
}

// RecordEvent records ev through the outbox in its own transaction. An
// event without a correlation ID gets ctx's. It needs Ports.Events.
func (a *App) RecordEvent(ctx context.Context, ev domain.Event) error {
	if a.p.Events == nil {
		return errors.New("app: record event: no Ports.Events")
	}
	if ev.ID == "" || ev.Type == "" || ev.Subject == "" {
		return errors.New("app: record event: ID, type and subject are required")
	}
	if ev.CorrelationID == "" {
		ev.CorrelationID = CorrelationID(ctx)
	}
	return a.p.Events.RecordEvents(ctx, []domain.Event{ev})
}
