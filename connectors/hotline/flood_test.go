package hotline

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// pcmuOffer is an SDP offer with PCMU and telephone-event, from ip.
func pcmuOffer(ip string) string {
	return "v=0\r\no=- 1 1 IN IP4 " + ip + "\r\ns=-\r\nc=IN IP4 " + ip + "\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
}

// gauge reads vaxhub_hotline_calls_in_progress from reg.
func gauge(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Error(err)
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == "vaxhub_hotline_calls_in_progress" {
			return int(mf.GetMetric()[0].GetGauge().GetValue())
		}
	}
	t.Error("no vaxhub_hotline_calls_in_progress")
	return -1
}

// header returns the value of the first header name (with colon) in msg.
func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestINVITEFloodFromOneSourceLeavesRoomForOthers: one address sends 300
// INVITEs with a G.711 offer and never an ACK, within 3 s. The IVR answers
// at most MaxCallsPerSource of them and refuses the rest with 503 without
// counting them; the calls it answered are given up once AckTimeout passes.
// A caller from another address is answered at once during the flood, and
// the gauge is back at 0 a few seconds after it.
func TestINVITEFloodFromOneSourceLeavesRoomForOthers(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	l := startIVR(t, nil, func(c *Config) {
		c.CallsPerSecondPerSource, c.BurstPerSource = 0, 0 // the production defaults
		c.Registerer = reg
	})
	perSource := l.ivr.cfg.MaxCallsPerSource

	// Sample the gauge every 5 ms from the start of the flood to its end.
	var maxSeen atomic.Int64
	stopSampling := make(chan struct{})
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			if n := int64(gauge(t, reg)); n > maxSeen.Load() {
				maxSeen.Store(n)
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()

	// The flood, from 127.0.0.1; its answers are counted by status.
	flood := newSIPUDP(t, l.addr)
	var mu sync.Mutex
	statuses := map[int]int{} // final status -> distinct Call-IDs
	seen := map[string]bool{}
	retryAfter := 0
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 65535)
		for {
			_ = flood.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, err := flood.conn.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			if !strings.HasPrefix(msg, "SIP/2.0 ") {
				continue
			}
			code, _ := strconv.Atoi(strings.Fields(msg)[1])
			cid := header(msg, "Call-ID")
			mu.Lock()
			if code >= 200 && !seen[cid] {
				seen[cid] = true
				statuses[code]++
				if code == 503 && header(msg, "Retry-After") != "" {
					retryAfter++
				}
			}
			mu.Unlock()
		}
	}()
	const floodSize = 300
	var setup time.Duration
	var otherStatus string
	for i := range floodSize {
		flood.send(flood.request("INVITE", fmt.Sprintf("flood-%d", i), pcmuOffer("127.0.0.1")))
		if i == floodSize/2 { // mid-flood, a caller from another address
			setup, otherStatus = callFromOtherSource(t, l)
		}
		time.Sleep(10 * time.Millisecond)
	}
	floodEnd := time.Now()
	close(stopSampling)
	sampling.Wait()

	if otherStatus != "SIP/2.0 200 OK" {
		t.Fatalf("the caller from 127.0.0.2 got %q during the flood, want 200 OK", otherStatus)
	}
	t.Logf("caller from 127.0.0.2 answered in %s during the flood", setup.Round(time.Millisecond))
	if setup > 500*time.Millisecond {
		t.Errorf("the caller from 127.0.0.2 waited %s for the answer, want under 500 ms", setup)
	}
	// The flood's own calls never exceed the per-source cap (+1: the other caller).
	if got := int(maxSeen.Load()); got > perSource+1 {
		t.Errorf("calls in progress reached %d during the flood, want at most %d (per source) + 1 (the other caller)", got, perSource)
	} else {
		t.Logf("calls in progress peaked at %d (per-source cap %d)", got, perSource)
	}
	// Every call of the flood is given up: the gauge is back at 0 within a
	// few seconds (AckTimeout and the next 200 OK retransmission).
	var back time.Duration
	for {
		if gauge(t, reg) == 0 {
			back = time.Since(floodEnd)
			break
		}
		if time.Since(floodEnd) > 8*time.Second {
			t.Fatalf("calls in progress still %d 8 s after the flood", gauge(t, reg))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("calls in progress back at 0 %s after the flood", back.Round(time.Millisecond))
	flood.conn.Close() // the IVR retransmits its 503s for 32 s; every first answer is in by now
	<-readDone
	mu.Lock()
	defer mu.Unlock()
	t.Logf("flood of %d INVITEs without ACK answered: %v (%d of the 503s with Retry-After)", floodSize, statuses, retryAfter)
	if statuses[200] > perSource+5*4 || statuses[503] < floodSize/2 || retryAfter != statuses[503] {
		t.Errorf("flood answered %v, %d with Retry-After: want at most %d answered and the rest 503 with Retry-After", statuses, retryAfter, perSource+20)
	}
}

// callFromOtherSource calls from 127.0.0.2: INVITE, then ACK and BYE once
// answered. It returns the time from INVITE to the final response and its
// status line.
func callFromOtherSource(t *testing.T, l *line) (time.Duration, string) {
	t.Helper()
	s := newSIPUDPFrom(t, l.addr, "127.0.0.2")
	inv := s.request("INVITE", "other-source-1", pcmuOffer("127.0.0.2"))
	t0 := time.Now()
	s.send(inv)
	buf := make([]byte, 65535)
	var final string
	for final == "" {
		_ = s.conn.SetReadDeadline(t0.Add(5 * time.Second))
		n, err := s.conn.Read(buf)
		if err != nil {
			return time.Since(t0), "no answer: " + err.Error()
		}
		msg := string(buf[:n])
		if strings.HasPrefix(msg, "SIP/2.0 ") && !strings.HasPrefix(msg, "SIP/2.0 1") {
			final = msg
		}
	}
	setup := time.Since(t0)
	status := final[:strings.Index(final, "\r\n")]
	if !strings.HasPrefix(status, "SIP/2.0 200") {
		return setup, status
	}
	to := header(final, "To")
	for _, m := range []string{"ACK", "BYE"} {
		req := s.request(m, "other-source-1", "")
		req = strings.Replace(req, "To: <sip:116117@"+l.addr+">", "To: "+to, 1)
		req = strings.Replace(req, "branch=z9hG4bK-other-source-1", "branch=z9hG4bK-other-source-1-"+m, 1)
		if m == "BYE" {
			req = strings.Replace(req, "CSeq: 1 BYE", "CSeq: 2 BYE", 1)
		}
		s.send(req)
	}
	return setup, status
}
