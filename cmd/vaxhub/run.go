package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/emiago/diago/media"
	"github.com/emiago/sipgo/sip"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/print"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/deploy/campaign"
	"github.com/vaxhub/vaxhub/internal/logcap"
	"github.com/vaxhub/vaxhub/schemas"
)

// newLogger is the hub's logger: JSON on stderr from level up, every record
// capped by internal/logcap (strings cut to 256 bytes, at most 100 lines per
// message per 10 s, the rest counted), so that nobody can fill the log.
func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return logcap.Logger(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}), logcap.Options{})
}

// useAsDefault makes log the process's default logger, and the SIP and RTP
// libraries' (sipgo, diago's media), which log through package defaults what
// any sender on the network causes, log through it at WARN at most.
func useAsDefault(log *slog.Logger) {
	slog.SetDefault(log)
	outside := logcap.Logger(log.Handler(), logcap.Options{Ceiling: slog.LevelWarn})
	sip.SetDefaultLogger(outside)
	media.SetDefaultLogger(outside)
}

// hubParts is a running core: pool, store and use cases, and what the
// connectors started by the backbone serve over HTTP.
type hubParts struct {
	pool  *pgxpool.Pool
	store *store.Store
	app   *app.App

	schemas *schemas.Registry

	letters http.Handler            // /api/v1/letters (print connector), nil when off
	mounts  map[string]http.Handler // further paths outside /api/v1, e.g. webhooks

	// relay and broker are the backbone's, for /readyz; nil until it runs.
	relay  *bus.Relay
	broker *bus.BrokerProbe
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// openCore connects to PostgreSQL (creating the database when the server
// answers but the database is missing), migrates and builds the use cases.
func openCore(ctx context.Context, cfg *config, log *slog.Logger) (*hubParts, error) {
	if err := ensureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", err)
	}
	if pcfg.MaxConns < 16 {
		pcfg.MaxConns = 16
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := store.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	reg, err := schemas.Load()
	if err != nil {
		pool.Close()
		return nil, err
	}
	st, err := store.New(pool, store.Options{DataKey: cfg.key, Location: cfg.loc, Events: reg, BookingLanes: cfg.BookingLanes})
	if err != nil {
		pool.Close()
		return nil, err
	}
	a, err := app.New(app.Ports{Residents: st, Campaign: st, RuleSets: st, Bookings: st, Stock: st, Waitlist: st, Reports: st, Verifications: st, Attempts: st, Events: st},
		app.Config{Location: cfg.loc, Logger: log, RequireVerification: cfg.requireVerification()})
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &hubParts{pool: pool, store: st, app: a, schemas: reg}, nil
}

// ensureDatabase creates the database named in dsn when its server answers
// but the database does not exist yet.
func ensureDatabase(ctx context.Context, dsn string) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, dsn)
	if err == nil {
		return conn.Close(ctx)
	}
	if !strings.Contains(err.Error(), "does not exist") {
		return fmt.Errorf("PostgreSQL at %s does not answer (start it, e.g. with deploy/local/ensure-postgres.sh): %w", maskURL(dsn), err)
	}
	u, perr := url.Parse(dsn)
	if perr != nil {
		return fmt.Errorf("database url: %w", perr)
	}
	name := strings.TrimPrefix(u.Path, "/")
	u.Path = "/postgres"
	admin, err := pgx.Connect(cctx, u.String())
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(cctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// loadCampaign stores the campaign's centres, products and rule sets, its
// announced supply and the slots of the coming days. Loading twice changes nothing.
func loadCampaign(ctx context.Context, cfg *config, parts *hubParts, log *slog.Logger) (*campaign.Campaign, error) {
	var fsys fs.FS = campaign.Embedded()
	dir := cfg.Campaign
	if st, err := os.Stat(cfg.Campaign); err == nil && st.IsDir() {
		fsys, dir = os.DirFS(cfg.Campaign), "."
	}
	c, err := campaign.Load(fsys, dir)
	if err != nil {
		return nil, err
	}
	today := domain.DateOf(parts.app.Now().In(cfg.loc))
	st, err := campaign.Apply(ctx, c, parts.store, parts.app, today, cfg.SlotDays)
	if err != nil {
		return nil, err
	}
	log.Info("campaign loaded", "campaign", c.Name, "centres", len(c.Centres), "rulesets_new", st.RuleSets,
		"deliveries_new", st.Deliveries, "slots_new", st.Slots, "slot_days", cfg.SlotDays)
	return c, nil
}

func cmdMigrate(ctx context.Context, args []string) error {
	cfg, err := loadConfig(args, modeRun)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		return err
	}
	parts.pool.Close()
	log.Info("migrations applied", "database", maskURL(cfg.DatabaseURL))
	return nil
}

// frontDoor builds what answers on the HTTP address: the API, with the
// portal (waiting room, firewall) for every path outside it and the
// firewall in front of /api/. The waiting room's loop runs until ctx ends.
func frontDoor(ctx context.Context, cfg *config, parts *hubParts, reg *prometheus.Registry, log *slog.Logger) (http.Handler, error) {
	pp, err := startPortal(ctx, cfg, parts, reg, log)
	if err != nil {
		return nil, err
	}
	mob, err := app.NewMobile(parts.app, parts.store)
	if err != nil {
		return nil, err
	}
	return buildHTTP(cfg, parts, pp, mob, reg, log)
}

// cmdRun starts the hub (and, in run mode, everything a laptop needs).
func cmdRun(ctx context.Context, args []string, m mode) error {
	cfg, err := loadConfig(args, m)
	if err != nil {
		return err
	}
	log := newLogger(cfg.LogLevel)
	useAsDefault(log)
	say := newAnnouncer(log)
	if cfg.DevToken != "" {
		say.devToken()
	}
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer parts.pool.Close()
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	go runEndOfDay(ctx, parts.app, log)
	var sims []string
	if m == modeRun {
		var addrs map[string]string
		if w := cfg.values(print.Spec); w["webhook_secret"] == "" {
			w["webhook_secret"] = randomHex(16) // shared by the print simulator and the connector
		}
		sims, addrs = startSimulators(ctx, cfg, log)
		cfg.runSwitches(addrs) // the connectors talk to the simulators; the hotline listens
		startAgentPhones(ctx, cfg, log)
	}
	say.config(cfg) // the values the components get
	stopComponents, failed, err := startBackbone(ctx, cfg, parts, reg, log)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), consumerShutdown+4*time.Second)
		defer cancel()
		if err := stopComponents(sctx); err != nil {
			log.Error("components shutdown", "err", err)
		}
	}()
	front, err := frontDoor(ctx, cfg, parts, reg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	hs := &http.Server{Handler: front, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	say.up(ln.Addr().String(), orDefault(cfg.KafkaBrokers, cfg.KafkaAddr+" (embedded)"), sims, hotlineNote(cfg))
	var runErr error
	select {
	case runErr = <-failed:
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(runErr, hs.Shutdown(sctx))
}
