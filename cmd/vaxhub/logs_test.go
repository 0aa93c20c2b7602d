package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestWhatAnonymousClientsSendLogsNoErrorAndNoLongLine starts a real `vaxhub
// run` (this test binary as the command) and, as anyone on the network could,
// aborts a request body half-way through and sends 32 KB datagrams of
// garbage to the hotline. The hub's log (stderr, JSON) gets no ERROR line and
// no line over 1 KB for it, and the SIP stack's parse errors are in it, cut.
// Every line of it is JSON: the libraries log through the hub's handler, and
// the lines for people are records too when stderr is not a terminal.
func TestWhatAnonymousClientsSendLogsNoErrorAndNoLongLine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const hubUser, hubPassword = "hub", "hub-password-of-the-logs-test"
	broker, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: 2,
		Users: []bus.User{{Name: hubUser, Password: hubPassword, Superuser: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	dsn := storetest.NewDatabase(t)
	sipPort, err := freeUDPTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	sipAddr := "127.0.0.1:" + strconv.Itoa(sipPort)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "vaxhub.yaml")
	if err := os.WriteFile(cfgFile, []byte("kafka_replication_factor: 1\nkafka_partitions: 2\nslot_days: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "run")
	cmd.Env = append(os.Environ(), "VAXHUB_TEST_MAIN=1", "DATABASE_URL="+dsn, "KAFKA_BROKERS="+broker.Addrs()[0],
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-256", "KAFKA_SASL_USER="+hubUser, "KAFKA_SASL_PASSWORD="+hubPassword,
		"VAXHUB_DATA_DIR="+filepath.Join(dir, "data"), "VAXHUB_HTTP_ADDR=127.0.0.1:0", "VAXHUB_CONFIG="+cfgFile,
		"VAXHUB_SIM_SAP_ADDR=off", "VAXHUB_SIM_REGISTER_ADDR=off", "VAXHUB_SIM_PRINT_ADDR=off", "VAXHUB_SIM_SERVICENOW_ADDR=off", "VAXHUB_SIM_SMS_ADDR=off", "VAXHUB_SIM_SMTP_ADDR=off",
		"VAXHUB_HOTLINE_ADDR="+sipAddr, "VAXHUB_SIM_AGENTS=off", "VAXHUB_DEV_TOKEN=", "VAXHUB_LOG_LEVEL=info")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	up := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
			var rec struct{ Msg, Portal string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "vaxhub is up" {
				up <- strings.TrimSuffix(strings.TrimPrefix(rec.Portal, "http://"), "/")
			}
		}
	}()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		<-scanned
	}
	var httpAddr string
	select {
	case httpAddr = <-up:
	case <-time.After(90 * time.Second):
		stop()
		t.Fatalf("the hub did not come up:\n%s", strings.Join(lines, "\n"))
	}

	// 1. A client announces 64 KB of JSON, sends 20 bytes and goes away.
	for _, path := range []string{"/api/v1/residents", "/termin"} {
		c, err := net.Dial("tcp", httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 65536\r\n\r\n{\"given_name\": \"Ann", path, httpAddr)
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}
	// 2. 32 KB of random bytes to the hotline, then an OPTIONS it answers.
	u, err := net.Dial("udp", sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, 32<<10)
	for i := range garbage {
		garbage[i] = byte(rand.IntN(256))
	}
	for range 3 {
		if _, err := u.Write(garbage); err != nil {
			t.Fatal(err)
		}
	}
	local := u.LocalAddr().String()
	fmt.Fprintf(u, "OPTIONS sip:116117@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-logs-1\r\nFrom: <sip:t@%s>;tag=1\r\nTo: <sip:116117@%s>\r\nCall-ID: logs-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		sipAddr, local, local, sipAddr)
	_ = u.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 65535)
	if n, err := u.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
		t.Errorf("OPTIONS after the garbage: %v %.40q", err, buf[:n])
	}
	u.Close()
	time.Sleep(500 * time.Millisecond) // let the HTTP server log the aborted bodies
	stop()

	mu.Lock()
	defer mu.Unlock()
	parseErrors, aborted := 0, 0
	for _, line := range lines {
		if len(line) > 1024 {
			t.Errorf("a log line of %d bytes: %.300s...", len(line), line)
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			// stderr is a pipe here: the configuration and the banner are
			// JSON records too (plain text only on a terminal).
			t.Errorf("a log line that is not JSON (%v): %.300s", err, line)
			continue
		}
		if rec["level"] == "ERROR" {
			t.Errorf("an ERROR line: %.500s", line)
		}
		if msg, _ := rec["msg"].(string); strings.Contains(msg, "failed to parse") {
			parseErrors++
		}
		if p, _ := rec["path"].(string); rec["level"] == "WARN" && (p == "/api/v1/residents" || p == "/termin") {
			aborted++
		}
	}
	if parseErrors != 3 {
		t.Errorf("%d lines about the garbage datagrams, want 3 (logged through the hub's logger)", parseErrors)
	}
	if aborted == 0 {
		t.Error("no WARN line about the aborted bodies: the test no longer reaches the code that reads them")
	}
	if t.Failed() {
		t.Logf("the hub's log:\n%s", strings.Join(lines, "\n"))
	}
}
