package smtp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/simulators/simhttp"
)

// Main runs the simulator as a process (`vaxhub sim smtp`): it parses args,
// prints the effective configuration (secrets masked) to stdout and serves
// SMTP and the read API until ctx is done.
//
//	--addr HOST:PORT          SMTP listen address (default 127.0.0.1:2525)
//	--http-addr HOST:PORT     read API and /_sim/faults (default 127.0.0.1:8107)
//	--hostname NAME           name in the greeting
//	--user, --password        AUTH PLAIN/LOGIN credentials (default sim / sim)
//	--require-auth            refuse MAIL FROM before AUTH
//	--max-size N              largest message in bytes (default 10 MiB)
//	--unknown LIST, --busy LIST  addresses answered 550 5.1.1 / 450 4.2.1 at RCPT TO
//	--fault-*                 fault injection, see simulators/README.md
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("sim smtp", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", DefaultAddr, "SMTP listen address")
	httpAddr := fs.String("http-addr", DefaultHTTPAddr, "listen address of the read API (/_sim/messages, /_sim/faults)")
	var cfg Config
	fs.StringVar(&cfg.Hostname, "hostname", "mail.sim.vaxhub.invalid", "name in the greeting and in Received headers")
	fs.StringVar(&cfg.Username, "user", "sim", "user for AUTH PLAIN and LOGIN")
	fs.StringVar(&cfg.Password, "password", "sim", "password for AUTH PLAIN and LOGIN")
	fs.BoolVar(&cfg.RequireAuth, "require-auth", false, "refuse MAIL FROM before AUTH (530)")
	fs.Int64Var(&cfg.MaxSize, "max-size", 10<<20, "largest message accepted, in bytes (SIZE)")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 5*time.Minute, "close a connection idle this long (421)")
	unknown := fs.String("unknown", "", "comma-separated addresses refused with 550 5.1.1 at RCPT TO")
	busy := fs.String("busy", "", "comma-separated addresses answered 450 4.2.1 at RCPT TO")
	cfg.Faults.Custom = customFaults()
	cfg.Faults.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim smtp: unexpected argument %q", fs.Arg(0))
	}
	cfg.Recipients = map[string]string{}
	for behaviour, list := range map[string]string{RecipientUnknown: *unknown, RecipientBusy: *busy} {
		for a := range strings.SplitSeq(list, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cfg.Recipients[a] = behaviour
			}
		}
	}
	srv, err := New(cfg)
	if err != nil {
		return fmt.Errorf("sim smtp: %w", err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("sim smtp: %w", err)
	}
	hln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("sim smtp: %w", err)
	}
	fmt.Fprintf(stdout, "SMTP server simulator on smtp://%s, read API on http://%s/_sim/messages\n", ln.Addr(), hln.Addr())
	fmt.Fprintf(stdout, "  hostname=%s user=%s password=%s require-auth=%t max-size=%d recipients=%d\n",
		srv.cfg.Hostname, srv.cfg.Username, strings.Repeat("*", len(srv.cfg.Password)), srv.cfg.RequireAuth, srv.cfg.MaxSize, len(cfg.Recipients))
	fmt.Fprintf(stdout, "  admin: /_sim/faults, /_sim/health, /_sim/messages, /_sim/recipients (custom faults: %s, %s, %s, %s)\n",
		FaultUnavailable, FaultBusy, FaultTempfailData, FaultDropAfterData)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	httpDone := make(chan error, 1)
	go func() { httpDone <- simhttp.Serve(ctx, hln, srv.Handler()) }()
	smtpErr := srv.Serve(ctx, ln)
	cancel()
	if err := errors.Join(smtpErr, <-httpDone); err != nil {
		return fmt.Errorf("sim smtp: %w", err)
	}
	return nil
}
