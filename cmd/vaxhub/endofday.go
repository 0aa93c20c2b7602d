package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// endOfDayAt is the local time after which the day's remaining bookings
// are marked as no-shows (the centres close at 20:00).
const endOfDayAt = 21 * time.Hour

// runEndOfDay marks no-shows once a day after endOfDayAt, in the campaign's
// time zone, and at start-up for days that ended while the hub was down.
// Marking is idempotent, so several hub replicas may all run it.
func runEndOfDay(ctx context.Context, a *app.App, log *slog.Logger) {
	var done domain.Date
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		now := a.Now().In(a.Location())
		today := domain.DateOf(now)
		cutoff := today.In(a.Location()).Add(endOfDayAt)
		if now.Before(cutoff) {
			cutoff = cutoff.AddDate(0, 0, -1) // yesterday's end of day
		}
		if day := domain.DateOf(cutoff); day != done {
			n, err := a.EndOfDay(app.WithCorrelationID(ctx, "end-of-day-"+day.String()), "", cutoff)
			if err != nil {
				log.Error("end of day failed; trying again in a minute", "day", day.String(), "err", err)
			} else {
				done = day
				log.Info("end of day: no-shows marked", "day", day.String(), "no_shows", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
