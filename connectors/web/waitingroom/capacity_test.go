package waitingroom

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestBookingMeterEstimatesCapacityFromTheBookingPath(t *testing.T) {
	t.Parallel()
	m := &BookingMeter{Parallelism: 2, Initial: 7, MinSamples: 5}
	if got := m.BookingsPerSecond(); got != 7 {
		t.Fatalf("before measurements: %v, want Initial 7", got)
	}
	status := http.StatusCreated
	h := m.MeasureBookings(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond)
		w.WriteHeader(status)
	}))
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/appointments", nil))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/api/v1/appointments", nil)) // not counted
	}
	c := m.BookingsPerSecond() // 2 at once / ~10 ms ≈ 200/s, less for scheduling delay
	if c < 80 || c > 200 {
		t.Fatalf("capacity %v, want about 2/10ms", c)
	}
	status = http.StatusServiceUnavailable
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/appointments", nil))
	}
	if got := m.BookingsPerSecond(); got > c*0.6 {
		t.Fatalf("server errors must lower the capacity: %v after %v", got, c)
	}
	status = http.StatusConflict // the visitor's refusal, not the core's fault
	for range 10 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/api/v1/appointments", nil))
	}
	if m.samples != 10 || m.fail != 10 {
		t.Fatalf("counted %d successes and %d failures, want 10 and 10", m.samples, m.fail)
	}
}

func TestEffectiveRateIsCapacityCappedByOperator(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ capacity, maxRate, want float64 }{
		{100, 0, 100}, {100, 20, 20}, {10, 20, 10}, {-1, 5, 0},
	} {
		if got := effectiveRate(c.capacity, c.maxRate); got != c.want {
			t.Errorf("effectiveRate(%v, %v) = %v, want %v", c.capacity, c.maxRate, got, c.want)
		}
	}
}

func TestTicketRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	s := signer{secret: testSecret, room: "booking"}
	tk := ticket{class: classPreRelease, n: 42, issued: time.UnixMilli(1_621_468_800_123)}
	v := s.encodeTicket(tk, "browser-one-session-id")
	got, err := s.decodeTicket(v, "browser-one-session-id")
	if err != nil || got != tk {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, err := s.decodeTicket(v, "browser-two-session-id"); err != ErrTicketOtherBrowser {
		t.Fatalf("other browser: %v", err)
	}
	if _, err := (signer{secret: testSecret, room: "other"}).decodeTicket(v, "browser-one-session-id"); err != ErrTicketForged {
		t.Fatalf("other room: %v", err)
	}
}
