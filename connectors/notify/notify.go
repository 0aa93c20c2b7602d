// Package notify tells residents who chose SMS or e-mail (and consented)
// about their appointments: a confirmation when they book, a message when
// they move or cancel, and a reminder the day before each dose. Every send
// is a durable job (connectors/jobs) that re-reads the core first, so a
// forged or stale event sends nothing; phone numbers and addresses are read
// from the core at send time and never put on the bus, in logs or in its
// table. It must never send health data.
package notify

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
	"github.com/vaxhub/vaxhub/core/app"
)

const (
	// Name is the component's name: its configuration section, its bus
	// user, its migration namespace and its consumer in processed_events.
	Name = "notify"
	// Group is its Kafka consumer group.
	Group = "vaxhub-notify"
	// Topic is the topic it consumes.
	Topic = "vaxhub.appointment.v1"
	// WebhookPath receives the SMS gateway's delivery statuses.
	WebhookPath = "/hooks/sms"
)

// Spec is the connector's configuration, each field once.
var Spec = component.Spec{
	Name:      Name,
	Doc:       "SMS and e-mail notifications",
	Switch:    "sms_url",
	Simulator: "sms",
	Bus:       &component.BusAccess{Topics: []string{Topic}, Groups: []string{Group}},
	Fields: []component.Field{
		{Name: "sms_url", Env: "VAXHUB_NOTIFY_SMS_URL", Type: component.URL, Doc: "SMS gateway base URL (Twilio Messages API); empty: connector off"},
		{Name: "sms_user", Env: "VAXHUB_NOTIFY_SMS_USER", Type: component.String, RunDefault: "sim", Required: true, Doc: "gateway account SID (Basic auth user)"},
		{Name: "sms_password", Env: "VAXHUB_NOTIFY_SMS_PASSWORD", Type: component.String, RunDefault: "sim", Required: true, Secret: true,
			Doc: "gateway auth token (Basic auth password; also checks the X-Twilio-Signature of delivery statuses on " + WebhookPath + ")"},
		{Name: "sms_from", Env: "VAXHUB_NOTIFY_SMS_FROM", Type: component.String, Default: "Impfzentrum", Doc: "sender: E.164 number or alphanumeric ID (at most 11 characters)"},
		{Name: "smtp_addr", Env: "VAXHUB_NOTIFY_SMTP_ADDR", Type: component.Address, RunDefault: "127.0.0.1:2525", Doc: "mail server (submission, STARTTLS when offered); empty: no e-mail"},
		{Name: "smtp_user", Env: "VAXHUB_NOTIFY_SMTP_USER", Type: component.String, RunDefault: "sim", Doc: "SMTP AUTH user; empty: no AUTH"},
		{Name: "smtp_password", Env: "VAXHUB_NOTIFY_SMTP_PASSWORD", Type: component.String, RunDefault: "sim", Secret: true, Doc: "SMTP AUTH password"},
		{Name: "smtp_from", Env: "VAXHUB_NOTIFY_SMTP_FROM", Type: component.String, Default: "termine@impfzentrum.example", Doc: "sender address of e-mails"},
		{Name: "timeout", Env: "VAXHUB_NOTIFY_TIMEOUT", Type: component.Duration, Default: "5s", Doc: "bound of each HTTP attempt to the SMS gateway"},
		{Name: "breaker_timeout", Env: "VAXHUB_NOTIFY_BREAKER_TIMEOUT", Type: component.Duration, Default: "30s", Doc: "how long the SMS gateway's breaker stays open before a trial call"},
		{Name: "enabled", Env: "VAXHUB_NOTIFY_ENABLED", Type: component.String, Default: "true", Doc: "false: consume and plan, but send nothing (a send is dead with reason disabled)"},
	},
}

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate creates or updates the connector's tables.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	_, err = pgmigrate.Apply(ctx, pool, Name, sub)
	return err
}

// Config configures the connector.
type Config struct {
	Pool   *pgxpool.Pool
	App    *app.App
	Logger *slog.Logger
	SMS    SMSConfig
	Mail   MailConfig
	// Enabled false: nothing is sent.
	Enabled bool
	// Jobs tunes the queue (Clock is always the core's).
	Jobs       jobs.Config
	Registerer prometheus.Registerer
}

// Connector consumes appointment events, plans messages as jobs and sends them.
type Connector struct {
	cfg     Config
	log     *slog.Logger
	queue   *jobs.Queue
	inbox   bus.Inbox // exactly-once consumption (processed_events, consumer Name)
	sms     *smsClient
	mail    *mailer
	metrics *metrics
}

// New applies the connector's migrations and returns it with its job queue.
func New(ctx context.Context, cfg Config) (*Connector, error) {
	if cfg.Pool == nil || cfg.App == nil {
		return nil, errors.New("notify: Pool and App are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := Migrate(ctx, cfg.Pool); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	jc := cfg.Jobs
	jc.Clock = cfg.App // the core's clock: "the day before" is the campaign's day
	jc.Registerer, jc.Logger = cfg.Registerer, cfg.Logger
	q, err := jobs.New(ctx, cfg.Pool, jc)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	c := &Connector{cfg: cfg, log: cfg.Logger.With("component", Name), queue: q, inbox: bus.NewPostgresInbox(cfg.Pool), metrics: m}
	if cfg.SMS.URL != "" {
		if c.sms, err = newSMSClient(cfg.SMS); err != nil {
			return nil, err
		}
	}
	if cfg.Mail.Addr != "" {
		c.mail = &mailer{cfg: cfg.Mail}
	}
	q.Handle(kindSend, c.runSend)
	q.Handle(kindReminder, c.runReminder)
	return c, nil
}

// Register adds the connector's consumer to r.
func (c *Connector) Register(r *bus.Router) error {
	if err := r.Handle(Name, Topic, Group, c.Handle); err != nil {
		return fmt.Errorf("notify: consume %s: %w", Topic, err)
	}
	return nil
}

// Run runs the job queue (sends and reminders) until ctx ends.
func (c *Connector) Run(ctx context.Context) error { return c.queue.Run(ctx) }

// Start is the hub's entry: the connector as configured by Spec, its
// consumer on a router as its own bus user, its job queue on the core's
// clock and the delivery-status webhook on WebhookPath.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	if d.Handle == nil {
		return nil, errors.New("notify: Deps.Handle is required")
	}
	v := d.Config
	hc := httpclient.Config{Registerer: d.Registerer}
	if hc.Timeout, err = v.Duration("timeout"); err != nil {
		return nil, err
	}
	if hc.Breaker.Timeout, err = v.Duration("breaker_timeout"); err != nil {
		return nil, err
	}
	conn, err := New(ctx, Config{Pool: d.Pool, App: d.App, Logger: d.Logger, Registerer: d.Registerer,
		Enabled: v.String("enabled") != "false",
		SMS: SMSConfig{URL: v.String("sms_url"), User: v.String("sms_user"), Password: v.String("sms_password"), From: v.String("sms_from"),
			HTTP: hc},
		Mail: MailConfig{Addr: v.String("smtp_addr"), User: v.String("smtp_user"), Password: v.String("smtp_password"), From: v.String("smtp_from")},
	})
	if err != nil {
		return nil, err
	}
	router := bus.NewRouter(d.Consumer)
	router.Use(bus.CorrelationIDMiddleware)
	if err := conn.Register(router); err != nil {
		return nil, err
	}
	d.Handle(WebhookPath, conn.WebhookHandler())
	stopRouter := component.Background(ctx, "notify consumer", d.Failed, router.Run)
	stopJobs := component.Background(ctx, "notify jobs", d.Failed, conn.Run)
	return func(ctx context.Context) error {
		return errors.Join(stopRouter(ctx), stopJobs(ctx))
	}, nil
}

// Wake makes the queue look for due jobs now (after the clock moved).
func (c *Connector) Wake() { c.queue.Wake() }
