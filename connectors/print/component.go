package print

import (
	"context"
	"errors"
	"net/http"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
)

// Spec is the print connector's configuration, each field once.
var Spec = component.Spec{
	Name:      "print",
	Doc:       "hybrid-mail print service (Pingen-style)",
	Switch:    "url",
	Simulator: "print",
	Bus:       &component.BusAccess{Topics: Topics, Groups: []string{Group}},
	Fields: []component.Field{
		{Name: "url", Env: "VAXHUB_PRINT_URL", Type: component.URL, Doc: "API base URL; empty: connector off"},
		{Name: "client_id", Env: "VAXHUB_PRINT_CLIENT_ID", Type: component.String, RunDefault: "sim", Required: true, Doc: "OAuth client ID"},
		{Name: "client_secret", Env: "VAXHUB_PRINT_CLIENT_SECRET", Type: component.String, RunDefault: "sim", Required: true, Secret: true, Doc: "OAuth client secret"},
		// The simulator's organisation (simulators/print.DefaultOrganisation).
		{Name: "organisation", Env: "VAXHUB_PRINT_ORGANISATION", Type: component.String, RunDefault: "0b7a1c2e-5d3f-4e6a-9b21-202104120001", Required: true,
			Doc: "organisation ID the letters are sent for"},
		{Name: "webhook_secret", Env: "VAXHUB_PRINT_WEBHOOK_SECRET", Type: component.String, Required: true, Secret: true,
			Doc: "key of the HMAC that signs status webhooks (/hooks/pingen); `vaxhub run` makes one up and gives it to its simulator"},
		{Name: "timeout", Env: "VAXHUB_PRINT_TIMEOUT", Type: component.Duration, Default: "10s", Doc: "bound of each HTTP attempt"},
		{Name: "breaker_timeout", Env: "VAXHUB_PRINT_BREAKER_TIMEOUT", Type: component.Duration, Default: "30s", Doc: "how long the breaker stays open before a trial call"},
	},
}

// Start is the hub's entry: the connector as configured by Spec, its
// consumers on a router as its own bus user, its senders and poller, the
// staff API under /api/v1/letters and the webhook on /hooks/pingen.
func Start(ctx context.Context, d component.Deps) (stop func(context.Context) error, err error) {
	if d.Handle == nil || d.StaffName == nil {
		return nil, errors.New("print: Deps.Handle and Deps.StaffName are required")
	}
	v := d.Config
	hc := httpclient.Config{Registerer: d.Registerer}
	if hc.Timeout, err = v.Duration("timeout"); err != nil {
		return nil, err
	}
	if hc.Breaker.Timeout, err = v.Duration("breaker_timeout"); err != nil {
		return nil, err
	}
	conn, err := New(Config{Pool: d.Pool, App: d.App, Logger: d.Logger,
		Pingen: PingenConfig{BaseURL: v.String("url"), ClientID: v.String("client_id"), ClientSecret: v.String("client_secret"),
			Organisation: v.String("organisation"), WebhookSecret: v.String("webhook_secret"), HTTP: hc}})
	if err != nil {
		return nil, err
	}
	router := bus.NewRouter(d.Consumer)
	router.Use(bus.CorrelationIDMiddleware)
	if err := conn.Register(router); err != nil {
		return nil, err
	}
	d.Handle("/api/v1/letters", conn.StaffHandler(func(r *http.Request) (string, error) { return d.StaffName(r), nil })) // the API checks the role first
	d.Handle("/hooks/pingen", conn.WebhookHandler())
	stopRouter := component.Background(ctx, "print consumers", d.Failed, router.Run)
	stopSenders := component.Background(ctx, "print senders", d.Failed, conn.Run)
	return func(ctx context.Context) error {
		return errors.Join(stopRouter(ctx), stopSenders(ctx))
	}, nil
}
