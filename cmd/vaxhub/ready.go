package main

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/bus"
)

// relayMaxLag is how long an outbox row may wait unsent (or the relay go
// without a good round) before /readyz answers 503 naming the relay.
const relayMaxLag = 30 * time.Second

// readiness is GET /readyz of the hub: the database answers, the broker
// accepts the relay's credentials (probe cached for 2 s), and the outbox
// relay runs and keeps up. broker and relay are nil when no backbone runs
// (then they are reported as not ready: the hub cannot deliver events).
func readiness(pool *pgxpool.Pool, broker *bus.BrokerProbe, relay *bus.Relay) func(context.Context) []api.ReadyPart {
	return func(ctx context.Context) []api.ReadyPart {
		db := api.ReadyPart{Name: "database", Ready: true}
		if err := pool.Ping(ctx); err != nil {
			db = api.ReadyPart{Name: "database", Reason: "PostgreSQL does not answer", Err: err}
		}

		br := api.ReadyPart{Name: "broker", Reason: "no event backbone is running", Err: errors.New("no broker probe")}
		if broker != nil {
			st := broker.Check(ctx)
			br = api.ReadyPart{Name: "broker", Ready: st.Err == nil, Err: st.Err,
				State: map[string]any{"checked_seconds_ago": roundSeconds(time.Since(st.CheckedAt))}}
			if st.Err != nil {
				br.Reason = "no broker accepts the hub's credentials"
			}
		}

		rl := api.ReadyPart{Name: "relay", Reason: "no event backbone is running", Err: errors.New("no relay")}
		if relay != nil {
			h, err := relay.Probe(relayMaxLag)
			rl = api.ReadyPart{Name: "relay", Ready: err == nil, Err: err, State: map[string]any{
				"running": h.Running, "shards": h.Shards,
				"last_round_seconds_ago": roundSeconds(time.Since(h.LastRound)),
				"oldest_unsent_seconds":  roundSeconds(h.OldestWaiting)}}
			switch {
			case !h.Running:
				rl.Reason = "the outbox relay is not running"
			case err != nil:
				rl.Reason = "the outbox relay is behind by more than " + relayMaxLag.String()
			}
		}
		return []api.ReadyPart{db, br, rl}
	}
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}
