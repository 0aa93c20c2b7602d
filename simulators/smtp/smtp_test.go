package smtp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
	smtpsim "github.com/vaxhub/vaxhub/simulators/smtp"
)

type mailServer struct {
	srv  *smtpsim.Server
	addr string // SMTP host:port
	api  *httptest.Server
}

func start(t *testing.T, cfg smtpsim.Config) *mailServer {
	t.Helper()
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := smtpsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	api := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		api.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return &mailServer{srv: srv, addr: ln.Addr().String(), api: api}
}

// stored reads the messages through the HTTP read API, as a test of the hub
// would.
func (m *mailServer) stored(t *testing.T, to string) []smtpsim.Message {
	t.Helper()
	resp, err := http.Get(m.api.URL + "/_sim/messages?to=" + to)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Messages []smtpsim.Message }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Messages
}

const multipartMail = "From: Impfzentrum Dresden <termine@impfzentrum-dresden.example>\r\n" +
	"To: Erika Mustermann <erika@example.org>\r\n" +
	"Subject: =?UTF-8?Q?Best=C3=A4tigung_Ihres_Impftermins?=\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"outer\"\r\n" +
	"\r\n" +
	"--outer\r\n" +
	"Content-Type: multipart/alternative; boundary=\"inner\"\r\n" +
	"\r\n" +
	"--inner\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Ihr Termin: 12.01.2021, 09:15 Uhr, Messe Dresden. Bitte Ausweis mitbringen =\r\n" +
	"und p=C3=BCnktlich sein.\r\n" +
	".Zeile mit Punkt am Anfang\r\n" +
	".\r\n" +
	"--inner\r\n" +
	"Content-Type: text/html; charset=utf-8\r\n" +
	"\r\n" +
	"<p>Ihr Termin</p>\r\n" +
	"--inner--\r\n" +
	"--outer\r\n" +
	"Content-Type: text/calendar; name=\"termin.ics\"\r\n" +
	"Content-Disposition: attachment; filename=\"termin.ics\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"QkVHSU46VkNBTEVOREFSDQpFTkQ6VkNBTEVOREFSDQo=\r\n" +
	"--outer--\r\n"

func TestNetSMTPClientDeliversMultipartMail(t *testing.T) {
	m := start(t, smtpsim.Config{RequireAuth: true})
	auth := smtp.PlainAuth("", "sim", "sim", "127.0.0.1")
	if err := smtp.SendMail(m.addr, auth, "termine@impfzentrum-dresden.example",
		[]string{"erika@example.org", "max@example.org"}, []byte(multipartMail)); err != nil {
		t.Fatal(err)
	}
	got := m.stored(t, "erika@example.org")
	if len(got) != 1 {
		t.Fatalf("%d messages for erika, want 1", len(got))
	}
	msg := got[0]
	wantText := "Ihr Termin: 12.01.2021, 09:15 Uhr, Messe Dresden. Bitte Ausweis mitbringen und pünktlich sein.\r\n" +
		".Zeile mit Punkt am Anfang\r\n." // the CRLF before a boundary belongs to it
	switch {
	case msg.ParseError != "":
		t.Fatalf("parse error %s", msg.ParseError)
	case msg.Subject != "Bestätigung Ihres Impftermins":
		t.Fatalf("subject %q", msg.Subject)
	case msg.From != "termine@impfzentrum-dresden.example" || strings.Join(msg.To, ",") != "erika@example.org,max@example.org":
		t.Fatalf("envelope %s -> %v", msg.From, msg.To)
	case msg.AuthUser != "sim":
		t.Fatalf("auth user %q", msg.AuthUser)
	case msg.Text != wantText:
		t.Fatalf("text %q\nwant %q", msg.Text, wantText)
	case msg.HTML != "<p>Ihr Termin</p>":
		t.Fatalf("html %q", msg.HTML)
	case len(msg.Parts) != 3 || msg.Parts[2].Filename != "termin.ics" || msg.Parts[2].Size != len("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"):
		t.Fatalf("parts %+v", msg.Parts)
	}
	full, ok := m.srv.Message(msg.ID)
	if !ok || !strings.HasPrefix(full.Raw, "Received: from ") || !strings.Contains(full.Raw, "with ESMTPA") ||
		!strings.HasSuffix(full.Raw, multipartMail) {
		t.Fatalf("raw %q", full.Raw)
	}
	if n := len(m.stored(t, "")); n != 1 {
		t.Fatalf("%d messages in all, want 1 (one message, two recipients)", n)
	}
}

// dialog runs a scripted SMTP conversation at the protocol level and checks
// every reply code.
type step struct {
	send string // sent as is, with CRLF; "" reads the greeting
	code int
	text string // a substring of the reply
}

func dialog(t *testing.T, addr string, steps []step) {
	t.Helper()
	c, err := textproto.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, s := range steps {
		if s.send != "" {
			if err := c.PrintfLine("%s", s.send); err != nil {
				t.Fatalf("send %q: %v", s.send, err)
			}
		}
		code, msg, err := c.ReadResponse(0)
		if code != s.code || !strings.Contains(msg, s.text) {
			t.Fatalf("after %q: %d %q (%v), want %d %q", s.send, code, msg, err, s.code, s.text)
		}
	}
}

func TestConversation(t *testing.T) {
	m := start(t, smtpsim.Config{Recipients: map[string]string{"nobody@example.org": smtpsim.RecipientUnknown}})
	cases := []struct {
		name  string
		steps []step
	}{
		{"sequence errors", []step{
			{"", 220, "ESMTP"},
			{"MAIL FROM:<a@example.org>", 503, "HELO"},
			{"EHLO client.example", 250, "SIZE"},
			{"RCPT TO:<b@example.org>", 503, "MAIL"},
			{"DATA", 503, "MAIL"},
			{"MAIL FROM:<a@example.org>", 250, "2.1.0"},
			{"MAIL FROM:<a@example.org>", 503, "Nested"},
			{"DATA", 554, "No valid recipients"},
			{"RSET", 250, "Ok"},
			{"NOOP", 250, "Ok"},
			{"FROB", 500, "not recognized"},
			{"VRFY erika", 252, ""},
			{"QUIT", 221, "Bye"},
		}},
		{"bad syntax", []step{
			{"", 220, ""},
			{"EHLO", 501, "hostname"},
			{"HELO client.example", 250, ""},
			{"MAIL FROM:a@example.org", 501, "5.1.7"},
			{"MAIL FROM:<a@example.org> FOO=1", 555, "FOO"},
			{"MAIL FROM:<>", 250, ""}, // the null sender of bounces
			{"RCPT TO:<not-an-address>", 501, "5.1.3"},
			{"QUIT", 221, ""},
		}},
		{"unknown recipient among good ones", []step{
			{"", 220, ""},
			{"EHLO client.example", 250, ""},
			{"MAIL FROM:<a@example.org>", 250, ""},
			{"RCPT TO:<nobody@example.org>", 550, "5.1.1"},
			{"RCPT TO:<NOBODY@example.org>", 550, "5.1.1"},
			{"RCPT TO:<erika@example.org>", 250, "2.1.5"},
			{"DATA", 354, ""},
			{"Subject: hi\r\n\r\n..stuffed\r\n.", 250, "queued as"},
			{"QUIT", 221, ""},
		}},
		{"AUTH LOGIN, then wrong PLAIN", []step{
			{"", 220, ""},
			{"AUTH PLAIN AHNpbQBzaW0=", 503, "EHLO"},
			{"EHLO client.example", 250, "AUTH PLAIN LOGIN"},
			{"AUTH LOGIN", 334, "VXNlcm5hbWU6"},
			{"c2lt", 334, "UGFzc3dvcmQ6"},
			{"c2lt", 235, "2.7.0"},
			{"AUTH PLAIN AHNpbQBzaW0=", 503, "Already"},
			{"QUIT", 221, ""},
		}},
		{"wrong password", []step{
			{"", 220, ""},
			{"EHLO client.example", 250, ""},
			{"AUTH PLAIN AHNpbQB3cm9uZw==", 535, "5.7.8"}, // sim / wrong
			{"AUTH CRAM-MD5", 504, ""},
			{"QUIT", 221, ""},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { dialog(t, m.addr, tc.steps) })
	}
	got := m.stored(t, "erika@example.org")
	if len(got) != 1 || got[0].Text != ".stuffed\r\n" || strings.Join(got[0].To, ",") != "erika@example.org" {
		t.Fatalf("stored %+v", got)
	}
}

func TestAuthRequired(t *testing.T) {
	m := start(t, smtpsim.Config{RequireAuth: true})
	dialog(t, m.addr, []step{{"", 220, ""}, {"EHLO c", 250, ""}, {"MAIL FROM:<a@example.org>", 530, "5.7.0"}, {"QUIT", 221, ""}})
	err := smtp.SendMail(m.addr, smtp.PlainAuth("", "sim", "nope", "127.0.0.1"), "a@example.org", []string{"b@example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
	var te *textproto.Error
	if !errors.As(err, &te) || te.Code != 535 {
		t.Fatalf("wrong password: %v", err)
	}
	if n := len(m.stored(t, "")); n != 0 {
		t.Fatalf("%d messages stored without auth", n)
	}
}

// rcptCode sends one message with net/smtp and answers the code of RCPT TO.
func rcptCode(t *testing.T, addr, to string) int {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.org"); err != nil {
		t.Fatal(err)
	}
	err = c.Rcpt(to)
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	if err != nil {
		t.Fatal(err)
	}
	return 250
}

func TestRecipientsRefusedAsConfigured(t *testing.T) {
	m := start(t, smtpsim.Config{Recipients: map[string]string{"nobody@example.org": smtpsim.RecipientUnknown}})
	if err := m.srv.SetRecipient("full@example.org", smtpsim.RecipientBusy); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(m.api.URL+"/_sim/recipients", "application/json", strings.NewReader(`{"gone@example.org":"unknown"}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST /_sim/recipients: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, _ := http.Post(m.api.URL+"/_sim/recipients", "application/json", strings.NewReader(`{"gone@example.org":"lost"}`)); resp.StatusCode != 400 {
		t.Fatalf("bad behaviour: %d", resp.StatusCode)
	}
	cases := []struct {
		to   string
		code int
	}{
		{"erika@example.org", 250},
		{"nobody@example.org", 550},
		{"gone@example.org", 550},
		{"full@example.org", 450},
	}
	for _, tc := range cases {
		if got := rcptCode(t, m.addr, tc.to); got != tc.code {
			t.Errorf("RCPT TO:<%s>: %d, want %d", tc.to, got, tc.code)
		}
	}
	_ = m.srv.Faults().SetFlag(smtpsim.FaultBusy, true)
	if got := rcptCode(t, m.addr, "erika@example.org"); got != 450 {
		t.Errorf("busy fault: %d, want 450", got)
	}
}

func TestSizeLimit(t *testing.T) {
	m := start(t, smtpsim.Config{MaxSize: 1000})
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdefghijklmnopqrstuvwxyz\r\n", 40)
	dialog(t, m.addr, []step{
		{"", 220, ""},
		{"EHLO c", 250, "SIZE 1000"},
		{"MAIL FROM:<a@example.org> SIZE=2000", 552, "5.3.4"},
		{"MAIL FROM:<a@example.org> SIZE=900", 250, ""},
		{"RCPT TO:<b@example.org>", 250, ""},
		{"DATA", 354, ""},
		{big + ".", 552, "5.3.4"},
		// The session goes on: a small message passes.
		{"MAIL FROM:<a@example.org>", 250, ""},
		{"RCPT TO:<b@example.org>", 250, ""},
		{"DATA", 354, ""},
		{"Subject: small\r\n\r\nok\r\n.", 250, ""},
		{"QUIT", 221, ""},
	})
	got := m.stored(t, "")
	if len(got) != 1 || got[0].Subject != "small" {
		t.Fatalf("stored %+v", got)
	}
}

func TestFaults(t *testing.T) {
	send := func(addr string) error {
		return smtp.SendMail(addr, nil, "a@example.org", []string{"b@example.org"}, []byte("Subject: x\r\n\r\nx\r\n"))
	}
	code := func(err error) int {
		var te *textproto.Error
		if errors.As(err, &te) {
			return te.Code
		}
		return 0
	}
	cases := []struct {
		name   string
		set    faults.Faults
		code   int  // 0: a network error
		stored bool // the message is stored nevertheless
	}{
		{"unavailable", faults.Faults{Flags: map[string]bool{smtpsim.FaultUnavailable: true}}, 421, false},
		{"outage 503", faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(time.Minute), Mode: faults.Outage503}}, 421, false},
		{"outage reset", faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(time.Minute)}}, 0, false},
		{"tempfail at DATA", faults.Faults{Flags: map[string]bool{smtpsim.FaultTempfailData: true}}, 451, false},
		{"injected 5xx", faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 500}}, 554, false},
		{"injected 4xx", faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 429}}, 451, false},
		{"rate limit", faults.Faults{RateLimit: &faults.RateLimit{Every: 1, RetryAfter: 3}}, 450, false},
		{"dropped after DATA", faults.Faults{Flags: map[string]bool{smtpsim.FaultDropAfterData: true}}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := start(t, smtpsim.Config{})
			if err := m.srv.Faults().Set(tc.set); err != nil {
				t.Fatal(err)
			}
			err := send(m.addr)
			if err == nil || code(err) != tc.code {
				t.Fatalf("error %v (code %d), want code %d", err, code(err), tc.code)
			}
			if n := len(m.stored(t, "")); (n == 1) != tc.stored {
				t.Fatalf("%d messages stored, want stored=%t", n, tc.stored)
			}
			m.srv.Faults().Clear()
			if err := send(m.addr); err != nil {
				t.Fatalf("after clearing: %v", err)
			}
		})
	}
	t.Run("latency makes a client time out", func(t *testing.T) {
		m := start(t, smtpsim.Config{})
		_ = m.srv.Faults().Set(faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(time.Second)}})
		conn, err := net.Dial("tcp", m.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = conn.Read(make([]byte, 64))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("want a read timeout before the greeting, got %v", err)
		}
	})
}

// A client nobody here wrote: curl's SMTP support.
func TestCurlSendsMail(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not on PATH: install the Debian package curl (.ci/run does)")
	}
	m := start(t, smtpsim.Config{RequireAuth: true})
	file := filepath.Join(t.TempDir(), "mail.eml")
	body := "From: termine@impfzentrum.example\r\nTo: erika@example.org\r\nSubject: curl\r\n\r\nZeile 1\r\n.Zeile mit Punkt\r\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "smtp://"+m.addr, "--user", "sim:sim", "--login-options", "AUTH=PLAIN",
		"--mail-from", "termine@impfzentrum.example", "--mail-rcpt", "erika@example.org", "-T", file).CombinedOutput()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	got := m.stored(t, "erika@example.org")
	if len(got) != 1 || got[0].Subject != "curl" || got[0].Text != "Zeile 1\r\n.Zeile mit Punkt\r\n" || got[0].AuthUser != "sim" {
		t.Fatalf("stored %+v", got)
	}
	// And curl sees a 550 as a failure.
	_ = m.srv.SetRecipient("nobody@example.org", smtpsim.RecipientUnknown)
	out, err = exec.Command(curl, "-sS", "--max-time", "10", "smtp://"+m.addr, "--user", "sim:sim",
		"--mail-from", "a@example.org", "--mail-rcpt", "nobody@example.org", "-T", file).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "550") {
		t.Fatalf("curl to an unknown user: %v\n%s", err, out)
	}
}

// Another: swaks (Debian package swaks), with AUTH LOGIN.
func TestSwaksSendsMail(t *testing.T) {
	swaks, err := exec.LookPath("swaks")
	if err != nil {
		t.Fatal("swaks is not on PATH: install the Debian package swaks (.ci/run does)")
	}
	m := start(t, smtpsim.Config{RequireAuth: true})
	host, port, _ := net.SplitHostPort(m.addr)
	out, err := exec.Command(swaks, "--server", host, "--port", port, "--auth", "LOGIN", "--auth-user", "sim", "--auth-password", "sim",
		"--from", "termine@impfzentrum.example", "--to", "erika@example.org,max@example.org",
		"--header", "Subject: swaks", "--body", "Erste Zeile\n.\n..zwei Punkte", "--timeout", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	got := m.stored(t, "max@example.org")
	if len(got) != 1 || got[0].Subject != "swaks" || !strings.Contains(got[0].Text, "Erste Zeile\r\n.\r\n..zwei Punkte") {
		t.Fatalf("stored %+v\nswaks said:\n%s", got, out)
	}
}

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

func TestMainServesSMTPAndReadAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- smtpsim.Main(ctx, []string{"--addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--password", "Xy9secretQ",
			"--unknown", "nobody@example.org", "--max-size", "5000"}, &out)
	}()
	re := regexp.MustCompile(`smtp://([0-9.:]+), read API on http://([0-9.:]+)/`)
	var m []string
	deadline := time.Now().Add(5 * time.Second)
	for m = re.FindStringSubmatch(out.String()); m == nil; m = re.FindStringSubmatch(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no address line: %s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if strings.Contains(out.String(), "Xy9secretQ") {
		t.Fatal("the password is printed")
	}
	if got := rcptCode(t, m[1], "nobody@example.org"); got != 550 {
		t.Fatalf("--unknown: RCPT answered %d", got)
	}
	if err := smtp.SendMail(m[1], smtp.PlainAuth("", "sim", "Xy9secretQ", "127.0.0.1"), "a@example.org", []string{"b@example.org"}, []byte("Subject: main\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/_sim/messages?to=b@example.org", m[2]))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"subject":"main"`) {
		t.Fatalf("read API: %s", b)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not stop")
	}
}
