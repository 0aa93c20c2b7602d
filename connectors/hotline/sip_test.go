package hotline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/simulators/caller"
)

// freePort returns a port free on 127.0.0.1 for both UDP and TCP.
func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		u.Close()
		if err != nil {
			continue
		}
		l.Close()
		return port
	}
	t.Fatal("no free port")
	return 0
}

// 12 April 2021, 08:00 in Dresden: people of 80 and over may book.
func april12(t *testing.T) time.Time {
	return time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t))
}

type line struct {
	ivr  *IVR
	addr string
	hub  *hubtest.Hub
}

// startIVR starts the IVR over hub (a fresh core when nil) on a free port.
func startIVR(t *testing.T, hub *hubtest.Hub, tune func(*Config)) *line {
	t.Helper()
	if hub == nil {
		hub = hubtest.New(t, april12(t))
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	cfg := Config{Addr: addr, FirstDigitTimeout: 3 * time.Second, InterDigitTimeout: 2 * time.Second,
		Events: hub.App, CallsPerSecondPerSource: 100, BurstPerSource: 100}
	if tune != nil {
		tune(&cfg)
	}
	v, err := New(hub.App, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := v.Start(ctx)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); stop() })
	return &line{ivr: v, addr: addr, hub: hub}
}

func (l *line) target() string { return "sip:116117@" + l.addr }

func dial(t *testing.T, l *line, cfg caller.Config, script string) *caller.Result {
	t.Helper()
	steps, err := caller.ParseScript(script)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Target = l.target()
	if cfg.WaitEnd == 0 {
		cfg.WaitEnd = 40 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := caller.Call(ctx, cfg, steps)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// callEvents returns the call events in the outbox, in order, as (type, data).
func (l *line) callEvents(t *testing.T) []map[string]any {
	t.Helper()
	rows, err := l.hub.Pool.Query(context.Background(), `SELECT payload::text FROM outbox WHERE topic = 'vaxhub.call.v1' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// outcome waits for the call.ended event and returns its outcome.
func (l *line) outcome(t *testing.T) (string, []map[string]any) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		evs := l.callEvents(t)
		for _, e := range evs {
			if e["type"] == EventCallEnded {
				return e["data"].(map[string]any)["outcome"].(string), evs
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no call.ended event")
	return "", nil
}

func TestCallerBooksByPhoneEndToEnd(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	l.hub.Saxony(t, 60)
	reg := l.hub.Resident(t, domain.Date{Year: 1940, Month: 5, Day: 1}) // 80, lives in Riesa
	num, _ := RegistrationNumber(reg.Resident.ID)
	began := time.Now()
	defer func() { t.Logf("call took %s", time.Since(began)) }()
	// Everything is typed ahead; barge-in stops each prompt at the first key.
	// The final * cuts the confirmation short (TestBookingConfirmation... checks its content).
	res := dial(t, l, caller.Config{From: "03525123456", KeyGap: 60 * time.Millisecond}, "wait 500ms, press 1, wait 300ms, enter "+num+"#, wait 300ms, enter 01051940#, wait 1500ms, press 1, wait 5s, press *")
	if !res.Answered || !res.RemoteHangup {
		t.Fatalf("call: %+v, want answered and ended by the IVR", res)
	}
	out, evs := l.outcome(t)
	if out != outcomeBooked {
		t.Fatalf("outcome %q, events %v", out, evs)
	}
	if n := l.hub.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.booked' AND payload->'data'->>'resident_id' = $1`, reg.Resident.ID); n != 1 {
		t.Fatalf("%d appointment.booked events for the caller, want 1", n)
	}
	if n := l.hub.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.booked' AND payload->'data'->>'centre_id' = 'riesa'`); n != 1 {
		t.Error("not booked at the caller's home centre (riesa)")
	}
	// No personal data in call events.
	for _, e := range evs {
		b, _ := json.Marshal(e)
		for _, secret := range []string{num, "01051940", "1940-05-01", "03525123456", reg.Resident.ID} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("call event %s contains %q", b, secret)
			}
		}
	}
	if evs[0]["type"] != EventCallStarted {
		t.Errorf("first event %v", evs[0]["type"])
	}
	l.hub.CheckInvariants(t)
}

func TestSIPInfoDigitsAreAnswered200AndUsed(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	// 0 asks for an agent; * barges into the announcement.
	res := dial(t, l, caller.Config{DTMF: caller.DTMFInfo}, "wait 300ms, press 0, wait 300ms, press *")
	if !res.RemoteHangup {
		t.Fatalf("call: %+v", res)
	}
	for _, code := range res.InfoStatus {
		if code != 200 {
			t.Errorf("INFO answered %d, want 200", code)
		}
	}
	if len(res.InfoStatus) != 2 {
		t.Errorf("INFO responses %v", res.InfoStatus)
	}
	if out, evs := l.outcome(t); out != outcomeAgent {
		t.Fatalf("outcome %q, want %s (events %v)", out, outcomeAgent, evs)
	}
}

func TestZeroDurationFirstPacketDigitsOverTCP(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	res := dial(t, l, caller.Config{Transport: "tcp", DTMF: caller.DTMFRFC4733Zero}, "wait 300ms, press 0, wait 300ms, press *")
	if !res.RemoteHangup {
		t.Fatalf("call: %+v", res)
	}
	if out, evs := l.outcome(t); out != outcomeAgent {
		t.Fatalf("outcome %q, want %s (events %v)", out, outcomeAgent, evs)
	}
}

func TestCallerPressingNothingGetsTimeoutsThenHangUp(t *testing.T) {
	t.Parallel()
	full, err := LoadPrompts()
	if err != nil {
		t.Fatal(err)
	}
	l := startIVR(t, nil, func(c *Config) {
		c.FirstDigitTimeout = 300 * time.Millisecond
		c.prompts = full.shortened(150 * time.Millisecond) // timing, not audio, is under test
	})
	res := dial(t, l, caller.Config{}, "")
	if !res.Answered || !res.RemoteHangup {
		t.Fatalf("call: %+v, want the IVR to hang up", res)
	}
	out, evs := l.outcome(t)
	if out != outcomeNoInput {
		t.Fatalf("outcome %q", out)
	}
	noInput := 0
	for _, e := range evs {
		if d, _ := e["data"].(map[string]any); e["type"] == EventCallStep && d["result"] == "no-input" {
			noInput++
		}
	}
	if noInput != 3 {
		t.Errorf("%d no-input steps, want 3", noInput)
	}
	if l.ivr.ActiveCalls() != 0 {
		t.Errorf("%d calls still held", l.ivr.ActiveCalls())
	}
}

// sipUDP sends raw SIP datagrams and reads responses.
type sipUDP struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newSIPUDP(t *testing.T, addr string) *sipUDP { return newSIPUDPFrom(t, addr, "127.0.0.1") }

// newSIPUDPFrom sends from ip (127.0.0.2 is another source on Linux's lo).
func newSIPUDPFrom(t *testing.T, addr, ip string) *sipUDP {
	to, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sipUDP{t: t, conn: c, to: to}
}

func (s *sipUDP) request(method, callID, body string) string {
	local := s.conn.LocalAddr().(*net.UDPAddr)
	ip, port := local.IP.String(), local.Port
	ct := ""
	if body != "" {
		ct = "Content-Type: application/sdp\r\n"
	}
	return fmt.Sprintf("%s sip:116117@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s\r\nFrom: <sip:0351@%s:%d>;tag=t%s\r\nTo: <sip:116117@%s>\r\nCall-ID: %s\r\nCSeq: 1 %s\r\nContact: <sip:0351@%s:%d>\r\nMax-Forwards: 70\r\n%sContent-Length: %d\r\n\r\n%s",
		method, s.to, ip, port, callID, ip, port, callID, s.to, callID, method, ip, port, ct, len(body), body)
}

func (s *sipUDP) send(msg string) {
	if _, err := s.conn.WriteToUDP([]byte(msg), s.to); err != nil {
		s.t.Fatal(err)
	}
}

// final reads responses until a final one (>= 200) for callID and returns its status line.
func (s *sipUDP) final(callID string) string {
	buf := make([]byte, 65535)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_ = s.conn.SetReadDeadline(deadline)
		n, err := s.conn.Read(buf)
		if err != nil {
			s.t.Fatalf("no final response for %s: %v", callID, err)
		}
		msg := string(buf[:n])
		if !strings.Contains(msg, callID) || !strings.HasPrefix(msg, "SIP/2.0 ") {
			continue
		}
		status := msg[:strings.Index(msg, "\r\n")]
		if code, _ := strconv.Atoi(strings.Fields(status)[1]); code >= 200 {
			return status
		}
	}
}

const g729Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"

func TestBadSIPIsAnsweredAndTheNextCallIsUnaffected(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	s := newSIPUDP(t, l.addr)
	s.send("this is not SIP\r\n\r\n")
	s.send("INVITE sip:x SIP/2.0\r\nVia: broken\r\nContent-Length: 99999\r\n\r\n")
	s.send(s.request("PUBLISH", "unknown-method-1", ""))
	if got := s.final("unknown-method-1"); !strings.HasPrefix(got, "SIP/2.0 405") {
		t.Errorf("unknown method answered %q, want 405", got)
	}
	s.send(s.request("INVITE", "no-codec-1", g729Offer))
	if got := s.final("no-codec-1"); !strings.HasPrefix(got, "SIP/2.0 488") {
		t.Errorf("G.729-only offer answered %q, want 488", got)
	}
	s.send(s.request("OPTIONS", "options-1", ""))
	if got := s.final("options-1"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("OPTIONS answered %q", got)
	}
	// A real call still works.
	res := dial(t, l, caller.Config{}, "wait 300ms, press 0, wait 300ms, press *")
	if !res.RemoteHangup {
		t.Fatalf("call after bad input: %+v", res)
	}
}

func TestCallsOverTheRateLimitOfASourceGet503(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, func(c *Config) { c.CallsPerSecondPerSource, c.BurstPerSource = 0.001, 1 })
	s := newSIPUDP(t, l.addr)
	s.send(s.request("INVITE", "rate-1", g729Offer))
	if got := s.final("rate-1"); !strings.HasPrefix(got, "SIP/2.0 488") {
		t.Fatalf("first call answered %q, want 488 (within the limit)", got)
	}
	s.send(s.request("INVITE", "rate-2", g729Offer))
	if got := s.final("rate-2"); !strings.HasPrefix(got, "SIP/2.0 503") {
		t.Fatalf("second call answered %q, want 503", got)
	}
}

// runSIPp drives the IVR at l with SIPp and its bundled RFC 4733 captures,
// one per key of keys ('w' waits 3 s), and waits for the IVR's BYE. It skips
// the test when sipp or the captures are missing.
func runSIPp(t *testing.T, l *line, keys string) {
	t.Helper()
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp is not on PATH (Debian package sip-tester)")
	}
	const pcaps = "/usr/share/sip-tester"
	if _, err := os.Stat(filepath.Join(pcaps, "dtmf_2833_1.pcap")); err != nil {
		t.Skipf("SIPp's DTMF captures are not in %s", pcaps)
	}
	var dtmf strings.Builder
	for i, d := range keys {
		if i > 0 {
			// Between keys only: after the last one SIPp must already wait for BYE.
			dtmf.WriteString("  <pause milliseconds=\"300\"/>\n")
		}
		if d == 'w' {
			dtmf.WriteString("  <pause milliseconds=\"2700\"/>\n")
			continue
		}
		name := map[rune]string{'#': "pound", '*': "star"}[d]
		if name == "" {
			name = string(d)
		}
		fmt.Fprintf(&dtmf, "  <nop><action><exec play_pcap_audio=\"%s/dtmf_2833_%s.pcap\"/></action></nop>\n", pcaps, name)
	}
	tmpl, err := os.ReadFile("testdata/sipp_dtmf.xml")
	if err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(t.TempDir(), "scenario.xml")
	if err := os.WriteFile(scen, bytes.Replace(tmpl, []byte("<!-- DTMF -->"), []byte(dtmf.String()), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, l.addr, "-sf", scen, "-s", "116117", "-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(freePort(t)), "-m", "1", "-nostdin", "-timeout", "45s", "-timeout_error")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp: %v\n%s\nevents: %v", err, tail(out, 1500), l.callEvents(t))
	}
}

// TestSIPpStockDTMFCapturesCancelABooking drives the IVR with SIPp (software
// nobody here wrote) and its bundled RFC 4733 captures, whose first packet has
// duration 0: menu 2, the booking reference, #, the date of birth, 1 to cancel.
func TestSIPpStockDTMFCapturesCancelABooking(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	l.hub.Saxony(t, 60)
	reg := l.hub.Resident(t, domain.Date{Year: 1938, Month: 12, Day: 24})
	ap, err := l.hub.App.Book(context.Background(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa"})
	if err != nil {
		t.Fatal(err)
	}
	runSIPp(t, l, "2"+ap.Reference+"#"+"24121938"+"1")
	got, evs := l.outcome(t)
	if got != outcomeCancelled {
		t.Fatalf("outcome %q, want %s; events %v", got, outcomeCancelled, evs)
	}
	after, err := l.hub.App.Appointment(context.Background(), ap.Reference)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status == ap.Status {
		t.Errorf("appointment still %s after the call", after.Status)
	}
}

// TestSIPpBooksByPhoneAndTheBookingIsFoundThroughTheHTTPAPI: a resident
// whose first booking was cancelled books again by phone with SIPp's stock
// captures (menu 1, old reference, #, date of birth, 1 accepts the offer),
// then finds the new booking through the web API with their own token.
func TestSIPpBooksByPhoneAndTheBookingIsFoundThroughTheHTTPAPI(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, nil)
	l.hub.Saxony(t, 60)
	reg := l.hub.Resident(t, domain.Date{Year: 1931, Month: 3, Day: 7})
	old, err := l.hub.App.Book(context.Background(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.hub.App.Cancel(context.Background(), old.Reference, "resident"); err != nil {
		t.Fatal(err)
	}
	runSIPp(t, l, "1"+old.Reference+"#"+"07031931"+"1"+"w*")
	if got, evs := l.outcome(t); got != outcomeBooked {
		t.Fatalf("outcome %q, want %s; events %v", got, outcomeBooked, evs)
	}
	var ref string
	if err := l.hub.Pool.QueryRow(context.Background(), `SELECT payload->'data'->>'reference' FROM outbox
		WHERE event_type = 'appointment.booked' AND payload->'data'->>'resident_id' = $1 ORDER BY id DESC LIMIT 1`, reg.Resident.ID).Scan(&ref); err != nil {
		t.Fatal(err)
	}
	if ref == old.Reference {
		t.Fatal("no new booking")
	}
	srv, err := api.New(l.hub.App, api.Config{Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(srv)
	defer web.Close()
	req, _ := http.NewRequest("GET", web.URL+"/api/v1/appointments/"+ref, nil)
	req.Header.Set("Authorization", "Bearer "+reg.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got domain.Appointment
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET appointment: %d %v", resp.StatusCode, err)
	}
	if got.Reference != ref || got.Status != domain.SeriesBooked || got.CentreID != "riesa" {
		t.Errorf("API shows %+v", got)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func TestTheIVREndsACallThatGoesOnTooLong(t *testing.T) {
	t.Parallel()
	l := startIVR(t, nil, func(c *Config) { c.MaxCallDuration = 1500 * time.Millisecond; c.FirstDigitTimeout = 10 * time.Second })
	res := dial(t, l, caller.Config{}, "")
	if !res.RemoteHangup || res.Duration > 8*time.Second {
		t.Fatalf("call: %+v, want the IVR to hang up after about 1.5 s", res)
	}
	if out, evs := l.outcome(t); out != outcomeMaxDuration {
		t.Fatalf("outcome %q, events %v", out, evs)
	}
}
