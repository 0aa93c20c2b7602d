package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/schemas"
)

// TestInvalidCorrelationIDIsReplaced: a correlation ID the event envelope
// would refuse no longer breaks the write (it was a 500 at the outbox); the
// hub uses a generated one, says so in the answer's X-Correlation-ID, and the
// event on the outbox carries that one.
func TestInvalidCorrelationIDIsReplaced(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	h.Slot(t, h.At(day, 10, 0), 50)
	h.Deliver(t, "test", domain.Janssen, 40, day)
	base := serve(t, h)
	ctx := context.Background()
	register := `{"given_names":"Jürgen","family_name":"Müller","birth_date":"1938-04-02","sex":"m","address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"}}`

	send := func(method, path, corr, token, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header["X-Correlation-Id"] = []string{corr} // raw, even when empty
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// outboxCorrelation is the correlation_id of the newest event of typ about subject.
	outboxCorrelation := func(typ, subject string) string {
		t.Helper()
		var corr string
		if err := h.Pool.QueryRow(ctx, `SELECT payload->>'correlation_id' FROM outbox WHERE event_type = $1 AND key = $2 ORDER BY id DESC LIMIT 1`,
			typ, subject).Scan(&corr); err != nil {
			t.Fatalf("no %s event for %s on the outbox: %v", typ, subject, err)
		}
		return corr
	}

	bad := []struct{ name, id string }{
		{"space", "has space"},
		{"over-long", strings.Repeat("x", 129)},
		{"far too long", strings.Repeat("y", 4000)},
		{"control character (tab)", "tab\there"},
		{"non-ASCII", "zürich-42"},
		{"empty", ""},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			res := send("POST", "/api/v1/residents", c.id, "", register)
			if res.StatusCode != http.StatusCreated {
				t.Fatalf("register with correlation ID %q: %d, want 201", c.id, res.StatusCode)
			}
			used := res.Header.Get("X-Correlation-ID")
			if !schemas.ValidCorrelationID(used) || used == c.id {
				t.Fatalf("answer's X-Correlation-ID %q: want a generated, valid one", used)
			}
			residentID := strings.TrimPrefix(res.Header.Get("Location"), "/api/v1/residents/")
			if got := outboxCorrelation("resident.registered", residentID); got != used {
				t.Errorf("resident.registered carries correlation ID %q, the answer said %q", got, used)
			}

			// Cancelling (DELETE) writes appointment.cancelled the same way.
			reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
			ap, err := h.App.Book(ctx, app.BookingInput{ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen, AccessToken: reg.AccessToken})
			if err != nil {
				t.Fatal(err)
			}
			res = send("DELETE", "/api/v1/appointments/"+ap.Reference, c.id, reg.AccessToken, "")
			if res.StatusCode != http.StatusOK {
				t.Fatalf("cancel with correlation ID %q: %d, want 200", c.id, res.StatusCode)
			}
			used = res.Header.Get("X-Correlation-ID")
			if !schemas.ValidCorrelationID(used) || used == c.id {
				t.Fatalf("answer's X-Correlation-ID %q: want a generated, valid one", used)
			}
			if got := outboxCorrelation("appointment.cancelled", ap.Reference); got != used {
				t.Errorf("appointment.cancelled carries correlation ID %q, the answer said %q", got, used)
			}
		})
	}

	t.Run("a valid ID is kept", func(t *testing.T) {
		res := send("POST", "/api/v1/residents", "client-req-0042", "", register)
		if res.StatusCode != http.StatusCreated || res.Header.Get("X-Correlation-ID") != "client-req-0042" {
			t.Fatalf("%d %q, want 201 with the caller's ID", res.StatusCode, res.Header.Get("X-Correlation-ID"))
		}
		residentID := strings.TrimPrefix(res.Header.Get("Location"), "/api/v1/residents/")
		if got := outboxCorrelation("resident.registered", residentID); got != "client-req-0042" {
			t.Errorf("event carries %q", got)
		}
	})
}
