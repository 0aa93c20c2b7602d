package sms_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
	"github.com/vaxhub/vaxhub/simulators/sms"
)

type gateway struct {
	sim *sms.Sim
	srv *httptest.Server
}

func start(t *testing.T, cfg sms.Config) *gateway {
	t.Helper()
	if cfg.Step == 0 {
		cfg.Step = 20 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	sim, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	return &gateway{sim: sim, srv: srv}
}

func (g *gateway) messagesURL() string {
	return g.srv.URL + "/2010-04-01/Accounts/sim/Messages.json"
}

// send POSTs a form the way Twilio's client libraries do.
func (g *gateway) send(t *testing.T, form url.Values, user, pass string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.messagesURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp, body
}

func get(t *testing.T, u string, out any) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth("sim", "sim")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
	return resp
}

func msg(to, body string) url.Values {
	return url.Values{"To": {to}, "From": {"+4935112345678"}, "Body": {body}}
}

var sidPattern = regexp.MustCompile(`^SM[0-9a-f]{32}$`)

func TestMessageAcceptedAndListed(t *testing.T) {
	g := start(t, sms.Config{Step: time.Hour})
	resp, body := g.send(t, msg("+491511234567", "Ihr Impftermin: morgen 09:15, Messe Dresden."), "sim", "sim")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d, body %v", resp.StatusCode, body)
	}
	sid, _ := body["sid"].(string)
	if !sidPattern.MatchString(sid) || body["status"] != "queued" || body["to"] != "+491511234567" || body["num_segments"] != "1" ||
		body["direction"] != "outbound-api" || body["uri"] != "/2010-04-01/Accounts/sim/Messages/"+sid+".json" {
		t.Fatalf("answer %v", body)
	}
	g.send(t, msg("+491700000001", "someone else"), "sim", "sim")

	var one map[string]any
	if r := get(t, g.srv.URL+body["uri"].(string), &one); r.StatusCode != 200 || one["sid"] != sid {
		t.Fatalf("GET by SID: %d %v", r.StatusCode, one)
	}
	var list struct{ Messages []map[string]any }
	get(t, g.messagesURL()+"?To=%2B491511234567", &list)
	if len(list.Messages) != 1 || list.Messages[0]["sid"] != sid {
		t.Fatalf("list To=: %v", list.Messages)
	}
	var admin struct{ Messages []sms.Message }
	get(t, g.srv.URL+"/_sim/messages?to=%2B491511234567", &admin)
	if len(admin.Messages) != 1 || admin.Messages[0].SID != sid || admin.Messages[0].Body != "Ihr Impftermin: morgen 09:15, Messe Dresden." {
		t.Fatalf("/_sim/messages: %+v", admin.Messages)
	}
}

// A page far past the end is an empty page, not a panic (page*size overflowed).
func TestListPageFarPastTheEnd(t *testing.T) {
	g := start(t, sms.Config{Step: time.Hour})
	g.send(t, msg("+491511234567", "x"), "sim", "sim")
	for _, q := range []string{"?PageSize=1000&Page=9223372036854775807", "?PageSize=1000&Page=922337203685477580", "?PageSize=1&Page=1"} {
		var list struct{ Messages []map[string]any }
		if r := get(t, g.messagesURL()+q, &list); r.StatusCode != http.StatusOK || len(list.Messages) != 0 {
			t.Fatalf("%s: status %d, %v", q, r.StatusCode, list.Messages)
		}
	}
}

func TestCreateValidatesLikeTwilio(t *testing.T) {
	g := start(t, sms.Config{})
	long := strings.Repeat("a", sms.MaxBodyChars)
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   float64
	}{
		{"no To", url.Values{"From": {"+4935112345678"}, "Body": {"x"}}, 400, 21604},
		{"national number", msg("01511234567", "x"), 400, 21211},
		{"E.164 with spaces", msg("+49 151 1234567", "x"), 400, 21211},
		{"too many digits", msg("+4915112345678901", "x"), 400, 21211},
		{"no From and no service", url.Values{"To": {"+491511234567"}, "Body": {"x"}}, 400, 21603},
		{"From sender ID too long", url.Values{"To": {"+491511234567"}, "From": {"Impfzentrum1"}, "Body": {"x"}}, 400, 21212},
		{"unknown messaging service", url.Values{"To": {"+491511234567"}, "MessagingServiceSid": {"MG1"}, "Body": {"x"}}, 400, 21701},
		{"no Body", url.Values{"To": {"+491511234567"}, "From": {"+4935112345678"}}, 400, 21602},
		{"Body 1601 characters", msg("+491511234567", long+"b"), 400, 21617},
		{"bad StatusCallback", url.Values{"To": {"+491511234567"}, "From": {"+4935112345678"}, "Body": {"x"}, "StatusCallback": {"ftp://x"}}, 400, 21609},
		{"Body 1600 characters", msg("+491511234567", long), 201, 0},
		{"alphanumeric sender ID", url.Values{"To": {"+491511234567"}, "From": {"Impfzentrum"}, "Body": {"x"}}, 201, 0},
		{"messaging service", url.Values{"To": {"+491511234567"}, "MessagingServiceSid": {sms.DefaultMessagingService}, "Body": {"x"}}, 201, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := g.send(t, tc.form, "sim", "sim")
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %v", resp.StatusCode, tc.status, body)
			}
			if tc.code == 0 {
				return
			}
			if body["code"] != tc.code || body["status"] != float64(tc.status) || body["message"] == "" ||
				body["more_info"] != fmt.Sprintf("https://www.twilio.com/docs/errors/%d", int(tc.code)) {
				t.Fatalf("error body %v, want code %v", body, tc.code)
			}
		})
	}
	if n := len(g.sim.Messages("")); n != 3 {
		t.Fatalf("%d messages stored, want the 3 valid ones", n)
	}
}

func TestSegmentsCountGSMAndUnicode(t *testing.T) {
	g := start(t, sms.Config{Step: time.Hour})
	cases := []struct {
		body string
		want string
	}{
		{strings.Repeat("a", 160), "1"},
		{strings.Repeat("a", 161), "2"},
		{strings.Repeat("ä", 160), "1"}, // ä is in the GSM-7 set
		{strings.Repeat("€", 80), "1"},  // extension characters count twice
		{strings.Repeat("€", 81), "2"},
		{strings.Repeat("ł", 70), "1"}, // outside GSM-7: UCS-2
		{strings.Repeat("ł", 71), "2"},
	}
	for _, tc := range cases {
		_, body := g.send(t, msg("+491511234567", tc.body), "sim", "sim")
		if body["num_segments"] != tc.want {
			t.Errorf("%q...: num_segments %v, want %s", tc.body[:4], body["num_segments"], tc.want)
		}
	}
}

func TestAuthRequired(t *testing.T) {
	g := start(t, sms.Config{AuthToken: "s3cret"})
	cases := []struct {
		name       string
		user, pass string
		path       string
		status     int
		code       float64
	}{
		{"no credentials", "", "", "/2010-04-01/Accounts/sim/Messages.json", 401, 20003},
		{"wrong token", "sim", "sim", "/2010-04-01/Accounts/sim/Messages.json", 401, 20003},
		{"other account in path", "sim", "s3cret", "/2010-04-01/Accounts/AC123/Messages.json", 404, 20404},
		{"right", "sim", "s3cret", "/2010-04-01/Accounts/sim/Messages.json", 201, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, g.srv.URL+tc.path, strings.NewReader(msg("+491511234567", "x").Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.status || (tc.code != 0 && body["code"] != tc.code) {
				t.Fatalf("status %d body %v, want %d code %v", resp.StatusCode, body, tc.status, tc.code)
			}
			if tc.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	if n := len(g.sim.Messages("")); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	g := start(t, sms.Config{RatePerSecond: 3})
	var codes []int
	for range 5 {
		resp, body := g.send(t, msg("+491511234567", "x"), "sim", "sim")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 && (resp.Header.Get("Retry-After") != "1" || body["code"] != float64(20429)) {
			t.Fatalf("429 with Retry-After %q and body %v", resp.Header.Get("Retry-After"), body)
		}
	}
	if want := []int{201, 201, 201, 429, 429}; !equal(codes, want) {
		t.Fatalf("statuses %v, want %v", codes, want)
	}
	if n := len(g.sim.Messages("")); n != 3 {
		t.Fatalf("%d messages stored, want 3 (a 429 creates nothing)", n)
	}
	time.Sleep(1100 * time.Millisecond) // the next second
	if resp, _ := g.send(t, msg("+491511234567", "x"), "sim", "sim"); resp.StatusCode != 201 {
		t.Fatalf("after Retry-After: %d", resp.StatusCode)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// receiver records status callbacks and checks their signature as a
// Twilio client library does: the URL it was called at plus the form.
type receiver struct {
	token string
	mu    sync.Mutex
	calls []callbackCall
	fail  int // answer 500 to the first fail calls
	srv   *httptest.Server
}

type callbackCall struct {
	form     url.Values
	valid    bool
	idemTok  string
	answered int
}

func newReceiver(t *testing.T, token string) *receiver {
	r := &receiver{token: token}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (rc *receiver) url() string { return rc.srv.URL + "/hooks/sms?tenant=saxony" }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	full := "http://" + r.Host + r.URL.RequestURI()
	c := callbackCall{form: r.PostForm, valid: sms.ValidSignature(rc.token, r.Header.Get(sms.HeaderSignature), full, r.PostForm),
		idemTok: r.Header.Get(sms.HeaderIdempotencyToken), answered: 200}
	rc.mu.Lock()
	if rc.fail > 0 {
		rc.fail--
		c.answered = 500
	}
	rc.calls = append(rc.calls, c)
	rc.mu.Unlock()
	w.WriteHeader(c.answered)
}

func (rc *receiver) statuses(sid string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, c := range rc.calls {
		if c.form.Get("MessageSid") == sid && c.answered == 200 {
			out = append(out, c.form.Get("MessageStatus")+c.form.Get("ErrorCode"))
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStatusCallbacksAreSignedAndFollowTheOutcome(t *testing.T) {
	rc := newReceiver(t, "s3cret")
	g := start(t, sms.Config{AuthToken: "s3cret", Outcomes: map[string]string{"+491700000002": sms.OutcomeFailed}})
	if err := g.sim.SetOutcome("+491700000003", sms.OutcomeUndelivered); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		to   string
		want []string
	}{
		{"+491700000001", []string{"sent", "delivered"}},
		{"+491700000002", []string{"failed30006"}},
		{"+491700000003", []string{"sent", "undelivered30003"}},
	}
	for _, tc := range cases {
		t.Run(tc.to, func(t *testing.T) {
			form := msg(tc.to, "Erinnerung: zweite Impfung morgen.")
			form.Set("StatusCallback", rc.url())
			resp, body := g.send(t, form, "sim", "s3cret")
			if resp.StatusCode != 201 {
				t.Fatalf("create: %d %v", resp.StatusCode, body)
			}
			sid := body["sid"].(string)
			waitFor(t, "final callback", func() bool {
				return len(rc.statuses(sid)) == len(tc.want) && g.sim.Messages(tc.to)[0].Callbacks == len(tc.want)
			})
			time.Sleep(60 * time.Millisecond) // nothing more comes
			if got := rc.statuses(sid); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("callbacks %v, want %v", got, tc.want)
			}
			rc.mu.Lock()
			defer rc.mu.Unlock()
			for _, c := range rc.calls {
				if c.form.Get("MessageSid") != sid {
					continue
				}
				if !c.valid {
					t.Fatalf("X-Twilio-Signature does not verify for %v", c.form)
				}
				if c.form.Get("AccountSid") != "sim" || c.form.Get("To") != tc.to || c.form.Get("SmsSid") != sid || c.idemTok == "" {
					t.Fatalf("callback %v token %q", c.form, c.idemTok)
				}
			}
			var one map[string]any
			get2 := func() { getAs(t, g.srv.URL+body["uri"].(string), "sim", "s3cret", &one) }
			get2()
			if final := tc.want[len(tc.want)-1]; !strings.HasPrefix(final, one["status"].(string)) {
				t.Fatalf("resource status %v, want %s", one["status"], final)
			}
		})
	}
}

func getAs(t *testing.T, u, user, pass string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(out)
}

// The signing scheme against the example Twilio's documentation walks
// through (auth token 12345), so that a real Twilio client library accepts
// what the simulator signs.
func TestSignatureMatchesTwilioDocumentedExample(t *testing.T) {
	params := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	got := sms.Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	if got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Fatalf("signature %s", got)
	}
	if sms.ValidSignature("12346", got, "https://mycompany.com/myapp.php?foo=1&bar=2", params) {
		t.Fatal("a wrong token verifies")
	}
}

func TestCallbackRetriedWithTheSameIdempotencyToken(t *testing.T) {
	rc := newReceiver(t, "sim")
	rc.fail = 1 // the first callback is answered 500
	g := start(t, sms.Config{StatusCallback: rc.url()})
	_, body := g.send(t, msg("+491511234567", "x"), "sim", "sim")
	sid := body["sid"].(string)
	waitFor(t, "delivered callback", func() bool { return len(rc.statuses(sid)) == 2 })
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var sent []callbackCall
	for _, c := range rc.calls {
		if c.form.Get("MessageStatus") == "sent" {
			sent = append(sent, c)
		}
	}
	if len(sent) != 2 || sent[0].answered != 500 || sent[1].answered != 200 || sent[0].idemTok != sent[1].idemTok {
		t.Fatalf("sent callbacks %+v: want a retry after 500 with the same token", sent)
	}
	// The retry may come after the delivered callback, as with Twilio:
	// callbacks are not ordered.
	for _, c := range rc.calls {
		if c.form.Get("MessageStatus") == "delivered" && c.idemTok == sent[0].idemTok {
			t.Fatal("the delivered callback reuses the sent callback's token")
		}
	}
}

func TestFaultInjection(t *testing.T) {
	t.Run("5xx", func(t *testing.T) {
		g := start(t, sms.Config{})
		if err := g.sim.Faults().Set(faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 503}}); err != nil {
			t.Fatal(err)
		}
		resp, _ := g.send(t, msg("+491511234567", "x"), "sim", "sim")
		if resp.StatusCode != 503 || resp.Header.Get(faults.HeaderFault) != "error" {
			t.Fatalf("status %d fault %q", resp.StatusCode, resp.Header.Get(faults.HeaderFault))
		}
		if n := len(g.sim.Messages("")); n != 0 {
			t.Fatalf("an injected 503 created %d messages", n)
		}
	})
	t.Run("timeout before the gateway", func(t *testing.T) {
		g := start(t, sms.Config{})
		_ = g.sim.Faults().Set(faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(2 * time.Second)}})
		err := postWithTimeout(g, 200*time.Millisecond)
		if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Timeout") {
			t.Fatalf("want a client timeout, got %v", err)
		}
		if n := len(g.sim.Messages("")); n != 0 {
			t.Fatalf("%d messages created behind a timeout", n)
		}
	})
	t.Run("answer lost after the work", func(t *testing.T) {
		g := start(t, sms.Config{Step: time.Hour})
		_ = g.sim.Faults().SetFlag(sms.FaultDropAnswer, true)
		if err := postWithTimeout(g, 2*time.Second); err == nil {
			t.Fatal("want a network error")
		}
		if ms := g.sim.Messages("+491511234567"); len(ms) != 1 {
			t.Fatalf("%d messages, want the 1 whose answer was lost", len(ms))
		}
		// The client can find it again, as with Twilio: list by To and date.
		var list struct{ Messages []map[string]any }
		get(t, g.messagesURL()+"?To=%2B491511234567&DateSent%3E="+time.Now().UTC().Format(time.DateOnly), &list)
		if len(list.Messages) != 1 {
			t.Fatalf("list after a lost answer: %v", list.Messages)
		}
	})
	t.Run("429 injected", func(t *testing.T) {
		g := start(t, sms.Config{})
		_ = g.sim.Faults().Set(faults.Faults{RateLimit: &faults.RateLimit{Every: 1, RetryAfter: 7}})
		resp, _ := g.send(t, msg("+491511234567", "x"), "sim", "sim")
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("status %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	})
	t.Run("lose_callbacks", func(t *testing.T) {
		rc := newReceiver(t, "sim")
		g := start(t, sms.Config{StatusCallback: rc.url()})
		_ = g.sim.Faults().SetFlag(sms.FaultLoseCallbacks, true)
		g.send(t, msg("+491511234567", "x"), "sim", "sim")
		waitFor(t, "delivered", func() bool { return g.sim.Messages("")[0].Status == sms.StatusDelivered })
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.calls) != 0 {
			t.Fatalf("%d callbacks while lose_callbacks is on", len(rc.calls))
		}
	})
}

func postWithTimeout(g *gateway, d time.Duration) error {
	c := &http.Client{Timeout: d}
	req, _ := http.NewRequest(http.MethodPost, g.messagesURL(), strings.NewReader(msg("+491511234567", "x").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("sim", "sim")
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestOutcomesAdminEndpoint(t *testing.T) {
	g := start(t, sms.Config{})
	post := func(body string) int {
		resp, err := http.Post(g.srv.URL+"/_sim/outcomes", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if c := post(`{"+491700000009":"undelivered"}`); c != 200 {
		t.Fatalf("POST outcome: %d", c)
	}
	for _, bad := range []string{`{"01700000009":"failed"}`, `{"+491700000009":"lost"}`, `[]`} {
		if c := post(bad); c != 400 {
			t.Fatalf("POST %s: %d, want 400", bad, c)
		}
	}
	var out struct{ Outcomes map[string]string }
	get(t, g.srv.URL+"/_sim/outcomes", &out)
	if len(out.Outcomes) != 1 || out.Outcomes["+491700000009"] != "undelivered" {
		t.Fatalf("outcomes %v", out.Outcomes)
	}
}

// syncBuffer is a bytes.Buffer safe for the Main goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- sms.Main(ctx, []string{"--addr", "127.0.0.1:0", "--auth-token", "Xy9secretQ", "--undelivered", "+491700000003", "--fault-error-rate", "0"}, &out)
	}()
	addr := regexp.MustCompile(`http://([0-9.:]+)/`)
	var m []string
	waitFor(t, "the address line", func() bool { m = addr.FindStringSubmatch(out.String()); return m != nil })
	if strings.Contains(out.String(), "Xy9secretQ") {
		t.Fatalf("the auth token is printed: %s", out.String())
	}
	resp, err := http.Get("http://" + m[1] + "/_sim/outcomes")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"+491700000003":"undelivered"`) {
		t.Fatalf("outcomes from flags: %s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := sms.Main(context.Background(), []string{"--failed", "0151"}, io.Discard); err == nil {
		t.Fatal("a national number in --failed was accepted")
	}
}
