package sms

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/simulators/simhttp"
)

// DefaultAddr is where `vaxhub sim sms` listens unless --addr says otherwise.
const DefaultAddr = "127.0.0.1:8105"

// Main runs the simulator as a process (`vaxhub sim sms`): it parses args,
// prints the effective configuration (secrets masked) to stdout and serves
// until ctx is done.
//
//	--addr HOST:PORT            listen address (default 127.0.0.1:8105)
//	--account-sid, --auth-token Basic auth credentials (default sim / sim); the token signs callbacks
//	--status-callback URL       default status callback URL
//	--step D                    time in queued and in sent (default 1s)
//	--rate-per-second N         message creations per second before 429 (default 0: none)
//	--failed LIST, --undelivered LIST  E.164 numbers whose messages end failed / undelivered
//	--fault-*                   fault injection, see simulators/README.md
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim sms", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", DefaultAddr, "listen address")
	var cfg Config
	fs.StringVar(&cfg.AccountSID, "account-sid", "sim", "account SID (Basic auth user and path segment)")
	fs.StringVar(&cfg.AuthToken, "auth-token", "sim", "auth token (Basic auth password; signs status callbacks)")
	fs.StringVar(&cfg.StatusCallback, "status-callback", "", "status callback URL for messages that name none")
	fs.DurationVar(&cfg.Step, "step", time.Second, "how long a message stays queued and sent")
	fs.IntVar(&cfg.RatePerSecond, "rate-per-second", 0, "message creations per second before 429 (0: no limit)")
	failed := fs.String("failed", "", "comma-separated E.164 numbers whose messages end failed (30006)")
	undelivered := fs.String("undelivered", "", "comma-separated E.164 numbers whose messages end undelivered (30003)")
	cfg.Faults.Custom = customFaults()
	cfg.Faults.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim sms: unexpected argument %q", fs.Arg(0))
	}
	cfg.Outcomes = map[string]string{}
	for outcome, list := range map[string]string{OutcomeFailed: *failed, OutcomeUndelivered: *undelivered} {
		for n := range strings.SplitSeq(list, ",") {
			if n = strings.TrimSpace(n); n != "" {
				cfg.Outcomes[n] = outcome
			}
		}
	}
	sim, err := New(cfg)
	if err != nil {
		return fmt.Errorf("sim sms: %w", err)
	}
	defer sim.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim sms: %w", err)
	}
	fmt.Fprintf(stdout, "SMS gateway simulator (Twilio-style) on http://%s/%s/Accounts/%s/Messages.json\n", ln.Addr(), APIVersion, sim.cfg.AccountSID)
	fmt.Fprintf(stdout, "  account-sid=%s auth-token=%s status-callback=%q\n", sim.cfg.AccountSID, strings.Repeat("*", len(sim.cfg.AuthToken)), sim.cfg.StatusCallback)
	fmt.Fprintf(stdout, "  step=%s rate-per-second=%d outcomes=%d messaging-service=%s\n", sim.cfg.Step, sim.cfg.RatePerSecond, len(cfg.Outcomes), sim.cfg.MessagingService)
	fmt.Fprintf(stdout, "  admin: /_sim/faults, /_sim/health, /_sim/messages, /_sim/outcomes (custom faults: %s, %s)\n", FaultLoseCallbacks, FaultDropAnswer)
	if err := simhttp.Serve(ctx, ln, sim.Handler()); err != nil {
		return fmt.Errorf("sim sms: %w", err)
	}
	return nil
}
