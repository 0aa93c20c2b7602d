package servicenow

import (
	"context"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
)

// Spec is the ServiceNow connector's configuration, each field once.
var Spec = component.Spec{
	Name:      "servicenow",
	Doc:       "field planner of the mobile teams (ServiceNow-style Table API)",
	Switch:    "url",
	Simulator: "servicenow",
	Bus:       &component.BusAccess{Topics: []string{bus.TopicFor("mobile.campaign-planned")}, Groups: []string{Group}},
	Fields: []component.Field{
		{Name: "url", Env: "VAXHUB_SERVICENOW_URL", Type: component.URL, Doc: "instance URL; empty: connector off"},
		{Name: "user", Env: "VAXHUB_SERVICENOW_USER", Type: component.String, RunDefault: "sim", Required: true, Doc: "integration user (Basic auth)"},
		{Name: "password", Env: "VAXHUB_SERVICENOW_PASSWORD", Type: component.String, RunDefault: "sim", Required: true, Secret: true, Doc: "its password"},
		{Name: "timeout", Env: "VAXHUB_SERVICENOW_TIMEOUT", Type: component.Duration, Default: "10s", Doc: "bound of each HTTP attempt"},
		{Name: "breaker_timeout", Env: "VAXHUB_SERVICENOW_BREAKER_TIMEOUT", Type: component.Duration, Default: "10s", Doc: "how long the breaker stays open before a trial call"},
	},
}

// Start is the hub's entry: the connector as configured by Spec, with its
// own bus user.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	pub, err := d.Publisher() // its dead letters
	if err != nil {
		return nil, err
	}
	v := d.Config
	timeout, err := v.Duration("timeout")
	if err != nil {
		return nil, err
	}
	breaker, err := v.Duration("breaker_timeout")
	if err != nil {
		return nil, err
	}
	s, err := StartWith(ctx, Deps{Pool: d.Pool, Mobile: d.Mobile, Publisher: pub, Consumer: d.Consumer, Failed: d.Failed,
		Config: Config{BaseURL: v.String("url"), User: v.String("user"), Password: v.String("password"), Timeout: timeout, BreakerTimeout: breaker,
			Registerer: d.Registerer, Logger: d.Logger}})
	if err != nil {
		return nil, err
	}
	return component.StopFunc(s), nil
}
