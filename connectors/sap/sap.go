// Package sap connects the hub's stock to an SAP S/4HANA inventory over
// OData v2 (API_MATERIAL_DOCUMENT_SRV, API_MATERIAL_STOCK_SRV): goods
// receipts and other movements read from SAP update the hub's stock, every
// dose given in the hub becomes exactly one 201 goods issue, and Reconcile
// compares both sides. Mobile teams' doses move by 311 transfers to the
// teams' storage locations (mobile.go). It never writes to SAP except goods
// issues and transfers for hub events, never posts one twice for the same
// event, and posts none for a dose the core does not hold as given
// (verify.go: the bus is not trusted).
package sap

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
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
	// Group is the Kafka consumer group of the goods-issue poster.
	Group = "vaxhub-sap"
	// Consumer names the goods-issue handler in the bus inbox, dead
	// letters and metrics.
	Consumer = "sap-goods-issue"
	// InboundHandler names the material-document poller in dead letters.
	InboundHandler = "sap-inbound"
	// HeaderDLQSource is set on dead letters of the poller: the OData request
	// the bad record came from (an SAP read cannot be replayed to a topic).
	HeaderDLQSource = "dlq-source"

	// ODataRoot is the path of the OData services below the host.
	ODataRoot = "/sap/opu/odata/sap"

	mappingName      = "sap/material-document-item"
	stockMappingName = "sap/material-stock"

	// Namespace is the connector's migration namespace (its own tables).
	Namespace = "sap"
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
		return fmt.Errorf("sap: %w", err)
	}
	return nil
}

// Config configures the connector.
type Config struct {
	// BaseURL is the SAP host ("http://127.0.0.1:8101") or the OData root
	// below it ("…/sap/opu/odata/sap").
	BaseURL string
	// User and Password: the communication user (Basic auth).
	User, Password string
	// SAPClient is sent as sap-client when set.
	SAPClient string
	// Client, when set, replaces the HTTP client built from the fields
	// above. Its BaseURL must be the OData root, and it must not retry
	// POSTs by itself (MaxRetries -1): a retried goods issue is only safe
	// after the look-up that this package does before every attempt.
	Client *httpclient.Client
	// Timeout bounds each HTTP attempt of the built client. Default 10 s.
	Timeout time.Duration
	// BreakerTimeout is how long the built client's breaker stays open
	// before a trial call. Default 10 s.
	BreakerTimeout time.Duration
	// PollInterval is how often new material documents are read. Default 10 s.
	PollInterval time.Duration
	// CursorName keys the poller's position in sap_cursor. Default "sap".
	CursorName string
	// StorageLocation is the centres' cold store, the stock the hub books
	// against. Default KL01. MOB1/MOB2 (mobile teams) are not bookable.
	StorageLocation string
	// TeamLocations maps a mobile team (planner group code, MT01..MT30) to
	// the storage location of its stock in the plant of its campaign's
	// centre. A team not listed: MOB1 for an odd number, MOB2 for an even
	// one (Dresden and Leipzig have four teams: two share each location).
	TeamLocations map[string]string
	// CentralPlant is the central cold store, whose movements do not touch
	// any centre's stock. Default SN00.
	CentralPlant string
	// CostCenter returns the cost centre for goods issues of a plant.
	// Default "IMPFZ-" + the plant's number (SN05 -> IMPFZ-05).
	CostCenter func(plant string) string
	// Registerer receives the HTTP client's metrics.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.BreakerTimeout == 0 {
		c.BreakerTimeout = 10 * time.Second
	}
	if c.PollInterval == 0 {
		c.PollInterval = 10 * time.Second
	}
	if c.CursorName == "" {
		c.CursorName = "sap"
	}
	if c.StorageLocation == "" {
		c.StorageLocation = "KL01"
	}
	if c.CentralPlant == "" {
		c.CentralPlant = "SN00"
	}
	if c.CostCenter == nil {
		c.CostCenter = func(plant string) string { return "IMPFZ-" + strings.TrimPrefix(plant, "SN") }
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Client == nil && c.BaseURL == "":
		return errors.New("sap: BaseURL is required")
	case c.Client == nil && c.User == "":
		return errors.New("sap: User is required")
	case c.PollInterval < 0 || c.Timeout < 0 || c.BreakerTimeout < 0:
		return errors.New("sap: PollInterval, Timeout and BreakerTimeout must not be negative")
	}
	return nil
}

// NewClient builds the HTTP client for SAP from cfg: no retries of its own
// (see Config.Client), one breaker for the system "sap".
func NewClient(cfg Config) (*httpclient.Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	root := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasSuffix(root, ODataRoot) {
		root += ODataRoot
	}
	return httpclient.New(httpclient.Config{
		System:     "sap",
		BaseURL:    root,
		Timeout:    cfg.Timeout,
		MaxRetries: -1,
		BasicAuth:  &httpclient.BasicAuth{Username: cfg.User, Password: cfg.Password},
		Headers:    map[string]string{"Accept": "application/json"},
		Breaker:    httpclient.BreakerConfig{Timeout: cfg.BreakerTimeout},
		Registerer: cfg.Registerer,
		Logger:     cfg.Logger,
	})
}

// Deps is what the connector needs from the hub.
type Deps struct {
	Pool *pgxpool.Pool
	App  *app.App
	// Consumer is the template of the goods-issue consumer: Kafka,
	// Validator, Metrics, Logger, ShutdownTimeout (as the backbone's router
	// defaults). Topic, Group, Name, Handler and the retry settings are set
	// here: a goods issue waits in Kafka for as long as SAP is down.
	Consumer bus.ConsumerConfig
	// Publisher sends the poller's dead letters (vaxhub.dlq).
	Publisher bus.Publisher
	// Mobile is the mobile-campaign use cases (transfers to teams, field
	// doses). Default: app.MobileOf(App), the app's own store.
	Mobile *app.Mobile
	Config Config
	// Failed, when set, is told when a part stops while it should run.
	Failed func(error)
}

// Connector is a running SAP connector.
type Connector struct {
	cfg     Config
	odata   *odata
	app     *app.App
	pool    *pgxpool.Pool
	mapping *mappings.Mapping
	// stockMapping maps A_MatlStkInAcctMod rows (reconciliation).
	stockMapping *mappings.Mapping
	pub          bus.Publisher
	inbox        bus.Inbox // exactly-once handling of both consumers
	log          *slog.Logger
	ownsCl       bool
	// mobile is nil when the store keeps no mobile campaigns: then no
	// transfers, and every goods issue is from the cold store.
	mobile *app.Mobile

	// refused counts goods issues refused because the core does not hold
	// the dose as given (vaxhub_sap_refused_total).
	refused *prometheus.CounterVec

	mu            sync.Mutex
	transferPosts map[string]time.Time // campaign/version -> last POST
}

// New checks deps, applies the connector's own migrations (its tables)
// and builds the connector without starting anything.
func New(deps Deps) (*Connector, error) {
	cfg := deps.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Pool == nil || deps.App == nil {
		return nil, errors.New("sap: Pool and App are required")
	}
	if err := migrate(deps.Pool); err != nil { // its own tables, before anything uses them
		return nil, err
	}
	set, err := mappings.LoadDir(mappings.Embedded(), ".")
	if err != nil {
		return nil, fmt.Errorf("sap: mappings: %w", err)
	}
	m, ok := set.Get(mappingName)
	if !ok {
		return nil, fmt.Errorf("sap: mapping %s is missing", mappingName)
	}
	sm, ok := set.Get(stockMappingName)
	if !ok {
		return nil, fmt.Errorf("sap: mapping %s is missing", stockMappingName)
	}
	cl, owns := cfg.Client, false
	if cl == nil {
		if cl, err = NewClient(cfg); err != nil {
			return nil, err
		}
		owns = true
	}
	mob := deps.Mobile
	if mob == nil {
		mob, _ = app.MobileOf(deps.App) // nil: no mobile campaigns
	}
	refused, err := newRefusedCounter(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Connector{refused: refused, inbox: bus.NewPostgresInbox(deps.Pool),
		cfg: cfg, odata: &odata{cl: cl, sapClient: cfg.SAPClient}, app: deps.App, pool: deps.Pool,
		mapping: m, stockMapping: sm, pub: deps.Publisher, log: cfg.Logger.With("component", "sap"), ownsCl: owns,
		mobile: mob,
	}, nil
}

// StartWith builds the connector from deps (Start, the hub's entry, fills
// them from component.Deps) and runs the material-document poller, the
// goods-issue consumer and (when the store keeps mobile campaigns) the
// mobile transfer consumer until stop is called (or ctx ends). stop waits
// for all of them to finish.
func StartWith(ctx context.Context, deps Deps) (stop func(), err error) {
	c, err := New(deps)
	if err != nil {
		return nil, err
	}
	if deps.Publisher == nil {
		return nil, errors.New("sap: Publisher is required for the poller's dead letters")
	}
	// Both consumers go through one router (its middleware reaches them);
	// a goods issue or transfer waits in Kafka for as long as SAP is down.
	router := bus.NewRouter(deps.Consumer.WaitOutOutages(c.pub))
	if err := router.Handle(Consumer, bus.TopicFor("appointment.dose-administered"), Group, c.HandleDoseAdministered); err != nil {
		return nil, fmt.Errorf("sap: %w", err)
	}
	if c.mobile != nil {
		if err := router.Handle(TransferConsumer, bus.TopicFor("mobile.transfer-requested"), TransferGroup, c.HandleTransferRequested); err != nil {
			return nil, fmt.Errorf("sap: %w", err)
		}
	}
	parts := map[string]func(context.Context) error{
		"poller":    func(ctx context.Context) error { c.RunPoller(ctx); return nil },
		"consumers": router.Run,
	}
	stop = bus.RunReporting(ctx, c.log, func() {
		if c.ownsCl {
			_ = c.odata.cl.Close()
		}
	}, parts, deps.Failed)
	c.log.Info("SAP connector started", "poll_interval", c.cfg.PollInterval, "group", Group)
	return stop, nil
}
