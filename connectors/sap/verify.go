package sap

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/domain"
)

// ErrNotInCore marks a dose-administered event the core does not back: the
// connector posts no goods issue for it (issue 12: an event on the bus is a
// claim, the core is the record). The event goes to the dead-letter topic
// with the reason, and vaxhub_sap_refused_total counts it.
var ErrNotInCore = errors.New("not-in-core")

// Reasons a goods issue is refused (the reason label of
// vaxhub_sap_refused_total and the end of the dead letter's reason).
const (
	refusedUnknownReference = "unknown-reference"   // no appointment and no field dose has it
	refusedNotAdministered  = "dose-not-given"      // the series exists, that dose is not given
	refusedDiffers          = "differs-from-core"   // centre, product, batch or time differ
	refusedAlreadyIssued    = "dose-already-issued" // another event already became this dose's goods issue
)

func newRefusedCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vaxhub_sap_refused_total",
		Help: "appointment.dose-administered events the SAP connector posted no goods issue for, because the core does not hold the dose as given, by reason."},
		[]string{"reason"})
	if reg == nil {
		return c, nil
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("sap: metrics: %w", err)
	}
	return c, nil
}

// checkDoseInCore re-reads the dose of ev from the core before anything goes
// to SAP: a dose given at a centre must be dose N of the series with the
// reference, administered, at the same centre with the same product, batch
// and time; a dose given in the field must be the accepted field dose with
// the reference, with the campaign's centre. It returns a permanent error
// wrapping ErrNotInCore when the core does not back ev, and a transient one
// when the core could not be read.
func (c *Connector) checkDoseInCore(ctx context.Context, ev doseAdministered) error {
	reason, err := c.doseMismatch(ctx, ev)
	if err != nil {
		return fmt.Errorf("sap: read the dose from the core: %w", err)
	}
	if reason == "" {
		return nil
	}
	c.refused.WithLabelValues(reason).Inc()
	// No reference, no resident: the event ID finds the dead letter.
	c.log.Warn("goods issue refused: the core does not hold this dose as given", "event_id", ev.ID, "reason", reason,
		"centre_id", ev.Data.CentreID)
	return bus.Permanent(fmt.Errorf("sap: no goods issue: %w: %s", ErrNotInCore, reason))
}

// doseMismatch returns why the core does not back ev ("" when it does).
func (c *Connector) doseMismatch(ctx context.Context, ev doseAdministered) (string, error) {
	d := ev.Data
	ap, err := c.app.Appointment(ctx, d.Reference)
	switch {
	case errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid):
		return c.fieldDoseMismatch(ctx, ev)
	case err != nil:
		return "", err
	}
	var dose *domain.Dose
	for i := range ap.Doses {
		if ap.Doses[i].Number == d.DoseNumber {
			dose = &ap.Doses[i]
		}
	}
	if dose == nil || dose.Status != domain.DoseAdministered || dose.AdministeredAt == nil {
		return refusedNotAdministered, nil
	}
	if ap.CentreID != d.CentreID || dose.Product != d.Product || dose.Batch != d.Batch || !sameTime(*dose.AdministeredAt, d.AdministeredAt) {
		return refusedDiffers, nil
	}
	return c.alreadyIssued(ctx, ev)
}

func (c *Connector) fieldDoseMismatch(ctx context.Context, ev doseAdministered) (string, error) {
	if c.mobile == nil {
		return refusedUnknownReference, nil
	}
	d := ev.Data
	fd, err := c.mobile.FieldDoseByReference(ctx, d.Reference)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return refusedUnknownReference, nil
	case err != nil:
		return "", err
	}
	if fd.Product != d.Product || fd.Batch != d.Batch || fd.DoseNumber != d.DoseNumber || !sameTime(fd.AdministeredAt, d.AdministeredAt) {
		return refusedDiffers, nil
	}
	camp, err := c.mobile.MobileCampaign(ctx, fd.CampaignID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
		return refusedDiffers, nil
	case err != nil:
		return "", err
	case camp.CentreID != d.CentreID:
		return refusedDiffers, nil
	}
	return c.alreadyIssued(ctx, ev)
}

// alreadyIssued refuses a second event for a dose that already has a goods
// issue: a copy of a real event under a new ID. The two doses of a series
// are never given on the same day, so reference and day name one dose.
func (c *Connector) alreadyIssued(ctx context.Context, ev doseAdministered) (string, error) {
	var other bool
	err := c.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM sap_goods_issues WHERE reference = $1 AND day = $2 AND event_id <> $3)`,
		ev.Data.Reference, c.app.DayOf(ev.Data.AdministeredAt).In(time.UTC), ev.ID).Scan(&other)
	if err != nil {
		return "", err
	}
	if other {
		return refusedAlreadyIssued, nil
	}
	return "", nil
}

// sameTime: the event carries the time to the second or finer.
func sameTime(a, b time.Time) bool {
	d := a.Sub(b)
	return d < time.Second && d > -time.Second
}
