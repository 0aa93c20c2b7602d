package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

// runTool calls dispatch in-process and returns what the tool printed.
func runTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	old := toolOut
	toolOut = &out
	defer func() { toolOut = old }()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := dispatch(ctx, args)
	return out.String(), err
}

// testBroker starts an embedded broker on a free port with the dead-letter
// topic and one event topic, as a cluster outside the hub: KAFKA_BROKERS and
// KAFKA_SASL_* point the tools at it as the operator (with the operator's
// ACLs). It returns the configuration of the broker's superuser.
func testBroker(t *testing.T) bus.Config {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	users := []bus.User{{Name: "admin", Password: "admin-password-of-the-tests", Superuser: true},
		{Name: "operator", Password: "operator-password-of-the-tests", ACLs: busACLs(busOperator, []string{"vaxhub.appointment.v1"})}}
	e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: 2, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cfg, err := e.Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureTopics(ctx, cfg, []bus.TopicSpec{{Name: bus.DLQTopic, Partitions: 2}, {Name: "vaxhub.appointment.v1", Partitions: 2}}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAFKA_BROKERS", e.Addrs()[0])
	t.Setenv("KAFKA_SASL_MECHANISM", "scram-sha-256")
	t.Setenv("KAFKA_SASL_USER", "operator")
	t.Setenv("KAFKA_SASL_PASSWORD", "operator-password-of-the-tests")
	t.Setenv("VAXHUB_CONFIG", "")
	return cfg
}

func TestDLQToolsListShowAndReplay(t *testing.T) {
	cfg := testBroker(t)
	out, err := runTool(t, "dlq", "list")
	if err != nil || !strings.Contains(out, "no dead letters") {
		t.Fatalf("empty list: %v\n%s", err, out)
	}

	pub, err := bus.NewPublisher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	// The hub signs its dead letters with a key derived from the data key;
	// the tool finds the data key the same way the hub does.
	const dataKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	t.Setenv("VAXHUB_DATA_KEY", dataKey)
	key, _ := decodeKey(dataKey)
	signKey := derivedKey(&config{key: key}, dlqKeyLabel)
	dead := bus.Message{Topic: bus.DLQTopic, Key: "40211876", Value: []byte(`{"not":"an event"}`), Headers: map[string]string{
		bus.HeaderDLQReason: "invalid message: (root): id is required", bus.HeaderDLQTopic: "vaxhub.appointment.v1",
		bus.HeaderDLQPartition: "1", bus.HeaderDLQOffset: "7", bus.HeaderDLQHandler: "audit", "correlation_id": "req-dlq"}}
	dead.Headers[bus.HeaderDLQSignature] = bus.SignDeadLetter(signKey, dead.Headers, dead.Key, dead.Value)
	if err := pub.Publish(context.Background(), dead); err != nil {
		t.Fatal(err)
	}
	out, err = runTool(t, "dlq", "list", "-n", "5")
	if err != nil {
		t.Fatalf("dlq list: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], "vaxhub.appointment.v1[1]@7") || !strings.Contains(lines[1], "audit") ||
		!strings.Contains(lines[1], "id is required") {
		t.Fatalf("dlq list printed:\n%s", out)
	}
	id := strings.Fields(lines[1])[0]
	if _, _, err := bus.ParseDLQID(id); err != nil {
		t.Fatalf("dlq list: first column %q is not an ID: %v", id, err)
	}

	out, err = runTool(t, "dlq", "show", id)
	if err != nil || !strings.Contains(out, "reason:    invalid message: (root): id is required") || !strings.Contains(out, `"not": "an event"`) {
		t.Fatalf("dlq show: %v\n%s", err, out)
	}
	if _, err := runTool(t, "dlq", "show", "0:999"); err == nil {
		t.Error("dlq show of a missing ID succeeded")
	}
	if _, err := runTool(t, "dlq", "replay"); exitCode(err) != 2 {
		t.Errorf("dlq replay without ID: got %v, want a usage error", err)
	}

	out, err = runTool(t, "dlq", "replay", id)
	if err != nil || !strings.Contains(out, "replayed 1 dead letter") {
		t.Fatalf("dlq replay: %v\n%s", err, out)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: cfg.Brokers, Dialer: testDialer(t, cfg), Topic: "vaxhub.appointment.v1",
		Partition: replayedPartition(t, cfg), MaxWait: 100 * time.Millisecond})
	defer r.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := r.ReadMessage(rctx)
	if err != nil {
		t.Fatalf("replayed message: %v", err)
	}
	h := map[string]string{}
	for _, x := range m.Headers {
		h[x.Key] = string(x.Value)
	}
	if string(m.Value) != `{"not":"an event"}` || h[bus.HeaderDLQReplayOf] != id || h["correlation_id"] != "req-dlq" || h[bus.HeaderDLQReason] != "" {
		t.Errorf("replayed message %s with headers %v", m.Value, h)
	}
	out, err = runTool(t, "dlq", "replay", "--all")
	if err != nil || !strings.Contains(out, "replayed 1 dead letter") {
		t.Fatalf("dlq replay --all: %v\n%s", err, out)
	}

	// A forged dead letter (any consumer's user may write the topic) is not
	// replayed, and neither is anything else while it is among them.
	forged := bus.Message{Topic: bus.DLQTopic, Key: "40211876", Value: []byte(`{"forged":true}`), Headers: map[string]string{
		bus.HeaderDLQReason: "timeout", bus.HeaderDLQTopic: "vaxhub.appointment.v1", bus.HeaderDLQHandler: "print"}}
	if err := pub.Publish(context.Background(), forged); err != nil {
		t.Fatal(err)
	}
	var forgedID string
	for deadline := time.Now().Add(10 * time.Second); forgedID == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		out, _ = runTool(t, "dlq", "list")
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "timeout") && strings.Contains(l, "print") {
				forgedID = strings.Fields(l)[0]
			}
		}
	}
	if forgedID == "" {
		t.Fatalf("the forged dead letter is not listed:\n%s", out)
	}
	if _, err := runTool(t, "dlq", "replay", forgedID); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Errorf("dlq replay of a forged dead letter: %v, want a refusal", err)
	}
	if _, err := runTool(t, "dlq", "replay", "--all"); err == nil {
		t.Error("dlq replay --all with a forged dead letter among them succeeded")
	}
	t.Setenv("VAXHUB_DATA_KEY", "")
	t.Setenv("VAXHUB_DATA_DIR", t.TempDir())
	if _, err := runTool(t, "dlq", "replay", id); err == nil {
		t.Error("dlq replay without the data key succeeded")
	}
}

// testDialer is a kafka-go dialer with cfg's SCRAM credentials.
func testDialer(t *testing.T, cfg bus.Config) *kafka.Dialer {
	t.Helper()
	alg := scram.SHA256
	if strings.EqualFold(cfg.SASL.Mechanism, "scram-sha-512") {
		alg = scram.SHA512
	}
	m, err := scram.Mechanism(alg, cfg.SASL.Username, cfg.SASL.Password)
	if err != nil {
		t.Fatal(err)
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, SASLMechanism: m}
}

// replayedPartition is the only non-empty partition of vaxhub.appointment.v1.
func replayedPartition(t *testing.T, cfg bus.Config) int {
	t.Helper()
	for p := 0; p < 2; p++ {
		conn, err := testDialer(t, cfg).DialLeader(context.Background(), "tcp", cfg.Brokers[0], "vaxhub.appointment.v1", p)
		if err != nil {
			t.Fatal(err)
		}
		last, err := conn.ReadLastOffset()
		conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		if last > 0 {
			return p
		}
	}
	t.Fatal("the replayed message is on no partition")
	return -1
}

func TestDLQListFailsWithoutABroker(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "127.0.0.1:1")
	t.Setenv("VAXHUB_CONFIG", "")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := dispatch(ctx, []string{"dlq", "list"}); err == nil || exitCode(err) != 1 {
		t.Fatalf("got %v, want an error with exit status 1", err)
	}
}

func TestSchemasCheck(t *testing.T) {
	out, err := runTool(t, "schemas", "check")
	if err != nil || !strings.Contains(out, "OK") || !strings.Contains(out, filepath.Join("", "schemas")) {
		t.Fatalf("schemas check of the repository: %v\n%s", err, out)
	}
	// A broken copy: one schema with a syntax error, one example without its .want file.
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../schemas")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stock.changed.schema.json"), []byte(`{"$schema": "http://json-schema.org/draft-07/schema#",`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "testdata/appointment.booked/invalid/bad-product.want")); err != nil {
		t.Fatal(err)
	}
	out, err = runTool(t, "schemas", "check", dir)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("schemas check of a broken folder: got %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"stock.changed.schema.json", "bad-product"} {
		if !strings.Contains(out, want) {
			t.Errorf("schemas check output does not name %s:\n%s", want, out)
		}
	}
	if _, err := runTool(t, "schemas", "check", filepath.Join(dir, "nope")); err == nil {
		t.Error("schemas check of a missing folder succeeded")
	}
}

func TestMappingsCheck(t *testing.T) {
	out, err := runTool(t, "mappings", "check")
	if err != nil || !regexp.MustCompile(`OK: [1-9][0-9]* mappings`).MatchString(out) {
		t.Fatalf("mappings check of the repository: %v\n%s", err, out)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../../mappings")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "sap/material-document-item.yaml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(b, []byte("convert: "))
	if i < 0 {
		t.Fatal("no convert in the SAP mapping")
	}
	line := bytes.Count(b[:i], []byte("\n")) + 1
	end := i + bytes.IndexByte(b[i:], '\n')
	broken := append(append(append([]byte(nil), b[:i]...), "convert: odata-dat"...), b[end:]...)
	if err := os.WriteFile(file, broken, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runTool(t, "mappings", "check", dir)
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("mappings check of a broken folder: got %v, want exit status 1\n%s", err, out)
	}
	want := "sap/material-document-item.yaml:" + strconv.Itoa(line) + `: field "inbound[0].convert": unknown conversion "odata-dat"`
	if !strings.Contains(out, want) {
		t.Errorf("mappings check output lacks %q:\n%s", want, out)
	}
}
