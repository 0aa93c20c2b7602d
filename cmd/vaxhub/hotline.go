package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/simulators/agent"
)

// startAgentPhones starts, for `vaxhub run` with the hotline on and no agent
// phones configured, ten simulated agent phones from port 5070 (unless
// VAXHUB_SIM_AGENTS=off) and gives them to the hotline.
func startAgentPhones(ctx context.Context, cfg *config, log *slog.Logger) {
	v := cfg.values(hotline.Spec)
	if !switchedOn(hotline.Spec, v) || v.String("agents") != "" || os.Getenv("VAXHUB_SIM_AGENTS") == "off" {
		return
	}
	phones, err := agent.Start(ctx, agent.Config{N: 10, FirstPort: 5070, Logger: log})
	if err != nil {
		log.Warn("simulated agent phones did not start; callers who ask for an agent hear that none is free", "err", err)
		return
	}
	v["agents"] = strings.Join(phones.URIs, ",")
}

// hotlineNote is the start-up banner's line about the hotline.
func hotlineNote(cfg *config) string {
	v := cfg.values(hotline.Spec)
	if !switchedOn(hotline.Spec, v) {
		return ""
	}
	note := fmt.Sprintf("hotline: sip:ivr@%s (UDP and TCP)", v.String("addr"))
	if agents := v.List("agents"); len(agents) > 0 {
		note += fmt.Sprintf(", %d agent phones (%s ...)", len(agents), strings.TrimPrefix(agents[0], "sip:"))
	}
	return note
}

// cmdHotline runs only the SIP/IVR hotline (`vaxhub hotline`) against the
// hub's database, over a core built as `vaxhub hub` builds it.
func cmdHotline(ctx context.Context, args []string) error {
	h, err := buildHotline(ctx, args, nil)
	if err != nil {
		return err
	}
	defer h.parts.pool.Close()
	useAsDefault(h.log)
	h.log.Info("hotline serving", "addr", h.addr, "transports", strings.Join(h.transports, ","),
		"require_verification", h.cfg.requireVerification())
	return h.ivr.Serve(ctx)
}

// standaloneHotline is what `vaxhub hotline` serves: the IVR over the core.
type standaloneHotline struct {
	cfg        *config
	parts      *hubParts
	ivr        *hotline.IVR
	log        *slog.Logger
	addr       string
	transports []string
}

// buildHotline reads the hotline's flags and the hub's configuration
// (-config, -database-url, -log-level, the environment, the YAML file, as
// `vaxhub hub`: the data key is required) and builds the core with openCore,
// as `vaxhub run` and `vaxhub hub` do: the verification store, with
// RequireVerification unless VAXHUB_REQUIRE_VERIFICATION=false, and call
// events recorded through the core's outbox (App.RecordEvent). The caller
// hash key is derived from the data key as in the hub, so a caller's hash
// is the same whichever process answered. log nil: JSON lines on stderr at
// the configured level.
func buildHotline(ctx context.Context, args []string, log *slog.Logger) (*standaloneHotline, error) {
	fs := flag.NewFlagSet("hotline", flag.ContinueOnError)
	var ivr hotline.Config
	addr := fs.String("addr", "", "SIP listening address, UDP and TCP (default: the hotline's addr from the configuration, else 127.0.0.1:5060)")
	transports := fs.String("transports", "udp,tcp", "SIP transports")
	fs.StringVar(&ivr.ExternalHost, "external-host", "", "address to put into Contact and SDP (NAT)")
	fs.IntVar(&ivr.RTPPortStart, "rtp-port-start", 0, "first RTP port (0: random ports)")
	fs.IntVar(&ivr.RTPPortEnd, "rtp-port-end", 0, "last RTP port")
	fs.DurationVar(&ivr.FirstDigitTimeout, "first-digit-timeout", 6*time.Second, "wait for the first key")
	fs.DurationVar(&ivr.InterDigitTimeout, "inter-digit-timeout", 4*time.Second, "wait for each further key")
	fs.Float64Var(&ivr.CallsPerSecondPerSource, "calls-per-second-per-source", 5, "new calls per second from one IP")
	fs.IntVar(&ivr.MaxCallsPerSource, "max-calls-per-source", 20, "calls one IP holds at once")
	fs.IntVar(&ivr.MaxCalls, "max-calls", 2000, "calls held at once")
	file := fs.String("config", "", "YAML configuration file (env VAXHUB_CONFIG)")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (env DATABASE_URL)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (env VAXHUB_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &usageError{helpShown}
		}
		return nil, &usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, &usageError{fmt.Sprintf("hotline: unexpected argument %q", fs.Arg(0))}
	}
	var coreArgs []string
	for name, v := range map[string]string{"config": *file, "database-url": *dbURL, "log-level": *logLevel} {
		if v != "" {
			coreArgs = append(coreArgs, "-"+name, v)
		}
	}
	cfg, err := loadConfig(coreArgs, modeHub)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = newLogger(cfg.LogLevel)
	}
	ivr.Addr = *addr
	if ivr.Addr == "" {
		ivr.Addr = "127.0.0.1:5060"
		if v := cfg.values(hotline.Spec); switchedOn(hotline.Spec, v) {
			ivr.Addr = v.String("addr")
		}
	}
	ivr.Transports = strings.Split(*transports, ",")
	ivr.Agents = cfg.values(hotline.Spec).List("agents")
	ivr.CallerHashKey = derivedKey(cfg, "caller hash")
	ivr.Logger = log
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	ivr.Events = parts.app
	v, err := hotline.New(parts.app, ivr)
	if err != nil {
		parts.pool.Close()
		return nil, fmt.Errorf("hotline: %w", err)
	}
	return &standaloneHotline{cfg: cfg, parts: parts, ivr: v, log: log, addr: ivr.Addr, transports: ivr.Transports}, nil
}
