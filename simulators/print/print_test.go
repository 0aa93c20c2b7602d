package print_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"

	printsim "github.com/vaxhub/vaxhub/simulators/print"
)

// pdfOptions shape a test PDF.
type pdfOptions struct {
	pages    int
	size     string // "A4" or "Letter"
	noWindow bool   // leave the address window empty
}

func makePDF(t testing.TB, o pdfOptions) []byte {
	t.Helper()
	if o.size == "" {
		o.size = "A4"
	}
	if o.pages == 0 {
		o.pages = 1
	}
	p := fpdf.New("P", "mm", o.size, "")
	p.SetFont("Helvetica", "", 10)
	for i := range o.pages {
		p.AddPage()
		if i == 0 && !o.noWindow {
			p.Text(25, 67, "Erika Mustermann")
			p.Text(25, 71.5, "Heidestrasse 17")
			p.Text(25, 76, "51147 Koeln")
		}
		p.Text(25, 120, "Sehr geehrte Frau Mustermann,")
	}
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hooks records webhook calls.
type hooks struct {
	mu     sync.Mutex
	events []printsim.WebhookEvent
	sigs   []string
	bodies [][]byte
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var ev printsim.WebhookEvent
	_ = json.Unmarshal(b, &ev)
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.sigs = append(h.sigs, r.Header.Get("Signature"))
	h.bodies = append(h.bodies, b)
	h.mu.Unlock()
}

func (h *hooks) statuses(letter string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, e := range h.events {
		if e.Data.Relationships.Letter.Data.ID == letter {
			out = append(out, e.Data.Attributes.Status)
		}
	}
	return out
}

type env struct {
	sim   *printsim.Sim
	srv   *httptest.Server
	hooks *hooks
	token string
}

func start(t *testing.T, cfg printsim.Config) *env {
	t.Helper()
	h := &hooks{}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	if cfg.Step == 0 {
		cfg.Step = 20 * time.Millisecond
	}
	cfg.WebhookURL, cfg.WebhookSecret = hs.URL, "whsec"
	sim, err := printsim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); sim.Close() })
	e := &env{sim: sim, srv: srv, hooks: h}
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	status, body := e.do(t, "POST", "/auth/access-tokens", `{"grant_type":"client_credentials","client_id":"sim","client_secret":"sim"}`, nil)
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.TokenType != "Bearer" {
		t.Fatalf("token: %d %s", status, body)
	}
	e.token = tok.AccessToken
	return e
}

func (e *env) do(t *testing.T, method, path, body string, hdr map[string]string) (int, []byte) {
	t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = e.srv.URL + path
	}
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if e.token != "" && !strings.Contains(path, "/file-storage/") {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		b = append([]byte("replayed:"), b...)
	}
	return resp.StatusCode, b
}

type letterResource struct {
	Data struct {
		ID         string `json:"id"`
		Attributes struct {
			Status    string `json:"status"`
			FilePages int    `json:"file_pages"`
		} `json:"attributes"`
		Meta struct {
			Issues []string `json:"issues"`
		} `json:"meta"`
	} `json:"data"`
}

// send uploads pdf and creates a letter from it with the idempotency key.
func (e *env) send(t *testing.T, pdf []byte, key string) (int, letterResource, []byte) {
	t.Helper()
	status, body := e.do(t, "GET", "/file-upload", "", nil)
	var up struct {
		Data struct {
			Attributes struct {
				URL          string `json:"url"`
				URLSignature string `json:"url_signature"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal(body, &up) != nil {
		t.Fatalf("file-upload: %d %s", status, body)
	}
	req, _ := http.NewRequest("PUT", up.Data.Attributes.URL, bytes.NewReader(pdf))
	req.Header.Set("Content-Type", "application/pdf")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("PUT presigned: %v %v", err, resp)
	}
	resp.Body.Close()
	create := `{"data":{"type":"letters","attributes":{"file_original_name":"brief.pdf","file_url":"` + up.Data.Attributes.URL +
		`","file_url_signature":"` + up.Data.Attributes.URLSignature + `","address_position":"left","auto_send":true,"delivery_product":"cheap","print_mode":"simplex","print_spectrum":"grayscale"}}}`
	hdr := map[string]string{"Content-Type": printsim.JSONAPI}
	if key != "" {
		hdr["Idempotency-Key"] = key
	}
	status, body = e.do(t, "POST", "/organisations/"+e.sim.Organisation()+"/letters", create, hdr)
	var l letterResource
	_ = json.Unmarshal(bytes.TrimPrefix(body, []byte("replayed:")), &l)
	return status, l, body
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLetterMovesFromValidToSentAndEveryChangeIsAWebhook(t *testing.T) {
	e := start(t, printsim.Config{})
	status, l, body := e.send(t, makePDF(t, pdfOptions{pages: 2}), "k1")
	if status != 201 || l.Data.Attributes.Status != printsim.StatusValid || l.Data.Attributes.FilePages != 2 {
		t.Fatalf("create: %d %s", status, body)
	}
	want := []string{"valid", "processing", "printing", "sent"}
	waitFor(t, "the sent webhook", 5*time.Second, func() bool { return len(e.hooks.statuses(l.Data.ID)) == len(want) })
	got := e.hooks.statuses(l.Data.ID)
	for _, s := range want {
		if !strings.Contains(strings.Join(got, ","), s) {
			t.Errorf("webhooks %v lack %s", got, s)
		}
	}
	e.hooks.mu.Lock()
	for i, b := range e.hooks.bodies {
		if e.hooks.sigs[i] != printsim.Sign("whsec", b) {
			t.Errorf("webhook %d: signature %q does not match its body", i, e.hooks.sigs[i])
		}
	}
	e.hooks.mu.Unlock()
	status, body = e.do(t, "GET", "/organisations/"+e.sim.Organisation()+"/letters/"+l.Data.ID, "", nil)
	var got2 letterResource
	if status != 200 || json.Unmarshal(body, &got2) != nil || got2.Data.Attributes.Status != "sent" {
		t.Fatalf("GET letter: %d %s", status, body)
	}
	if !strings.Contains(string(body), `"tracking_number":"RR`) {
		t.Errorf("a sent letter has a tracking number: %s", body)
	}
}

func TestPrintHouseRejectsWhatItCannotPrint(t *testing.T) {
	e := start(t, printsim.Config{MaxPages: 3})
	cases := []struct {
		name  string
		pdf   []byte
		issue string
	}{
		{"good", makePDF(t, pdfOptions{pages: 3}), ""},
		{"not a PDF", []byte("Sehr geehrte Frau Mustermann"), "not a PDF"},
		{"truncated", makePDF(t, pdfOptions{})[:400], "truncated"},
		{"US letter", makePDF(t, pdfOptions{size: "Letter"}), "not A4"},
		{"too many pages", makePDF(t, pdfOptions{pages: 4}), "4 pages; at most 3"},
		{"empty window", makePDF(t, pdfOptions{noWindow: true}), "address window"},
	}
	for _, c := range cases {
		status, l, body := e.send(t, c.pdf, "")
		if status != 201 {
			t.Fatalf("%s: %d %s", c.name, status, body)
		}
		issues := strings.Join(l.Data.Meta.Issues, "; ")
		switch {
		case c.issue == "" && (l.Data.Attributes.Status != "valid" || issues != ""):
			t.Errorf("%s: status %s issues %q, want valid", c.name, l.Data.Attributes.Status, issues)
		case c.issue != "" && (l.Data.Attributes.Status != "unprintable" || !strings.Contains(issues, c.issue)):
			t.Errorf("%s: status %s issues %q, want unprintable with %q", c.name, l.Data.Attributes.Status, issues, c.issue)
		}
	}
	waitFor(t, "the issues webhooks", 2*time.Second, func() bool {
		e.hooks.mu.Lock()
		defer e.hooks.mu.Unlock()
		n := 0
		for _, ev := range e.hooks.events {
			if ev.Data.Type == "webhook_issues" && ev.Data.Attributes.Reason != "" {
				n++
			}
		}
		return n == len(cases)-1
	})
}

func TestSameIdempotencyKeyPrintsOnce(t *testing.T) {
	e := start(t, printsim.Config{})
	pdf := makePDF(t, pdfOptions{})
	_, first, _ := e.send(t, pdf, "letter-42")
	status, again, body := e.send(t, pdf, "letter-42") // a retry re-uploads the file
	if status != 201 || again.Data.ID != first.Data.ID || !bytes.HasPrefix(body, []byte("replayed:")) {
		t.Fatalf("retry with the same key: %d %s, want the first letter %s replayed", status, body, first.Data.ID)
	}
	if n := len(e.sim.Letters()); n != 1 {
		t.Fatalf("%d letters after a retry, want 1", n)
	}
	// The same key for a different letter is refused.
	_, body = e.do(t, "GET", "/file-upload", "", nil)
	var up struct {
		Data struct {
			Attributes struct{ URL, URLSignature string } `json:"attributes"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &up)
	status, body = e.do(t, "POST", "/organisations/"+e.sim.Organisation()+"/letters",
		`{"data":{"type":"letters","attributes":{"file_original_name":"x.pdf","file_url":"`+up.Data.Attributes.URL+`","file_url_signature":"x","address_position":"right","auto_send":true}}}`,
		map[string]string{"Idempotency-Key": "letter-42"})
	if status != 422 || !strings.Contains(string(body), "idempotency_key_reused") {
		t.Errorf("key reused for another letter: %d %s", status, body)
	}
}

func TestErrorsAreJSONAPI(t *testing.T) {
	e := start(t, printsim.Config{})
	org := "/organisations/" + e.sim.Organisation()
	type errBody struct {
		Errors []printsim.Error `json:"errors"`
	}
	cases := []struct {
		name, method, path, body string
		token                    string
		status                   int
		code, pointer            string
	}{
		{"no token", "GET", org + "/letters", "", "-", 401, "unauthenticated", ""},
		{"bad credentials", "POST", "/auth/access-tokens", `{"grant_type":"client_credentials","client_id":"sim","client_secret":"nope"}`, "-", 401, "invalid_client", ""},
		{"other organisation", "GET", "/organisations/00000000-0000-0000-0000-000000000000/letters", "", "", 403, "forbidden", ""},
		{"unknown letter", "GET", org + "/letters/nope", "", "", 404, "not_found", ""},
		{"no file", "POST", org + "/letters", `{"data":{"type":"letters","attributes":{"file_original_name":"a.pdf","file_url":"http://x/file-storage/none","file_url_signature":"s","address_position":"left","auto_send":true}}}`, "", 422, "validation_failed", "/data/attributes/file_url"},
		{"bad position", "POST", org + "/letters", `{"data":{"type":"letters","attributes":{"file_original_name":"a.pdf","file_url":"u","file_url_signature":"s","address_position":"middle","auto_send":true}}}`, "", 422, "validation_failed", "/data/attributes/address_position"},
	}
	for _, c := range cases {
		saved := e.token
		if c.token == "-" {
			e.token = ""
		}
		status, body := e.do(t, c.method, c.path, c.body, nil)
		e.token = saved
		var eb errBody
		if status != c.status || json.Unmarshal(body, &eb) != nil || len(eb.Errors) == 0 || eb.Errors[0].Code != c.code {
			t.Errorf("%s: %d %s, want %d with code %s", c.name, status, body, c.status, c.code)
			continue
		}
		if c.pointer != "" && (eb.Errors[0].Source == nil || eb.Errors[0].Source.Pointer != c.pointer) {
			t.Errorf("%s: source %+v, want pointer %s", c.name, eb.Errors[0].Source, c.pointer)
		}
	}
}

func TestUndeliverableAndLostWebhooks(t *testing.T) {
	e := start(t, printsim.Config{})
	if err := e.sim.Faults().SetFlag(printsim.FaultUndeliverable, true); err != nil {
		t.Fatal(err)
	}
	if err := e.sim.Faults().SetFlag(printsim.FaultLoseWebhooks, true); err != nil {
		t.Fatal(err)
	}
	_, l, _ := e.send(t, makePDF(t, pdfOptions{}), "")
	waitFor(t, "the letter to come back", 5*time.Second, func() bool {
		_, body := e.do(t, "GET", "/organisations/"+e.sim.Organisation()+"/letters/"+l.Data.ID, "", nil)
		return strings.Contains(string(body), `"status":"undeliverable"`) && strings.Contains(string(body), "nicht zu ermitteln")
	})
	if got := e.hooks.statuses(l.Data.ID); len(got) != 0 {
		t.Errorf("webhooks %v arrived although they are lost", got)
	}
}

func TestFaultsApplyToTheAPI(t *testing.T) {
	e := start(t, printsim.Config{})
	status, _ := e.do(t, "POST", "/_sim/faults", `{"errors":{"rate":1,"status":503}}`, nil)
	if status != 200 {
		t.Fatal(status)
	}
	if status, _ := e.do(t, "GET", "/file-upload", "", nil); status != 503 {
		t.Errorf("with a 100%% error rate GET /file-upload answered %d", status)
	}
	if status, _ := e.do(t, "GET", "/_sim/letters", "", nil); status != 200 {
		t.Errorf("admin endpoints are faulted: %d", status)
	}
}

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- printsim.Main(ctx, []string{"--addr", "127.0.0.1:0", "--client-secret", "geheim", "--fault-flag", "lose_webhooks"}, &out)
	}()
	waitFor(t, "the banner", 5*time.Second, func() bool { return strings.Contains(out.String(), "admin:") })
	if strings.Contains(out.String(), "geheim") {
		t.Errorf("the secret is printed: %s", out.String())
	}
	addr := strings.Fields(strings.SplitN(out.String(), " on ", 2)[1])[0]
	resp, err := http.Get(addr + "/_sim/faults")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `"lose_webhooks": true`) {
		t.Errorf("--fault-flag lose_webhooks not active: %s", b)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
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

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
