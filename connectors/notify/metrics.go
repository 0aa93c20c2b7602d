package notify

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	sent    *prometheus.CounterVec
	skipped *prometheus.CounterVec
	refused *prometheus.CounterVec
	review  *prometheus.CounterVec
	status  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_notify_sent_total",
			Help: "Messages handed to the SMS gateway or the mail server, by channel and kind."}, []string{"channel", "kind"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_notify_skipped_total",
			Help: "Planned messages not sent, by kind and reason (stale: the booking changed; no-consent, post: the resident's choice)."}, []string{"kind", "reason"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_notify_refused_total",
			Help: "Events refused because the core does not hold the booking they claim, by reason."}, []string{"reason"}),
		review: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_notify_contact_review_total",
			Help: "Messages flagged for staff to check the resident's contact details, by channel and reason."}, []string{"channel", "reason"}),
		status: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_notify_sms_status_total",
			Help: "Verified SMS delivery statuses received, by status."}, []string{"status"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.sent, &m.skipped, &m.refused, &m.review, &m.status} {
		if err := reg.Register(*c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
			*c = are.ExistingCollector.(*prometheus.CounterVec)
		}
	}
	return m, nil
}
