package web

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

func TestFindingAnAppointmentLocksAfterFiveWrongBirthDatesAndNamesTheHotline(t *testing.T) {
	e := newEnv(t, 7, nil)
	h := e.hub
	reg := h.Resident(t, domain.Date{Year: 1961, Month: 3, Day: 14})
	ap := hubtest.Must[*domain.Appointment](t)(h.App.Book(t.Context(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "dresden", Product: domain.Janssen}))
	c := e.client(t)
	find := func(birth string) page {
		c.get("/termin")
		return c.post("/termin", url.Values{"reference": {ap.Reference}, "birth_date": {birth}})
	}
	for i := range 4 {
		find("0"+strconv.Itoa(i+1)+".01.1961").mustStatus(t, http.StatusNotFound).mustContain(t, "passen nicht zusammen")
	}
	until := h.Clock.Now().Add(15 * time.Minute)
	locked := find("05.01.1961").mustStatus(t, http.StatusTooManyRequests)
	locked.mustContain(t, "gesperrt", "0800 0899 089", langDE.When(until))
	// The right date is refused too, in German and in English, with Retry-After.
	right := find("14.03.1961").mustStatus(t, http.StatusTooManyRequests).mustContain(t, "gesperrt", "0800 0899 089")
	if got := right.header.Get("Retry-After"); got != strconv.Itoa(15*60) {
		t.Errorf("Retry-After %q, want %d", got, 15*60)
	}
	c.get("/termin?lang=en")
	c.post("/termin", url.Values{"reference": {ap.Reference}, "birth_date": {"14.03.1961"}}).
		mustStatus(t, http.StatusTooManyRequests).mustContain(t, "locked until", "0800 0899 089")
	if n := h.Count(t, `SELECT count(*) FROM attempt_log WHERE channel = 'web' AND reference = $1`, ap.Reference); n != 7 {
		t.Errorf("%d audited portal attempts, want 7 (4 failures, 1 lock, 2 refused)", n)
	}
	h.Clock.Advance(15 * time.Minute)
	c.get("/termin?lang=de")
	c.post("/termin", url.Values{"reference": {ap.Reference}, "birth_date": {"14.03.1961"}}).mustStatus(t, http.StatusOK).mustContain(t, ap.Reference)
}
