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
	},
}

// Start is the hub's entry: the connector as configured by Spec, with its
// own bus user.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	s, err := StartWith(ctx, Deps{App: d.App, Config: Config{BaseURL: d.Config.String("url")}, Consumer: d.Consumer,
		Registerer: d.Registerer, Logger: d.Logger, Failed: d.Failed})
	if err != nil {
		return nil, err
	}
	return component.StopFunc(s), nil
}
