package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/schemas"
)

type readyAnswer struct {
	status int
	ctype  string
	body   string
	parts  map[string]bool // part name -> ready
	detail string
}

func getReady(t *testing.T, base string) readyAnswer {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc struct {
		Detail string `json:"detail"`
		Parts  []struct {
			Name  string `json:"name"`
			Ready bool   `json:"ready"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("/readyz %d: %v: %s", resp.StatusCode, err, b)
	}
	a := readyAnswer{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: string(b), parts: map[string]bool{}, detail: doc.Detail}
	for _, p := range doc.Parts {
		a.parts[p.Name] = p.Ready
	}
	return a
}

// TestReadyzNamesTheBrokerWhileItIsDown runs the hub's front door and
// backbone as `vaxhub hub` builds them, against a broker the test owns (the
// embedded one, with the hub's SCRAM users, as a cluster would be): ready
// while the broker runs, 503 naming the broker while it is stopped, ready
// again once it is back.
func TestReadyzNamesTheBrokerWhileItIsDown(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_CONFIG", "")
	for _, v := range []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USER", "KAFKA_SASL_PASSWORD"} {
		t.Setenv(v, "")
	}
	registry, err := schemas.Load()
	if err != nil {
		t.Fatal(err)
	}
	passwords := newKafkaUsers()
	brokerDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startBroker := func(addr string) *bus.Embedded {
		e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: brokerDir, Partitions: 2,
			Users: embeddedUsers(passwords, eventTopics(registry))})
		if err != nil {
			t.Fatalf("broker on %s: %v", addr, err)
		}
		return e
	}
	broker := startBroker("127.0.0.1:0")
	addr := broker.Addrs()[0]
	defer func() { broker.Close() }()

	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", t.TempDir()}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SlotDays, cfg.KafkaPartitions, cfg.KafkaBrokers, cfg.KafkaReplicationFactor = 1, 2, addr, 1
	cfg.KafkaUsers = map[string]bus.SASLConfig{}
	for user, pw := range passwords {
		cfg.KafkaUsers[user] = bus.SASLConfig{Mechanism: strings.ToLower(bus.EmbeddedMechanism), Username: user, Password: pw}
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.pool.Close()
	stop, _, err := startBackbone(ctx, cfg, parts, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		_ = stop(sctx)
	}()
	front, err := frontDoor(ctx, cfg, parts, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: front, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln) //nolint:errcheck
	defer hs.Close()
	base := "http://" + ln.Addr().String()

	var a readyAnswer
	waitFor(t, 10*time.Second, "/readyz 200 with the broker up", func() bool { a = getReady(t, base); return a.status == 200 })
	for _, p := range []string{"database", "broker", "relay"} {
		if !a.parts[p] {
			t.Errorf("ready answer without %s ready: %s", p, a.body)
		}
	}

	broker.Close()
	waitFor(t, 10*time.Second, "/readyz 503 with the broker down", func() bool { a = getReady(t, base); return a.status == 503 })
	if !strings.HasPrefix(a.ctype, "application/problem+json") || !strings.Contains(a.detail, "broker") {
		t.Errorf("503 is not a problem naming the broker: %s %s", a.ctype, a.body)
	}
	if a.parts["broker"] || !a.parts["database"] {
		t.Errorf("parts with the broker down: %v", a.parts)
	}
	if strings.Contains(a.body, addr) || strings.Contains(a.body, passwords[busRelay]) {
		t.Errorf("the public readiness answer reveals the broker's address or a password: %s", a.body)
	}

	broker = startBroker(addr)
	waitFor(t, 20*time.Second, "/readyz 200 with the broker back", func() bool { a = getReady(t, base); return a.status == 200 })
}
