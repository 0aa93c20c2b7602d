package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/web"
	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
	"github.com/vaxhub/vaxhub/core/app"
)

// portalParts is the web portal in front of the core: the pages, the
// digital waiting room before the booking flow, and the firewall.
type portalParts struct {
	portal http.Handler
	room   *waitingroom.Room
	meter  *waitingroom.BookingMeter
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
		TrustedProxies: cfg.proxies, Firewall: fw, Registerer: reg,
		Dashboard: &web.DashboardConfig{Authorize: api.StaffAuthorizer(cfg.StaffTokens, api.RoleReporting), Room: room, Metrics: reg}})
	if err != nil {
		return nil, fmt.Errorf("portal: %w", err)
	}
	return &portalParts{portal: portal, room: room, meter: meter, fw: fw}, nil
}

// buildHTTP is what the hub serves on its HTTP address: the JSON API (its
// public rate limits, then the firewall, the waiting room in front of public
// booking, the booking meter of the room's capacity) with the portal, which
// has its own limits and firewall, behind it for every other path.
func buildHTTP(cfg *config, parts *hubParts, pp *portalParts, mob *app.Mobile, reg *prometheus.Registry, log *slog.Logger) (http.Handler, error) {
	srv, err := api.New(parts.app, api.Config{StaffTokens: cfg.StaffTokens, Logger: log, Registry: reg, Mobile: mob,
		Letters: parts.letters, LetterKinds: requestableLetterKinds(), Mounts: parts.mounts, Fallback: pp.portal,
		AdminMounts: map[string]http.Handler{"/admin/waiting-room": pp.room.Admin()},
		Ready:       readiness(parts.pool, parts.broker, parts.relay),
		IPRate:      cfg.APILimits.AddressRate, IPBurst: cfg.APILimits.AddressBurst, TokenRate: cfg.APILimits.TokenRate, TokenBurst: cfg.APILimits.TokenBurst,
		TrustedProxies: cfg.proxies, WaitingRoom: apiRoom{pp.room}, MeasureBookings: pp.meter.MeasureBookings,
		Firewall: pp.fw.Wrap}) // the portal has the firewall inside already
	if err != nil {
		return nil, err
	}
	return srv, nil
}

// apiRoom lets the JSON API queue public booking in the portal's waiting
// room: the same queue, sessions and admission rate as the browsers.
type apiRoom struct{ room *waitingroom.Room }

func (a apiRoom) Admit(ctx context.Context, client, presented string) (api.RoomAdmission, error) {
	d, err := a.room.AdmitClient(ctx, client, presented)
	if err != nil {
		return api.RoomAdmission{}, ticketRefusal(err)
	}
	return api.RoomAdmission{Admitted: d.Admitted, Direct: d.Direct, Admission: d.Admission, Ticket: d.Ticket, RetryAfter: d.RetryAfter}, nil
}

func (a apiRoom) Position(client, ticket string) (api.RoomPosition, error) {
	st, status := a.room.ClientStatus(client, ticket)
	if status != http.StatusOK {
		return api.RoomPosition{}, ticketRefusal(fmt.Errorf("%s", st.Code))
	}
	return api.RoomPosition{State: st.State, Position: st.Position, EstimatedWaitSeconds: st.EstimatedWaitSeconds,
		RefreshAfterSeconds: st.RefreshAfterSeconds, Paused: st.Paused, ReleaseAt: st.ReleaseAt, Code: st.Code}, nil
}

func (a apiRoom) Release(ctx context.Context, client, admission string) error {
	return a.room.EndClientSession(ctx, client, admission)
}

// ticketRefusal words the room's refusals of a ticket for an API client
// (api.ErrTicketRefused); other errors are the room's database failing.
func ticketRefusal(err error) error {
	code := err.Error()
	switch {
	case errors.Is(err, waitingroom.ErrTicketForged) || code == "ticket-forged":
		return fmt.Errorf("%w: the ticket is not genuine", api.ErrTicketRefused)
	case errors.Is(err, waitingroom.ErrTicketOtherBrowser) || code == "ticket-other-browser":
		return fmt.Errorf("%w: the ticket was issued to another access token", api.ErrTicketRefused)
	case errors.Is(err, waitingroom.ErrTicketUsed) || code == "ticket-used":
		return fmt.Errorf("%w: the ticket has already been used for an admission", api.ErrTicketRefused)
	}
	return err
}
