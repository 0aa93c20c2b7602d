package hotline

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// counts returns the callers waiting for an agent and the agents free now.
func (q *agentQueue) counts() (waiting, free int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, a := range q.agents {
		if !a.busy {
			free++
		}
	}
	return len(q.waiting), free
}

// registerMetrics exposes the hotline's state for the operations dashboard:
// vaxhub_hotline_calls_in_progress, vaxhub_hotline_queue_length and
// vaxhub_hotline_agents_free. Registering twice on one registry is fine.
func (v *IVR) registerMetrics(reg prometheus.Registerer) error {
	gauges := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vaxhub_hotline_calls_in_progress", Help: "Calls the IVR holds now."},
			func() float64 { return float64(v.ActiveCalls()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vaxhub_hotline_queue_length", Help: "Callers waiting for an agent."},
			func() float64 { w, _ := v.agents.counts(); return float64(w) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "vaxhub_hotline_agents_free", Help: "Agent phones free now."},
			func() float64 { _, f := v.agents.counts(); return float64(f) }),
	}
	for _, g := range gauges {
		if err := reg.Register(g); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return fmt.Errorf("hotline metrics: %w", err)
			}
		}
	}
	return nil
}
