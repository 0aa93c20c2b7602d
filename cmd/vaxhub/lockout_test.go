package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/simulators/caller"
)

// freeSIPPort returns a port free on 127.0.0.1 for both UDP and TCP.
func freeSIPPort(t *testing.T) int {
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

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// portalFind fills in the portal's /termin form like a browser without
// JavaScript: it loads the form (session cookie, CSRF token) and posts it.
func portalFind(t *testing.T, c *http.Client, base, ref, birth string) (int, http.Header, string) {
	t.Helper()
	res, err := c.Get(base + "/termin")
	if err != nil {
		t.Fatal(err)
	}
	form, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfField.FindSubmatch(form)
	if m == nil {
		t.Fatalf("GET /termin %d: no CSRF token\n%s", res.StatusCode, form)
	}
	res, err = c.PostForm(base+"/termin", url.Values{"csrf": {string(m[1])}, "reference": {ref}, "birth_date": {birth}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// apiIdentify posts a date of birth to the API's identify endpoint.
func apiIdentify(t *testing.T, base, ref, birth string) (int, http.Header, string) {
	t.Helper()
	res, err := http.Post(base+"/api/v1/appointments/"+ref+"/identify", "application/json",
		strings.NewReader(`{"date_of_birth":"`+birth+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// TestBirthDateGuessingLocksTheReferenceAcrossChannels builds the hub as
// `vaxhub run` does (core, event backbone with the embedded broker and the
// audit trail, portal and API behind one HTTP handler, IVR over SIP/UDP)
// and guesses a resident's date of birth: 3 wrong dates on the portal and 2
// on the API lock the reference; then the right date is refused on the
// IVR, the portal and the API, and the lock is audited and announced.
func TestBirthDateGuessingLocksTheReferenceAcrossChannels(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_CONFIG", "")
	t.Setenv("VAXHUB_SIM_AGENTS", "off") // no agent phones on fixed ports; the IVR says nobody is free
	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", t.TempDir()}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KafkaAddr = "127.0.0.1:0"
	cfg.SlotDays = 3
	hotlineAddr := "127.0.0.1:" + strconv.Itoa(freeSIPPort(t))
	cfg.values(hotline.Spec)["addr"] = hotlineAddr
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	parts, err := openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer parts.pool.Close()
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	stopBackbone, _, err := startBackbone(ctx, cfg, parts, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
		defer cancel()
		_ = stopBackbone(sctx)
	}()
	front, err := frontDoor(ctx, cfg, parts, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(front)
	defer srv.Close()

	// A resident with an appointment (set up through the use cases).
	a := parts.app
	birth := domain.Date{Year: 1950, Month: 6, Day: 17}
	r, err := a.RegisterResident(ctx, app.Registration{Resident: domain.Resident{GivenNames: "Zoë", FamilyName: "Nguyễn", BirthDate: birth,
		Sex: domain.SexFemale, Address: domain.Address{Street: "Hauptstraße 1", PostalCode: "01587", City: "Riesa", MunicipalityKey: "14627230"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.VerifyByHand(ctx, r.Resident.ID, "test", "ID card seen"); err != nil {
		t.Fatal(err)
	}
	today := domain.DateOf(a.Now().In(cfg.loc))
	if _, err := a.RecordDelivery(ctx, app.Delivery{CentreID: "riesa", Product: domain.Janssen, Doses: 10, Arrives: today}); err != nil {
		t.Fatal(err)
	}
	ap, err := a.Book(ctx, app.BookingInput{Staff: true, ResidentID: r.Resident.ID, CentreID: "riesa", Product: domain.Janssen})
	if err != nil {
		t.Fatal(err)
	}
	ref := ap.Reference

	// 3 wrong dates on the portal, 2 on the API: the 5th failure locks.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	for i := 1; i <= 3; i++ {
		if status, _, body := portalFind(t, browser, srv.URL, ref, fmt.Sprintf("%02d.06.1950", i)); status != http.StatusNotFound {
			t.Fatalf("portal, wrong date %d: %d\n%s", i, status, body)
		}
	}
	if status, _, body := apiIdentify(t, srv.URL, ref, "1950-06-04"); status != http.StatusNotFound {
		t.Fatalf("API, 4th wrong date: %d %s", status, body)
	}
	status, hdr, body := apiIdentify(t, srv.URL, ref, "1950-06-05")
	var p struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
	}
	if status != http.StatusTooManyRequests || json.Unmarshal([]byte(body), &p) != nil || p.Code != "locked" || hdr.Get("Retry-After") == "" {
		t.Fatalf("API, 5th wrong date: %d %v %s; want 429 locked with Retry-After", status, hdr, body)
	}

	// The right date on the IVR over SIP/UDP: refused, the caller goes to the agent queue.
	steps, err := caller.ParseScript("wait 500ms, press 2, wait 300ms, enter " + ref + "#, wait 300ms, enter 17061950")
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(ctx, 90*time.Second)
	defer ccancel()
	res, err := caller.Call(cctx, caller.Config{Target: "sip:116117@" + hotlineAddr, KeyGap: 60 * time.Millisecond, WaitEnd: 60 * time.Second}, steps)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Answered || !res.RemoteHangup {
		t.Fatalf("call: %+v, want answered and ended by the IVR", res)
	}
	count := func(sql string, args ...any) int {
		t.Helper()
		var n int
		if err := parts.pool.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(`SELECT count(*) FROM outbox WHERE event_type = 'call.step'
		AND payload->'data'->>'step' = 'identify' AND payload->'data'->>'result' = 'locked'`); n != 1 {
		t.Errorf("%d identify/locked call steps, want 1", n)
	}
	if n := count(`SELECT count(*) FROM outbox WHERE event_type = 'call.step' AND payload->'data'->>'step' = 'hear'`); n != 0 {
		t.Error("the IVR read the appointment out to a locked caller")
	}

	// The right date on the portal and the API: refused, with the hotline number.
	status, hdr, body = portalFind(t, browser, srv.URL, ref, "17.06.1950")
	if status != http.StatusTooManyRequests || !strings.Contains(body, "0800 0899 089") || !strings.Contains(body, "gesperrt") || hdr.Get("Retry-After") == "" {
		t.Fatalf("portal, right date while locked: %d %v\n%s", status, hdr, body)
	}
	if strings.Contains(body, "Hauptstraße") || strings.Contains(body, "Nguyễn") {
		t.Fatal("the locked portal page shows the resident's data")
	}
	if status, _, body := apiIdentify(t, srv.URL, ref, "1950-06-17"); status != http.StatusTooManyRequests {
		t.Fatalf("API, right date while locked: %d %s", status, body)
	}

	// Audited: every failure and the lock, by channel; the refusals too.
	got := map[string]int{}
	rows, err := parts.pool.Query(ctx, `SELECT channel || '/' || outcome, count(*) FROM attempt_log WHERE reference = $1 GROUP BY 1`, ref)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		got[k] = n
	}
	want := map[string]int{"web/failure": 3, "api/failure": 1, "api/locked": 1, "phone/refused": 1, "web/refused": 1, "api/refused": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audited attempts %v, want %v", got, want)
	}
	// One resident.lockout, without personal data, relayed to the broker and in the audit trail.
	var data map[string]any
	if err := parts.pool.QueryRow(ctx, `SELECT payload->'data' FROM outbox WHERE event_type = 'resident.lockout'`).Scan(&data); err != nil {
		t.Fatalf("resident.lockout: %v", err)
	}
	if data["resident_id"] != r.Resident.ID || data["reference"] != ref || data["channel"] != "api" || data["failures"] != 5.0 {
		t.Errorf("resident.lockout data %v", data)
	}
	deadline := time.Now().Add(25 * time.Second)
	for count(`SELECT count(*) FROM audit_events WHERE type = 'resident.lockout' AND subject = $1`, r.Resident.ID) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("resident.lockout did not reach the audit trail within 25 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
