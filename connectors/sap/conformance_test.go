package sap

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/connectortest"
)

// TestConformance runs the connector conformance suite against the goods
// issues: a check-out in the core is the event, one 201 goods issue in the
// SAP simulator (found by its header text) is the effect.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Component: component.Component{Spec: Spec, Start: Start},
		// SAP books the goods issue and the answer is lost: the retry looks
		// it up by its header text. An unknown batch is SAP's own 4xx.
		Features: connectortest.Features{TimeoutAfterWork: true, RefusalDeadLetters: true},
		New: func(t *testing.T, _ string) *connectortest.World {
			e := newEnv(t)
			b := bustest.Start(t, e.h.Pool)
			e.kafka, e.pub = b.Kafka, b.Publisher
			reader := e.connector(e.config()) // reads the effects from SAP
			today := e.h.Today()
			e.sapPost(reader, receipt("SN05", "VAC-JANSSEN", "CONF1", 1000, today, today.AddDays(60)))
			e.h.Deliver(t, "dresden", domain.Janssen, 1000, today)
			checkOut := func(t *testing.T, batch string, n int) []string {
				var keys []string
				for _, ref := range e.bookAndCheckOut("dresden", domain.Janssen, batch, n) {
					var ev struct{ ID string }
					decodeJSON(t, e.doseEvent(ref).Value, &ev)
					keys = append(keys, HeaderText(ev.ID))
				}
				return keys
			}
			return &connectortest.World{Hub: e.h, Bus: b, Faults: e.sim.Faults(),
				Config: component.Values{"url": e.srv.URL, "user": "sim", "password": "sim", "client": "100",
					"timeout": "1s", "breaker_timeout": "500ms"},
				Cause:  func(t *testing.T, n int) []string { return checkOut(t, "CONF1", n) },
				Refuse: func(t *testing.T) string { return checkOut(t, "NOSUCH", 1)[0] },
				Effects: func(t *testing.T) (map[string]int, error) {
					q := url.Values{}
					q.Set("$select", "MaterialDocumentHeaderText")
					out := map[string]int{}
					err := reader.odata.getAll(ctx, "/"+svcDocument+"/A_MaterialDocumentHeader", q, func(p *page) error {
						for _, rec := range p.Records {
							var h struct{ MaterialDocumentHeaderText string }
							if err := json.Unmarshal(rec, &h); err != nil {
								return err
							}
							out[h.MaterialDocumentHeaderText]++
						}
						return nil
					})
					return out, err
				},
			}
		},
	})
}
