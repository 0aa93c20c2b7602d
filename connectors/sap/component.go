package sap

import (
	"context"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
)

// Spec is the SAP connector's configuration, each field once.
var Spec = component.Spec{
	Name:      "sap",
	Doc:       "SAP-style stock system (OData)",
	Switch:    "url",
	Simulator: "sap",
	Bus: &component.BusAccess{Topics: []string{bus.TopicFor("appointment.dose-administered"), bus.TopicFor("mobile.transfer-requested")},
		Groups: []string{Group, TransferGroup}},
	Fields: []component.Field{
		{Name: "url", Env: "VAXHUB_SAP_URL", Type: component.URL, Doc: "SAP host (or its OData root); empty: connector off"},
		{Name: "user", Env: "VAXHUB_SAP_USER", Type: component.String, RunDefault: "sim", Required: true, Doc: "communication user (Basic auth)"},
		{Name: "password", Env: "VAXHUB_SAP_PASSWORD", Type: component.String, RunDefault: "sim", Required: true, Secret: true, Doc: "its password"},
		{Name: "client", Env: "VAXHUB_SAP_CLIENT", Type: component.String, Default: "100", Doc: "sap-client sent with every request"},
		{Name: "timeout", Env: "VAXHUB_SAP_TIMEOUT", Type: component.Duration, Default: "10s", Doc: "bound of each HTTP attempt; a goods issue left unanswered is looked up after it"},
		{Name: "breaker_timeout", Env: "VAXHUB_SAP_BREAKER_TIMEOUT", Type: component.Duration, Default: "10s", Doc: "how long the breaker stays open before a trial call"},
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
	s, err := StartWith(ctx, Deps{Pool: d.Pool, App: d.App, Mobile: d.Mobile, Publisher: pub, Consumer: d.Consumer, Failed: d.Failed,
		Config: Config{BaseURL: v.String("url"), User: v.String("user"), Password: v.String("password"), SAPClient: v.String("client"),
			Timeout: timeout, BreakerTimeout: breaker, Registerer: d.Registerer, Logger: d.Logger}})
	if err != nil {
		return nil, err
	}
	return component.StopFunc(s), nil
}
