package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Message kinds, as in notify_messages.kind.
const (
	kindConfirmation = "confirmation"
	kindMoved        = "moved"
	kindCancelled    = "cancelled"
	kindReminderMsg  = "reminder"
)

// errDisabled: the connector is configured not to send.
var errDisabled = errors.New("notify: sending is disabled (enabled=false)")

// runSend sends the message about one event on one channel, with what the
// core holds now: nothing when the resident no longer wants that channel,
// or when the booking is no longer what the event said.
func (c *Connector) runSend(ctx context.Context, a jobs.Attempt) error {
	var j sendJob
	if err := json.Unmarshal(a.Payload, &j); err != nil {
		return jobs.Permanent(fmt.Errorf("payload: %w", err))
	}
	ap, err := c.cfg.App.Appointment(ctx, j.Reference)
	if errors.Is(err, domain.ErrNotFound) {
		return jobs.Permanent(fmt.Errorf("appointment %s: %w", j.Reference, err))
	}
	if err != nil {
		return err
	}
	kind := map[string]string{"appointment.booked": kindConfirmation, "appointment.moved": kindMoved, "appointment.cancelled": kindCancelled}[j.Type]
	switch {
	case kind == "":
		return jobs.Permanent(fmt.Errorf("event type %q", j.Type))
	case kind == kindCancelled && ap.Status != domain.SeriesCancelled,
		kind != kindCancelled && ap.Status != domain.SeriesBooked:
		c.skipped(ctx, kind, "stale")
		return nil // cancelled since (its own message follows) or booked again
	}
	return c.deliver(ctx, a, j.EventID+":"+string(j.Channel), kind, j.Channel, ap)
}

// runReminder sends the reminder of one dose on the channel the resident
// chose, if the dose is still booked at the time it was planned for.
func (c *Connector) runReminder(ctx context.Context, a jobs.Attempt) error {
	var j reminderJob
	if err := json.Unmarshal(a.Payload, &j); err != nil {
		return jobs.Permanent(fmt.Errorf("payload: %w", err))
	}
	ap, err := c.cfg.App.Appointment(ctx, j.Reference)
	if errors.Is(err, domain.ErrNotFound) {
		return jobs.Permanent(fmt.Errorf("appointment %s: %w", j.Reference, err))
	}
	if err != nil {
		return err
	}
	var dose *domain.Dose
	for i := range ap.Doses {
		if ap.Doses[i].Number == j.Dose {
			dose = &ap.Doses[i]
		}
	}
	if ap.Status != domain.SeriesBooked || dose == nil || dose.Status != domain.DoseBooked || !dose.Start.Equal(j.Start) {
		c.skipped(ctx, kindReminderMsg, "stale")
		return nil // cancelled, given, or moved (the move planned its own reminder)
	}
	r, err := c.cfg.App.Resident(ctx, ap.ResidentID)
	if err != nil {
		return err
	}
	for _, ch := range []domain.ContactChannel{domain.ContactSMS, domain.ContactEmail} {
		if r.Contact.Notifies(ch) {
			key := fmt.Sprintf("reminder:%s:%d:%d:%s", ap.Reference, j.Dose, j.Start.Unix(), ch)
			return c.deliver(ctx, a, key, kindReminderMsg, ch, ap, j.Dose)
		}
	}
	c.skipped(ctx, kindReminderMsg, "post")
	return nil
}

func (c *Connector) skipped(ctx context.Context, kind, reason string) {
	c.metrics.skipped.WithLabelValues(kind, reason).Inc()
	c.log.DebugContext(ctx, "message not sent", "kind", kind, "reason", reason)
}

// deliver sends one message once: key is its idempotency key; a message
// recorded under it is not sent again (a job whose outcome was lost, run
// twice). It re-reads the resident's contact: a channel they left, or
// withdrew consent for, gets nothing. A refusal by the gateway or the mail
// server that retrying cannot fix ends the job dead and flags the message
// for staff (contact_review).
func (c *Connector) deliver(ctx context.Context, a jobs.Attempt, key, kind string, ch domain.ContactChannel, ap *domain.Appointment, dose ...int) error {
	var exists bool
	if err := c.cfg.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM notify_messages WHERE key = $1)`, key).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	r, err := c.cfg.App.Resident(ctx, ap.ResidentID)
	if err != nil {
		return err
	}
	if !r.Contact.Notifies(ch) {
		c.skipped(ctx, kind, "no-consent")
		return nil
	}
	if !c.cfg.Enabled {
		return jobs.Permanent(errDisabled)
	}
	// A send in flight is finished even when the hub stops (the job's ctx
	// ends): the gateway would make the message anyway, and the next try
	// could look for it before it exists and send it again. The client's
	// timeout and the job's lease still bound it.
	sctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		sctx, cancel = context.WithDeadline(sctx, dl)
		defer cancel()
	}
	centre := c.centreName(ctx, ap.CentreID)
	t := texts{loc: c.cfg.App.Location(), ref: ap.Reference, centre: centre, ap: ap}
	var providerID string
	switch ch {
	case domain.ContactSMS:
		if c.sms == nil {
			return jobs.Permanent(errors.New("no SMS gateway configured (sms_url)"))
		}
		providerID, err = c.sms.send(sctx, r.Contact.Phone, t.sms(kind, dose...), a.Number > 1)
	case domain.ContactEmail:
		if c.mail == nil {
			return jobs.Permanent(errors.New("no mail server configured (smtp_addr)"))
		}
		subject, body := t.email(kind, dose...)
		providerID = messageID(key)
		err = c.mail.send(sctx, r.Contact.Email, subject, body, providerID)
	}
	if err != nil {
		if errors.Is(err, jobs.ErrPermanent) || a.Last {
			c.record(ctx, key, ch, kind, ap, providerID, "refused", true)
			c.metrics.review.WithLabelValues(string(ch), "refused").Inc()
			c.log.WarnContext(ctx, "message refused; the resident's contact details need a check", "channel", ch, "kind", kind, "reference", ap.Reference, "err", err)
		}
		return err
	}
	c.record(ctx, key, ch, kind, ap, providerID, "sent", false)
	c.metrics.sent.WithLabelValues(string(ch), kind).Inc()
	c.log.InfoContext(ctx, "message sent", "channel", ch, "kind", kind, "reference", ap.Reference, "provider_id", providerID)
	return nil
}

// record writes the outcome of a send. Written even when ctx has ended: the
// message went out.
func (c *Connector) record(ctx context.Context, key string, ch domain.ContactChannel, kind string, ap *domain.Appointment, providerID, status string, review bool) {
	_, err := c.cfg.Pool.Exec(context.WithoutCancel(ctx), `INSERT INTO notify_messages (key, channel, kind, reference, resident_id, provider_id, status, contact_review)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, $8) ON CONFLICT (key) DO NOTHING`,
		key, string(ch), kind, ap.Reference, ap.ResidentID, providerID, status, review)
	if err != nil {
		c.log.ErrorContext(ctx, "recording a sent message failed; it may be sent again", "key", key, "err", err)
	}
}

func (c *Connector) centreName(ctx context.Context, id string) string {
	cs, err := c.cfg.App.Centres(ctx)
	if err == nil {
		for _, ce := range cs {
			if ce.ID == id {
				return ce.Name
			}
		}
	}
	return "Impfzentrum"
}
