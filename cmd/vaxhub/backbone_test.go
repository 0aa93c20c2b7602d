package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/schemas"
)

func TestEventTopicsAreTheAggregatesOfDocsEvents(t *testing.T) {
	reg, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	// Every table row of docs/events.md starts with a backticked event type.
	seen := map[string]bool{}
	var want []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)\\.[a-z-]+` \\|").FindAllStringSubmatch(string(doc), -1) {
		if topic := "vaxhub." + m[1] + ".v1"; !seen[topic] {
			seen[topic] = true
			want = append(want, topic)
		}
	}
	slices.Sort(want)
	if len(want) < 5 {
		t.Fatalf("found only %v in docs/events.md", want)
	}
	if got := eventTopics(reg); !slices.Equal(got, want) {
		t.Fatalf("event topics %v, want the aggregates of docs/events.md %v", got, want)
	}
}

// topicSize counts the messages of topic, read as the operator of the
// embedded broker of dataDir.
func topicSize(t *testing.T, addr, dataDir, topic string) int64 {
	t.Helper()
	users, _, err := readKafkaUsers(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	d := testDialer(t, bus.Config{SASL: bus.SASLConfig{Mechanism: "scram-sha-256", Username: busOperator, Password: users[busOperator]}})
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	parts, err := conn.ReadPartitions(topic)
	if err != nil {
		t.Fatalf("partitions of %s: %v", topic, err)
	}
	var n int64
	for _, p := range parts {
		pc, err := d.DialLeader(context.Background(), "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		last, err := pc.ReadLastOffset()
		pc.Close()
		if err != nil {
			t.Fatal(err)
		}
		n += last
	}
	return n
}

// TestBackboneRelaysAuditsAndKeepsEventsAcrossARestart starts the backbone as
// `vaxhub run` does (embedded broker with a data directory), loads a campaign
// through the real use cases, and checks that every outbox event is published
// and audited, that stop is graceful, and that the events are still on the
// broker after a restart on the same data directory.
func TestBackboneRelaysAuditsAndKeepsEventsAcrossARestart(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_CONFIG", "")
	dataDir := t.TempDir()
	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", dataDir}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.SlotDays = 1
	cfg.KafkaPartitions = 3
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx := context.Background()
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.pool.Close()
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil {
		t.Fatal(err)
	}
	count := func(sql string) int {
		var n int
		if err := parts.pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	events := count(`SELECT count(*) FROM outbox`)
	if events == 0 {
		t.Fatal("loading the campaign wrote no events")
	}

	reg := prometheus.NewRegistry()
	stop, _, err := startBackbone(ctx, cfg, parts, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	addr := cfg.KafkaAddr
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("KafkaAddr %s: want the real port", addr)
	}
	deadline := time.Now().Add(25 * time.Second)
	for count(`SELECT count(*) FROM audit_events`) < events {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events audited after 25 s", count(`SELECT count(*) FROM audit_events`), events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE sent_at IS NULL`); n != 0 {
		t.Errorf("%d outbox rows unsent", n)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, mf := range mfs {
		names = append(names, mf.GetName())
	}
	for _, want := range []string{"vaxhub_relay_published_total", "vaxhub_consumer_handled_total", "vaxhub_outbox_backlog"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s not registered (have %v)", want, names)
		}
	}
	stock := topicSize(t, addr, dataDir, "vaxhub.stock.v1")
	if stock == 0 {
		t.Fatal("no stock events on the broker")
	}
	sctx, cancel := context.WithTimeout(ctx, 12*time.Second)
	defer cancel()
	began := time.Now()
	if err := stop(sctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("stop took %v", d)
	}

	// Restart on the same data directory (and port): the events are still there.
	stop, _, err = startBackbone(ctx, cfg, parts, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 12*time.Second)
		defer cancel()
		if err := stop(sctx); err != nil {
			t.Errorf("stop after restart: %v", err)
		}
	}()
	if got := topicSize(t, cfg.KafkaAddr, dataDir, "vaxhub.stock.v1"); got != stock {
		t.Errorf("after a restart vaxhub.stock.v1 holds %d events, want %d", got, stock)
	}
	time.Sleep(time.Second) // the audit consumers rejoin; committed offsets mean nothing is audited twice
	if n := count(`SELECT count(*) FROM processed_events WHERE consumer = 'audit'`); n != events {
		t.Errorf("processed_events has %d audit rows after the restart, want %d", n, events)
	}
}

func TestHubModeNeedsAConfiguredCluster(t *testing.T) {
	cfg := defaultConfig()
	cfg.mode = modeHub
	_, _, err := startBackbone(context.Background(), &cfg, &hubParts{}, prometheus.NewRegistry(), slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "KAFKA_BROKERS") {
		t.Fatalf("got %v, want an error naming KAFKA_BROKERS", err)
	}
}
