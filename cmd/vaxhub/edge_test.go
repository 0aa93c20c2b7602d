package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// hubHTTP starts the hub's HTTP side as cmdRun builds it (configuration,
// core, campaign, portal with its waiting room, buildHTTP) on a free port of
// 127.0.0.1, without the backbone.
func hubHTTP(t *testing.T, configYAML string) (base string, pp *portalParts, parts *hubParts) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "vaxhub.yaml")
	if err := os.WriteFile(file, []byte(configYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAXHUB_CONFIG", file)
	t.Setenv("VAXHUB_REQUIRE_VERIFICATION", "false") // no register connector runs here
	t.Setenv("VAXHUB_STAFF_TOKENS", "desk:"+api.HashToken(edgeStaffToken)+":centre-staff")
	cfg, err := loadConfig([]string{"-database-url", storetest.NewDatabase(t), "-data-dir", t.TempDir()}, modeRun)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SlotDays = 2
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	parts, err = openCore(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(parts.pool.Close)
	if _, err := loadCampaign(ctx, cfg, parts, log); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	pp, err = startPortal(ctx, cfg, parts, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	mob, err := app.NewMobile(parts.app, parts.store)
	if err != nil {
		t.Fatal(err)
	}
	handler, err := buildHTTP(cfg, parts, pp, mob, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { hs.Close() })
	return "http://" + ln.Addr().String(), pp, parts
}

const edgeStaffToken = "desk-token-for-the-edge-test"

// from is an HTTP client whose connections come from ip (any 127.0.0.0/8
// address reaches the server on 127.0.0.1), i.e. a distinct client address.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 200}}
}

type edgeReply struct {
	status int
	header http.Header
	body   []byte
}

func (r edgeReply) problem(t *testing.T) map[string]any {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%d answer is %q, want a problem document: %s", r.status, ct, r.body)
	}
	var p map[string]any
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func edgeCall(t *testing.T, c *http.Client, method, url, token, body string, header ...string) edgeReply {
	t.Helper()
	r, err := edgeTry(c, method, url, token, body, header...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

// edgeTry is edgeCall for goroutines (which must not call t.Fatal).
func edgeTry(c *http.Client, method, url, token, body string, header ...string) (edgeReply, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return edgeReply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		return edgeReply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return edgeReply{res.StatusCode, res.Header, b}, err
}

func residentBody(i int) string {
	return fmt.Sprintf(`{"given_names":"Zoë","family_name":"Nguyễn","birth_date":"19%02d-%02d-%02d","sex":"f",
		"address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"}}`, 30+i%40, 1+i%12, 1+i%28)
}

type registered struct {
	Resident struct {
		ID string `json:"id"`
	} `json:"resident"`
	AccessToken string `json:"access_token"`
}

func registerResident(t *testing.T, c *http.Client, base string, i int) registered {
	t.Helper()
	r := edgeCall(t, c, "POST", base+"/api/v1/residents", "", residentBody(i))
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var reg registered
	if err := json.Unmarshal(r.body, &reg); err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestPublicAPIIsRateLimitedAndQueuedLikeThePortal runs the hub's HTTP side
// as `vaxhub run` builds it: a burst of registrations from one address is cut
// off with 429 problems that say when to retry, while another address and a
// staff token still get through; with the waiting room holding the queue, a
// resident's booking without an admission gets 429 with its ticket and
// position URL, and once called the ticket books; staff are never queued;
// a booking let in while nobody waits leaves no admission open.
//
// The per-address limit is configured to refill slowly (0.5/s, burst 100)
// instead of the default 20/s: on a loaded test machine the server reads a
// burst of 150 registrations over several seconds, and at 20/s it would
// rightly refill as fast as they come. The default figures are tested with a
// controlled clock in connectors/api (TestPublicLimitsUseThePortalsFigures).
func TestPublicAPIIsRateLimitedAndQueuedLikeThePortal(t *testing.T) {
	base, pp, parts := hubHTTP(t, "api_limits:\n  address_rate: 0.5\n  address_burst: 100\n")
	ctx := context.Background()
	one, other, third := from("127.0.0.1"), from("127.0.0.2"), from("127.0.0.3")

	// A burst from one address.
	const burst = 150
	var wg sync.WaitGroup
	replies := make([]edgeReply, burst)
	start := time.Now()
	for i := range burst {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r, err := edgeTry(one, "POST", base+"/api/v1/residents", "", residentBody(i))
			if err != nil {
				t.Errorf("burst request %d: %v", i, err)
			}
			replies[i] = r
		}(i)
	}
	wg.Wait()
	took := time.Since(start)
	accepted, limited := 0, 0
	for _, r := range replies {
		switch r.status {
		case http.StatusCreated:
			accepted++
		case http.StatusTooManyRequests:
			limited++
			p := r.problem(t)
			if p["type"] != "/problems/rate-limited" || p["status"] != float64(429) {
				t.Errorf("429 problem %s", r.body)
			}
			if s, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 with Retry-After %q", r.header.Get("Retry-After"))
			}
		case 0: // a transport error, reported above
		default:
			t.Errorf("burst: unexpected %d %s", r.status, r.body)
		}
	}
	// 100 at once, refilled at 0.5/s while the burst lasts.
	if most := 100 + int(0.5*took.Seconds()) + 1; limited == 0 || accepted > most {
		t.Fatalf("burst of %d in %v from one address: %d accepted, %d refused; want at most %d accepted", burst, took, accepted, limited, most)
	}
	t.Logf("burst of %d registrations in %v from one address: %d accepted, %d refused with 429", burst, took, accepted, limited)
	// Drain the address's bucket again with cheap reads; then a staff token
	// from the same address is still served, an anonymous caller is not.
	drained := false
	for range 300 {
		if r := edgeCall(t, one, "GET", base+"/api/v1/products", "", ""); r.status == http.StatusTooManyRequests {
			drained = true
			break
		}
	}
	if !drained {
		t.Fatal("300 reads from one address were all served")
	}
	if r := edgeCall(t, one, "GET", base+"/api/v1/centres", edgeStaffToken, ""); r.status != http.StatusOK {
		t.Fatalf("staff token from the limited address: %d, want 200 (staff are not under the public limits)", r.status)
	}
	if r := edgeCall(t, one, "GET", base+"/api/v1/centres", "", ""); r.status != http.StatusTooManyRequests {
		t.Fatalf("anonymous from the limited address: %d, want 429", r.status)
	}
	alice := registerResident(t, other, base, 200) // another address still gets through
	bob := registerResident(t, third, base, 201)
	carol := registerResident(t, third, base, 202)

	book := func(c *http.Client, token, residentID string, header ...string) edgeReply {
		return edgeCall(t, c, "POST", base+"/api/v1/appointments", token, `{"resident_id":"`+residentID+`","centre_id":"riesa","product":"janssen"}`, header...)
	}
	openSessions := func() int {
		var n int
		if err := parts.pool.QueryRow(ctx, `SELECT count(*) FROM waiting_room_sessions WHERE ended_at IS NULL AND expires_at > now()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	// Nobody waits: the booking goes straight through and holds no session.
	if r := book(third, carol.AccessToken, carol.Resident.ID); r.status != http.StatusCreated {
		t.Fatalf("booking while nobody waits: %d %s", r.status, r.body)
	}
	if n := openSessions(); n != 0 {
		t.Errorf("%d admission sessions left open by a direct booking", n)
	}

	// The room holds the queue.
	paused := true
	if err := pp.room.Change(ctx, waitingroom.Settings{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	r := book(other, alice.AccessToken, alice.Resident.ID)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("booking without an admission while the room queues: %d %s", r.status, r.body)
	}
	p := r.problem(t)
	pos, _ := p["position_url"].(string)
	ticket, _ := p["ticket"].(string)
	if p["type"] != "/problems/waiting-room" || !strings.HasPrefix(pos, api.WaitingRoomPath) || ticket == "" {
		t.Fatalf("waiting-room problem %s", r.body)
	}
	if r.header.Get("Location") != pos || r.header.Get("Retry-After") == "" || r.header.Get(api.HeaderWaitingRoomTicket) != ticket {
		t.Errorf("waiting-room answer headers %v", r.header)
	}
	var st api.RoomPosition
	if r := edgeCall(t, other, "GET", base+pos, alice.AccessToken, ""); r.status != http.StatusOK || json.Unmarshal(r.body, &st) != nil || st.State != "waiting" || !st.Paused {
		t.Fatalf("position while paused: %d %s", r.status, r.body)
	}
	// Joining the waitlist books by itself when places free up: it waits too.
	if r := edgeCall(t, third, "POST", base+"/api/v1/waitlist", bob.AccessToken, `{"resident_id":"`+bob.Resident.ID+`","centre_id":"riesa"}`); r.status != http.StatusTooManyRequests {
		t.Errorf("joining the waitlist without an admission while the room queues: %d %s, want 429", r.status, r.body)
	}
	if r := edgeCall(t, third, "GET", base+pos, bob.AccessToken, ""); r.status != http.StatusForbidden {
		t.Errorf("someone else's ticket read with bob's token: %d %s, want 403", r.status, r.body)
	}
	if r := book(third, bob.AccessToken, bob.Resident.ID, api.HeaderWaitingRoomTicket, ticket); r.status != http.StatusForbidden {
		t.Errorf("alice's ticket presented by bob: %d %s, want 403", r.status, r.body)
	}

	// Staff are not queued.
	if r := book(third, edgeStaffToken, bob.Resident.ID); r.status != http.StatusCreated {
		t.Fatalf("staff booking while the room queues: %d %s", r.status, r.body)
	}

	// The room lets people in again; alice's ticket is called and books.
	paused = false
	if err := pp.room.Change(ctx, waitingroom.Settings{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for st.State != "called" {
		if time.Now().After(deadline) {
			t.Fatalf("ticket not called within 15 s: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
		r := edgeCall(t, other, "GET", base+pos, alice.AccessToken, "")
		if r.status != http.StatusOK || json.Unmarshal(r.body, &st) != nil {
			t.Fatalf("position: %d %s", r.status, r.body)
		}
	}
	if r := book(other, alice.AccessToken, alice.Resident.ID, api.HeaderWaitingRoomTicket, ticket); r.status != http.StatusCreated {
		t.Fatalf("booking with the called ticket: %d %s", r.status, r.body)
	}
	if n := openSessions(); n != 0 {
		t.Errorf("%d admission sessions still open after the booking", n)
	}
	if r := book(other, alice.AccessToken, alice.Resident.ID, api.HeaderWaitingRoomTicket, ticket); r.status != http.StatusForbidden {
		t.Errorf("the ticket presented again: %d %s, want 403", r.status, r.body)
	}
}
