package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

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
