package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// kcatRun runs kcat with a deadline and returns its output and whether it
// succeeded.
func kcatRun(t *testing.T, stdin string, args ...string) (string, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err == nil
}

// kcatCount counts the messages of topic, read with the kcat configuration conf.
func kcatCount(t *testing.T, conf, topic string) int {
	t.Helper()
	out, ok := kcatRun(t, "", "-F", conf, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%o\n")
	if !ok {
		t.Fatalf("kcat -C %s as the operator: %s", topic, out)
	}
	return len(strings.Fields(out))
}

// TestBrokerRefusesClientsWithoutCredentials starts the event backbone as
// `vaxhub run` does and tries the broker with kcat (librdkafka): without
// credentials it can neither produce nor consume; with the output of
// `vaxhub kafka kcat-config --user operator` it consumes, with `--user
// tester` it produces; a component's own user (print) cannot write an event
// topic, and kcat-config hands out no component's password.
func TestBrokerRefusesClientsWithoutCredentials(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Fatal("kcat is not on PATH: install the Debian package kcat (apt-get install kcat)")
	}
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_CONFIG", "")
	for _, v := range []string{"KAFKA_SASL_MECHANISM", "KAFKA_SASL_USER", "KAFKA_SASL_PASSWORD"} {
		t.Setenv(v, "")
	}
	dataDir := t.TempDir()
	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", dataDir}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KafkaAddr, cfg.SlotDays, cfg.KafkaPartitions = "127.0.0.1:0", 1, 2
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx := context.Background()
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.pool.Close()
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil { // events to read
		t.Fatal(err)
	}
	stop, _, err := startBackbone(ctx, cfg, parts, prometheus.NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 12*time.Second)
		defer cancel()
		if err := stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()
	addr := cfg.KafkaAddr
	waitFor(t, 20*time.Second, "the outbox published", func() bool {
		var n int
		_ = parts.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE sent_at IS NULL`).Scan(&n)
		return n == 0
	})

	// The credentials file: 0600, every user; vaxhub config shows it masked.
	st, err := os.Stat(kafkaUsersPath(dataDir))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v; want 0600", err, st.Mode().Perm())
	}
	passwords, _, err := readKafkaUsers(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	var shown bytes.Buffer
	cfg.print(&shown)
	if !strings.Contains(shown.String(), "operator=****") || strings.Contains(shown.String(), passwords[busOperator]) {
		t.Errorf("vaxhub config does not show the bus users masked:\n%s", shown.String())
	}

	// Without credentials: no produce, no consume.
	const topic = "vaxhub.appointment.v1"
	anon := []string{"-b", addr, "-m", "5", "-X", "message.timeout.ms=5000"}
	if out, ok := kcatRun(t, "forged\n", append(anon, "-P", "-t", topic)...); ok {
		t.Errorf("kcat produced without credentials:\n%s", out)
	}
	if out, ok := kcatRun(t, "", append(anon, "-C", "-t", "vaxhub.stock.v1", "-o", "beginning", "-e")...); ok {
		t.Errorf("kcat consumed without credentials:\n%s", out)
	}

	// kcat-config for the operator and the tester.
	t.Setenv("VAXHUB_DATA_DIR", dataDir)
	t.Setenv("VAXHUB_KAFKA_ADDR", addr)
	confFor := func(user string) string {
		out, err := runTool(t, "kafka", "kcat-config", "--user", user)
		if err != nil {
			t.Fatalf("kcat-config --user %s: %v", user, err)
		}
		for _, want := range []string{"bootstrap.servers=" + addr, "security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=SCRAM-SHA-256",
			"sasl.username=" + user, "sasl.password=" + passwords[user]} {
			if !strings.Contains(out, want+"\n") {
				t.Errorf("kcat-config --user %s lacks %q:\n%s", user, want, out)
			}
		}
		// -o writes the same configuration to a file only its owner may read,
		// whatever the umask; kcat uses that file.
		path := filepath.Join(t.TempDir(), user+".conf")
		old := syscall.Umask(0o022)
		_, err = runTool(t, "kafka", "kcat-config", "--user", user, "-o", path)
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("kcat-config -o: %v", err)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != out {
			t.Fatalf("kcat-config -o wrote %q (%v), want what it prints", b, err)
		}
		if st, err := os.Stat(path); err != nil {
			t.Fatal(err)
		} else if st.Mode().Perm() != 0o600 {
			t.Errorf("kcat-config -o: mode %v, want 0600", st.Mode().Perm())
		}
		return path
	}
	operator, tester := confFor(busOperator), confFor(busTester)
	if _, err := runTool(t, "kafka", "kcat-config", "--user", busPrint); exitCode(err) != 2 {
		t.Errorf("kcat-config --user print: %v, want a usage error (a component's password is not handed out)", err)
	}
	stock := kcatCount(t, operator, "vaxhub.stock.v1")
	if stock == 0 {
		t.Fatal("the operator read no stock events")
	}
	before := kcatCount(t, operator, topic)

	// The tester may write an event topic (a malformed message on purpose).
	if out, ok := kcatRun(t, `{"malformed":true}`+"\n", "-F", tester, "-P", "-t", topic, "-k", "tester"); !ok {
		t.Fatalf("kcat as the tester did not produce:\n%s", out)
	}
	if n := kcatCount(t, operator, topic); n != before+1 {
		t.Fatalf("%s holds %d messages after the tester's, want %d", topic, n, before+1)
	}
	// The print connector's user may not write an appointment event.
	k, err := busCredentials{base: bus.Config{Brokers: []string{addr}}, embedded: passwords}.forUser(busPrint)
	if err != nil {
		t.Fatal(err)
	}
	printConf := filepath.Join(t.TempDir(), "print.conf")
	if err := os.WriteFile(printConf, []byte(librdkafkaConfig(k, busPrint)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, ok := kcatRun(t, `{"forged":true}`+"\n", "-F", printConf, "-P", "-t", topic, "-X", "message.timeout.ms=5000")
	if ok && !strings.Contains(out, "uthorization") {
		t.Errorf("kcat as the print connector's user produced to %s:\n%s", topic, out)
	}
	if n := kcatCount(t, operator, topic); n != before+1 {
		t.Errorf("%s holds %d messages after the print user's attempt, want %d", topic, n, before+1)
	}
	t.Logf("print user producing to %s: %s", topic, strings.TrimSpace(out))
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
