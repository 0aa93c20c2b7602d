package servicenow

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/connectortest"
)

// TestConformance runs the connector conformance suite against the work
// orders: a mobile campaign planned in the core is the event, one wm_order
// in the planner (its description starts with OrderKey) is the effect.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Component: component.Component{Spec: Spec, Start: Start},
		// The writer looks a record up by its key before it inserts (upsert):
		// a lost answer to the insert is found on the retry.
		Features: connectortest.Features{TimeoutAfterWork: true, RefusalDeadLetters: true},
		New: func(t *testing.T, _ string) *connectortest.World {
			e := newEnv(t)
			var mu sync.Mutex
			day := 0
			return &connectortest.World{Hub: e.h, Bus: e.bus, Faults: e.sim.Faults(),
				Config: component.Values{"url": e.srv.URL, "user": "hub", "password": "hub-secret", "timeout": "1s", "breaker_timeout": "300ms"},
				Cause: func(t *testing.T, n int) []string {
					var keys []string
					for range n {
						mu.Lock()
						day++
						d := visitDay.AddDays(day)
						mu.Unlock()
						c, err := e.mobile.PlanMobileCampaign(ctx, app.MobileCampaignInput{CareHome: careHome, Day: d, Team: team, CentreID: centre,
							PlannedStart: time.Date(d.Year, d.Month, d.Day, 8, 0, 0, 0, time.UTC), Roster: e.residents(2),
							Doses: map[domain.ProductID]int{domain.Comirnaty: 2}})
						if err != nil {
							t.Fatalf("plan: %v", err)
						}
						keys = append(keys, OrderKey(c.ID))
					}
					return keys
				},
				Effects: func(t *testing.T) (map[string]int, error) {
					u := e.srv.URL + "/api/now/v2/table/wm_order?sysparm_limit=10000&sysparm_query=" + url.QueryEscape("descriptionSTARTSWITHvaxhub-mc-")
					req, _ := http.NewRequest(http.MethodGet, u, nil)
					req.SetBasicAuth("sim", "sim")
					req.Header.Set("Accept", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						return nil, err
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != http.StatusOK {
						return nil, fmt.Errorf("%d %s", resp.StatusCode, b)
					}
					var out struct {
						Result []struct {
							Description string `json:"description"`
						} `json:"result"`
					}
					if err := json.Unmarshal(b, &out); err != nil {
						return nil, err
					}
					got := map[string]int{}
					for _, r := range out.Result {
						key, _, _ := strings.Cut(r.Description, " ")
						key, _, _ = strings.Cut(key, "\n")
						got[key]++
					}
					return got, nil
				},
			}
		},
	})
}
