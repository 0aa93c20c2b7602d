package print_test

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/component"
	lettersvc "github.com/vaxhub/vaxhub/connectors/print"
	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/connectortest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	printsim "github.com/vaxhub/vaxhub/simulators/print"
)

// TestConformance runs the connector conformance suite against the
// confirmation letters: a booking by phone (no e-mail, so post) is the
// event, one letter at the print simulator named after the booking
// (confirmation-<reference>.pdf) is the effect.
func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Harness{
		Component: component.Component{Spec: lettersvc.Spec, Start: lettersvc.Start},
		// The letter is created under an idempotency key that the service
		// honours, so a lost answer is answered with the same letter on the
		// retry. A 4xx fails the letter (reason, contact_review) and ends its
		// job dead: the event was consumed into the job before the service
		// was called, so it is not dead-lettered.
		Features: connectortest.Features{TimeoutAfterWork: true, RefusalRecorded: true},
		New: func(t *testing.T, hubURL string) *connectortest.World {
			h := hubtest.New(t, time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t)))
			h.Saxony(t, 30)
			sim, err := printsim.New(printsim.Config{Step: 30 * time.Millisecond, WebhookURL: hubURL + "/hooks/pingen", WebhookSecret: "whsec", Logger: testLogger()})
			if err != nil {
				t.Fatal(err)
			}
			srv := newServer(t, sim)
			b := bustest.Start(t, h.Pool)
			// On failure, what the connector holds of each letter and its job.
			t.Cleanup(func() {
				if t.Failed() {
					logLetterJobs(t, h)
				}
			})
			var mu sync.Mutex
			refs := map[string]string{} // effect key -> booking reference
			return &connectortest.World{Hub: h, Bus: b, Faults: sim.Faults(),
				Config: component.Values{"url": srv, "client_id": "sim", "client_secret": "sim", "organisation": sim.Organisation(),
					"webhook_secret": "whsec", "timeout": "1s", "breaker_timeout": "300ms"},
				Cause: func(t *testing.T, n int) []string {
					var keys []string
					for range n {
						reg := h.Resident(t, domain.Date{Year: 1938, Month: 6, Day: 2}, func(r *domain.Resident) { r.Channel = "phone" })
						ap, err := h.App.Book(app.WithCorrelationID(ctx, "conf-"+reg.Resident.ID),
							app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa", Product: domain.Comirnaty})
						if err != nil {
							t.Fatalf("book: %v", err)
						}
						l := letter.Letter{Kind: letter.Confirmation, Reference: ap.Reference}
						key := l.FileName()
						mu.Lock()
						refs[key] = ap.Reference
						mu.Unlock()
						keys = append(keys, key)
					}
					return keys
				},
				Effects: func(t *testing.T) (map[string]int, error) {
					got := map[string]int{}
					for _, l := range sim.Letters() {
						got[l.FileName]++
					}
					return got, nil
				},
				// The letter the service refused: failed, with the reason.
				Refusals: func(t *testing.T, key string) (string, error) {
					mu.Lock()
					ref, ok := refs[key]
					mu.Unlock()
					if !ok {
						return "", fmt.Errorf("no booking for %s", key)
					}
					ls, err := lettersvcLetters(h, ref)
					if err != nil {
						return "", err
					}
					for _, l := range ls {
						if l.Status == lettersvc.StatusFailed && l.ContactReview {
							return l.Reason, nil
						}
					}
					return "", nil
				},
				// The letter's creation, not the token request before it.
				LostPath: "/letters",
			}
		},
	})
}

type failedLetter struct {
	Status, Reason string
	ContactReview  bool
}

// lettersvcLetters reads the connector's letters of a booking from its own
// table (the staff API shows the same).
func lettersvcLetters(h *hubtest.Hub, ref string) ([]failedLetter, error) {
	rows, err := h.Pool.Query(ctx, `SELECT status, coalesce(reason, ''), contact_review FROM letters WHERE reference = $1`, ref)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []failedLetter
	for rows.Next() {
		var l failedLetter
		if err := rows.Scan(&l.Status, &l.Reason, &l.ContactReview); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// newServer serves the simulator; presigned upload URLs point at it.
func newServer(t *testing.T, sim *printsim.Sim) string {
	t.Helper()
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return strings.TrimSuffix(srv.URL, "/")
}

// logLetterJobs logs every letter with the state of its job.
func logLetterJobs(t *testing.T, h *hubtest.Hub) {
	rows, err := h.Pool.Query(ctx, `SELECT l.reference, l.status, coalesce(j.status, ''), coalesce(j.attempts, 0), coalesce(j.run_at::text, ''),
		j.lease IS NOT NULL, coalesce(j.last_error, '') FROM letters l LEFT JOIN jobs j ON j.kind = 'print.letter' AND j.key = l.id::text ORDER BY l.created_at`)
	if err != nil {
		t.Logf("letters: %v", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var ref, status, job, runAt, lastErr string
		var attempts int
		var leased bool
		if err := rows.Scan(&ref, &status, &job, &attempts, &runAt, &leased, &lastErr); err != nil {
			t.Logf("letters: %v", err)
			return
		}
		t.Logf("letter %s %s; job %s, %d attempts, run_at %s, leased %v, last error %q", ref, status, job, attempts, runAt, leased, lastErr)
	}
}
