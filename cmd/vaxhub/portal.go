package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/web"
	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
)

// portalParts is the web portal in front of the core: the pages, the
// digital waiting room before the booking flow, and the firewall.
type portalParts struct {
	portal http.Handler
	room   *waitingroom.Room
	fw     *web.Firewall
}

// derivedKey gives each component its own key from the data key, so that
// every replica and every restart agrees without another secret to manage.
func derivedKey(cfg *config, label string) []byte {
	h := sha256.Sum256(append([]byte("vaxhub "+label+"\x00"), cfg.key...))
	return h[:]
}

// startPortal builds the portal; the waiting room's loop runs until ctx ends.
func startPortal(ctx context.Context, cfg *config, parts *hubParts, reg *prometheus.Registry, log *slog.Logger) (*portalParts, error) {
	fw, err := web.NewFirewall(web.FirewallConfig{Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("firewall: %w", err)
	}
	meter := &waitingroom.BookingMeter{Parallelism: 4}
	room, err := waitingroom.New(ctx, parts.pool, waitingroom.Config{Secret: derivedKey(cfg, "waiting room"), Capacity: meter,
		SessionID: web.SessionID, Log: log})
	if err != nil {
		return nil, fmt.Errorf("waiting room: %w", err)
	}
	go func() {
		if err := room.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("waiting room stopped", "err", err)
		}
	}()
	portal, err := web.New(web.Config{App: parts.app, Pool: parts.pool, Room: room, Meter: meter, Secret: derivedKey(cfg, "portal"), Logger: log,
		Firewall: fw, Registerer: reg,
		Dashboard: &web.DashboardConfig{Authorize: api.StaffAuthorizer(cfg.StaffTokens, api.RoleReporting), Room: room, Metrics: reg}})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	return &portalParts{portal: portal, room: room, fw: fw}, nil
}

// withFirewall puts the firewall in front of the public JSON API; the
// portal has it inside already.
func (p *portalParts) withFirewall(api http.Handler) http.Handler {
	guarded := p.fw.Wrap(api)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/") {
			guarded.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
