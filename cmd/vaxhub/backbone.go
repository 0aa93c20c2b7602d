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
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/internal/hubdeps"
	"github.com/vaxhub/vaxhub/schemas"
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

// supervisor starts the component list (components.go) in order and stops
// it in reverse. It restarts nothing: a component that reports a failure
// after its start is logged, and Failed hands it to the hub, which stops.
type supervisor struct {
	cfg   *config
	parts *hubParts
	reg   *prometheus.Registry
	log   *slog.Logger

	// set by the broker component
	registry   *schemas.Registry
	topics     []string
	creds      busCredentials
	metrics    *bus.Metrics
	brokers    []string
	partitions int

	failed chan error
}

type running struct {
	name    string
	stop    func(context.Context) error
	closers []func() error // its publishers, closed after it stopped
}

// brokerSpec and relaySpec are the hub's own components: the broker (the
// embedded one unless KAFKA_BROKERS names a cluster) with the topics, and
// the outbox relay. Their settings are the hub's (kafka_*), not their own.
var (
	brokerSpec = component.Spec{Name: "broker", Doc: "Kafka: the embedded broker, or the cluster of KAFKA_BROKERS; the topics"}
	relaySpec  = component.Spec{Name: "relay", Doc: "outbox relay: publishes committed events in order"}
)

// startBackbone starts every component of the list that is switched on:
// the event backbone (broker, topics, relay), the audit trail, the
// connectors and the hotline, with metrics on reg. stop stops them in
// reverse order: consumers finish in-flight events and commit, the relay
// releases its shard leases, the embedded broker writes its data directory;
// it returns an error if that does not happen before ctx's deadline. failed
// delivers the first failure of a component after its start.
func startBackbone(ctx context.Context, cfg *config, parts *hubParts, reg *prometheus.Registry, log *slog.Logger) (stop func(context.Context) error, failed <-chan error, err error) {
	s := &supervisor{cfg: cfg, parts: parts, reg: reg, log: log, failed: make(chan error, 1)}
	var started []running
	stopAll := func(ctx context.Context) error {
		var errs []error
		for i := len(started) - 1; i >= 0; i-- {
			r := started[i]
			if err := r.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
			}
			for _, c := range r.closers {
				if err := c(); err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", r.name, err))
				}
			}
		}
		started = nil
		return errors.Join(errs...)
	}
	for _, c := range components(s) {
		name := c.Spec.Name
		v := cfg.values(c.Spec)
		if !switchedOn(c.Spec, v) {
			log.Info("component off", "component", name)
			continue
		}
		r := running{name: name}
		d, err := s.deps(c.Spec, v, &r.closers)
		var stopIt func(context.Context) error
		if err == nil {
			stopIt, err = c.Start(ctx, d)
		}
		if err != nil {
			for _, c := range r.closers {
				_ = c()
			}
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), consumerShutdown+4*time.Second)
			serr := stopAll(sctx)
			cancel()
			return nil, nil, errors.Join(fmt.Errorf("%s: %w", name, err), serr)
		}
		r.stop = stopIt
		started = append(started, r)
		log.Info("component started", "component", name)
	}
	var once sync.Once
	var stopErr error
	stop = func(ctx context.Context) error {
		once.Do(func() {
			stopErr = stopAll(ctx)
			if stopErr == nil {
				log.Info("components stopped")
			}
		})
		return stopErr
	}
	return stop, s.failed, nil
}

// deps is what the component of spec gets: its values, the core, its own
// bus user, and a Failed that stops the hub (internal/hubdeps, which the
// connector conformance suite builds its components with too).
func (s *supervisor) deps(spec component.Spec, v component.Values, closers *[]func() error) (component.Deps, error) {
	h := hubdeps.Hub{Run: s.cfg.mode == modeRun, App: s.parts.app, Store: s.parts.store, Pool: s.parts.pool, Schemas: s.parts.schemas,
		Validator: s.registry, Topics: s.topics, Metrics: s.metrics, Registerer: s.reg, Logger: s.log,
		Kafka:     func(user string) (bus.Config, error) { return s.creds.must(user), nil },
		Consumer:  bus.ConsumerConfig{ShutdownTimeout: consumerShutdown},
		StaffName: api.StaffName,
		Key:       func(label string) []byte { return derivedKey(s.cfg, label) },
		Handle: func(path string, h http.Handler) {
			if path == "/api/v1/letters" {
				s.parts.letters = h
				return
			}
			if s.parts.mounts == nil {
				s.parts.mounts = map[string]http.Handler{}
			}
			s.parts.mounts[path] = h
		},
		Failed: func(name string, err error) {
			err = fmt.Errorf("component %s failed: %w", name, err)
			s.log.Error("component failed; the hub stops (nothing is restarted)", "component", name, "err", err)
			select {
			case s.failed <- err:
			default:
			}
		},
	}
	return h.Deps(spec, v, closers)
}

// switchedOn: a spec without a Switch is always on; else its Switch field
// must be set and not "off".
func switchedOn(spec component.Spec, v component.Values) bool {
	if spec.Switch == "" {
		return true
	}
	sw := v.String(spec.Switch)
	return sw != "" && sw != "off"
}

// startBroker starts the embedded broker (unless brokers are configured)
// and creates the topics.
func (s *supervisor) startBroker(ctx context.Context, _ component.Deps) (func(context.Context) error, error) {
	cfg, log := s.cfg, s.log
	kcfg := cfg.Kafka
	kcfg.Brokers = cfg.kafkaBrokers()
	if len(kcfg.Brokers) == 0 && cfg.mode == modeHub {
		return nil, errors.New("`vaxhub hub` does not start an embedded broker: set KAFKA_BROKERS (or kafka_brokers in the config file) to the cluster")
	}
	registry := s.parts.schemas // loaded once, by openCore
	topics := eventTopics(registry)
	creds := busCredentials{base: kcfg, perUser: cfg.KafkaUsers}
	replication := cfg.KafkaReplicationFactor
	var broker *bus.Embedded
	if len(kcfg.Brokers) == 0 {
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
	closeBroker := func(context.Context) error {
		if broker != nil {
			broker.Close()
		}
		return nil
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
	err := bus.EnsureTopics(tctx, creds.must(busAdmin), specs)
	cancel()
	if err != nil {
		_ = closeBroker(ctx)
		return nil, err
	}
	metrics, err := bus.NewMetrics(s.reg)
	if err != nil {
		_ = closeBroker(ctx)
		return nil, fmt.Errorf("bus metrics: %w", err)
	}
	s.registry, s.topics, s.creds, s.metrics, s.brokers, s.partitions = registry, topics, creds, metrics, kcfg.Brokers, partitions
	log.Info("event backbone started", "brokers", strings.Join(kcfg.Brokers, ","), "topics", topics, "partitions", partitions)
	return closeBroker, nil
}

// startRelay starts the outbox relay as the relay user.
func (s *supervisor) startRelay(ctx context.Context, d component.Deps) (func(context.Context) error, error) {
	pub, err := bus.NewPublisher(s.creds.must(busRelay))
	if err != nil {
		return nil, err
	}
	outbox := store.NewOutbox(s.parts.pool)
	relay, err := bus.NewRelay(outbox, pub, bus.RelayConfig{Metrics: s.metrics, Logger: s.log})
	if err != nil {
		_ = pub.Close()
		outbox.Close()
		return nil, err
	}
	probe, err := bus.NewBrokerProbe(s.creds.must(busRelay), bus.ProbeConfig{})
	if err != nil {
		_ = pub.Close()
		outbox.Close()
		return nil, err
	}
	s.parts.relay, s.parts.broker = relay, probe // for /readyz
	return component.Background(ctx, "relay", d.Failed, relay.Run, func() { _ = pub.Close(); outbox.Close() }), nil
}
