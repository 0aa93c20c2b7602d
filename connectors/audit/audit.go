// Package audit keeps an audit trail of every event on the bus: which event,
// of which type and aggregate, where it was on the bus and when it happened
// and arrived. It never stores personal data: only envelope metadata, never
// an event's data.
package audit

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
	"github.com/vaxhub/vaxhub/core/app"
)

const (
	// Group is the Kafka consumer group of the audit trail.
	Group = "vaxhub-audit"
	// Consumer is the name under which handled events are recorded in the
	// bus inbox (bus.ExactlyOnce), and the handler's name in dead-letter
	// headers and metrics.
	Consumer = "audit"
	// Namespace is the trail's migration namespace (its audit_events table).
	Namespace = "audit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotAnEvent marks a message that is not an event envelope with an ID, a
// type and a subject. It is permanent: such a message is dead-lettered.
var ErrNotAnEvent = errors.New("audit: not an event envelope")

// Trail records consumed events in the audit_events table.
type Trail struct {
	inbox bus.Inbox
	log   *slog.Logger
	now   func() time.Time
}

// New applies the trail's own migrations (its audit_events table) and
// returns a trail writing to pool. A nil log means slog.Default().
func New(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) (*Trail, error) {
	if log == nil {
		log = slog.Default()
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if _, err := pgmigrate.Apply(ctx, pool, Namespace, sub); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return &Trail{inbox: bus.NewPostgresInbox(pool), log: log.With("component", "audit"), now: time.Now}, nil
}

// Register adds one consumer per topic to r, all in Group. The router's
// defaults (Kafka, Validator, Metrics, dead-letter publisher) apply.
func (t *Trail) Register(r *bus.Router, topics []string) error {
	if len(topics) == 0 {
		return errors.New("audit: no topics to consume")
	}
	for _, topic := range topics {
		if err := r.Handle(Consumer, topic, Group, t.Handle); err != nil {
			return fmt.Errorf("audit: consume %s: %w", topic, err)
		}
	}
	return nil
}

// envelope is the part of the event envelope the trail keeps. data is
// deliberately absent: it is never decoded, so it can never be stored.
type envelope struct {
	ID            string `json:"id"`
	Type          string `json:"type"`
	Subject       string `json:"subject"`
	Time          string `json:"time"`
	CorrelationID string `json:"correlation_id"`
}

// Handle records msg exactly once: behind bus.ExactlyOnce, its row and the
// inbox record of its event commit in one transaction, and a redelivered
// event (same ID) changes nothing. A message that is not an envelope is a
// permanent failure (dead letter); database errors are retried by the
// consumer runtime.
func (t *Trail) Handle(ctx context.Context, msg bus.Message) error {
	var env envelope
	if err := json.Unmarshal(msg.Value, &env); err != nil {
		return bus.Permanent(fmt.Errorf("%w: %v", ErrNotAnEvent, err))
	}
	if env.ID == "" {
		env.ID = msg.Headers[bus.HeaderEventID]
	}
	if env.ID == "" || env.Type == "" || env.Subject == "" {
		return bus.Permanent(fmt.Errorf("%w: id, type and subject are required", ErrNotAnEvent))
	}
	corr := bus.MessageCorrelationID(msg)
	if corr == "" {
		corr = app.CorrelationID(ctx)
	}
	var eventTime *time.Time
	if ts, err := time.Parse(time.RFC3339Nano, env.Time); err == nil {
		eventTime = &ts
	}
	log := t.log.With("correlation_id", corr, "event_id", env.ID, "event_type", env.Type,
		"topic", msg.Topic, "partition", msg.Partition, "offset", msg.Offset)

	first := false
	record := func(ctx context.Context, msg bus.Message) error {
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		first = true
		_, err = tx.Exec(ctx, `INSERT INTO audit_events
			(event_id, type, subject, topic, "partition", "offset", correlation_id, event_time, received_at)
			VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), $8, $9)
			ON CONFLICT (event_id) DO NOTHING`,
			env.ID, env.Type, env.Subject, msg.Topic, msg.Partition, msg.Offset, corr, eventTime, t.now())
		return err
	}
	if err := bus.ExactlyOnce(t.inbox, Consumer)(record)(ctx, msg); err != nil {
		log.Warn("audit: recording the event failed; it will be retried", "err", err)
		return fmt.Errorf("audit: record event %s: %w", env.ID, err)
	}
	if first {
		log.Debug("event audited")
	} else {
		log.Debug("event already audited: redelivery ignored")
	}
	return nil
}
