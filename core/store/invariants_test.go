package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// TestCheckInvariantsSeesEveryKindOfCorruption makes sure the checker the
// concurrency tests rely on can fail: each corruption must be reported.
func TestCheckInvariantsSeesEveryKindOfCorruption(t *testing.T) {
	ctx := context.Background()
	corruptions := []struct {
		name, sql, want string
	}{
		{"slot counter", `UPDATE slots SET booked = booked + 1 WHERE booked > 0`, "slot counters match doses"},
		{"delivery counter", `UPDATE deliveries SET reserved = reserved - 1 WHERE reserved > 0`, "delivery counters match doses"},
		{"dose before arrival", `UPDATE deliveries SET arrives_on = arrives_on + 30`, "arrived and not expired"},
		{"two open series", `DROP INDEX appointments_one_open; UPDATE appointments SET resident_id = (SELECT resident_id FROM appointments LIMIT 1)`, "one open series per resident"},
	}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
			h.SingleCentre(t)
			h.OpenRules(t)
			day := h.Today().AddDays(1)
			h.Slot(t, h.At(day, 9, 0), 5)
			h.Deliver(t, "test", domain.Janssen, 5, day)
			for i := 0; i < 2; i++ {
				reg := h.Resident(t, domain.Date{Year: 1950 + i, Month: 1, Day: 1})
				if _, err := h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen}); err != nil {
					t.Fatal(err)
				}
			}
			if broken, err := h.Store.CheckInvariants(ctx); err != nil || len(broken) != 0 {
				t.Fatalf("before corruption: %v %v", broken, err)
			}
			if _, err := h.Pool.Exec(ctx, c.sql); err != nil {
				t.Fatal(err)
			}
			broken, err := h.Store.CheckInvariants(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(broken, "\n"), c.want) {
				t.Errorf("after corrupting the %s: %v, want a line about %q", c.name, broken, c.want)
			}
		})
	}
}
