package bus_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
)

func newProbe(t *testing.T, cfg bus.Config, ttl time.Duration) *bus.BrokerProbe {
	t.Helper()
	p, err := bus.NewBrokerProbe(cfg, bus.ProbeConfig{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBrokerProbeNeedsTheRightCredentials: reachable is not enough, the
// probe authenticates as the hub's user, so a wrong password is "not ready".
func TestBrokerProbeNeedsTheRightCredentials(t *testing.T) {
	_, cfg := startBroker(t, t.TempDir(), 1)
	ctx := context.Background()
	if st := newProbe(t, cfg, time.Millisecond).Check(ctx); st.Err != nil || st.Broker == "" || st.User != "admin" {
		t.Fatalf("probe with the right password: %+v", st)
	}
	wrong := cfg
	wrong.SASL.Password = "not-the-password-of-the-tests"
	if st := newProbe(t, wrong, time.Millisecond).Check(ctx); st.Err == nil {
		t.Fatalf("probe with a wrong password answered ready: %+v", st)
	}
}

// TestBrokerProbeCachesItsAnswer: within the TTL no connection is made, so a
// load balancer polling /readyz costs nothing; after it the answer is fresh.
func TestBrokerProbeCachesItsAnswer(t *testing.T) {
	e, cfg := startBroker(t, t.TempDir(), 1)
	ctx := context.Background()
	cached := newProbe(t, cfg, time.Hour)
	fresh := newProbe(t, cfg, 50*time.Millisecond)
	first := cached.Check(ctx)
	if first.Err != nil || fresh.Check(ctx).Err != nil {
		t.Fatalf("probe of a running broker: %v", first.Err)
	}
	e.Close()
	time.Sleep(60 * time.Millisecond)
	if st := cached.Check(ctx); st.Err != nil || !st.CheckedAt.Equal(first.CheckedAt) {
		t.Fatalf("within the TTL the answer is not the cached one: %+v", st)
	}
	if st := fresh.Check(ctx); st.Err == nil {
		t.Fatal("after the TTL, a stopped broker still answers ready")
	}
}

// TestRelayProbeReportsAnOutageAndTheRecovery: with the broker stopped and
// rows waiting, the relay is not ready once the oldest row waited longer than
// the allowed lag; when the broker is back and the rows are out it is ready.
func TestRelayProbeReportsAnOutageAndTheRecovery(t *testing.T) {
	const maxLag = time.Second
	dir := t.TempDir()
	e, cfg := startBroker(t, dir, 2, relayTopic)
	pool := newRelayDB(t)
	if _, err := bus.NewRelay(nil, nil, bus.RelayConfig{}); err == nil {
		t.Fatal("relay without store")
	}
	f := startRelay(t, pool, newPublisher(t, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 5 {
		if err := insertEvent(ctx, pool, fmt.Sprintf("ref-%d", i), 0); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the first events published", func() bool { return backlog(t, pool) == 0 })
	if h, err := f.relay.Probe(maxLag); err != nil || !h.Running || h.Shards == 0 {
		t.Fatalf("relay after publishing: %+v, %v", h, err)
	}

	addr := e.Addrs()[0]
	e.Close()
	if err := insertEvent(ctx, pool, "ref-late", 0); err != nil {
		t.Fatal(err)
	}
	var probeErr error
	eventually(t, 20*time.Second, "the relay not ready with the broker down", func() bool {
		_, probeErr = f.relay.Probe(maxLag)
		return probeErr != nil
	})
	if !strings.Contains(probeErr.Error(), "oldest unsent outbox row") {
		t.Errorf("not-ready reason: %v; want it to name the oldest unsent row", probeErr)
	}

	e2, err := bus.StartEmbedded(ctx, bus.EmbeddedConfig{Addr: addr, DataDir: dir, Users: testUsers})
	if err != nil {
		t.Fatalf("restart broker on %s: %v", addr, err)
	}
	t.Cleanup(e2.Close)
	eventually(t, 30*time.Second, "the relay ready again", func() bool {
		h, err := f.relay.Probe(maxLag)
		return err == nil && h.OldestWaiting == 0 && backlog(t, pool) == 0
	})

	f.stop()
	if _, err := f.relay.Probe(maxLag); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("a stopped relay: %v", err)
	}
}
