package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// identify posts a date of birth to /identify and returns status, the
// Retry-After header and the body.
func identify(t *testing.T, base, ref, body string) (int, string, []byte) {
	t.Helper()
	res, err := http.Post(base+"/api/v1/appointments/"+ref+"/identify", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Retry-After"), b
}

func TestIdentifyHolderAnswersTheAppointmentAndLocksAfterFiveFailures(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	h.Slot(t, h.At(day, 10, 0), 5)
	h.Deliver(t, "test", domain.Janssen, 5, day)
	reg := h.Resident(t, domain.Date{Year: 1961, Month: 7, Day: 9})
	ap := hubtest.Must[*domain.Appointment](t)(h.App.Book(t.Context(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "test", Product: domain.Janssen}))
	base := serve(t, h)

	status, _, body := identify(t, base, ap.Reference, `{"date_of_birth":"1961-07-09"}`)
	var got domain.Appointment
	if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.Reference != ap.Reference {
		t.Fatalf("right date: %d %s", status, body)
	}
	for _, c := range []struct{ body, field string }{
		{`{}`, "date_of_birth"}, {`{"date_of_birth":"09.07.1961"}`, "date_of_birth"}, {`{"birth":"1961-07-09"}`, "birth"}, {`[`, "body"},
	} {
		status, _, body := identify(t, base, ap.Reference, c.body)
		var p problem
		if status != http.StatusBadRequest || json.Unmarshal(body, &p) != nil || p.Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.body, status, body, c.field)
		}
	}
	// A wrong date and an unknown reference: the same 404 problem.
	_, _, wrong := identify(t, base, ap.Reference, `{"date_of_birth":"1961-07-10"}`)
	unknownStatus, _, unknown := identify(t, base, domain.NewReference(), `{"date_of_birth":"1961-07-10"}`)
	var pw, pu problem
	if json.Unmarshal(wrong, &pw) != nil || json.Unmarshal(unknown, &pu) != nil || pw != pu || unknownStatus != http.StatusNotFound {
		t.Errorf("wrong date %s, unknown reference %s: want the same 404", wrong, unknown)
	}
	for i := 1; i <= 4; i++ {
		identify(t, base, ap.Reference, `{"date_of_birth":"1961-07-1`+strconv.Itoa(i)+`"}`)
	}
	// The 5th failure locked; now even the right date is refused.
	status, retry, body := identify(t, base, ap.Reference, `{"date_of_birth":"1961-07-09"}`)
	var p problem
	if status != http.StatusTooManyRequests || json.Unmarshal(body, &p) != nil || p.Code != "locked" || p.Status != 429 {
		t.Fatalf("right date after 5 failures: %d %s, want 429 locked", status, body)
	}
	if retry != strconv.Itoa(15*60) {
		t.Errorf("Retry-After %q, want %d", retry, 15*60)
	}
	h.Clock.Advance(15 * time.Minute)
	if status, _, body := identify(t, base, ap.Reference, `{"date_of_birth":"1961-07-09"}`); status != http.StatusOK {
		t.Errorf("after the lock: %d %s", status, body)
	}
	if n := h.Count(t, `SELECT count(*) FROM attempt_log WHERE channel = 'api' AND reference = $1`, ap.Reference); n != 6 {
		t.Errorf("%d audited API attempts on the reference, want 6 (4 failures, 1 lock, 1 refused)", n)
	}
}
