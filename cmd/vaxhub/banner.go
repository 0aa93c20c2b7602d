package main

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// The hub's stderr is its log: JSON lines (log/slog), one format for every
// library. The lines for people (the effective configuration, "vaxhub is up"
// with the URLs, the development-token warning) are plain text only when
// stderr is a terminal; otherwise (a service, a container, a pipe into a log
// collector) they are JSON lines as well.

// stderrIsTerminal reports whether stderr is a character device (a terminal).
func stderrIsTerminal() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// announcer writes the lines for people: text on a terminal, log records
// otherwise.
type announcer struct {
	log  *slog.Logger
	text io.Writer // nil: not a terminal
}

func newAnnouncer(log *slog.Logger) announcer {
	a := announcer{log: log}
	if stderrIsTerminal() {
		a.text = os.Stderr
	}
	return a
}

// config prints the effective configuration (secrets masked): as text, or as
// one record per line ("effective configuration", attribute "line"), which
// keeps every record short.
func (a announcer) config(cfg *config) {
	if a.text != nil {
		cfg.print(a.text)
		return
	}
	var b bytes.Buffer
	cfg.print(&b)
	for _, l := range strings.Split(b.String(), "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "effective configuration:" {
			a.log.Info("effective configuration", "line", l)
		}
	}
}

// devToken warns that the development token is accepted (always logged).
func (a announcer) devToken() {
	a.log.Warn("DEVELOPMENT TOKEN ACTIVE: VAXHUB_DEV_TOKEN grants every staff role. Never use it outside a laptop or a test.")
	if a.text != nil {
		fmt.Fprintln(a.text, "\n*** WARNING: VAXHUB_DEV_TOKEN is set: a token with EVERY staff role is accepted. Local use only. ***")
	}
}

// up says where the hub serves (always logged: "vaxhub is up" with the
// addresses; on a terminal also as text).
func (a announcer) up(httpAddr, kafka string, sims []string, hotline string) {
	a.log.Info("vaxhub is up", "portal", "http://"+httpAddr+"/", "api", "http://"+httpAddr+"/api/v1/centres",
		"openapi", "http://"+httpAddr+"/api/v1/openapi.json", "kafka", kafka, "simulators", sims, "hotline", hotline)
	if a.text == nil {
		return
	}
	fmt.Fprintf(a.text, "\nvaxhub is up: portal http://%s/  API http://%s/api/v1/centres  (OpenAPI: http://%s/api/v1/openapi.json)  Kafka: %s\n",
		httpAddr, httpAddr, httpAddr, kafka)
	if len(sims) > 0 {
		fmt.Fprintf(a.text, "simulators: %s (user sim, password sim)\n", strings.Join(sims, ", "))
	}
	if hotline != "" {
		fmt.Fprintln(a.text, hotline)
	}
}
