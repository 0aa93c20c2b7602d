package main

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

func TestEndOfDayMarksTheDaysNoShowsAfterClosing(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 9, 0), 5)
	h.Slot(t, h.At(day.AddDays(1), 9, 0), 5)
	h.Deliver(t, "test", domain.Janssen, 5, day)
	book := func(start time.Time) *domain.Appointment {
		reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
		ap, err := h.App.Book(context.Background(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen, SlotStart: start})
		if err != nil {
			t.Fatal(err)
		}
		return ap
	}
	missed, tomorrow := book(h.At(day, 9, 0)), book(h.At(day.AddDays(1), 9, 0))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(at time.Time) {
		h.Clock.Set(at)
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		runEndOfDay(ctx, h.App, log)
	}
	status := func(ref string) domain.SeriesStatus {
		ap, err := h.App.Appointment(context.Background(), ref)
		if err != nil {
			t.Fatal(err)
		}
		return ap.Status
	}
	run(h.At(day, 19, 0)) // the centre is still open
	if s := status(missed.Reference); s != domain.SeriesBooked {
		t.Fatalf("before closing: %s, want booked", s)
	}
	run(h.At(day, 21, 30))
	if s := status(missed.Reference); s != domain.SeriesNoShow {
		t.Errorf("after the end of the day: %s, want no-show", s)
	}
	if s := status(tomorrow.Reference); s != domain.SeriesBooked {
		t.Errorf("tomorrow's appointment: %s, want booked", s)
	}
}
