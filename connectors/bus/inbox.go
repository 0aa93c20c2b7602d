package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Inbox is the port behind exactly-once handling: where each consumer
// records the events it has handled, in the same transaction as the
// handler's effect. PostgresInbox implements it on the processed_events
// table; ExactlyOnce is the middleware that uses it.
type Inbox interface {
	// Handled reports whether a record of consumer handling eventID has
	// committed.
	Handled(ctx context.Context, consumer, eventID string) (bool, error)
	// Begin opens a transaction and records in it that consumer handles
	// eventID. first is false when another transaction recorded the event
	// and committed first (Begin waits for one that is still open); tx is
	// then nil and nothing is held.
	Begin(ctx context.Context, consumer, eventID string) (tx pgx.Tx, first bool, err error)
}

// ErrAlreadyHandled is returned (wrapped) by InboxTx when a parallel
// delivery of the same event committed its effect first. A handler returns
// it as it is; ExactlyOnce then rolls back and reports the message done.
var ErrAlreadyHandled = errors.New("bus: event already handled by this consumer")

// ErrNoInbox is returned by InboxTx for a handler that does not run behind
// ExactlyOnce.
var ErrNoInbox = errors.New("bus: handler runs without an inbox (ExactlyOnce)")

type inboxKey struct{}

// delivery is one message's passage through ExactlyOnce.
type delivery struct {
	in       Inbox
	consumer string
	eventID  string
	tx       pgx.Tx
	skipped  bool
}

// ExactlyOnce returns the middleware that makes a consumer's effect happen
// once per event, however often the event is delivered. Per message it
//
//  1. reads the event ID (header event_id, else the envelope's id; none is a
//     permanent error) and skips the message, handler not called, when
//     in has a committed record of consumer handling it;
//  2. calls the handler; the handler asks for the transaction with
//     InboxTx(ctx) when it is ready to write (reads before that go through
//     its pool, so a handler that calls out holds no connection meanwhile):
//     the first call begins it and records the event in it, waiting for a
//     parallel delivery of the same event that holds the record;
//  3. commits the transaction, effect and record together, when the handler
//     returns nil, and rolls it back otherwise, so the retry starts clean.
//     A handler that never asked for it gets the record committed alone
//     (its effect is outside the database and idempotent on its own key),
//     unless it called Skip (the message is not for it).
//
// ConsumerConfig.Inbox applies it, keyed by the consumer's Name, as the
// innermost middleware.
func ExactlyOnce(in Inbox, consumer string) Middleware {
	return func(next HandlerFunc) HandlerFunc {
		return func(ctx context.Context, msg Message) error {
			id := MessageEventID(msg)
			if id == "" {
				return Permanent(fmt.Errorf("%w: no event ID (header %s or envelope id)", ErrInvalid, HeaderEventID))
			}
			seen, err := in.Handled(ctx, consumer, id)
			if err != nil {
				return fmt.Errorf("bus: inbox of %s: %w", consumer, err)
			}
			if seen {
				return nil
			}
			d := &delivery{in: in, consumer: consumer, eventID: id}
			defer d.rollback(ctx)
			err = next(context.WithValue(ctx, inboxKey{}, d), msg)
			switch {
			case errors.Is(err, ErrAlreadyHandled):
				return nil
			case err != nil:
				return err
			case d.tx == nil && d.skipped:
				return nil
			}
			if d.tx == nil {
				if _, err := d.begin(ctx); err != nil {
					if errors.Is(err, ErrAlreadyHandled) {
						return nil
					}
					return err
				}
			}
			tx := d.tx
			d.tx = nil
			if err := tx.Commit(ctx); err != nil {
				return fmt.Errorf("bus: inbox of %s: commit event %s: %w", consumer, id, err)
			}
			return nil
		}
	}
}

func (d *delivery) begin(ctx context.Context) (pgx.Tx, error) {
	if d.tx != nil {
		return d.tx, nil
	}
	tx, first, err := d.in.Begin(ctx, d.consumer, d.eventID)
	if err != nil {
		return nil, fmt.Errorf("bus: inbox of %s: record event %s: %w", d.consumer, d.eventID, err)
	}
	if !first {
		return nil, fmt.Errorf("event %s, consumer %s: %w", d.eventID, d.consumer, ErrAlreadyHandled)
	}
	d.tx = tx
	return tx, nil
}

func (d *delivery) rollback(ctx context.Context) {
	if d.tx == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = d.tx.Rollback(rctx)
	d.tx = nil
}

// InboxTx returns the transaction of the message being handled behind
// ExactlyOnce, beginning it and recording the event in it on the first call.
// The handler writes its effect in it and neither commits nor rolls it
// back: the middleware commits when the handler returns nil. An error
// wrapping ErrAlreadyHandled means a parallel delivery committed first: the
// handler returns it. Without ExactlyOnce it returns ErrNoInbox.
func InboxTx(ctx context.Context) (pgx.Tx, error) {
	d, ok := ctx.Value(inboxKey{}).(*delivery)
	if !ok {
		return nil, ErrNoInbox
	}
	return d.begin(ctx)
}

// Skip tells ExactlyOnce that the message being handled is not for this
// handler (another event type on the topic): it is not recorded. Outside
// ExactlyOnce it does nothing.
func Skip(ctx context.Context) {
	if d, ok := ctx.Value(inboxKey{}).(*delivery); ok {
		d.skipped = true
	}
}

// MessageEventID returns the message's event ID: the event_id header, else
// the envelope's id, else "".
func MessageEventID(msg Message) string {
	if id := msg.Headers[HeaderEventID]; id != "" {
		return id
	}
	var env struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(msg.Value, &env) == nil {
		return env.ID
	}
	return ""
}
