// Package servicenow connects the hub's mobile campaigns to a ServiceNow
// field planner (Table API, Field Service Management): a planned campaign
// becomes a work order with a visit task, kept up to date when the hub
// changes it; visit states, assignments and the doses recorded in the field
// (online or synced in offline bursts) are polled back and go through
// core/app, which counts each dose once or holds it for review. It never
// creates a planner record twice for the same hub key and never writes the
// planner's state fields.
package servicenow

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/mappings"
)

const (
	// Group is the Kafka consumer group of the work-order writer.
	Group = "vaxhub-servicenow"
	// Consumer names the work-order writer in the bus inbox, dead
	// letters and metrics.
	Consumer = "servicenow-work-orders"
	// InboundHandler names the poller in dead letters.
	InboundHandler = "servicenow-inbound"
	// HeaderDLQSource is set on the poller's dead letters: the table and
	// sys_id of the bad record.
	HeaderDLQSource = "dlq-source"

	visitMapping   = "servicenow/mobile-visit"
	orderMapping   = "servicenow/work-order"
	vaccineMapping = "servicenow/field-vaccination"

	// Namespace is the connector's migration namespace (its own tables).
	Namespace = "servicenow"
	// migrateTimeout bounds the migrations New applies.
	migrateTimeout = time.Minute
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the connector's own migrations (namespace Namespace).
func migrate(pool *pgxpool.Pool) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), migrateTimeout)
	defer cancel()
	if _, err := pgmigrate.Apply(ctx, pool, Namespace, sub); err != nil {
		return fmt.Errorf("servicenow: %w", err)
	}
	return nil
}

// Config configures the connector.
type Config struct {
	// BaseURL is the instance ("http://127.0.0.1:8102").
	BaseURL string
	// User and Password: the integration user (Basic auth).
	User, Password string
	// Client, when set, replaces the HTTP client built from the fields above
	// (its BaseURL must be the instance).
	Client *httpclient.Client
	// Timeout bounds each HTTP attempt. Default 10 s.
	Timeout time.Duration
	// MaxRetries of the built client for one call (429 with Retry-After,
	// 5xx, network errors). Default 3. A POST that may have reached the
	// planner is never repeated blindly: the record is looked up by its hub
	// key first, and duplicates are removed.
	MaxRetries int
	// BreakerTimeout is how long the breaker stays open. Default 10 s.
	BreakerTimeout time.Duration
	// PollInterval is how often changed records are read. Default 10 s.
	PollInterval time.Duration
	// Overlap is how far before its cursor (sys_updated_on of the newest
	// record seen) the poller reads again: records stamped in the same
	// second, or committed late, are not missed. Already applied versions
	// (sys_id + sys_mod_count) are skipped. Default 2 min.
	Overlap time.Duration
	// PageSize is sysparm_limit of a poll. Default 200.
	PageSize int
	// CursorName prefixes the cursors in servicenow_cursor. Default "servicenow".
	CursorName string
	// Registerer receives the HTTP client's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 3
	}
	if c.BreakerTimeout == 0 {
		c.BreakerTimeout = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.Overlap == 0 {
		c.Overlap = 2 * time.Minute
	}
	if c.PageSize == 0 {
		c.PageSize = 200
	}
	if c.CursorName == "" {
		c.CursorName = "servicenow"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Client == nil && c.BaseURL == "":
		return errors.New("servicenow: BaseURL is required")
	case c.Client == nil && c.User == "":
		return errors.New("servicenow: User is required")
	case c.PollInterval < 0 || c.Timeout < 0 || c.BreakerTimeout < 0 || c.Overlap < 0:
		return errors.New("servicenow: PollInterval, Timeout, BreakerTimeout and Overlap must not be negative")
	case c.PageSize < 1 || c.PageSize > 10000:
		return errors.New("servicenow: PageSize must be 1..10000")
	}
	return nil
}

// NewClient builds the HTTP client for the planner: one breaker for the
// system "servicenow", retries honouring Retry-After (429, 503).
func NewClient(cfg Config) (*httpclient.Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return httpclient.New(httpclient.Config{
		System:      "servicenow",
		BaseURL:     strings.TrimRight(cfg.BaseURL, "/"),
		Timeout:     cfg.Timeout,
		MaxRetries:  cfg.MaxRetries,
		BackoffBase: 100 * time.Millisecond,
		BackoffMax:  2 * time.Second,
		BasicAuth:   &httpclient.BasicAuth{Username: cfg.User, Password: cfg.Password},
		Headers:     map[string]string{"Accept": "application/json"},
		Breaker:     httpclient.BreakerConfig{Timeout: cfg.BreakerTimeout},
		Registerer:  cfg.Registerer,
		Logger:      cfg.Logger,
	})
}

// Deps is what the connector needs from the hub.
type Deps struct {
	Pool *pgxpool.Pool
	// Mobile is the mobile-campaign use cases (app.NewMobile(app, store)).
	Mobile *app.Mobile
	// Consumer is the template of the work-order consumer (Kafka, Validator,
	// Metrics, Logger, ShutdownTimeout); Topic, Group, Name, Handler and
	// retries are set here: a work order waits in Kafka while the planner
	// is down.
	Consumer bus.ConsumerConfig
	// Publisher sends the poller's dead letters (vaxhub.dlq).
	Publisher bus.Publisher
	Config    Config
	// Failed, when set, is told when a part stops while it should run.
	Failed func(error)
}

// Connector is a running ServiceNow connector.
type Connector struct {
	cfg     Config
	api     *tableAPI
	mobile  *app.Mobile
	pool    *pgxpool.Pool
	visit   *mappings.Mapping
	order   *mappings.Mapping
	vaccine *mappings.Mapping
	pub     bus.Publisher
	inbox   bus.Inbox // exactly-once handling of the work-order consumer
	log     *slog.Logger
	ownsCl  bool
	groups  groupCache
}

// New checks deps, applies the connector's own migrations (its tables)
// and builds the connector without starting anything.
func New(deps Deps) (*Connector, error) {
	cfg := deps.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Pool == nil || deps.Mobile == nil {
		return nil, errors.New("servicenow: Pool and Mobile are required")
	}
	if err := migrate(deps.Pool); err != nil { // its own tables, before anything uses them
		return nil, err
	}
	set, err := mappings.LoadDir(mappings.Embedded(), ".")
	if err != nil {
		return nil, fmt.Errorf("servicenow: mappings: %w", err)
	}
	var ms [3]*mappings.Mapping
	for i, name := range []string{visitMapping, orderMapping, vaccineMapping} {
		m, ok := set.Get(name)
		if !ok {
			return nil, fmt.Errorf("servicenow: mapping %s is missing", name)
		}
		ms[i] = m
	}
	cl, owns := cfg.Client, false
	if cl == nil {
		if cl, err = NewClient(cfg); err != nil {
			return nil, err
		}
		owns = true
	}
	return &Connector{cfg: cfg, api: &tableAPI{cl: cl}, mobile: deps.Mobile, pool: deps.Pool, inbox: bus.NewPostgresInbox(deps.Pool),
		visit: ms[0], order: ms[1], vaccine: ms[2], pub: deps.Publisher,
		log: cfg.Logger.With("component", "servicenow"), ownsCl: owns}, nil
}

// Close releases the HTTP client when the connector built it.
func (c *Connector) Close() {
	if c.ownsCl {
		_ = c.api.cl.Close()
	}
}

// StartWith builds the connector from deps (Start, the hub's entry, fills
// them from component.Deps) and runs the poller and the work-order
// consumer until stop is called (or ctx ends). stop waits for both.
func StartWith(ctx context.Context, deps Deps) (stop func(), err error) {
	c, err := New(deps)
	if err != nil {
		return nil, err
	}
	if deps.Publisher == nil {
		c.Close()
		return nil, errors.New("servicenow: Publisher is required for dead letters")
	}
	// The consumer goes through a router (its middleware reaches it); an
	// event waits in Kafka for as long as the planner is down.
	router := bus.NewRouter(deps.Consumer.WaitOutOutages(c.pub))
	if err := router.Handle(Consumer, bus.TopicFor("mobile.campaign-planned"), Group, c.HandleCampaignPlanned); err != nil {
		c.Close()
		return nil, fmt.Errorf("servicenow: %w", err)
	}
	stop = bus.RunReporting(ctx, c.log, c.Close, map[string]func(context.Context) error{
		"poller":              func(ctx context.Context) error { c.RunPoller(ctx); return nil },
		"work-order consumer": router.Run,
	}, deps.Failed)
	c.log.Info("ServiceNow connector started", "poll_interval", c.cfg.PollInterval, "group", Group)
	return stop, nil
}
