package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Job kinds of the connector's queue.
const (
	kindSend     = "notify.send"     // one message about one event on one channel
	kindReminder = "notify.reminder" // the reminder of one dose, the day before
)

// ReminderHour is the local hour on the day before a dose when its reminder
// is sent.
const ReminderHour = 18

type envelope struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type eventData struct {
	Reference  string `json:"reference"`
	ResidentID string `json:"resident_id"`
}

// sendJob is the payload of a kindSend job: IDs only.
type sendJob struct {
	EventID    string                `json:"event_id"`
	Type       string                `json:"type"`
	Reference  string                `json:"reference"`
	ResidentID string                `json:"resident_id"`
	Channel    domain.ContactChannel `json:"channel"`
}

// reminderJob is the payload of a kindReminder job.
type reminderJob struct {
	Reference  string    `json:"reference"`
	ResidentID string    `json:"resident_id"`
	Dose       int       `json:"dose"`
	Start      time.Time `json:"start"`
}

// Handle plans what an appointment event means: a message on each channel
// the resident chose (a job each, keyed by event and channel) and the
// reminders of the appointment as the core holds it now. The event is a
// claim: one whose booking the core does not hold is refused and
// dead-lettered, and nothing is sent.
func (c *Connector) Handle(ctx context.Context, msg bus.Message) error {
	var env envelope
	if err := json.Unmarshal(msg.Value, &env); err != nil || env.ID == "" {
		return bus.Permanent(fmt.Errorf("notify: not an event envelope: %v", err))
	}
	switch env.Type {
	case "appointment.booked", "appointment.moved", "appointment.cancelled":
	default:
		return nil
	}
	var d eventData
	if err := json.Unmarshal(env.Data, &d); err != nil || d.Reference == "" || d.ResidentID == "" {
		return bus.Permanent(fmt.Errorf("notify: %s %s: no reference or resident (%v)", env.Type, env.ID, err))
	}
	ap, err := c.cfg.App.Appointment(ctx, d.Reference)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return c.refuse(ctx, env, "not-in-core")
	case err != nil:
		return fmt.Errorf("notify: appointment: %w", err)
	case ap.ResidentID != d.ResidentID:
		return c.refuse(ctx, env, "differs")
	case env.Type == "appointment.cancelled" && ap.Status != domain.SeriesCancelled:
		return c.refuse(ctx, env, "differs")
	}
	r, err := c.cfg.App.Resident(ctx, ap.ResidentID)
	if err != nil {
		return fmt.Errorf("notify: resident: %w", err)
	}
	planned := 0
	// Exactly once: the jobs, the triggers and the inbox record of the event
	// commit together (bus.ExactlyOnce); a redelivered event is skipped.
	err = bus.ExactlyOnce(c.inbox, Name)(func(ctx context.Context, _ bus.Message) error {
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		for _, ch := range []domain.ContactChannel{domain.ContactSMS, domain.ContactEmail} {
			if !r.Contact.Notifies(ch) {
				continue
			}
			payload, _ := json.Marshal(sendJob{EventID: env.ID, Type: env.Type, Reference: ap.Reference, ResidentID: ap.ResidentID, Channel: ch})
			added, err := c.queue.Enqueue(ctx, tx, jobs.Job{Kind: kindSend, Key: env.ID + ":" + string(ch), Payload: payload})
			if err != nil {
				return err
			}
			if added {
				planned++
			}
		}
		return c.planReminders(ctx, tx, ap)
	})(ctx, msg)
	if err != nil {
		return fmt.Errorf("notify: plan %s %s: %w", env.Type, env.ID, err)
	}
	c.log.DebugContext(ctx, "event planned", "type", env.Type, "event_id", env.ID, "reference", ap.Reference, "messages", planned)
	return nil
}

// refuse logs and counts an event the core does not back and dead-letters it.
func (c *Connector) refuse(ctx context.Context, env envelope, reason string) error {
	c.metrics.refused.WithLabelValues(reason).Inc()
	c.log.WarnContext(ctx, "event refused: the core does not hold this booking", "type", env.Type, "event_id", env.ID, "reason", reason)
	return bus.Permanent(fmt.Errorf("notify: %s %s refused: %s", env.Type, env.ID, reason))
}

// reminderKey names the reminder trigger of one dose.
func reminderKey(ref string, dose int) string { return fmt.Sprintf("%s:%d", ref, dose) }

// ReminderAt is when the reminder of a dose at start is sent: ReminderHour
// local time on the day before.
func ReminderAt(start time.Time, loc *time.Location) time.Time {
	s := start.In(loc)
	return time.Date(s.Year(), s.Month(), s.Day()-1, ReminderHour, 0, 0, 0, loc)
}

// planReminders makes the reminder triggers follow the appointment as the
// core holds it: one per open dose whose reminder time is still ahead, at
// that time; a moved dose moves its trigger, a cancelled or past one loses
// it. A trigger that already fired for the same start is left alone.
func (c *Connector) planReminders(ctx context.Context, tx pgx.Tx, ap *domain.Appointment) error {
	now := c.queue.Now()
	for _, d := range ap.Doses {
		key := reminderKey(ap.Reference, d.Number)
		at := ReminderAt(d.Start, c.cfg.App.Location())
		if ap.Status != domain.SeriesBooked || d.Status != domain.DoseBooked || !at.After(now) {
			if _, err := c.queue.Cancel(ctx, tx, kindReminder, key); err != nil {
				return err
			}
			continue
		}
		if st, err := c.queue.Lookup(ctx, kindReminder, key); err == nil {
			var old reminderJob
			if json.Unmarshal(st.Payload, &old) == nil && old.Start.Equal(d.Start) {
				continue // planned (or sent) for this very start
			}
		} else if !errors.Is(err, jobs.ErrNotFound) {
			return err
		}
		payload, _ := json.Marshal(reminderJob{Reference: ap.Reference, ResidentID: ap.ResidentID, Dose: d.Number, Start: d.Start})
		if err := c.queue.Schedule(ctx, tx, jobs.Job{Kind: kindReminder, Key: key, Payload: payload, RunAt: at}); err != nil {
			return err
		}
	}
	return nil
}
