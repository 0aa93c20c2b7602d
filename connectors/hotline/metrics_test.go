package hotline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHotlineGaugesFollowTheQueueAndTheCalls(t *testing.T) {
	q, err := newAgentQueue([]string{"sip:a@127.0.0.1:5070", "sip:b@127.0.0.1:5071"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	v := &IVR{agents: q}
	reg := prometheus.NewRegistry()
	if err := v.registerMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := v.registerMetrics(reg); err != nil {
		t.Fatalf("registering twice: %v", err)
	}
	v.active.Store(3)
	w := q.join()
	if a, _ := q.tryAssign(w); a == nil {
		t.Fatal("no agent for the first caller")
	}
	q.leave(w) // connected: out of the queue, one agent busy
	q.join()   // the next caller waits
	for name, want := range map[string]float64{"vaxhub_hotline_calls_in_progress": 3, "vaxhub_hotline_queue_length": 1, "vaxhub_hotline_agents_free": 1} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, mf := range mfs {
			if mf.GetName() == name {
				got = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}
