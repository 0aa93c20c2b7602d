package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestMain lets a test start this test binary as the vaxhub command itself
// (VAXHUB_TEST_MAIN=1), so that process tests need no separate build.
func TestMain(m *testing.M) {
	if os.Getenv("VAXHUB_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// TestHubKilledMidPublishPublishesEveryRowAfterRestart kills a real vaxhub
// process with SIGKILL while its relay is publishing a large outbox backlog
// to a broker outside the process, restarts it, and checks that every outbox
// event reaches the broker at least once and nothing else does.
func TestHubKilledMidPublishPublishesEveryRowAfterRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// A cluster outside the hub, with SASL: the hub connects as one user
	// (KAFKA_SASL_*), the way it would to a real cluster without kafka_users.
	const hubUser, hubPassword = "hub", "hub-password-of-the-sigkill-test"
	broker, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: "127.0.0.1:0", Partitions: 6,
		Users: []bus.User{{Name: hubUser, Password: hubPassword, Superuser: true}}})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	hubKafka, err := broker.Config(hubUser)
	if err != nil {
		t.Fatal(err)
	}
	dsn := storetest.NewDatabase(t)
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	// A backlog large enough that the relay is still publishing when it dies.
	const backlog = 40000
	now := time.Now()
	for start := 0; start < backlog; start += 5000 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			rows := make([]store.OutboxInsert, 0, 5000)
			for i := start; i < start+5000; i++ {
				ap := &domain.Appointment{Reference: fmt.Sprintf("%010d", 1_000_000_000+i), ResidentID: domain.NewID(), CentreID: "riesa",
					Product: domain.Janssen, PriorityGroup: 1, Doses: []domain.Dose{{Number: 1, Start: now, End: now.Add(15 * time.Minute)}}}
				ev := domain.BookedEvent(ap, "sigkill-test", now)
				rows = append(rows, store.OutboxInsert{EventID: ev.ID, Topic: ev.Topic(), Key: ev.Subject, Type: ev.Type, Payload: ev.JSON()})
			}
			return store.InsertOutbox(ctx, tx, rows...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "vaxhub.yaml")
	if err := os.WriteFile(cfgFile, []byte("kafka_replication_factor: 1\nkafka_partitions: 6\nslot_days: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func() *exec.Cmd {
		cmd := exec.CommandContext(ctx, os.Args[0], "run")
		cmd.Env = append(os.Environ(), "VAXHUB_TEST_MAIN=1", "DATABASE_URL="+dsn, "KAFKA_BROKERS="+broker.Addrs()[0],
			"KAFKA_SASL_MECHANISM=SCRAM-SHA-256", "KAFKA_SASL_USER="+hubUser, "KAFKA_SASL_PASSWORD="+hubPassword,
			"VAXHUB_DATA_DIR="+filepath.Join(dir, "data"), "VAXHUB_HTTP_ADDR=127.0.0.1:0", "VAXHUB_CONFIG="+cfgFile,
			"VAXHUB_SIM_SAP_ADDR=off", "VAXHUB_SIM_REGISTER_ADDR=off", "VAXHUB_SIM_PRINT_ADDR=off", "VAXHUB_SIM_SERVICENOW_ADDR=off", "VAXHUB_SIM_SMS_ADDR=off", "VAXHUB_SIM_SMTP_ADDR=off",
			"VAXHUB_HOTLINE_ADDR=off", "VAXHUB_SIM_AGENTS=off", "VAXHUB_DEV_TOKEN=", "VAXHUB_LOG_LEVEL=warn")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := start()
	for count(`SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL`) < 2000 {
		if ctx.Err() != nil {
			t.Fatal("the relay never started publishing")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	sentAtKill, total := count(`SELECT count(*) FROM outbox WHERE sent_at IS NOT NULL`), count(`SELECT count(*) FROM outbox`)
	if sentAtKill >= total {
		t.Fatalf("the relay had published everything (%d rows) before the kill: the test proves nothing; raise the backlog", total)
	}
	t.Logf("killed with %d of %d rows marked sent", sentAtKill, total)

	t0 := time.Now()
	second := start()
	for count(`SELECT count(*) FROM outbox WHERE sent_at IS NULL`) > 0 {
		if ctx.Err() != nil {
			t.Fatal("after the restart the backlog never drained")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("restarted and drained in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	_ = second.Process.Signal(syscall.SIGTERM)
	_ = second.Wait()
	total = count(`SELECT count(*) FROM outbox`)

	want := map[string]bool{}
	rows, err := pool.Query(ctx, `SELECT event_id::text, topic FROM outbox`)
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]bool{}
	for rows.Next() {
		var id, topic string
		if err := rows.Scan(&id, &topic); err != nil {
			t.Fatal(err)
		}
		want[id] = true
		topics[topic] = true
	}
	rows.Close()
	t.Logf("stopped in %s", time.Since(t0).Round(time.Millisecond))
	t0 = time.Now()
	seen := map[string]int{}
	for topic := range topics {
		for id, n := range eventIDsOn(t, hubKafka, topic) {
			seen[id] += n
		}
	}
	t.Logf("read the topics in %s", time.Since(t0).Round(time.Millisecond))
	missing, foreign, dup := 0, 0, 0
	for id := range want {
		if seen[id] == 0 {
			missing++
		}
	}
	for id, n := range seen {
		if !want[id] {
			foreign++
		}
		if n > 1 {
			dup += n - 1
		}
	}
	if missing != 0 || foreign != 0 {
		t.Fatalf("%d of %d outbox events never reached the broker, %d messages are not outbox events", missing, total, foreign)
	}
	t.Logf("all %d events published; %d published twice (at least once, deduplicated by consumers)", total, dup)
}

// eventIDsOn reads a whole topic and counts the event IDs of its messages.
func eventIDsOn(t *testing.T, cfg bus.Config, topic string) map[string]int {
	t.Helper()
	addr, d := cfg.Brokers[0], testDialer(t, cfg)
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
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
		pc, err = d.DialLeader(context.Background(), "tcp", addr, topic, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		for next := int64(0); next < last; {
			if _, err := pc.Seek(next, kafka.SeekAbsolute); err != nil {
				t.Fatal(err)
			}
			_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			batch := pc.ReadBatch(1, 10<<20)
			for {
				m, err := batch.ReadMessage()
				if err != nil {
					break
				}
				var env struct {
					ID string `json:"id"`
				}
				if err := json.Unmarshal(m.Value, &env); err != nil || env.ID == "" {
					out["not an envelope"]++
				} else {
					out[env.ID]++
				}
				next = m.Offset + 1
			}
			if err := batch.Close(); err != nil && next < last {
				t.Fatalf("read %s[%d] at %d: %v", topic, p.ID, next, err)
			}
		}
		pc.Close()
	}
	return out
}
