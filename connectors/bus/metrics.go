package bus

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the bus's Prometheus metrics. Create them once per process with
// NewMetrics on the registry the process serves; a nil *Metrics records
// nothing.
type Metrics struct {
	outboxBacklog    prometheus.Gauge
	relayPublished   prometheus.Counter
	relayLag         prometheus.Gauge
	relayErrors      prometheus.Counter
	relayShards      prometheus.Gauge
	consumerHandled  *prometheus.CounterVec
	consumerRetried  *prometheus.CounterVec
	consumerDead     *prometheus.CounterVec
	consumerLagGauge *prometheus.GaugeVec
}

// NewMetrics creates the metrics and registers them on reg (never the global
// default registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	labels := []string{"group", "topic"}
	m := &Metrics{
		outboxBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaxhub_outbox_backlog", Help: "Outbox rows not yet published."}),
		relayPublished: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaxhub_relay_published_total", Help: "Outbox rows published and marked sent by this relay."}),
		relayLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaxhub_relay_lag_seconds", Help: "Age of the oldest row in the last published batch (now - created_at)."}),
		relayErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vaxhub_relay_errors_total", Help: "Relay rounds that failed (broker or database)."}),
		relayShards: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vaxhub_relay_shards_owned", Help: "Outbox shards this relay holds a lease on."}),
		consumerHandled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaxhub_consumer_handled_total", Help: "Messages handled successfully."}, labels),
		consumerRetried: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaxhub_consumer_retried_total", Help: "Handler attempts that failed and were retried."}, labels),
		consumerDead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vaxhub_consumer_dead_lettered_total", Help: "Messages sent to the dead-letter topic."}, labels),
		consumerLagGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vaxhub_consumer_lag", Help: "Messages behind the high watermark (kafka-go reader stats)."}, labels),
	}
	for _, c := range []prometheus.Collector{m.outboxBacklog, m.relayPublished, m.relayLag, m.relayErrors,
		m.relayShards, m.consumerHandled, m.consumerRetried, m.consumerDead, m.consumerLagGauge} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) handled(group, topic string) {
	if m != nil {
		m.consumerHandled.WithLabelValues(group, topic).Inc()
	}
}

func (m *Metrics) retried(group, topic string) {
	if m != nil {
		m.consumerRetried.WithLabelValues(group, topic).Inc()
	}
}

func (m *Metrics) deadLettered(group, topic string) {
	if m != nil {
		m.consumerDead.WithLabelValues(group, topic).Inc()
	}
}

func (m *Metrics) consumerLag(group, topic string, lag int64) {
	if m != nil {
		m.consumerLagGauge.WithLabelValues(group, topic).Set(float64(lag))
	}
}

func (m *Metrics) published(n int, oldest time.Time) {
	if m != nil {
		m.relayPublished.Add(float64(n))
		if !oldest.IsZero() {
			m.relayLag.Set(time.Since(oldest).Seconds())
		}
	}
}

func (m *Metrics) backlog(n int64) {
	if m != nil {
		m.outboxBacklog.Set(float64(n))
	}
}

func (m *Metrics) relayError() {
	if m != nil {
		m.relayErrors.Inc()
	}
}

func (m *Metrics) shardsOwned(n int) {
	if m != nil {
		m.relayShards.Set(float64(n))
	}
}
