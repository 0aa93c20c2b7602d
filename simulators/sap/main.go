package sap

import (
	"context"
	"flag"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simhttp"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// Main runs the simulator as a process (`vaxhub sim sap`): it parses args,
// prints the effective configuration (password masked) to stdout and serves
// until ctx is done.
//
//	--addr HOST:PORT        listen address (default 127.0.0.1:8101)
//	--user, --password      communication user (default sim / sim)
//	--client NNN            SAP client (default 100)
//	--page-size N           server page size before __next (default 100)
//	--delivery-plan FILE    delivery plan; "none" for none (default: the embedded Saxony 2021 plan)
//	--start TIME            simulated start time (default: the plan's start)
//	--time-scale X          simulated seconds per real second (default 1; 0 stops the clock)
//	--fault-*               fault injection, see simulators/README.md
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim sap", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8101", "listen address")
	user := fs.String("user", "sim", "user for Basic auth")
	password := fs.String("password", "sim", "password for Basic auth")
	client := fs.String("client", "100", "SAP client (sap-client)")
	pageSize := fs.Int("page-size", 100, "server-side page size; longer collections continue with __next")
	planPath := fs.String("delivery-plan", "", `delivery plan file; "none" for no deliveries (default: the embedded copy of deploy/campaign/saxony-2021/sap-delivery-plan.yaml)`)
	start := fs.String("start", "", "simulated time at start-up, e.g. 2021-01-04T06:00:00Z (default: the plan's start)")
	scale := fs.Float64("time-scale", 1, "simulated seconds per real second (3600: an hour per second; 0: the clock moves only with POST /_sim/clock/advance)")
	fopts := faults.Options{Custom: []faults.Custom{csrfFault()}}
	fopts.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim sap: unexpected argument %q", fs.Arg(0))
	}

	cfg := Config{User: *user, Password: *password, Client: *client, PageSize: *pageSize, TimeScale: *scale, Faults: fopts}
	planName := "none"
	switch *planPath {
	case "none":
	case "":
		p, err := DefaultDeliveryPlan()
		if err != nil {
			return err
		}
		cfg.DeliveryPlan, planName = p, "embedded saxony-2021"
	default:
		p, err := LoadDeliveryPlan(*planPath)
		if err != nil {
			return fmt.Errorf("sim sap: --delivery-plan: %w", err)
		}
		cfg.DeliveryPlan, planName = p, *planPath
	}
	if *start != "" {
		t, err := parseLiteralTime(*start)
		if err != nil {
			return fmt.Errorf("sim sap: --start %q: want 2021-01-04T06:00:00Z", *start)
		}
		cfg.Start = t
	}
	sim, err := New(cfg)
	if err != nil {
		return fmt.Errorf("sim sap: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim sap: %w", err)
	}
	deliveries := 0
	if cfg.DeliveryPlan != nil {
		deliveries = len(cfg.DeliveryPlan.Deliveries)
	}
	fmt.Fprintf(stdout, "SAP simulator on http://%s%s (services %s)\n", ln.Addr(), BasePath, strings.Join([]string{svcDocument, svcStock, svcBatch}, ", "))
	fmt.Fprintf(stdout, "  user=%s password=%s client=%s page-size=%d\n", *user, strings.Repeat("*", len(*password)), *client, *pageSize)
	fmt.Fprintf(stdout, "  delivery-plan=%s (%d deliveries) start=%s time-scale=%v\n", planName, deliveries, sim.Now().Format(time.RFC3339), *scale)
	fmt.Fprintf(stdout, "  admin: /_sim/clock, /_sim/clock/advance, /_sim/faults, /_sim/health\n")

	if err := simhttp.Serve(ctx, ln, sim.Handler()); err != nil {
		return fmt.Errorf("sim sap: %w", err)
	}
	return nil
}
