package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/simulators/agent"
)

// startHotline starts the IVR on cfg.HotlineAddr (in run mode on
// 127.0.0.1:5060 with ten simulated agent phones from port 5070) and
// returns how to stop it and a line for the start-up banner.
func startHotline(ctx context.Context, cfg *config, parts *hubParts, m mode, reg prometheus.Registerer, log *slog.Logger) (stop func(), note string, err error) {
	addr := cfg.HotlineAddr
	if addr == "" && m == modeRun {
		addr = "127.0.0.1:5060"
	}
	if addr == "" || addr == "off" {
		return func() {}, "", nil
	}
	var agents []string
	if m == modeRun && os.Getenv("VAXHUB_SIM_AGENTS") != "off" {
		phones, err := agent.Start(ctx, agent.Config{N: 10, FirstPort: 5070, Logger: log})
		if err != nil {
			log.Warn("simulated agent phones did not start; callers who ask for an agent hear that none is free", "err", err)
		} else {
			agents = phones.URIs
		}
	}
	// Callers' numbers are hashed with a key derived from the data key, so
	// that every replica and every restart hashes a number the same way.
	h := sha256.Sum256(append([]byte("vaxhub caller hash\x00"), cfg.key...))
	stop, err = hotline.Start(ctx, parts.app, hotline.Config{Addr: addr, Agents: agents, CallerHashKey: h[:], Registerer: reg, Logger: log,
		Events: &hotline.OutboxRecorder{Pool: parts.pool, Registry: parts.schemas}})
	if err != nil {
		return nil, "", fmt.Errorf("hotline on %s: %w", addr, err)
	}
	note = fmt.Sprintf("hotline: sip:ivr@%s (UDP and TCP)", addr)
	if len(agents) > 0 {
		note += fmt.Sprintf(", %d simulated agent phones (%s ...)", len(agents), strings.TrimPrefix(agents[0], "sip:"))
	}
	return stop, note, nil
}
