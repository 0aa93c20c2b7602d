package httpclient

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are shared by every Client registered on the same Registerer;
// the "system" label tells them apart.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	state    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaxhub_http_client_requests_total",
			Help: "HTTP attempts to external systems by status code; code is \"error\" for a network error or timeout and \"breaker_open\" for a call the breaker refused.",
		}, []string{"system", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vaxhub_http_client_request_duration_seconds",
			Help:    "Duration of single HTTP attempts to external systems, failures included.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"system"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaxhub_http_client_breaker_state",
			Help: "Circuit breaker state per external system: 0 closed, 1 half-open, 2 open.",
		}, []string{"system"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.state, err = register(reg, m.state); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector that an earlier
// Client registered on reg.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(T); ok {
			return existing, nil
		}
	}
	var zero T
	return zero, fmt.Errorf("register: %w", err)
}
