package waitingroom

import (
	"math"
	"net/http"
	"sync"
	"time"
)

// CapacitySource is the core's real booking capacity in bookings per second.
// The room never admits visitors faster than this (one admitted visitor makes
// about one booking); 0 admits nobody.
type CapacitySource interface {
	BookingsPerSecond() float64
}

// FixedCapacity is a constant capacity (tests, benchmarks, or an operator
// who knows the figure).
type FixedCapacity float64

// BookingsPerSecond returns c.
func (c FixedCapacity) BookingsPerSecond() float64 { return float64(c) }

// BookingMeter measures the booking path: wrap MeasureBookings around the
// endpoint that books (web and hotline alike, if both run through this
// process). Its capacity estimate is Little's law: the bookings the core
// can work on at once (Parallelism) divided by the measured service time of
// a successful booking (an exponentially weighted mean), scaled down by the
// share of server errors in the window. When the core slows down under load,
// the service time grows and the admission rate falls with it.
type BookingMeter struct {
	// Parallelism is how many bookings the core processes at once (its
	// booking worker or database pool size). Default 4.
	Parallelism int
	// Initial is the capacity assumed before MinSamples bookings were
	// measured. Default 10/s.
	Initial float64
	// MinSamples before the measurement is trusted. Default 20.
	MinSamples int
	// Window over which throughput and errors are counted. Default 10 s.
	Window time.Duration

	mu       sync.Mutex
	ewma     float64 // seconds per successful booking
	samples  int
	winStart time.Time
	ok, fail int     // in the current window
	prevOK   int     // in the previous window
	prevFail int     // in the previous window
	prevRate float64 // successful bookings per second, previous window
}

const ewmaWeight = 0.1

// MeasureBookings counts successful POSTs (2xx) through next and their
// service time; other methods pass through unmeasured. 5xx responses count
// as failures; 4xx (a refused booking) are the visitor's, not the core's.
func (m *BookingMeter) MeasureBookings(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(sw, r)
		m.observe(sw.status, time.Since(start), time.Now())
	})
}

func (m *BookingMeter) observe(status int, d time.Duration, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(now)
	switch {
	case status >= 200 && status < 300:
		m.ok++
		s := d.Seconds()
		if m.samples == 0 {
			m.ewma = s
		} else {
			m.ewma += ewmaWeight * (s - m.ewma)
		}
		m.samples++
	case status >= 500:
		m.fail++
	}
}

func (m *BookingMeter) window() time.Duration {
	if m.Window <= 0 {
		return 10 * time.Second
	}
	return m.Window
}

func (m *BookingMeter) roll(now time.Time) {
	if m.winStart.IsZero() {
		m.winStart = now
		return
	}
	w := m.window()
	if el := now.Sub(m.winStart); el >= w {
		m.prevOK, m.prevFail, m.prevRate = m.ok, m.fail, float64(m.ok)/el.Seconds()
		if el >= 2*w { // an idle window in between
			m.prevOK, m.prevFail, m.prevRate = 0, 0, 0
		}
		m.ok, m.fail, m.winStart = 0, 0, now
	}
}

// BookingsPerSecond is the estimated booking capacity.
func (m *BookingMeter) BookingsPerSecond() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(time.Now())
	minSamples := m.MinSamples
	if minSamples <= 0 {
		minSamples = 20
	}
	if m.samples < minSamples || m.ewma <= 0 {
		if m.Initial > 0 {
			return m.Initial
		}
		return 10
	}
	par := m.Parallelism
	if par <= 0 {
		par = 4
	}
	c := float64(par) / m.ewma
	ok, fail := m.ok+m.prevOK, m.fail+m.prevFail
	if ok+fail > 0 {
		c *= float64(ok) / float64(ok+fail)
	}
	return c
}

// Throughput is the successful bookings per second in the last full window
// (for the dashboard; the admission rate follows BookingsPerSecond).
func (m *BookingMeter) Throughput() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.roll(time.Now())
	return m.prevRate
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// effectiveRate is the admission rate: the capacity, capped by the
// operator's ceiling; never negative, never NaN.
func effectiveRate(capacity, maxRate float64) float64 {
	if math.IsNaN(capacity) || capacity < 0 {
		capacity = 0
	}
	if maxRate > 0 && maxRate < capacity {
		return maxRate
	}
	return capacity
}
