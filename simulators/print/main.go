package print

import (
	"context"
	"flag"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simhttp"
	"io"
	"net"
	"strings"
	"time"
)

// Main runs the simulator as a process (`vaxhub sim print`): it parses args,
// prints the effective configuration (secrets masked) to stdout and serves
// until ctx is done.
//
//	--addr HOST:PORT          listen address (default 127.0.0.1:8104)
//	--client-id, --client-secret  client credentials (default sim / sim)
//	--organisation UUID       organisation ID (default DefaultOrganisation)
//	--max-pages N             most pages per letter (default 10)
//	--step D                  time in each of valid, processing, printing (default 2s)
//	--webhook-url URL         POST status changes here
//	--webhook-secret S        sign webhooks (header Signature, hex HMAC-SHA256)
//	--fault-*                 fault injection, see simulators/README.md
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim print", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8104", "listen address")
	var cfg Config
	fs.StringVar(&cfg.ClientID, "client-id", "sim", "client ID for /auth/access-tokens")
	fs.StringVar(&cfg.ClientSecret, "client-secret", "sim", "client secret for /auth/access-tokens")
	fs.StringVar(&cfg.Organisation, "organisation", DefaultOrganisation, "organisation ID")
	fs.IntVar(&cfg.MaxPages, "max-pages", 10, "most pages a letter may have")
	fs.DurationVar(&cfg.Step, "step", 2*time.Second, "how long a letter stays valid, processing and printing each")
	fs.StringVar(&cfg.WebhookURL, "webhook-url", "", "URL that receives a POST on every status change")
	fs.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "key that signs webhooks (header Signature)")
	cfg.Faults.Custom = customFaults()
	cfg.Faults.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim print: unexpected argument %q", fs.Arg(0))
	}
	sim, err := New(cfg)
	if err != nil {
		return fmt.Errorf("sim print: %w", err)
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim print: %w", err)
	}
	fmt.Fprintf(stdout, "print service simulator (Pingen-style) on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "  client-id=%s client-secret=%s organisation=%s\n", sim.cfg.ClientID, strings.Repeat("*", len(sim.cfg.ClientSecret)), sim.cfg.Organisation)
	fmt.Fprintf(stdout, "  max-pages=%d step=%s webhook-url=%q webhook-secret=%s\n", sim.cfg.MaxPages, sim.cfg.Step, sim.cfg.WebhookURL, strings.Repeat("*", len(sim.cfg.WebhookSecret)))
	fmt.Fprintf(stdout, "  admin: /_sim/faults, /_sim/health, /_sim/letters (custom faults: %s, %s)\n", FaultUndeliverable, FaultLoseWebhooks)

	if err := simhttp.Serve(ctx, ln, sim.Handler()); err != nil {
		return fmt.Errorf("sim print: %w", err)
	}
	return nil
}
