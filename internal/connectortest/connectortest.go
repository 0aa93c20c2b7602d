// Package connectortest is the conformance suite every connector that
// consumes events and acts on an outside system runs (Watermill's
// pubsub/tests.TestPubSub is the model): redelivery changes nothing, an
// outage delays and loses nothing, a timeout after the outside system did
// the work yields one effect, a refusal (4xx) ends in vaxhub.dlq (or, for a
// connector that hands work to a durable job first, in the job's dead state)
// with its reason, a malformed message ends in vaxhub.dlq with its reason, and a stop during work loses nothing. The
// connector is started the production way: its Start with component.Deps
// built by internal/hubdeps, as cmd/vaxhub builds them. Test support only;
// nothing in production imports it.
package connectortest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/hubdeps"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Features are what a connector declares it supports; the suite runs the
// properties it declares and says, by a skip with the reason, which it
// leaves out.
type Features struct {
	// TimeoutAfterWork: the outside system does the work and the answer is
	// lost (the simulator's lost_answers fault on LostMethods); the
	// connector must find the work on its retry instead of doing it again.
	TimeoutAfterWork bool
	// RefusalDeadLetters: a 4xx of the outside system that retrying cannot
	// fix sends the event to vaxhub.dlq with the reason.
	RefusalDeadLetters bool
	// RefusalRecorded: the connector consumed the event into a durable job
	// (connectors/jobs) before it called the outside system, so a 4xx that
	// retrying cannot fix ends that job dead, recorded with the reason
	// where staff see it (World.Refusals reads it), and nothing goes to
	// vaxhub.dlq: the event itself was good.
	RefusalRecorded bool
	// Without names, per property left out, why (shown with the skip).
	Without map[string]string
}

// Harness is one connector under the suite.
type Harness struct {
	// Component is the connector's entry in the component list.
	Component component.Component
	Features  Features
	// New builds one test's world: the core, the backbone, the simulator.
	// hubURL is where the hub serves what the component mounts with
	// Deps.Handle (webhooks), for a simulator that calls back.
	New func(t *testing.T, hubURL string) *World
}

// World is the connector's surroundings in one test.
type World struct {
	Hub *hubtest.Hub
	Bus *bustest.Bus
	// Faults is the outside system's simulator's fault injector.
	Faults *faults.Injector
	// Config are the component's field values (the simulator's URL, its
	// credentials, short timeouts and breaker waits).
	Config component.Values
	// Cause makes the core commit events (through the outbox) that must
	// each give one effect at the outside system, n of them, and returns
	// the key of each effect.
	Cause func(t *testing.T, n int) []string
	// Effects counts the effects at the outside system by key (read from
	// the simulator; an error, e.g. during an outage, means "not known
	// yet" while the suite waits).
	Effects func(t *testing.T) (map[string]int, error)
	// Refuse, when set, causes one event that the outside system refuses
	// with a 4xx of its own (an unknown batch) and returns its key; nil:
	// the suite makes the simulator answer 400 to every request.
	Refuse func(t *testing.T) string
	// Refusals, for a connector with RefusalRecorded, reads the refusal
	// recorded for the effect with key: its reason, "" while there is none.
	Refusals func(t *testing.T, key string) (string, error)
	// LostMethods are the HTTP methods of the requests that do the work
	// (default POST); LostPath, if set, the end of their path (so that the
	// lost answer is not that of a token request before them).
	LostMethods []string
	LostPath    string
	// Wait bounds the wait for effects after a fault ended. Default 30 s.
	Wait time.Duration
}

// Property names, as subtests and in Features.Without.
const (
	Redelivery       = "RedeliveryChangesNothing"
	Outage           = "OutageDelaysAndLosesNothing"
	TimeoutAfterWork = "TimeoutAfterWorkYieldsOneEffect"
	Refusal          = "RefusalEndsInTheDeadLetterTopic"
	Malformed        = "MalformedMessageEndsInTheDeadLetterTopic"
	StopDuringWork   = "StopDuringWorkLosesNothing"
)

// Run runs every property against h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Component.Spec.Bus == nil || h.Component.Start == nil {
		t.Fatalf("connectortest: %s consumes nothing or has no Start", h.Component.Spec.Name)
	}
	props := []struct {
		name     string
		declared bool
		run      func(*testing.T, *running)
	}{
		{Redelivery, true, redelivery},
		{Outage, true, outage},
		{TimeoutAfterWork, h.Features.TimeoutAfterWork, timeoutAfterWork},
		{Refusal, h.Features.RefusalDeadLetters || h.Features.RefusalRecorded, refusal},
		{Malformed, true, malformed},
		{StopDuringWork, true, stopDuringWork},
	}
	for _, p := range props {
		t.Run(p.name, func(t *testing.T) {
			if why, ok := h.Features.Without[p.name]; ok || !p.declared {
				t.Skipf("%s does not declare %s: %s", h.Component.Spec.Name, p.name, why)
			}
			p.run(t, start(t, h))
		})
	}
}

// running is a world with the component started.
type running struct {
	h    Harness
	w    *World
	hub  *httptest.Server
	mux  *mux
	stop func()
	// mark is the last outbox row before the test caused anything.
	mark int64
}

// mux is the hub's HTTP address: what the component mounts.
type mux struct {
	mu sync.RWMutex
	m  map[string]http.Handler
}

func (m *mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.RLock()
	h, ok := m.m[r.URL.Path]
	m.mu.RUnlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	h.ServeHTTP(w, r)
}

func start(t *testing.T, h Harness) *running {
	t.Helper()
	m := &mux{m: map[string]http.Handler{}}
	hub := httptest.NewServer(m)
	t.Cleanup(hub.Close)
	w := h.New(t, hub.URL)
	if w.Wait == 0 {
		w.Wait = 30 * time.Second
	}
	r := &running{h: h, w: w, hub: hub, mux: m}
	r.mark = int64(w.Hub.Count(t, `SELECT coalesce(max(id), 0)::int FROM outbox`))
	r.startComponent(t)
	return r
}

// startComponent starts the component through its Start with the Deps
// cmd/vaxhub would give it (internal/hubdeps); stop stops it.
func (r *running) startComponent(t *testing.T) {
	t.Helper()
	w := r.w
	metrics, err := bus.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	hd := hubdeps.Hub{Run: true, App: w.Hub.App, Store: w.Hub.Store, Pool: w.Hub.Pool, Schemas: w.Bus.Schemas, Validator: w.Bus.Schemas,
		Topics: bustest.EventTopics(w.Bus.Schemas), Metrics: metrics, Registerer: reg, Logger: w.Bus.Logger,
		// The broker's tester stands in for the component's own user (the
		// ACLs of the users are cmd/vaxhub's tests).
		Kafka: func(string) (bus.Config, error) { return w.Bus.Kafka, nil },
		// Production's retry counts and back-offs; only the group's timings
		// are short, so that a restart rejoins at once.
		Consumer: bus.ConsumerConfig{ShutdownTimeout: 5 * time.Second, SessionTimeout: 2 * time.Second,
			HeartbeatInterval: 200 * time.Millisecond, MaxWait: 100 * time.Millisecond},
		StaffName: api.StaffName,
		Key: func(label string) []byte {
			m := hmac.New(sha256.New, w.Hub.Key)
			m.Write([]byte(label))
			return m.Sum(nil)
		},
		Handle: func(path string, h http.Handler) {
			r.mux.mu.Lock()
			r.mux.m[path] = h
			r.mux.mu.Unlock()
		},
		Failed: func(name string, err error) { t.Errorf("component %s failed: %v", name, err) },
	}
	var closers []func() error
	d, err := hd.Deps(r.h.Component.Spec, w.Config, &closers)
	if err != nil {
		t.Fatal(err)
	}
	stop, err := r.h.Component.Start(context.Background(), d)
	if err != nil {
		t.Fatalf("start %s: %v", r.h.Component.Spec.Name, err)
	}
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := stop(ctx); err != nil {
				t.Errorf("stop %s: %v", r.h.Component.Spec.Name, err)
			}
			for _, c := range closers {
				_ = c()
			}
		})
	}
	t.Cleanup(func() { r.stop() })
}

// waitExactlyOnce waits until every key has its effect, then a little
// longer, and fails unless each has exactly one.
func (r *running) waitExactlyOnce(t *testing.T, keys []string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got map[string]int
	for {
		var err error
		if got, err = r.w.Effects(t); err != nil {
			got = nil
		}
		missing := 0
		for _, k := range keys {
			if got[k] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d effects are missing at the outside system (effects: %v)", within, missing, len(keys), summary(got, keys))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // a second effect of one key would show by now
	r.exactlyOnce(t, keys)
}

func (r *running) exactlyOnce(t *testing.T, keys []string) {
	t.Helper()
	got := r.effects(t)
	for _, k := range keys {
		if got[k] != 1 {
			t.Errorf("%d effects for %s at the outside system, want exactly 1", got[k], k)
		}
	}
}

// effects reads the effects, failing the test when they cannot be read.
func (r *running) effects(t *testing.T) map[string]int {
	t.Helper()
	got, err := r.w.Effects(t)
	if err != nil {
		t.Fatalf("count the effects at the outside system: %v", err)
	}
	return got
}

func summary(got map[string]int, keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, got[k])
	}
	return b.String()
}

// consumed are the outbox rows of the component's topics since mark.
func (r *running) consumed(t *testing.T) []bus.Message {
	t.Helper()
	rows, err := r.w.Hub.Pool.Query(context.Background(), `SELECT topic, key, payload::text, headers::text FROM outbox WHERE id > $1 ORDER BY id`, r.mark)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []bus.Message
	for rows.Next() {
		var m bus.Message
		var payload, headers string
		if err := rows.Scan(&m.Topic, &m.Key, &payload, &headers); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(r.h.Component.Spec.Bus.Topics, m.Topic) && !r.h.Component.Spec.Bus.AllTopics {
			continue
		}
		m.Value = []byte(payload)
		if err := json.Unmarshal([]byte(headers), &m.Headers); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deadLetters are the dead letters from the component's topics.
func (r *running) deadLetters(t *testing.T) []bus.DeadLetter {
	t.Helper()
	dls, err := bus.ListDLQ(context.Background(), r.w.Bus.Kafka, 1000)
	if err != nil {
		t.Fatalf("read %s: %v", bus.DLQTopic, err)
	}
	return dls
}

func (r *running) setFaults(t *testing.T, f faults.Faults) {
	t.Helper()
	if err := r.w.Faults.Merge(f); err != nil {
		t.Fatal(err)
	}
}

// redelivery: every event the connector acted on is delivered twice more
// (once at once, once after the effect); the effects stay one each.
func redelivery(t *testing.T, r *running) {
	keys := r.w.Cause(t, 3)
	r.waitExactlyOnce(t, keys, r.w.Wait)
	msgs := r.consumed(t)
	if len(msgs) == 0 {
		t.Fatal("no event of the component's topics in the outbox: Cause caused nothing it consumes")
	}
	for round := 0; round < 2; round++ {
		if err := r.w.Bus.Publisher.Publish(context.Background(), msgs...); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh event after the redeliveries: once it has its effect, the
	// redelivered ones (earlier on their partitions) have been handled too
	// where they share its partition; the wait covers the others.
	more := r.w.Cause(t, 1)
	r.waitExactlyOnce(t, more, r.w.Wait)
	time.Sleep(time.Second)
	r.exactlyOnce(t, append(keys, more...))
	if dls := r.deadLetters(t); len(dls) != 0 {
		t.Errorf("redelivered events were dead-lettered: %s", reasons(dls))
	}
}

// outage: the outside system is down for 2.5 s while events arrive; after
// it, every effect is there exactly once and nothing was dead-lettered.
func outage(t *testing.T, r *running) {
	r.setFaults(t, faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(2500 * time.Millisecond)}})
	began := time.Now()
	keys := r.w.Cause(t, 5)
	r.waitExactlyOnce(t, keys, r.w.Wait)
	t.Logf("%d effects %v after a 2.5 s outage began", len(keys), time.Since(began).Round(100*time.Millisecond))
	if dls := r.deadLetters(t); len(dls) != 0 {
		t.Errorf("events were dead-lettered during an outage: %s", reasons(dls))
	}
}

// timeoutAfterWork: the simulator does the work of the first request that
// does it and the answer is lost; the connector's retry yields one effect.
func timeoutAfterWork(t *testing.T, r *running) {
	r.setFaults(t, faults.Faults{Lost: &faults.LostAnswers{Count: 1, Methods: r.w.LostMethods, PathSuffix: r.w.LostPath, Hold: faults.Duration(20 * time.Second)}})
	keys := r.w.Cause(t, 1)
	r.waitExactlyOnce(t, keys, r.w.Wait)
	// The effect shows as soon as the simulator did the work; the connector
	// learns of the lost answer only when its attempt times out, and retries
	// after that. A second effect would show by then.
	settle := 10 * time.Second // httpclient's default timeout
	if d, err := time.ParseDuration(r.w.Config.String("timeout")); err == nil {
		settle = d
	}
	time.Sleep(settle + 3*time.Second)
	r.exactlyOnce(t, keys)
	if st := r.w.Faults.Stats(); st.Lost != 1 {
		t.Fatalf("the simulator lost %d answers, want 1: the fault did not hit the request that does the work (LostMethods %v)", st.Lost, r.w.LostMethods)
	}
	if dls := r.deadLetters(t); len(dls) != 0 {
		t.Errorf("a lost answer was dead-lettered: %s", reasons(dls))
	}
}

// refusal: the outside system answers 400 to everything; the event ends in
// vaxhub.dlq with a reason naming the refusal (or, for RefusalRecorded, its
// job ends dead with the reason recorded and nothing is dead-lettered), no
// effect, and the next event after the refusal ended has its effect.
func refusal(t *testing.T, r *running) {
	const body = `{"error":{"message":"conformance: refused by the outside system","status":400}}`
	var key string
	if r.w.Refuse != nil {
		key = r.w.Refuse(t)
	} else {
		r.setFaults(t, faults.Faults{Errors: &faults.Errors{Rate: 1, Status: http.StatusBadRequest, Body: body}})
		key = r.w.Cause(t, 1)[0]
	}
	if r.h.Features.RefusalRecorded {
		refusalRecorded(t, r, key)
		return
	}
	var dls []bus.DeadLetter
	deadline := time.Now().Add(r.w.Wait)
	for len(dls) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter %v after a 400 from the outside system", r.w.Wait)
		}
		time.Sleep(100 * time.Millisecond)
		dls = r.deadLetters(t)
	}
	r.setFaults(t, faults.Faults{Errors: &faults.Errors{}})
	for _, d := range dls {
		if !slices.Contains(r.h.Component.Spec.Bus.Topics, d.OriginTopic()) || d.Reason() == "" {
			t.Errorf("dead letter from %q with reason %q; want one of %v with a reason", d.OriginTopic(), d.Reason(), r.h.Component.Spec.Bus.Topics)
		}
		if r.w.Refuse == nil && !strings.Contains(d.Reason(), "400") && !strings.Contains(d.Reason(), "refused by the outside system") {
			t.Errorf("the reason %q names neither the status nor the outside system's message", d.Reason())
		}
	}
	t.Logf("reason: %s", dls[0].Reason())
	if got := r.effects(t); got[key] != 0 {
		t.Errorf("%d effects of a refused event", got[key])
	}
	more := r.w.Cause(t, 1)
	r.waitExactlyOnce(t, more, r.w.Wait)
}

func refusalRecorded(t *testing.T, r *running, key string) {
	if r.w.Refusals == nil {
		t.Fatal("connectortest: RefusalRecorded needs World.Refusals")
	}
	var reason string
	deadline := time.Now().Add(r.w.Wait)
	for reason == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no refusal recorded for %s %v after a 400 from the outside system", key, r.w.Wait)
		}
		time.Sleep(100 * time.Millisecond)
		var err error
		if reason, err = r.w.Refusals(t, key); err != nil {
			t.Fatalf("read the refusal of %s: %v", key, err)
		}
	}
	r.setFaults(t, faults.Faults{Errors: &faults.Errors{}})
	t.Logf("reason: %s", reason)
	if r.w.Refuse == nil && !strings.Contains(reason, "400") && !strings.Contains(reason, "refused by the outside system") {
		t.Errorf("the reason %q names neither the status nor the outside system's message", reason)
	}
	if got := r.effects(t); got[key] != 0 {
		t.Errorf("%d effects of a refused event", got[key])
	}
	more := r.w.Cause(t, 1)
	r.waitExactlyOnce(t, more, r.w.Wait)
	if dls := r.deadLetters(t); len(dls) != 0 {
		t.Errorf("a refusal recorded by the connector was dead-lettered too: %s", reasons(dls))
	}
}

// malformed: a message that is not an event on each of the component's
// topics ends in vaxhub.dlq with the reason; events after it still have
// their effects.
func malformed(t *testing.T, r *running) {
	topics := r.h.Component.Spec.Bus.Topics
	var msgs []bus.Message
	for _, topic := range topics {
		msgs = append(msgs, bus.Message{Topic: topic, Key: "conformance", Value: []byte(`{"id": "not-an-envelope", "data": `)})
	}
	if err := r.w.Bus.Publisher.Publish(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	keys := r.w.Cause(t, 2)
	var dls []bus.DeadLetter
	deadline := time.Now().Add(r.w.Wait)
	for {
		dls = r.deadLetters(t)
		seen := map[string]bool{}
		for _, d := range dls {
			seen[d.OriginTopic()] = true
		}
		n := 0
		for _, topic := range topics {
			if seen[topic] {
				n++
			}
		}
		if n == len(topics) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %s; want one from each of %v", reasons(dls), topics)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, d := range dls {
		if d.Reason() == "" || d.Handler() == "" {
			t.Errorf("dead letter %s without a reason or handler: %v", d.ID, d.Headers)
		}
	}
	t.Logf("reasons: %s", reasons(dls))
	r.waitExactlyOnce(t, keys, r.w.Wait)
}

// stopDuringWork: the component is stopped while events are in flight (each
// request takes 150 ms at the outside system), started again, and every
// effect is there exactly once.
func stopDuringWork(t *testing.T, r *running) {
	r.setFaults(t, faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(150 * time.Millisecond)}})
	keys := r.w.Cause(t, 12)
	deadline := time.Now().Add(r.w.Wait)
	for {
		got, _ := r.w.Effects(t)
		done := 0
		for _, k := range keys {
			if got[k] > 0 {
				done++
			}
		}
		if done > 0 {
			t.Logf("stopping with %d of %d effects done", done, len(keys))
			if done == len(keys) {
				t.Log("every effect was done before the stop: the stop hit no work in flight")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no effect within %v", r.w.Wait)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop()
	r.setFaults(t, faults.Faults{Latency: &faults.Latency{}})
	r.startComponent(t)
	r.waitExactlyOnce(t, keys, r.w.Wait)
	if dls := r.deadLetters(t); len(dls) != 0 {
		t.Errorf("events were dead-lettered around a stop: %s", reasons(dls))
	}
}

func reasons(dls []bus.DeadLetter) string {
	var out []string
	for _, d := range dls {
		out = append(out, fmt.Sprintf("[%s %s: %s]", d.OriginTopic(), d.Handler(), d.Reason()))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
