package notify_test

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/notify"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/connectortest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	smssim "github.com/vaxhub/vaxhub/simulators/sms"
)

// TestConformance runs the connector conformance suite against the SMS
// confirmations: a booking by a resident who chose SMS and consented is
// the event, one message to their number at the SMS gateway simulator is
// the effect (counted by recipient: a reminder or a second confirmation
// would count too).
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Component: component.Component{Spec: notify.Spec, Start: notify.Start},
		// The gateway takes no idempotency key: a retry after a lost answer
		// looks for the message it made first. A 4xx kills the send job with
		// the reason and flags the message for staff; the event itself was
		// good and is not dead-lettered.
		Features: connectortest.Features{TimeoutAfterWork: true, RefusalRecorded: true},
		New: func(t *testing.T, hubURL string) *connectortest.World {
			h := hubtest.New(t, time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t)))
			h.Saxony(t, 30)
			// The job queue runs on the core's clock, back-offs and leases
			// included: the test's clock runs, as production's does.
			runClock(t, h.Clock)
			sim, err := smssim.New(smssim.Config{Step: 50 * time.Millisecond, StatusCallback: hubURL + notify.WebhookPath, Logger: bustest.Logger()})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(sim.Handler())
			t.Cleanup(func() { srv.Close(); sim.Close() })
			b := bustest.Start(t, h.Pool)
			var mu sync.Mutex
			refs := map[string]string{} // recipient -> booking reference
			return &connectortest.World{Hub: h, Bus: b, Faults: sim.Faults(),
				Config: component.Values{"sms_url": srv.URL, "sms_user": "sim", "sms_password": "sim", "sms_from": "Impfzentrum",
					"enabled": "true", "timeout": "1s", "breaker_timeout": "300ms"},
				Cause: func(t *testing.T, n int) []string {
					var keys []string
					for range n {
						mu.Lock()
						phone := fmt.Sprintf("+49351%07d", 2000000+len(refs))
						refs[phone] = ""
						mu.Unlock()
						reg := h.Resident(t, domain.Date{Year: 1938, Month: 6, Day: 2})
						if _, err := h.App.ChangeContact(ctx, reg.Resident.ID, domain.ContactChange{Channel: domain.ContactSMS, Phone: phone, Consent: true}); err != nil {
							t.Fatalf("contact: %v", err)
						}
						ap, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa", Product: domain.Comirnaty})
						if err != nil {
							t.Fatalf("book: %v", err)
						}
						mu.Lock()
						refs[phone] = ap.Reference
						mu.Unlock()
						keys = append(keys, phone)
					}
					return keys
				},
				Effects: func(t *testing.T) (map[string]int, error) {
					got := map[string]int{}
					for _, m := range sim.Messages("") {
						got[m.To]++
					}
					return got, nil
				},
				// The refused send: its job dead with the reason, the message
				// recorded as refused and flagged for staff.
				Refusals: func(t *testing.T, key string) (string, error) {
					mu.Lock()
					ref := refs[key]
					mu.Unlock()
					var reason string
					err := h.Pool.QueryRow(ctx, `SELECT coalesce(max(j.last_error), '') FROM jobs j
						JOIN notify_messages m ON m.reference = j.payload->>'reference' AND m.status = 'refused' AND m.contact_review
						WHERE j.kind = 'notify.send' AND j.status = 'dead' AND j.payload->>'reference' = $1`, ref).Scan(&reason)
					return reason, err
				},
				// The message's creation, not the look-up of an earlier try.
				LostPath: "/Messages.json",
			}
		},
	})
}

// runClock moves c on with the wall clock until the test ends.
func runClock(t *testing.T, c *hubtest.Clock) {
	t.Helper()
	start, wall := c.Now(), time.Now()
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				c.Set(start.Add(time.Since(wall)))
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}
