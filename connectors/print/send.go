package print

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/domain"
)

// queued is a letters row on its way out.
type queued struct {
	ID         string
	Kind       letter.Kind
	Reference  string
	ResidentID string
	Key        string
	Details    details
	Attempts   int
}

// errNothingToSend marks a letter that no longer has anything to say.
var errNothingToSend = errors.New("nothing to send")

// jobKind is the kind of the job (connectors/jobs) that sends one letter;
// its key and payload are the letter's ID.
const jobKind = "print.letter"

type letterJob struct {
	Letter string `json:"letter"`
}

// SendOne runs the letter job that is due first, if any (Run does this with
// Workers workers). The job queue leases it, so no other worker or replica
// takes it meanwhile and no database connection is held during the HTTP
// calls; if this process dies mid-way, the lease runs out and another worker
// sends it again under the same idempotency key, which the service answers
// with the letter it already made. It reports whether a job ran.
func (c *Connector) SendOne(ctx context.Context) (bool, error) {
	return c.queue.RunOne(ctx)
}

// sendLetter is one attempt of a letter job: render and submit the letter,
// and record the outcome on the letter. A transient failure is returned for
// the queue to retry with back-off; on the last attempt, and for a failure
// that retrying cannot fix, the letter is failed and the job dead.
func (c *Connector) sendLetter(ctx context.Context, a jobs.Attempt) error {
	var j letterJob
	if err := json.Unmarshal(a.Payload, &j); err != nil || j.Letter == "" {
		return jobs.Permanent(fmt.Errorf("print: letter job %s: payload %s", a.ID, a.Payload))
	}
	var q queued
	var det []byte
	err := c.cfg.Pool.QueryRow(ctx, `UPDATE letters SET attempts = $2, updated_at = now() WHERE id = $1 AND status = 'pending'
		RETURNING id::text, kind, reference, resident_id::text, idempotency_key, details, attempts`, j.Letter, a.Number).
		Scan(&q.ID, &q.Kind, &q.Reference, &q.ResidentID, &q.Key, &det, &q.Attempts)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // handled already (a run whose outcome was recorded after its lease ran out)
	}
	if err != nil {
		return fmt.Errorf("print: letter %s: %w", j.Letter, err)
	}
	_ = json.Unmarshal(det, &q.Details)
	log := c.log.With("letter", q.ID, "kind", q.Kind, "reference", q.Reference)

	remote, sendErr := c.send(ctx, q)
	// The outcome is recorded even when ctx ends now: the letter may be at the service.
	rctx := context.WithoutCancel(ctx)
	const guard = ` AND status = 'pending'`
	var result error
	switch {
	case sendErr == nil:
		status := remote.Status
		if _, ok := rank[status]; !ok || status == StatusPending {
			status = StatusSubmitted
		}
		reason := strings.Join(remote.Issues, "; ")
		_, err = c.cfg.Pool.Exec(rctx, `UPDATE letters SET status = $2, pingen_letter_id = $3, pages = $4, reason = NULLIF($5, ''),
			contact_review = $6, last_error = NULL, submitted_at = now(), updated_at = now() WHERE id = $1`+guard,
			q.ID, status, remote.ID, remote.Pages, reason, Problem(status))
		if Problem(status) {
			log.Warn("letter rejected by the print service", "status", status, "reason", reason)
		} else {
			log.Info("letter submitted", "pingen_letter_id", remote.ID, "status", status)
		}
	case errors.Is(sendErr, errNothingToSend):
		_, err = c.cfg.Pool.Exec(rctx, `UPDATE letters SET status = 'skipped', reason = $2, updated_at = now() WHERE id = $1`+guard, q.ID, sendErr.Error())
		log.Info("letter skipped", "reason", sendErr)
	case errors.Is(sendErr, letter.ErrInvalid), errors.Is(sendErr, domain.ErrNotFound), errors.Is(sendErr, httpclient.ErrPermanent), a.Last:
		_, err = c.cfg.Pool.Exec(rctx, `UPDATE letters SET status = 'failed', reason = $2, contact_review = true,
			last_error = $2, updated_at = now() WHERE id = $1`+guard, q.ID, sendErr.Error())
		log.Error("letter failed", "err", sendErr)
		result = jobs.Permanent(sendErr)
	default:
		_, err = c.cfg.Pool.Exec(rctx, `UPDATE letters SET last_error = $2, updated_at = now() WHERE id = $1`+guard, q.ID, sendErr.Error())
		log.Warn("letter not submitted; will retry", "err", sendErr, "attempt", q.Attempts)
		result = sendErr
	}
	if err != nil {
		return fmt.Errorf("print: record letter %s: %w", q.ID, err)
	}
	return result
}

// send builds the letter from the core's data as it is now, renders and
// submits it.
func (c *Connector) send(ctx context.Context, q queued) (remoteLetter, error) {
	l, err := c.build(ctx, q)
	if err != nil {
		return remoteLetter{}, err
	}
	start := time.Now()
	doc, err := c.cfg.Renderer.Render(l)
	if err != nil {
		return remoteLetter{}, err
	}
	c.mu.Lock()
	c.rendered++
	c.renderNS += time.Since(start)
	c.mu.Unlock()
	return c.pingen.submit(ctx, "letter-"+q.ID, l.FileName(), doc.PDF)
}

// build assembles a letter from the appointment, the resident and the centre.
func (c *Connector) build(ctx context.Context, q queued) (letter.Letter, error) {
	a := c.cfg.App
	ap, err := a.Appointment(ctx, q.Reference)
	if err != nil {
		return letter.Letter{}, fmt.Errorf("appointment %s: %w", q.Reference, err)
	}
	r, err := a.Resident(ctx, ap.ResidentID)
	if err != nil {
		return letter.Letter{}, fmt.Errorf("resident: %w", err)
	}
	centres, err := a.Centres(ctx)
	if err != nil {
		return letter.Letter{}, err
	}
	var centre letter.Centre
	for _, ce := range centres {
		if ce.ID == ap.CentreID {
			centre = letter.Centre{Name: ce.Name, Street: ce.Street, PostalCode: ce.PostalCode, City: ce.City}
		}
	}
	l := letter.Letter{
		Kind:      q.Kind,
		Recipient: letter.Address{Name: r.GivenNames + " " + r.FamilyName, Street: r.Address.Street, PostalCode: r.Address.PostalCode, City: r.Address.City},
		Reference: ap.Reference,
		Centre:    centre,
		Reason:    q.Details.Reason,
		Date:      a.Now(),
	}
	for _, d := range ap.Doses {
		open := d.Status == domain.DoseBooked || d.Status == domain.DoseCheckedIn
		if q.Kind == letter.Cancellation || open {
			l.Doses = append(l.Doses, letter.Dose{Number: d.Number, Product: string(d.Product), Start: d.Start, End: d.End})
		}
	}
	switch {
	case q.Kind == letter.Cancellation && ap.Status != domain.SeriesCancelled:
		return l, fmt.Errorf("%w: the appointment is %s, not cancelled", errNothingToSend, ap.Status)
	case q.Kind != letter.Cancellation && ap.Status != domain.SeriesBooked:
		return l, fmt.Errorf("%w: the appointment is %s", errNothingToSend, ap.Status)
	case len(l.Doses) == 0:
		return l, fmt.Errorf("%w: no appointment left to announce", errNothingToSend)
	}
	for _, p := range q.Details.Previous {
		start, _ := time.Parse(time.RFC3339, p.SlotStart)
		end, _ := time.Parse(time.RFC3339, p.SlotEnd)
		l.Previous = append(l.Previous, letter.Dose{Number: p.DoseNumber, Product: string(ap.Product), Start: start, End: end})
	}
	return l, nil
}

// applyStatus records a status the service reported for one of our letters;
// a status that is not ahead of the recorded one changes nothing.
func (c *Connector) applyStatus(ctx context.Context, pingenID, status, reason string) (known bool, err error) {
	err = pgx.BeginFunc(ctx, c.cfg.Pool, func(tx pgx.Tx) error {
		var cur, id string
		err := tx.QueryRow(ctx, `SELECT id::text, status FROM letters WHERE pingen_letter_id = $1 FOR UPDATE`, pingenID).Scan(&id, &cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		known = true
		next, ok := rank[status]
		if !ok || next <= rank[cur] {
			_, err = tx.Exec(ctx, `UPDATE letters SET updated_at = now() WHERE id = $1`, id)
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE letters SET status = $2, reason = COALESCE(NULLIF($3, ''), reason), contact_review = contact_review OR $4,
			updated_at = now() WHERE id = $1`, id, status, reason, Problem(status))
		if err == nil {
			lg := c.log.With("letter", id, "pingen_letter_id", pingenID, "status", status)
			if Problem(status) {
				lg.Warn("letter came back; the resident's contact data is flagged for review", "reason", reason)
			} else {
				lg.Debug("letter status")
			}
		}
		return err
	})
	return known, err
}

func (c *Connector) poller(ctx context.Context) {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Poll(ctx); err != nil && ctx.Err() == nil {
				c.log.Warn("polling letters failed", "err", err)
			}
		}
	}
}

// Poll reads the status of letters in the post that have had no news for
// PollAfter (webhooks lost), and returns how many it read.
func (c *Connector) Poll(ctx context.Context) (int, error) {
	rows, err := c.cfg.Pool.Query(ctx, `SELECT pingen_letter_id FROM letters
		WHERE status IN ('submitted', 'valid', 'processing', 'printing') AND pingen_letter_id IS NOT NULL
		  AND updated_at <= now() - $1 * interval '1 millisecond' ORDER BY updated_at LIMIT 200`, c.cfg.PollAfter.Milliseconds())
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		rl, err := c.pingen.letter(ctx, id)
		if err != nil {
			return n, fmt.Errorf("print: poll %s: %w", id, err)
		}
		if _, err := c.applyStatus(ctx, id, rl.Status, strings.Join(rl.Issues, "; ")); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
