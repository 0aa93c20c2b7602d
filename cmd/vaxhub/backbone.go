package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/audit"
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	"github.com/vaxhub/vaxhub/connectors/print"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/connectors/sap"
	"github.com/vaxhub/vaxhub/connectors/servicenow"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/schemas"
	printsim "github.com/vaxhub/vaxhub/simulators/print"
)

// consumerShutdown bounds how long the hub's consumers finish in-flight
// events after shutdown begins; stop's own deadline should exceed it.
const consumerShutdown = 8 * time.Second

// kafkaBrokers returns the brokers of a real cluster: KAFKA_BROKERS (or
// -kafka-brokers, kafka_brokers), else kafka.brokers of the config file.
// None means the embedded broker.
func (c *config) kafkaBrokers() []string {
	var out []string
	for _, b := range strings.Split(c.KafkaBrokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	if len(out) == 0 {
		out = slices.Clone(c.Kafka.Brokers)
	}
	return out
}

// eventTopics returns vaxhub.<aggregate>.v1 for every aggregate that has an
// event schema (the schemas are the source of truth that docs/events.md is
// tested against), sorted.
func eventTopics(reg *schemas.Registry) []string {
	var out []string
	for _, t := range reg.Types() {
		if topic := bus.TopicFor(t); !slices.Contains(out, topic) {
			out = append(out, topic)
		}
	}
	slices.Sort(out)
	return out
}

// startBackbone starts the event backbone of the hub: the embedded broker
// (unless brokers are configured), the topics, the outbox relay and the hub's
// own consumers (the audit trail), with bus metrics on reg. stop shuts it down
// gracefully: consumers finish in-flight events and commit, the relay releases
// its shard leases, the embedded broker writes its data directory; it returns
// an error if that does not happen before ctx's deadline.
func startBackbone(ctx context.Context, cfg *config, parts *hubParts, reg *prometheus.Registry, log *slog.Logger) (stop func(context.Context) error, err error) {
	registry, err := schemas.Load()
	if err != nil {
		return nil, err
	}
	topics := eventTopics(registry)
	kcfg := cfg.Kafka
	kcfg.Brokers = cfg.kafkaBrokers()
	creds := busCredentials{base: kcfg, perUser: cfg.KafkaUsers}
	replication := cfg.KafkaReplicationFactor
	var broker *bus.Embedded
	if len(kcfg.Brokers) == 0 {
		if cfg.mode == modeHub {
			return nil, errors.New("`vaxhub hub` does not start an embedded broker: set KAFKA_BROKERS (or kafka_brokers in the config file) to the cluster")
		}
		dir := filepath.Join(cfg.DataDir, "kafka")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("kafka data dir: %w", err)
		}
		// Every part of the hub, the operator and the tester have their own
		// SCRAM user; the passwords are made at the first start.
		passwords, err := ensureKafkaUsers(cfg.DataDir)
		if err != nil {
			return nil, err
		}
		broker, err = bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: cfg.KafkaAddr, DataDir: dir, Partitions: cfg.KafkaPartitions,
			Users: embeddedUsers(passwords, topics)})
		if err != nil {
			return nil, err
		}
		cfg.KafkaAddr = broker.Addrs()[0] // the real port, when 0 was asked for
		kcfg.Brokers = broker.Addrs()
		creds = busCredentials{base: kcfg, embedded: passwords}
		if replication == 0 {
			replication = 1
		}
		log.Info("embedded Kafka broker started", "addr", cfg.KafkaAddr, "data_dir", dir, "sasl", bus.EmbeddedMechanism,
			"users_file", kafkaUsersPath(cfg.DataDir))
	} else if replication == 0 {
		replication = 3
	}
	closeBroker := func() {
		if broker != nil {
			broker.Close()
		}
	}
	var closers []func() error // publishers, closed last
	fail := func(err error) (func(context.Context) error, error) {
		for _, c := range closers {
			_ = c()
		}
		closeBroker()
		return nil, err
	}
	publisher := func(user string) (*bus.KafkaPublisher, error) {
		p, err := bus.NewPublisher(creds.must(user))
		if err == nil {
			closers = append(closers, p.Close)
		}
		return p, err
	}

	partitions := cfg.KafkaPartitions
	if partitions <= 0 {
		partitions = 6
	}
	specs := make([]bus.TopicSpec, 0, len(topics)+1)
	for _, t := range append(slices.Clone(topics), bus.DLQTopic) {
		specs = append(specs, bus.TopicSpec{Name: t, Partitions: partitions, ReplicationFactor: replication})
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.EnsureTopics(tctx, creds.must(busAdmin), specs)
	cancel()
	if err != nil {
		return fail(err)
	}

	metrics, err := bus.NewMetrics(reg)
	if err != nil {
		return fail(fmt.Errorf("bus metrics: %w", err))
	}
	pub, err := publisher(busRelay)
	if err != nil {
		return fail(err)
	}
	outbox := store.NewOutbox(parts.pool)
	relay, err := bus.NewRelay(outbox, pub, bus.RelayConfig{Metrics: metrics, Logger: log})
	if err != nil {
		return fail(err)
	}
	probe, err := bus.NewBrokerProbe(creds.must(busRelay), bus.ProbeConfig{})
	if err != nil {
		return fail(err)
	}
	parts.relay, parts.broker = relay, probe // for /readyz
	// consumer is the consumer template of one part: its own user.
	consumer := func(user string) bus.ConsumerConfig {
		return bus.ConsumerConfig{Kafka: creds.must(user), Validator: registry, Metrics: metrics, Logger: log, ShutdownTimeout: consumerShutdown}
	}
	router := bus.NewRouter(consumer(busAudit))
	router.Use(bus.CorrelationIDMiddleware)
	routers := []*bus.Router{router}
	var printConn *print.Connector
	if err := audit.New(parts.pool, log).Register(router, topics); err != nil {
		return fail(err)
	}

	if cfg.Print.URL != "" {
		conn, err := print.New(print.Config{Pool: parts.pool, App: parts.app, Logger: log,
			Pingen: print.PingenConfig{BaseURL: cfg.Print.URL, ClientID: orDefault(cfg.Print.ClientID, "sim"),
				ClientSecret: orDefault(cfg.Print.ClientSecret, "sim"), Organisation: orDefault(cfg.Print.Organisation, printsim.DefaultOrganisation),
				WebhookSecret: cfg.Print.WebhookSecret, HTTP: httpclient.Config{Registerer: reg}}})
		if err != nil {
			return fail(fmt.Errorf("print connector: %w", err))
		}
		printRouter := bus.NewRouter(consumer(busPrint))
		printRouter.Use(bus.CorrelationIDMiddleware)
		if err := conn.Register(printRouter); err != nil {
			return fail(err)
		}
		routers = append(routers, printRouter)
		printConn = conn
		parts.letters = conn.StaffHandler(func(r *http.Request) (string, error) { return api.StaffName(r), nil }) // the API checks the role first
		if parts.mounts == nil {
			parts.mounts = map[string]http.Handler{}
		}
		parts.mounts["/hooks/pingen"] = conn.WebhookHandler()
	}

	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	if printConn != nil {
		go func() {
			if err := printConn.Run(runCtx); err != nil && runCtx.Err() == nil {
				log.Error("print connector stopped", "err", err)
			}
		}()
	}
	stopSAP := func() {}
	if cfg.SAP.URL != "" {
		sapPub, err := publisher(busSAP) // its dead letters
		if err == nil {
			stopSAP, err = sap.Start(runCtx, sap.Deps{Pool: parts.pool, App: parts.app, Publisher: sapPub, Consumer: consumer(busSAP),
				Config: sap.Config{BaseURL: cfg.SAP.URL, User: orDefault(cfg.SAP.User, "sim"), Password: orDefault(cfg.SAP.Password, "sim"),
					SAPClient: orDefault(cfg.SAP.Client, "100"), Registerer: reg, Logger: log}})
		}
		if err != nil {
			cancelRun()
			return fail(fmt.Errorf("SAP connector: %w", err))
		}
	}
	stopServiceNow := func() {}
	if cfg.ServiceNow.URL != "" {
		mob, err := app.NewMobile(parts.app, parts.store)
		var snPub *bus.KafkaPublisher
		if err == nil {
			snPub, err = publisher(busServiceNow) // its dead letters
		}
		if err == nil {
			stopServiceNow, err = servicenow.Start(runCtx, servicenow.Deps{Pool: parts.pool, Mobile: mob, Publisher: snPub,
				Consumer: consumer(busServiceNow),
				Config: servicenow.Config{BaseURL: cfg.ServiceNow.URL, User: orDefault(cfg.ServiceNow.User, "sim"),
					Password: orDefault(cfg.ServiceNow.Password, "sim"), Registerer: reg, Logger: log}})
		}
		if err != nil {
			stopSAP()
			cancelRun()
			return fail(fmt.Errorf("servicenow connector: %w", err))
		}
	}
	stopRegister := func() {}
	if cfg.Register.URL != "" {
		stopRegister, err = register.Start(runCtx, register.Deps{App: parts.app, Config: register.Config{BaseURL: cfg.Register.URL},
			Consumer:   consumer(busRegister),
			Registerer: reg, Logger: log})
		if err != nil {
			stopSAP()
			stopServiceNow()
			cancelRun()
			return fail(fmt.Errorf("register connector: %w", err))
		}
	}
	var wg sync.WaitGroup
	var relayErr error
	routerErrs := make([]error, len(routers))
	wg.Add(1 + len(routers))
	go func() { defer wg.Done(); relayErr = relay.Run(runCtx) }()
	for i, r := range routers {
		go func() { defer wg.Done(); routerErrs[i] = r.Run(runCtx) }()
	}
	log.Info("event backbone started", "brokers", strings.Join(kcfg.Brokers, ","), "topics", topics,
		"partitions", partitions, "consumers", audit.Group)

	var once sync.Once
	var stopErr error
	stop = func(ctx context.Context) error {
		once.Do(func() {
			cancelRun()
			stopSAP()
			stopServiceNow()
			stopRegister()
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
				stopErr = errors.Join(append([]error{relayErr}, routerErrs...)...)
			case <-ctx.Done():
				stopErr = fmt.Errorf("event backbone: not stopped within the deadline: %w", ctx.Err())
			}
			for _, c := range closers {
				stopErr = errors.Join(stopErr, c())
			}
			outbox.Close()
			closeBroker()
			if stopErr == nil {
				log.Info("event backbone stopped")
			}
		})
		return stopErr
	}
	return stop, nil
}
