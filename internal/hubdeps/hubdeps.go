// Package hubdeps builds the component.Deps that the hub's supervisor hands
// each component it starts. cmd/vaxhub and the connector conformance suite
// (internal/connectortest) both use it, so a connector under test is started
// exactly the way `vaxhub run` starts it. It starts nothing itself.
package hubdeps

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/store"
	"github.com/vaxhub/vaxhub/schemas"
)

// Hub is what the hub has to give its components.
type Hub struct {
	// Run is true under `vaxhub run`.
	Run   bool
	App   *app.App
	Store *store.Store // for the mobile-campaign use cases; nil: none
	Pool  *pgxpool.Pool
	// Schemas is the core's registry (Deps.Schemas); Validator checks
	// consumed messages (the broker component's registry).
	Schemas   *schemas.Registry
	Validator *schemas.Registry
	Topics    []string
	Metrics   *bus.Metrics
	// Kafka returns the bus configuration of a component's own user.
	Kafka func(user string) (bus.Config, error)
	// Consumer is the consumer template's timings (ShutdownTimeout, and in
	// tests shorter sessions and back-offs); Kafka, Validator, Metrics and
	// Logger are filled in per component.
	Consumer   bus.ConsumerConfig
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	StaffName  func(*http.Request) string
	Key        func(label string) []byte
	Handle     func(path string, h http.Handler)
	// Failed is told when the component called name fails after its start.
	Failed func(name string, err error)
}

// Deps is what the component of spec gets: its values v, the core, its own
// bus user (when its spec declares bus access) and a Failed that reports
// to h.Failed. Publishers it makes are appended to closers, to be closed
// after the component stopped.
func (h Hub) Deps(spec component.Spec, v component.Values, closers *[]func() error) (component.Deps, error) {
	name := spec.Name
	d := component.Deps{Config: v, Run: h.Run, App: h.App, Pool: h.Pool, Schemas: h.Schemas,
		Topics: h.Topics, Registerer: h.Registerer, Logger: h.Logger,
		StaffName: h.StaffName, Key: h.Key, Handle: h.Handle,
		Failed: func(err error) {
			if h.Failed != nil {
				h.Failed(name, err)
			}
		},
	}
	if h.Store != nil && h.App != nil {
		mob, err := app.NewMobile(h.App, h.Store)
		if err != nil {
			return component.Deps{}, fmt.Errorf("%s: mobile use cases: %w", name, err)
		}
		d.Mobile = mob
	}
	if spec.Bus == nil {
		d.Publisher = func() (bus.Publisher, error) { return nil, fmt.Errorf("%s: its spec names no bus access", name) }
		return d, nil
	}
	kcfg, err := h.Kafka(name)
	if err != nil {
		return component.Deps{}, err
	}
	d.Consumer = h.Consumer
	d.Consumer.Kafka, d.Consumer.Metrics, d.Consumer.Logger = kcfg, h.Metrics, h.Logger
	if h.Validator != nil {
		d.Consumer.Validator = h.Validator
	}
	d.Publisher = func() (bus.Publisher, error) {
		p, err := bus.NewPublisher(kcfg)
		if err != nil {
			return nil, err
		}
		*closers = append(*closers, p.Close)
		return p, nil
	}
	return d, nil
}
