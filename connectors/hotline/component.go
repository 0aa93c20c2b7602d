package hotline

import (
	"context"
	"fmt"

	"github.com/vaxhub/vaxhub/connectors/component"
)

// Spec is the hotline's configuration, each field once.
var Spec = component.Spec{
	Name:   "hotline",
	Doc:    "SIP/IVR hotline",
	Switch: "addr",
	Fields: []component.Field{
		{Name: "addr", Env: "VAXHUB_HOTLINE_ADDR", Type: component.Address, RunDefault: "127.0.0.1:5060",
			Doc: "SIP address (UDP and TCP) of the IVR; empty or off: hotline off"},
		{Name: "agents", Env: "VAXHUB_HOTLINE_AGENTS", Type: component.List,
			Doc: "SIP URIs of the agent phones, comma-separated; `vaxhub run` starts ten simulated ones (VAXHUB_SIM_AGENTS=off: none)"},
	},
}

// Start is the hub's entry: the IVR as configured by Spec; call events go
// to the outbox through the core (App.RecordEvent), callers' numbers are hashed with a key derived from the
// data key (the same on every replica).
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	addr := d.Config.String("addr")
	s, err := startComponent(ctx, d, addr)
	if err != nil {
		return nil, fmt.Errorf("hotline on %s: %w", addr, err)
	}
	return component.StopFunc(s), nil
}

func startComponent(ctx context.Context, d component.Deps, addr string) (func(), error) {
	v, err := New(d.App, Config{Addr: addr, Agents: d.Config.List("agents"), CallerHashKey: d.Key("caller hash"),
		Registerer: d.Registerer, Logger: d.Logger, Events: d.App})
	if err != nil {
		return nil, err
	}
	return v.Start(context.WithoutCancel(ctx))
}
