package register_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/connectortest"
)

// TestConformance runs the connector conformance suite against the
// verdicts: a registration in the core is the event; the register is only
// searched, so the effect is the verdict the search gives, one
// resident.verified, resident.rejected or resident.needs-review per
// resident in the outbox.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Component: component.Component{Spec: register.Spec, Start: register.Start},
		// A search whose answer is lost is simply searched again.
		Features: connectortest.Features{TimeoutAfterWork: true, RefusalDeadLetters: true},
		New: func(t *testing.T, _ string) *connectortest.World {
			w := newWorld(t)
			b := bustest.Start(t, w.Pool)
			var mu sync.Mutex
			page := 0
			return &connectortest.World{Hub: w.Hub, Bus: b, Faults: w.sim.Faults(), LostMethods: []string{"GET", "POST"},
				Config: component.Values{"url": w.srv.URL, "timeout": "1s", "breaker_timeout": "300ms"},
				Cause: func(t *testing.T, n int) []string {
					mu.Lock()
					page++
					p := page
					mu.Unlock()
					var keys []string
					for _, person := range w.sample(t, n, fmt.Sprintf("kind=normal&page=%d", p)) {
						keys = append(keys, w.register(t, residentOf(t, person)).Resident.ID)
					}
					return keys
				},
				Effects: func(t *testing.T) (map[string]int, error) {
					rows, err := w.Pool.Query(ctx, `SELECT key, count(*) FROM outbox
						WHERE event_type IN ('resident.verified', 'resident.rejected', 'resident.needs-review') GROUP BY key`)
					if err != nil {
						return nil, err
					}
					defer rows.Close()
					got := map[string]int{}
					for rows.Next() {
						var k string
						var n int
						if err := rows.Scan(&k, &n); err != nil {
							return nil, err
						}
						got[k] = n
					}
					return got, rows.Err()
				},
			}
		},
	})
}
