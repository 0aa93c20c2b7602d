package main

import (
	"context"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/agent"
	"github.com/vaxhub/vaxhub/simulators/caller"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/vaxhub/vaxhub/connectors/print"
	printsim "github.com/vaxhub/vaxhub/simulators/print"
	"github.com/vaxhub/vaxhub/simulators/register"
	"github.com/vaxhub/vaxhub/simulators/sap"
	"github.com/vaxhub/vaxhub/simulators/servicenow"
	smssim "github.com/vaxhub/vaxhub/simulators/sms"
	smtpsim "github.com/vaxhub/vaxhub/simulators/smtp"
)

// simulator is one stand-in for an outside system, runnable as `vaxhub sim NAME`
// and started by `vaxhub run`.
type simulator struct {
	main        func(ctx context.Context, args []string, stdout io.Writer) error
	defaultAddr string
	// runArgs are further flags when `vaxhub run` starts it.
	runArgs func(cfg *config) []string
}

func simulators() map[string]simulator {
	return map[string]simulator{
		"sap":        {sap.Main, "127.0.0.1:8101", nil},
		"register":   {register.Main, register.DefaultAddr, nil},
		"servicenow": {servicenow.Main, servicenow.DefaultAddr, nil},
		"print": {printsim.Main, "127.0.0.1:8104", func(cfg *config) []string {
			return []string{"--webhook-url", "http://" + cfg.HTTPAddr + "/hooks/pingen", "--webhook-secret", cfg.values(print.Spec).String("webhook_secret")}
		}},
	}
}

func simNames() []string {
	var names []string
	for n := range simulators() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// cmdSim runs one simulator in the foreground: vaxhub sim NAME [flags].
func cmdSim(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return &usageError{"usage: vaxhub sim NAME [flags]; simulators: " + strings.Join(simNames(), ", ") + ", caller, agents, sms, smtp"}
	}
	switch args[0] {
	case "caller": // a scripted caller: runs a call and ends, never started by vaxhub run
		return caller.Main(ctx, args[1:], os.Stdout)
	case "agents":
		return agent.Main(ctx, args[1:], os.Stdout)
	case "sms": // started by vaxhub run once connectors/notify uses it
		return smssim.Main(ctx, args[1:], os.Stdout)
	case "smtp":
		return smtpsim.Main(ctx, args[1:], os.Stdout)
	}
	s, ok := simulators()[args[0]]
	if !ok {
		return &usageError{fmt.Sprintf("unknown simulator %q; simulators: %s", args[0], strings.Join(simNames(), ", "))}
	}
	return s.main(ctx, args[1:], os.Stdout)
}

// simAddr is where `vaxhub run` starts simulator name: its default address
// unless VAXHUB_SIM_<NAME>_ADDR names another or "off" ("off": not started).
func simAddr(name string, s simulator) string {
	if v := os.Getenv("VAXHUB_SIM_" + strings.ToUpper(name) + "_ADDR"); v != "" {
		return v
	}
	return s.defaultAddr
}

// simulatorURLs are the URLs of the simulators `vaxhub run` starts.
func simulatorURLs() map[string]string {
	out := map[string]string{}
	for name, s := range simulators() {
		if a := simAddr(name, s); a != "off" {
			out[name] = "http://" + a
		}
	}
	return out
}

// startSimulators starts every simulator for `vaxhub run`, each on its
// default address unless VAXHUB_SIM_<NAME>_ADDR names another or "off".
// A simulator that cannot start is logged, not fatal: the hub runs without it.
func startSimulators(ctx context.Context, cfg *config, log *slog.Logger) (started []string, addrs map[string]string) {
	addrs = map[string]string{}
	for _, name := range simNames() {
		s := simulators()[name]
		addr := simAddr(name, s)
		if addr == "off" {
			continue
		}
		args := []string{"--addr", addr}
		if s.runArgs != nil {
			args = append(args, s.runArgs(cfg)...)
		}
		go func(name, addr string) {
			if err := s.main(ctx, args, io.Discard); err != nil && ctx.Err() == nil {
				log.Error("simulator stopped", "simulator", name, "addr", addr, "err", err)
			}
		}(name, addr)
		started = append(started, name+" http://"+addr)
		addrs[name] = "http://" + addr
	}
	return started, addrs
}
