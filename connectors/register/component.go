package register

import (
	"context"

	"github.com/vaxhub/vaxhub/connectors/component"
)

// Spec is the register connector's configuration, each field once.
var Spec = component.Spec{
	Name:      "register",
	Doc:       "population register (FHIR)",
	Switch:    "url",
	Simulator: "register",
	Bus:       &component.BusAccess{Topics: []string{Topic}, Groups: []string{Group}},
	Fields: []component.Field{
		{Name: "url", Env: "VAXHUB_REGISTER_URL", Type: component.URL, Doc: "base URL of the register's FHIR API; empty: connector off"},
		{Name: "timeout", Env: "VAXHUB_REGISTER_TIMEOUT", Type: component.Duration, Default: "2s", Doc: "bound of each HTTP attempt"},
		{Name: "breaker_timeout", Env: "VAXHUB_REGISTER_BREAKER_TIMEOUT", Type: component.Duration, Default: "5s", Doc: "how long the breaker stays open before a trial call"},
	},
}

// Start is the hub's entry: the connector as configured by Spec, with its
// own bus user.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	cfg := Config{BaseURL: d.Config.String("url")}
	if cfg.HTTP.Timeout, err = d.Config.Duration("timeout"); err != nil {
		return nil, err
	}
	if cfg.HTTP.Breaker.Timeout, err = d.Config.Duration("breaker_timeout"); err != nil {
		return nil, err
	}
	s, err := StartWith(ctx, Deps{App: d.App, Config: cfg, Consumer: d.Consumer,
		Registerer: d.Registerer, Logger: d.Logger, Failed: d.Failed})
	if err != nil {
		return nil, err
	}
	return component.StopFunc(s), nil
}
