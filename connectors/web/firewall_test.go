package web

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// The firewall is compiled once per test binary: the CRS takes a moment.
var testFirewall = sync.OnceValues(func() (*Firewall, error) {
	return NewFirewall(FirewallConfig{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
})

func firewall(t *testing.T) *Firewall {
	t.Helper()
	fw, err := testFirewall()
	if err != nil {
		t.Fatalf("NewFirewall: %v", err)
	}
	return fw
}

var realNames = []url.Values{
	zoe(),
	{"given_names": {"Jürgen Hans-Peter"}, "family_name": {"Müller-Lüdenscheidt"}, "birth_date": {"1940-05-01"}, "sex": {"m"},
		"street": {"Straße des 17. Juni 3b"}, "postal_code": {"04109"}, "city": {"Leipzig"}},
	{"given_names": {"Anh Thư"}, "family_name": {"Trần Thị"}, "birth_date": {"02.11.1958"}, "sex": {"f"},
		"street": {"Am Weißen Hirsch 1/2"}, "postal_code": {"01324"}, "city": {"Dresden"}, "email": {"anh.thu+impf@example.de"}},
	{"given_names": {"Siobhán"}, "family_name": {"O'Connor"}, "birth_date": {"1955-12-24"}, "sex": {"x"},
		"street": {"Gustav-Freytag-Str. 10, Hinterhaus"}, "postal_code": {"08523"}, "city": {"Plauen (Vogtl.)"}, "phone": {"0371 / 123-456"}},
	{"given_names": {"Đức"}, "family_name": {"Phạm"}, "birth_date": {"1961-01-01"}, "sex": {"d"},
		"street": {"Straße der Nationen 2 – 4"}, "postal_code": {"09111"}, "city": {"Chemnitz"}, "indications": {"chronic-condition", "retail-staff"}},
}

func TestFirewallLetsRealRegistrationsAndBookingsThrough(t *testing.T) {
	t.Parallel()
	fw, err := NewFirewall(FirewallConfig{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}) // its own count
	if err != nil {
		t.Fatal(err)
	}
	before := fw.Blocked()
	e := newEnv(t, 40, func(c *Config) { c.Firewall = fw })
	for _, form := range realNames {
		c := e.client(t)
		c.get("/registrieren").mustStatus(t, http.StatusOK)
		c.post("/registrieren", form).mustStatus(t, http.StatusOK).mustContain(t, `id="entitlement"`)
		c.get("/buchen/").mustStatus(t, http.StatusOK)
		slots := c.get("/buchen/termine?zentrum=chemnitz").mustStatus(t, http.StatusOK)
		c.post("/buchen/termine", url.Values{"zentrum": {"chemnitz"}, "produkt": {formValue(slots.body, "produkt")}, "slot": {firstSlot(t, slots)}}).
			mustStatus(t, http.StatusOK)
		c.get("/zentren?plz="+form.Get("postal_code")+"&lang=en").mustStatus(t, http.StatusOK)
	}
	if fw.Blocked() != before {
		t.Fatalf("the firewall blocked %d real requests", fw.Blocked()-before)
	}
}

func TestFirewallLetsRealJSONThroughTheAPIWrapper(t *testing.T) {
	t.Parallel()
	fw := firewall(t)
	srv := httptest.NewServer(fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(b)
	})))
	defer srv.Close()
	bodies := []string{
		`{"resident":{"given_names":"Zoë Renée","family_name":"Nguyễn-Weiß","birth_date":"1961-03-14","sex":"f","address":{"street":"Königsbrücker Straße 12","postal_code":"01099","city":"Dresden","municipality_key":"14612000"},"indications":[],"intolerances":["peg"]}}`,
		`{"resident_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b","centre_id":"leipzig","product":"comirnaty","slot_start":"2021-07-06T09:15:00+02:00"}`,
		`{"given_names":"Siobhán","family_name":"O'Connor","address":{"street":"Straße des 17. Juni 3b, Hinterhaus (2. OG)"}}`,
	}
	for _, b := range bodies {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/residents", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer dGhpcy1pcy1hLXRva2VuLW9mLTMyLWJ5dGVz")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || string(got) != b {
			t.Errorf("real JSON refused (%d): %s\n%s", resp.StatusCode, b, got)
		}
	}
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req, _ := http.NewRequest(m, srv.URL+"/api/v1/appointments/1234567890", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("%s refused: %d", m, resp.StatusCode)
		}
	}
}

func TestFirewallBlocksSQLInjectionAndXSS(t *testing.T) {
	t.Parallel()
	fw := firewall(t)
	e := newEnv(t, 0, func(c *Config) { c.Firewall = fw })
	c := e.client(t)
	p := c.get("/zentren?plz=" + url.QueryEscape("01099' OR '1'='1' UNION SELECT password FROM residents--"))
	p.mustStatus(t, http.StatusForbidden).mustContain(t, `data-reason="waf"`, "wie ein Angriff aussehen")
	c.get("/registrieren")
	f := zoe()
	f.Set("given_names", `<script>alert(document.cookie)</script>`)
	c.post("/registrieren", f).mustStatus(t, http.StatusForbidden).mustContain(t, `data-reason="waf"`)

	api := httptest.NewServer(fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("an attack reached the API")
	})))
	defer api.Close()
	for _, b := range []string{
		`{"family_name":"x'; DROP TABLE residents; --","given_names":"1' or 1=1 union select * from pg_user--"}`,
		`{"given_names":"<img src=x onerror=alert(1)>"}`,
	} {
		req, _ := http.NewRequest(http.MethodPost, api.URL+"/api/v1/residents", strings.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(string(got), "waf-") {
			t.Errorf("attack not blocked with a problem document (%d %s): %s", resp.StatusCode, got, b)
		}
	}
}

// hubChain is the handler the hub serves (cmd/vaxhub buildHTTP): the public
// JSON API with the firewall (Firewall.Wrap) in front of its /api/ routes
// and the portal, built with the same firewall inside, as its fallback. It
// returns the server's URL and a resident's ID.
func hubChain(t *testing.T, fw *Firewall) (string, string) {
	t.Helper()
	h := hubtest.New(t, julyMorning(t))
	h.Saxony(t, 3)
	log := slog.New(slog.NewTextHandler(t.Output(), nil))
	portal, err := New(Config{App: h.App, Pool: h.Pool, Secret: testSecret, Logger: log, Firewall: fw})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(h.App, api.Config{Logger: log, Fallback: portal, Firewall: fw.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL, h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 2}).Resident.ID
}

// send sends a request with the path exactly as written (no client-side
// re-encoding) and returns the answer.
func send(t *testing.T, method, base, path, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Opaque = path // sent as the request target verbatim
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestFirewallBlocksSQLInjectionAndXSSInThePath(t *testing.T) {
	t.Parallel()
	fw, err := NewFirewall(FirewallConfig{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}) // its own count
	if err != nil {
		t.Fatal(err)
	}
	base, _ := hubChain(t, fw)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/v1/centres/riesa'%20UNION%20SELECT%201--/slots"}, // the path of the report
		{"GET", "/api/v1/centres/riesa%27%20UNION%20SELECT%20password%20FROM%20pg_shadow--/slots"},
		{"GET", "/api/v1/centres/riesa'%20OR%20'1'='1/slots"},
		{"GET", "/api/v1/centres/x'%2F**%2FUNION%2F**%2FSELECT%2F**%2F1--/slots"}, // encoded slashes stay in the segment
		{"GET", "/api/v1/appointments/1'%3B%20DROP%20TABLE%20appointments%3B--"},
		{"DELETE", "/api/v1/appointments/1%20OR%201=1--"},
		{"POST", "/api/v1/appointments/1234567897'%20AND%20SLEEP(5)--/move"},
		{"GET", "/api/v1/residents/%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"},
		{"GET", "/api/v1/residents/x%22%20onmouseover=%22alert(1)/entitlement"},
		{"GET", "/api/v1/letters/%3Cimg%20src=x%20onerror=alert(1)%3E"},
		// Portal paths: the portal's own firewall, its block page.
		{"GET", "/zentren/riesa'%20UNION%20SELECT%201--"},
		{"GET", "/konto/1'%20OR%20'1'='1"},
		{"GET", "/buchen/%3Csvg%20onload=alert(1)%3E"},
	} {
		before := fw.Blocked()
		status, hdr, body := send(t, tc.method, base, tc.path, "")
		if status != http.StatusForbidden || fw.Blocked() != before+1 {
			t.Errorf("%s %s: %d, blocked %d, want 403 from the firewall\n%.300s", tc.method, tc.path, status, fw.Blocked()-before, body)
			continue
		}
		if strings.HasPrefix(tc.path, "/api/") {
			if hdr.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"code":"waf-`) {
				t.Errorf("%s %s: not a problem document: %s %.300s", tc.method, tc.path, hdr.Get("Content-Type"), body)
			}
		} else if !strings.Contains(body, `data-reason="waf"`) {
			t.Errorf("%s %s: not the portal's block page:\n%.300s", tc.method, tc.path, body)
		}
	}
}

func TestFirewallLetsRealPathsThrough(t *testing.T) {
	t.Parallel()
	fw, err := NewFirewall(FirewallConfig{Logger: slog.New(slog.NewTextHandler(t.Output(), nil))}) // its own count
	if err != nil {
		t.Fatal(err)
	}
	base, resident := hubChain(t, fw)
	move := `{"centre_id":"riesa","slot_start":"2021-07-06T09:15:00+02:00"}`
	for _, tc := range []struct {
		method, path, body string
		want               int // 0: any answer but the firewall's
	}{
		{"GET", "/api/v1/centres", "", http.StatusOK},
		{"GET", "/api/v1/centres/riesa/slots", "", http.StatusOK},
		{"GET", "/api/v1/centres/annaberg-buchholz/slots?from=2021-07-05", "", http.StatusOK},
		{"GET", "/api/v1/centres/eich-treuen/slots", "", http.StatusOK},
		{"GET", "/api/v1/centres/l%C3%B6bau/slots", "", http.StatusNotFound},      // Löbau, encoded
		{"GET", "/api/v1/centres/gro%C3%9Fenhain/slots", "", http.StatusNotFound}, // Großenhain
		{"GET", "/api/v1/centres/Stra%C3%9Fe%20des%2017.%20Juni/slots", "", http.StatusNotFound},
		{"GET", "/api/v1/centres/L%C3%B6bau%20(Oberlausitz)/slots", "", http.StatusNotFound},
		{"GET", "/api/v1/centres/O'Connor%20Hinterhaus%2C%202.%20OG/slots", "", http.StatusNotFound},
		{"GET", "/api/v1/centres/Nguy%E1%BB%85n-Wei%C3%9F/slots", "", http.StatusNotFound},
		{"GET", "/api/v1/residents/" + resident, "", 0},
		{"GET", "/api/v1/residents/" + resident + "/entitlement", "", 0},
		{"GET", "/api/v1/residents/" + resident + "/verification", "", 0},
		{"GET", "/api/v1/residents/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", 0},
		{"GET", "/api/v1/appointments/1234567897", "", 0},
		{"GET", "/api/v1/appointments/123%20456%207897", "", 0},
		{"GET", "/api/v1/appointments/123-456-789-7", "", 0},
		{"DELETE", "/api/v1/appointments/1234567897", "", 0},
		{"POST", "/api/v1/appointments/1234567897/move", move, 0},
		{"GET", "/api/v1/mobile-campaigns/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", 0},
		{"GET", "/api/v1/letters/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", 0},
		{"GET", "/api/v1/openapi.json", "", http.StatusOK},
		{"GET", "/api/v1/reports/rki.csv", "", 0},
		{"GET", "/", "", http.StatusOK},
		{"GET", "/registrieren", "", http.StatusOK},
		{"GET", "/zentren?plz=01099", "", http.StatusOK},
		{"GET", "/static/style.css", "", http.StatusOK},
		{"GET", "/konto/terminbestaetigung.pdf", "", 0},
		{"GET", "/buchen/termine?zentrum=chemnitz", "", 0},
	} {
		status, hdr, body := send(t, tc.method, base, tc.path, tc.body)
		if fw.Blocked() != 0 || strings.Contains(body, "waf-") || strings.Contains(body, `data-reason="waf"`) {
			t.Fatalf("%s %s: the firewall refused a real path (%d)\n%.300s", tc.method, tc.path, status, body)
		}
		if tc.want != 0 && status != tc.want {
			t.Errorf("%s %s: %d, want %d\n%.300s", tc.method, tc.path, status, tc.want, body)
		}
		if strings.HasPrefix(tc.path, "/api/") && hdr.Get("X-Correlation-ID") == "" {
			t.Errorf("%s %s: did not reach the API", tc.method, tc.path)
		}
	}
}

// recorded reads a request recorded from the wire (testdata/*.http).
func recorded(tb testing.TB, name string) (*http.Request, []byte) {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		tb.Fatal(err)
	}
	r.RemoteAddr = "192.0.2.10:51234"
	return r, body
}

// BenchmarkFirewall is the firewall's own cost per request (a compiled
// firewall in front of a handler that does nothing) on requests recorded
// from the wire: the portal's slot page, whose p99 is a tracked figure,
// an API call with path parameters and a JSON body, and one whose
// reference has spaces (%20): the one whose path segment is inspected.
func BenchmarkFirewall(b *testing.B) {
	fw, err := testFirewall()
	if err != nil {
		b.Fatal(err)
	}
	h := fw.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	for _, name := range []string{"booking-page.http", "api-move.http", "api-reference-spaced.http"} {
		b.Run(strings.TrimSuffix(name, ".http"), func(b *testing.B) {
			req, body := recorded(b, name)
			before := fw.Blocked()
			b.ReportAllocs()
			for b.Loop() {
				r := req.Clone(req.Context())
				r.Body = io.NopCloser(bytes.NewReader(body))
				h.ServeHTTP(httptest.NewRecorder(), r)
			}
			if fw.Blocked() != before {
				b.Fatalf("the firewall blocked the recorded %s", name)
			}
		})
	}
}
