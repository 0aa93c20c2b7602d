package bus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

func TestEmbeddedBrokerKeepsEventsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	const topic = "vaxhub.appointment.v1"
	e, cfg := startBroker(t, dir, 3, topic)
	pub := newPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var msgs []bus.Message
	for i := range 10 {
		msgs = append(msgs, bus.Message{Topic: topic, Key: fmt.Sprintf("k%d", i%4), Value: envelope("k", i)})
	}
	if err := pub.Publish(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	pub.Close()
	addr := e.Addrs()[0]
	e.Close()

	e2, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: dir, Users: testUsers})
	if err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer e2.Close()
	cfg2, err := e2.Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	var got inbox
	runConsumer(t, bus.ConsumerConfig{Kafka: cfg2, Topic: topic, Group: "restart",
		Handler: func(_ context.Context, m bus.Message) error { got.add(m); return nil }})
	eventually(t, 20*time.Second, "10 events after restart", func() bool { return got.len() == 10 })
}

// client is a raw Kafka protocol client as user (no SASL when user is ""),
// so that each request's answer can be checked.
func client(t *testing.T, addr, user, password string) *kafka.Client {
	t.Helper()
	tr := &kafka.Transport{DialTimeout: 5 * time.Second}
	if user != "" {
		m, err := scram.Mechanism(scram.SHA256, user, password)
		if err != nil {
			t.Fatal(err)
		}
		tr.SASL = m
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(addr), Timeout: 5 * time.Second, Transport: tr}
}

// partitionConn dials partition 0 of topic straight at the broker as c's
// user (no metadata look-up first, which would hide a topic the user may
// not see before the broker is even asked).
func partitionConn(ctx context.Context, c *kafka.Client, topic string) (*kafka.Conn, error) {
	var d kafka.Dialer
	d.Timeout = 5 * time.Second
	if tr, ok := c.Transport.(*kafka.Transport); ok {
		d.SASLMechanism = tr.SASL
	}
	host, port, _ := net.SplitHostPort(c.Addr.String())
	p, _ := strconv.Atoi(port)
	conn, err := d.DialPartition(ctx, "tcp", "", kafka.Partition{Topic: topic, ID: 0, Leader: kafka.Broker{Host: host, Port: p, ID: 0}})
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn, nil
}

// produce sends one Produce request.
func produce(ctx context.Context, c *kafka.Client, topic, value string) error {
	conn, err := partitionConn(ctx, c, topic)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.WriteMessages(kafka.Message{Value: []byte(value)})
	return err
}

// fetch sends one Fetch request from offset 0 and counts the records.
func fetch(ctx context.Context, c *kafka.Client, topic string) (int, error) {
	conn, err := partitionConn(ctx, c, topic)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.Seek(0, kafka.SeekAbsolute); err != nil {
		return 0, err
	}
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 200 * time.Millisecond})
	n := 0
	for {
		if _, err := batch.ReadMessage(); err != nil {
			break
		}
		n++
	}
	if err := batch.Close(); err != nil && !errors.Is(err, kafka.RequestTimedOut) { // timed out: nothing (more) to read
		return n, err
	}
	return n, nil
}

func joinGroup(ctx context.Context, c *kafka.Client, group, topic string) error {
	res, err := c.JoinGroup(ctx, &kafka.JoinGroupRequest{GroupID: group, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		ProtocolType: "consumer", Protocols: []kafka.GroupProtocol{{Name: "range", Metadata: kafka.GroupProtocolSubscription{Topics: []string{topic}}}}})
	if err != nil {
		return err
	}
	return res.Error
}

func commitOffset(ctx context.Context, c *kafka.Client, group, topic string) error {
	res, err := c.OffsetCommit(ctx, &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1,
		Topics: map[string][]kafka.OffsetCommit{topic: {{Partition: 0, Offset: 1}}}})
	if err != nil {
		return err
	}
	for _, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return p.Error
			}
		}
	}
	return nil
}

// TestEmbeddedBrokerEnforcesACLs checks, request by request, that the
// embedded broker refuses clients without credentials or with a wrong
// password, and that a user may produce, fetch, join a group and commit its
// offsets only where an ACL allows it, also after a restart on the same data
// directory, where a changed password replaces the old one.
func TestEmbeddedBrokerEnforcesACLs(t *testing.T) {
	const a, b = "vaxhub.a.v1", "vaxhub.b.v1"
	users := func(producerPassword string) []bus.User {
		return []bus.User{testUsers[0],
			{Name: "producer", Password: producerPassword, ACLs: bus.WriteTopics(a)},
			{Name: "consumer", Password: "consumer-password-0123", ACLs: append(bus.ReadTopics(a), bus.ReadGroups("g")...)},
			{Name: "topic-only", Password: "topic-only-password-01", ACLs: bus.ReadTopics(a)},
			{Name: "group-only", Password: "group-only-password-01", ACLs: bus.ReadGroups("g")},
		}
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := func(addr string, us []bus.User) *bus.Embedded {
		e, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: dir, Partitions: 1, Users: us})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	e := start("127.0.0.1:0", users("producer-password-01"))
	addr := e.Addrs()[0]
	admin, err := e.Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.EnsureTopics(ctx, admin, []bus.TopicSpec{{Name: a, Partitions: 1}, {Name: b, Partitions: 1}}); err != nil {
		t.Fatal(err)
	}
	denied := func(err error, want ...error) bool {
		for _, w := range want {
			if errors.Is(err, w) {
				return true
			}
		}
		return false
	}
	topicDenied := []error{kafka.TopicAuthorizationFailed}

	check := func(t *testing.T, producerPassword string) {
		t.Helper()
		adminc := client(t, addr, "admin", testUsers[0].Password)
		before, err := fetch(ctx, adminc, a)
		if err != nil {
			t.Fatalf("admin fetch: %v", err)
		}
		// No credentials, a wrong password: nothing at all.
		anon := client(t, addr, "", "")
		if err := produce(ctx, anon, a, "anonymous"); err == nil {
			t.Error("a client without credentials produced")
		}
		if _, err := fetch(ctx, anon, a); err == nil {
			t.Error("a client without credentials fetched")
		}
		if err := produce(ctx, client(t, addr, "producer", "wrong-password-0123456"), a, "wrong"); err == nil {
			t.Error("a wrong password produced")
		}
		// producer: write a, nothing else.
		pc := client(t, addr, "producer", producerPassword)
		if err := produce(ctx, pc, a, "ok"); err != nil {
			t.Errorf("producer writes %s: %v", a, err)
		}
		if err := produce(ctx, pc, b, "forged"); !denied(err, topicDenied...) {
			t.Errorf("producer writes %s: %v, want an authorisation error", b, err)
		}
		if _, err := fetch(ctx, pc, a); !denied(err, topicDenied...) {
			t.Errorf("producer fetches %s: %v, want an authorisation error", a, err)
		}
		// consumer: fetch a, its group; not write, not another group.
		cc := client(t, addr, "consumer", "consumer-password-0123")
		if n, err := fetch(ctx, cc, a); err != nil || n != before+1 {
			t.Errorf("consumer fetches %s: %d records, %v; want %d", a, n, err, before+1)
		}
		if err := produce(ctx, cc, a, "forged"); !denied(err, topicDenied...) {
			t.Errorf("consumer writes %s: %v, want an authorisation error", a, err)
		}
		if err := joinGroup(ctx, cc, "other", a); !denied(err, kafka.GroupAuthorizationFailed) {
			t.Errorf("consumer joins group other: %v, want GroupAuthorizationFailed", err)
		}
		if err := joinGroup(ctx, cc, "g", a); denied(err, kafka.GroupAuthorizationFailed) {
			t.Errorf("consumer joins its group g: %v", err)
		}
		if err := commitOffset(ctx, cc, "g", a); err != nil {
			t.Errorf("consumer commits in g: %v", err)
		}
		// topic-only may not use group g; group-only may not commit offsets of a.
		if err := joinGroup(ctx, client(t, addr, "topic-only", "topic-only-password-01"), "g", a); !denied(err, kafka.GroupAuthorizationFailed) {
			t.Errorf("topic-only joins g: %v, want GroupAuthorizationFailed", err)
		}
		if err := commitOffset(ctx, client(t, addr, "topic-only", "topic-only-password-01"), "g", a); !denied(err, kafka.GroupAuthorizationFailed) {
			t.Errorf("topic-only commits in g: %v, want GroupAuthorizationFailed", err)
		}
		if err := commitOffset(ctx, client(t, addr, "group-only", "group-only-password-01"), "g", a); !denied(err, kafka.TopicAuthorizationFailed) {
			t.Errorf("group-only commits offsets of %s: %v, want TopicAuthorizationFailed", a, err)
		}
		// Only the producer's record landed.
		if n, err := fetch(ctx, adminc, a); err != nil || n != before+1 {
			t.Errorf("%s holds %d records (%v), want %d", a, n, err, before+1)
		}
		if n, err := fetch(ctx, adminc, b); err != nil || n != 0 {
			t.Errorf("%s holds %d records (%v), want 0", b, n, err)
		}
	}
	t.Run("first start", func(t *testing.T) { check(t, "producer-password-01") })
	e.Close()

	// Restart on the same data directory with the producer's password
	// changed: the old one is refused, the ACLs still hold.
	e = start(addr, users("producer-password-02"))
	defer e.Close()
	if err := produce(ctx, client(t, addr, "producer", "producer-password-01"), a, "old password"); err == nil {
		t.Error("after a restart the producer's old password still works")
	}
	t.Run("after restart", func(t *testing.T) { check(t, "producer-password-02") })
}

func TestEmbeddedBrokerNeedsASuperuser(t *testing.T) {
	for name, users := range map[string][]bus.User{
		"none":           nil,
		"no superuser":   {{Name: "relay", Password: "relay-password-012345"}},
		"short password": {{Name: "admin", Password: "short", Superuser: true}},
	} {
		if _, err := bus.StartEmbedded(context.Background(), bus.EmbeddedConfig{Addr: "127.0.0.1:0", Users: users}); err == nil {
			t.Errorf("%s: the broker started", name)
		}
	}
}
