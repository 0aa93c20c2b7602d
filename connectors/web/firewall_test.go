package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
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
