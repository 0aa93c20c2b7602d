// Package print sends the campaign's letters by post through a Pingen-style
// hybrid-mail service: it turns appointment and waitlist events (and staff
// requests) into letters for residents who get post, renders each from the
// core's data at send time, submits it with an idempotency key so that a
// retry never prints twice, and tracks it to delivery through webhooks and
// polling. It never carries names or addresses on the bus or in its table.
package print

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

const (
	// Group is the Kafka consumer group of the print connector.
	Group = "vaxhub-print"
	// Consumer names the connector in processed_events and dead letters.
	Consumer = "print"
)

// Namespace is the connector's migration namespace (its letters table).
const Namespace = "print"

//go:embed migrations/*.sql
var migrations embed.FS

// Topics the connector consumes.
var Topics = []string{"vaxhub.appointment.v1", "vaxhub.waitlist.v1"}

// Letter statuses in the letters table. The service's own statuses (valid,
// processing, printing, sent, undeliverable, unprintable) are kept as they are.
const (
	StatusPending       = "pending"   // waiting to be rendered and submitted
	StatusSubmitted     = "submitted" // accepted, no status read yet
	StatusValid         = "valid"
	StatusProcessing    = "processing"
	StatusPrinting      = "printing"
	StatusSent          = "sent"
	StatusUndeliverable = "undeliverable"
	StatusUnprintable   = "unprintable"
	StatusFailed        = "failed"  // could not be submitted; reason says why
	StatusSkipped       = "skipped" // nothing to send any more (e.g. cancelled before it went out)
)

// rank orders statuses so that a late or repeated webhook never moves a
// letter back.
var rank = map[string]int{StatusPending: 0, StatusSubmitted: 1, StatusValid: 2, StatusProcessing: 3, StatusPrinting: 4,
	StatusSent: 9, StatusUndeliverable: 9, StatusUnprintable: 9, StatusFailed: 9, StatusSkipped: 9}

// Problem reports whether status needs a member of staff.
func Problem(status string) bool {
	return status == StatusUndeliverable || status == StatusUnprintable || status == StatusFailed
}

// Config configures the connector.
type Config struct {
	Pool *pgxpool.Pool
	App  *app.App
	// Renderer renders letters. Default: letter.New with the campaign's
	// enclosures and the app's time zone.
	Renderer *letter.Renderer
	Pingen   PingenConfig
	// WantsPost decides who gets letters for events. Default: residents
	// without an e-mail address. (The resident record has no "prefers
	// post" flag yet; pass one here when it exists.) Staff requests are
	// sent regardless.
	WantsPost func(*domain.Resident) bool
	// Workers render and submit letters in parallel. Default 4.
	Workers int
	// Idle is the longest a worker waits before it looks for due letters
	// again (a new letter wakes it at once, in every replica, through the
	// job queue's LISTEN/NOTIFY). Default 1 s.
	Idle time.Duration
	// RetryMin and RetryMax bound the backoff of a letter whose submission
	// failed transiently. Defaults 2 s and 5 min.
	RetryMin, RetryMax time.Duration
	// MaxAttempts before a letter is given up as failed. Default 50.
	MaxAttempts int
	// Lease is how long a worker holds a letter it is sending; a letter
	// whose worker died is taken up again after it. It bounds one send
	// (render, upload, create with the client's retries). Default 2 min.
	Lease time.Duration
	// PollInterval is how often letters in the post are checked; PollAfter
	// is how long a letter may go without news (webhooks lost) before it is
	// polled. Defaults 30 s and 2 min.
	PollInterval, PollAfter time.Duration
	// Registerer receives the metrics of the job queue that sends the
	// letters (vaxhub_jobs_*, kind print.letter). Default: Pingen.HTTP.Registerer.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.WantsPost == nil {
		c.WantsPost = func(r *domain.Resident) bool { return r.Email == "" }
	}
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.Idle == 0 {
		c.Idle = time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = 2 * time.Second
	}
	if c.RetryMax == 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 50
	}
	if c.Lease == 0 {
		c.Lease = 2 * time.Minute
	}
	if c.PollInterval == 0 {
		c.PollInterval = 30 * time.Second
	}
	if c.PollAfter == 0 {
		c.PollAfter = 2 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil {
		c.Registerer = c.Pingen.HTTP.Registerer
	}
	if c.Renderer == nil && c.App != nil {
		r, err := letter.New(letter.Config{Location: c.App.Location()})
		if err != nil {
			return err
		}
		c.Renderer = r
	}
	return nil
}

// Validate reports the first thing missing.
func (c *Config) Validate() error {
	switch {
	case c.Pool == nil || c.App == nil:
		return errors.New("print: Pool and App are required")
	case c.Workers < 1 || c.MaxAttempts < 1:
		return errors.New("print: Workers and MaxAttempts must be positive")
	case c.RetryMin <= 0 || c.RetryMax < c.RetryMin:
		return fmt.Errorf("print: retry backoff %v..%v", c.RetryMin, c.RetryMax)
	case c.PollInterval <= 0 || c.PollAfter < 0 || c.Idle <= 0 || c.Lease < time.Second:
		return errors.New("print: PollInterval and Idle must be positive, Lease at least 1 s")
	}
	return nil
}

// Connector is the print and mail connector.
type Connector struct {
	cfg    Config
	pingen *pingen
	log    *slog.Logger
	queue  *jobs.Queue

	mu       sync.Mutex
	rendered int
	renderNS time.Duration
}

// migrateTimeout bounds the migrations New applies.
const migrateTimeout = time.Minute

// New checks cfg, applies the migrations of the job queue and of the
// connector's own letters table, and returns the connector; Register adds its
// consumers to a router, Run runs its senders and poller, WebhookHandler and
// StaffHandler serve HTTP.
func New(cfg Config) (*Connector, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p, err := newPingen(cfg.Pingen)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), migrateTimeout)
	defer cancel()
	q, err := jobs.New(ctx, cfg.Pool, jobs.Config{Workers: cfg.Workers, Lease: cfg.Lease, MaxAttempts: cfg.MaxAttempts,
		RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, PollInterval: cfg.Idle, Registerer: cfg.Registerer, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("print: %w", err)
	}
	c := &Connector{cfg: cfg, pingen: p, log: cfg.Logger.With("component", "print"), queue: q}
	q.Handle(jobKind, c.sendLetter)
	if err := c.migrate(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// migrate applies the connector's migrations and gives every pending letter
// its sending job (letters queued before sending moved to the job queue);
// a letter that has one keeps it.
func (c *Connector) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	if _, err := pgmigrate.Apply(ctx, c.cfg.Pool, Namespace, sub); err != nil {
		return fmt.Errorf("print: %w", err)
	}
	rows, err := c.cfg.Pool.Query(ctx, `SELECT id::text FROM letters WHERE status = 'pending'`)
	if err != nil {
		return fmt.Errorf("print: pending letters: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("print: pending letters: %w", err)
	}
	for _, id := range ids {
		if _, err := c.enqueue(ctx, c.cfg.Pool, id); err != nil {
			return err
		}
	}
	return nil
}

// enqueue adds the job that sends letter id, unless it has one.
func (c *Connector) enqueue(ctx context.Context, db jobs.DB, id string) (bool, error) {
	payload, _ := json.Marshal(letterJob{Letter: id})
	return c.queue.Enqueue(ctx, db, jobs.Job{Kind: jobKind, Key: id, Payload: payload})
}

// Register adds one consumer per topic in Topics to r, in Group.
func (c *Connector) Register(r *bus.Router) error {
	for _, t := range Topics {
		if err := r.Handle(Consumer, t, Group, c.Handle); err != nil {
			return fmt.Errorf("print: consume %s: %w", t, err)
		}
	}
	return nil
}

// envelope is the part of an event the connector reads.
type envelope struct {
	ID   string          `json:"id"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

type eventData struct {
	Reference  string             `json:"reference"`
	ResidentID string             `json:"resident_id"`
	Reason     string             `json:"reason"`
	From       []domain.DoseTimes `json:"from"`
}

// details are the kind-specific facts a letter needs that the core no longer
// has when the letter is sent: the times before a move, the reason of a
// cancellation. No personal data.
type details struct {
	Reason   string             `json:"reason,omitempty"`
	Previous []domain.DoseTimes `json:"previous,omitempty"`
}

// Handle turns an event into a letter to send, in the same transaction that
// marks the event processed; a redelivered event changes nothing.
func (c *Connector) Handle(ctx context.Context, msg bus.Message) error {
	var env envelope
	if err := json.Unmarshal(msg.Value, &env); err != nil || env.ID == "" {
		return bus.Permanent(fmt.Errorf("print: not an event envelope: %v", err))
	}
	var d eventData
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return bus.Permanent(fmt.Errorf("print: %s data: %w", env.Type, err))
	}
	var kind letter.Kind
	var key string
	var det details
	switch env.Type {
	case "appointment.booked":
		// One letter per booking: the waitlist offer and the confirmation share the key.
		kind, key = letter.Confirmation, "booked:"+d.Reference
	case "waitlist.served":
		kind, key = letter.WaitlistOffer, "booked:"+d.Reference
	case "appointment.moved":
		kind, key, det.Previous = letter.Changed, "moved:"+env.ID, d.From
	case "appointment.cancelled":
		kind, key, det.Reason = letter.Cancellation, "cancelled:"+d.Reference, d.Reason
	default:
		return nil
	}
	if d.Reference == "" || d.ResidentID == "" {
		return bus.Permanent(fmt.Errorf("print: %s %s has no reference or resident", env.Type, env.ID))
	}
	r, err := c.cfg.App.Resident(ctx, d.ResidentID)
	if errors.Is(err, domain.ErrNotFound) {
		return bus.Permanent(fmt.Errorf("print: resident of %s %s: %w", env.Type, env.ID, err))
	}
	if err != nil {
		return fmt.Errorf("print: resident: %w", err)
	}
	post := c.cfg.WantsPost(r)
	created := false
	// Exactly once: the letter and the inbox record of the event commit
	// together; a redelivered event is skipped.
	err = bus.ExactlyOnce(bus.NewPostgresInbox(c.cfg.Pool), Consumer)(func(ctx context.Context, _ bus.Message) error {
		if !post {
			return nil
		}
		tx, err := bus.InboxTx(ctx)
		if err != nil {
			return err
		}
		created, err = c.insertLetter(ctx, tx, kind, d.Reference, d.ResidentID, key, env.Type, env.ID, "", det)
		return err
	})(ctx, msg)
	if err != nil {
		return fmt.Errorf("print: record letter for %s %s: %w", env.Type, env.ID, err)
	}
	if created {
		c.log.InfoContext(ctx, "letter queued", "kind", kind, "reference", d.Reference, "event_id", env.ID)
	}
	return nil
}

// insertLetter queues a letter, and the job that sends it, unless one with
// the same key exists.
func (c *Connector) insertLetter(ctx context.Context, tx pgx.Tx, kind letter.Kind, ref, residentID, key, trigger, eventID, staff string, det details) (bool, error) {
	b, _ := json.Marshal(det)
	id := uuid.NewString()
	tag, err := tx.Exec(ctx, `INSERT INTO letters (id, kind, reference, resident_id, idempotency_key, trigger, event_id, requested_by, details)
		VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, ''), NULLIF($8, ''), $9::jsonb) ON CONFLICT (idempotency_key) DO NOTHING`,
		id, string(kind), ref, residentID, key, trigger, eventID, staff, string(b))
	if err != nil || tag.RowsAffected() == 0 {
		return false, err
	}
	if _, err := c.enqueue(ctx, tx, id); err != nil {
		return false, err
	}
	return true, nil
}

// Run sends queued letters with Workers workers of the job queue and polls
// letters in the post, until ctx is cancelled.
func (c *Connector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.queue.Run(ctx) })
	wg.Go(func() { c.poller(ctx) })
	wg.Wait()
	return nil
}

// RenderStats tells how many letters this process rendered and their mean
// rendering time.
func (c *Connector) RenderStats() (n int, mean time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rendered == 0 {
		return 0, 0
	}
	return c.rendered, c.renderNS / time.Duration(c.rendered)
}
