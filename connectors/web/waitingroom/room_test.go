package waitingroom

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

func TestSecondBrowserWaitsWithPositionOneAndIsAdmittedWhenFirstLeaves(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	first, second := newBrowser(t), newBrowser(t)

	if p := first.get(srv.URL + "/buchen/"); !p.admitted() {
		t.Fatalf("first browser must go straight in: %d %.200q", p.status, p.body)
	}
	p := second.get(srv.URL + "/buchen/")
	mustWait(t, p, 1)
	for _, s := range []string{"Ihre Position", "Your position", `lang="en"`} {
		if !strings.Contains(p.body, s) {
			t.Errorf("waiting page lacks %q", s)
		}
	}
	if second.cookie(srv.URL, cookieTicket) == "" {
		t.Fatal("the waiting browser holds no ticket")
	}
	if p := second.get(srv.URL + "/info"); p.body != "INFO" {
		t.Fatalf("information pages stay open: %q", p.body)
	}
	var st StatusReply
	if err := json.Unmarshal([]byte(second.get(srv.URL+"/warteraum/status").body), &st); err != nil || st.State != "waiting" || st.Position != 1 || st.WaitDE == "" || st.WaitEN == "" {
		t.Fatalf("status: %+v %v", st, err)
	}
	// The first browser keeps its session on later pages.
	if p := first.get(srv.URL + "/buchen/slot"); !p.admitted() {
		t.Fatalf("admitted browser refused on its next page: %d", p.status)
	}
	time.Sleep(100 * time.Millisecond)
	mustWait(t, second.get(srv.URL+"/buchen/"), 1)

	first.leave(srv)
	eventually(t, 3*time.Second, "second browser admitted after the first left", func() bool {
		return second.get(srv.URL + "/buchen/").admitted()
	})
	if p := second.get(srv.URL + "/buchen/next"); !p.admitted() {
		t.Fatal("second browser's session does not hold")
	}
	if p := first.get(srv.URL + "/buchen/"); p.admitted() {
		t.Fatal("the first browser left and must queue again")
	}
}

func TestNextVisitorIsAdmittedWhenSessionExpires(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, func(c *Config) { c.SessionTTL = time.Second })
	srv := serve(t, room)
	first, second := newBrowser(t), newBrowser(t)
	if !first.get(srv.URL + "/buchen/").admitted() {
		t.Fatal("first browser not admitted")
	}
	mustWait(t, second.get(srv.URL+"/buchen/"), 1)
	eventually(t, 4*time.Second, "second browser admitted after the first session expired", func() bool {
		return second.get(srv.URL + "/buchen/").admitted()
	})
	if first.get(srv.URL + "/buchen/").admitted() {
		t.Fatal("an expired session must not admit")
	}
}

// waitingBrowser returns a browser holding a ticket while another holds the
// only session.
func waitingBrowser(t *testing.T, srvURL string) (holder, waiter *browser) {
	holder, waiter = newBrowser(t), newBrowser(t)
	if !holder.get(srvURL + "/buchen/").admitted() {
		t.Fatal("holder not admitted")
	}
	mustWait(t, waiter.get(srvURL+"/buchen/"), -1)
	return holder, waiter
}

func TestForgedTicketIsRefused(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	_, waiter := waitingBrowser(t, srv.URL)
	genuine := waiter.cookie(srv.URL, cookieTicket)
	sid := waiter.cookie(srv.URL, cookieSession)

	forgedPositionOne := room.sign.encodeTicket(ticket{class: classArrival, n: 1, issued: time.Now()}, sid)
	forgedPositionOne = forgedPositionOne[:strings.LastIndexByte(forgedPositionOne, '.')+1] + b64.EncodeToString(make([]byte, 32))
	fields := strings.Split(genuine, ".")
	fields[2] = "0" // jump the queue, keep the old MAC
	cases := map[string]string{
		"bad mac":         genuine[:len(genuine)-2] + "AA",
		"edited number":   strings.Join(fields, "."),
		"made up":         forgedPositionOne,
		"signed by other": signer{secret: []byte("another-secret-of-at-least-32-bytes!!"), room: "booking"}.encodeTicket(ticket{class: classArrival, n: 1, issued: time.Now()}, sid),
		"garbage":         "1.a.1",
	}
	for name, v := range cases {
		b := newBrowser(t)
		b.setCookie(srv.URL, cookieSession, sid)
		b.setCookie(srv.URL, cookieTicket, v)
		p := b.get(srv.URL + "/buchen/")
		if p.status != http.StatusForbidden || p.admitted() || !strings.Contains(p.body, "ungültig") {
			t.Errorf("%s: want 403 refusal, got %d %.200q", name, p.status, p.body)
		}
		if b.cookie(srv.URL, cookieTicket) != "" {
			t.Errorf("%s: the forged ticket cookie must be cleared", name)
		}
	}
}

func TestTicketCopiedToAnotherBrowserIsRefused(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	holder, waiter := waitingBrowser(t, srv.URL)
	stolen := waiter.cookie(srv.URL, cookieTicket)

	fresh := newBrowser(t) // never visited: the gate gives it its own session
	fresh.setCookie(srv.URL, cookieTicket, stolen)
	own := newBrowser(t) // has its own session and ticket already
	mustWait(t, own.get(srv.URL+"/buchen/"), 2)
	own.setCookie(srv.URL, cookieTicket, stolen)
	for name, b := range map[string]*browser{"fresh": fresh, "own session": own} {
		p := b.get(srv.URL + "/buchen/")
		if p.status != http.StatusForbidden || !strings.Contains(p.body, "anderen Browser") {
			t.Errorf("%s: want 403 (other browser), got %d %.200q", name, p.status, p.body)
		}
	}
	// Even when the ticket is called, the copy admits nobody, and the
	// original still works.
	holder.leave(srv)
	time.Sleep(200 * time.Millisecond)
	thief := newBrowser(t)
	thief.setCookie(srv.URL, cookieTicket, stolen)
	if p := thief.get(srv.URL + "/buchen/"); p.admitted() || p.status != http.StatusForbidden {
		t.Fatalf("copied called ticket: %d %.100q", p.status, p.body)
	}
	eventually(t, 3*time.Second, "owner admitted", func() bool { return waiter.get(srv.URL + "/buchen/").admitted() })
}

func TestTicketUsedTwiceAdmitsOnce(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	holder, waiter := waitingBrowser(t, srv.URL)
	sid, tk := waiter.cookie(srv.URL, cookieSession), waiter.cookie(srv.URL, cookieTicket)

	limit := 10 // plenty of room: a refusal below is the ticket's, not the limit's
	if err := room.Change(context.Background(), Settings{SessionLimit: &limit}); err != nil {
		t.Fatal(err)
	}
	holder.leave(srv)
	eventually(t, 3*time.Second, "ticket holder admitted", func() bool { return waiter.get(srv.URL + "/buchen/").admitted() })
	if waiter.cookie(srv.URL, cookieTicket) != "" {
		t.Error("the ticket cookie must be cleared on admission")
	}

	for _, name := range []string{"same browser, pass deleted", "same browser, after leaving"} {
		replay := newBrowser(t)
		replay.setCookie(srv.URL, cookieSession, sid)
		replay.setCookie(srv.URL, cookieTicket, tk)
		p := replay.get(srv.URL + "/buchen/")
		if p.admitted() || p.status != http.StatusConflict || !strings.Contains(p.body, "bereits") {
			t.Errorf("%s: replayed ticket: want 409, got %d %.200q", name, p.status, p.body)
		}
		waiter.leave(srv)
	}
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM waiting_room_sessions WHERE ticket_rank IS NOT NULL`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("admissions bought by the ticket: %d (%v), want 1", n, err)
	}
}

func TestTwoReplicasShareOneQueue(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	replicas := []*Room{startRoom(t, pool, nil), startRoom(t, pool, nil)}
	srvs := []string{serve(t, replicas[0]).URL, serve(t, replicas[1]).URL}

	holder := newBrowser(t)
	if !holder.get(srvs[0] + "/buchen/").admitted() {
		t.Fatal("holder not admitted")
	}
	const n = 4
	queue := make([]*browser, n)
	for i := range queue {
		queue[i] = newBrowser(t)
		p := queue[i].get(srvs[i%2] + "/buchen/") // arrivals alternate between the replicas
		mustWait(t, p, i+1)
	}
	// Each replica shows the same position for a ticket the other issued.
	for i, b := range queue {
		mustWait(t, b.get(srvs[(i+1)%2]+"/buchen/"), i+1)
	}
	current, via := holder, srvs[0]
	for i, b := range queue {
		current.get(via + "/buchen/") // still admitted, or not: either way it now leaves
		current.do(http.MethodPost, via+"/buchen-ende")
		eventually(t, 3*time.Second, "next in arrival order admitted", func() bool {
			return b.get(srvs[(i+1)%2] + "/buchen/").admitted()
		})
		time.Sleep(3 * 20 * time.Millisecond) // both replicas' snapshots catch up (Tick 20 ms)
		for j := i + 1; j < n; j++ {
			if p := queue[j].get(srvs[j%2] + "/buchen/"); p.admitted() {
				t.Fatalf("browser %d admitted before browser %d", j, i)
			} else {
				mustWait(t, p, j-i)
			}
		}
		current, via = b, srvs[(i+1)%2]
	}
}

func TestPauseStopsAdmissionsAndResumeContinues(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	holder, waiter := waitingBrowser(t, srv.URL)

	put := func(body string) Stats {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/waiting-room", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s Stats
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d", body, resp.StatusCode)
		}
		_ = json.NewDecoder(resp.Body).Decode(&s)
		return s
	}
	if s := put(`{"paused": true}`); !s.Paused {
		t.Fatalf("not paused: %+v", s)
	}
	holder.leave(srv)
	time.Sleep(400 * time.Millisecond) // 20 ticks
	p := waiter.get(srv.URL + "/buchen/")
	mustWait(t, p, -1)
	if !strings.Contains(p.body, "angehalten") {
		t.Fatalf("paused page does not say so: %s", p.body)
	}
	if newBrowser(t).get(srv.URL + "/buchen/").admitted() {
		t.Fatal("a new visitor was admitted while paused")
	}
	if s := put(`{"paused": false}`); s.Paused {
		t.Fatal("not resumed")
	}
	eventually(t, 3*time.Second, "admitted after resume", func() bool { return waiter.get(srv.URL + "/buchen/").admitted() })

	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/waiting-room", strings.NewReader(`{"session_limit": -1}`))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("negative limit: %v %v", resp.StatusCode, err)
	}
}

func TestAdmissionRateNeverExceedsCapacity(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	const capacity = 25.0
	room := startRoom(t, pool, func(c *Config) {
		c.Capacity = FixedCapacity(capacity)
		c.SessionLimit = 10_000
		c.Tick = 50 * time.Millisecond
	})
	ctx := context.Background()
	paused, running := true, false
	if err := room.Change(ctx, Settings{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	for range 200 {
		if _, err := room.issueTicket(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := room.Change(ctx, Settings{Paused: &running}); err != nil {
		t.Fatal(err)
	}
	type point struct {
		at time.Time
		up int64
	}
	var pts []point
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(25 * time.Millisecond) {
		var p point
		if err := pool.QueryRow(ctx, `SELECT admitted_up_to, clock_timestamp() FROM waiting_room_state WHERE room = 'booking'`).Scan(&p.up, &p.at); err != nil {
			t.Fatal(err)
		}
		pts = append(pts, p)
	}
	burst := room.burst(capacity)
	for i := range pts {
		for j := i + 1; j < len(pts); j++ {
			dt := pts[j].at.Sub(pts[i].at).Seconds()
			// +1 for the tick in flight before pts[i] was read
			if got, limit := float64(pts[j].up-pts[i].up), capacity*(dt+0.06)+burst+1; got > limit {
				t.Fatalf("admitted %v in %.3fs, capacity allows %.1f", got, dt, limit)
			}
		}
	}
	first, last := pts[0], pts[len(pts)-1]
	rate := float64(last.up-first.up) / last.at.Sub(first.at).Seconds()
	if rate < 0.8*capacity {
		t.Fatalf("admission rate %.1f/s does not follow capacity %.0f/s", rate, capacity)
	}
	t.Logf("admission rate %.2f/s at capacity %.0f/s", rate, capacity)
}

// The waiting page updates itself by an external script from the room (the
// CSP allows 'self' scripts and no inline one), never by a timed reload.
func TestWaitingPageLoadsItsScriptAndChecksNowWithoutIt(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	room := startRoom(t, pool, nil)
	srv := serve(t, room)
	first, second := newBrowser(t), newBrowser(t)
	if p := first.get(srv.URL + "/buchen/termine?zentrum=dresden"); !p.admitted() {
		t.Fatalf("first browser must go straight in: %d", p.status)
	}
	resp, err := second.client.Get(srv.URL + "/buchen/termine?zentrum=dresden")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	p := page{status: resp.StatusCode, body: string(body)}
	mustWait(t, p, 1)
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q must allow the room's own script and no inline one", csp)
	}
	if !strings.Contains(p.body, `href="/buchen/termine?zentrum=dresden">Jetzt prüfen</a>`) || !strings.Contains(p.body, ">Check now</a>") {
		t.Errorf("the check-now link must GET the same address: %s", p.body)
	}
	if resp.Header.Get("Refresh") != "" {
		t.Errorf("no Refresh header: %q", resp.Header.Get("Refresh"))
	}

	sr, err := second.client.Get(srv.URL + ScriptPath)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := io.ReadAll(sr.Body)
	_ = sr.Body.Close()
	if sr.StatusCode != http.StatusOK || !strings.HasPrefix(sr.Header.Get("Content-Type"), "text/javascript") ||
		!strings.Contains(string(js), "data-status") || !strings.Contains(string(js), "location.replace") {
		t.Fatalf("script: %d %q %.100q", sr.StatusCode, sr.Header.Get("Content-Type"), js)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+ScriptPath, nil)
	req.Header.Set("If-None-Match", sr.Header.Get("ETag"))
	if r2, err := http.DefaultClient.Do(req); err != nil || r2.StatusCode != http.StatusNotModified {
		t.Fatalf("script revalidation: %v %v", r2, err)
	} else {
		_ = r2.Body.Close()
	}
}
