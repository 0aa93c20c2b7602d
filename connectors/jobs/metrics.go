package jobs

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	enqueued *prometheus.CounterVec
	attempts *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

// newMetrics registers the queue's metrics with reg; several queues on one
// registry share them (the kind label tells them apart).
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_jobs_enqueued_total",
			Help: "Jobs added or rescheduled, by kind."}, []string{"kind"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_jobs_attempts_total",
			Help: "Job attempts by kind and outcome (done, retry, dead, released at shutdown, lease_lost)."}, []string{"kind", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "vaxhub_jobs_attempt_seconds",
			Help: "Duration of job attempts, by kind.", Buckets: prometheus.ExponentialBuckets(0.005, 4, 8)}, []string{"kind"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	m.enqueued, err = register(reg, m.enqueued)
	if err == nil {
		m.attempts, err = register(reg, m.attempts)
	}
	if err == nil {
		m.seconds, err = register(reg, m.seconds)
	}
	return m, err
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
