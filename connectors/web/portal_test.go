package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

var refRE = regexp.MustCompile(`id="reference">(\d+)<`)

func TestResidentRegistersBooksMovesAndCancelsWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, nil)
	c := e.client(t)
	c.get("/registrieren").mustStatus(t, http.StatusOK).mustContain(t, `<label for="given_names">`, `name="csrf"`)
	acc := c.post("/registrieren", zoe()).mustStatus(t, http.StatusOK)
	acc.mustContain(t, "Zoë Renée", "Nguyễn-Weiß", `id="verification"`, `id="entitlement"`, "Sie können jetzt einen Termin buchen")
	if strings.Contains(acc.body, "access_token") {
		t.Fatal("the page shows the access token")
	}
	choose := c.get("/buchen/").mustStatus(t, http.StatusOK)
	// Dresden 01099: the Dresden centre comes first.
	if i, j := strings.Index(choose.body, `data-centre="dresden"`), strings.Index(choose.body, `data-centre="zwickau"`); i < 0 || j < 0 || i > j {
		t.Fatalf("nearest centre not first:\n%s", choose.body)
	}
	slots := c.get("/buchen/termine?zentrum=dresden").mustStatus(t, http.StatusOK).mustContain(t, `<legend>`, "Diesen Termin buchen")
	slot := firstSlot(t, slots)
	done := c.post("/buchen/termine", url.Values{"zentrum": {"dresden"}, "produkt": {formValue(slots.body, "produkt")}, "slot": {slot}}).
		mustStatus(t, http.StatusOK).mustContain(t, "Ihr Termin ist gebucht", "1. Impfung")
	ref := refRE.FindStringSubmatch(done.body)
	if ref == nil {
		t.Fatalf("no reference:\n%s", done.body)
	}
	ap, err := e.hub.App.Appointment(t.Context(), ref[1])
	if err != nil || ap.Status != domain.SeriesBooked || ap.CentreID != "dresden" {
		t.Fatalf("appointment in the core: %+v %v", ap, err)
	}
	if len(ap.Doses) == 2 {
		done.mustContain(t, "2. Impfung")
	}
	// Move to another day.
	c.get("/konto").mustContain(t, ref[1], "Termin verschieben")
	slots = c.get("/buchen/termine?zentrum=dresden").mustContain(t, "/buchen/verschieben")
	days := regexp.MustCompile(`tag=(\d{4}-\d\d-\d\d)`).FindAllStringSubmatch(slots.body, -1)
	slots = c.get("/buchen/termine?zentrum=dresden&tag=" + days[len(days)-1][1])
	newSlot := firstSlot(t, slots)
	c.post("/buchen/verschieben", url.Values{"zentrum": {"dresden"}, "slot": {newSlot}}).mustStatus(t, http.StatusOK).mustContain(t, "verschoben")
	moved, _ := e.hub.App.Appointment(t.Context(), ref[1])
	if got := moved.Doses[0].Start.UTC().Format(time.RFC3339); got != newSlot {
		t.Fatalf("moved to %s, want %s", got, newSlot)
	}
	// Cancel.
	c.get("/konto")
	c.post("/termin/stornieren", nil).mustStatus(t, http.StatusOK).mustContain(t, "storniert")
	if ap, _ := e.hub.App.Appointment(t.Context(), ref[1]); ap.Status != domain.SeriesCancelled {
		t.Fatalf("status after cancel: %s", ap.Status)
	}
	e.hub.CheckInvariants(t)
}

func formValue(body, name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func TestFullSlotIsRefusedWithReasonInTheSameRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	h := e.hub
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 9, 0), 1)
	h.Slot(t, h.At(day, 10, 0), 1)
	h.Deliver(t, "test", domain.Janssen, 10, h.Today())
	c := e.client(t)
	form := zoe()
	form.Set("postal_code", "01587")
	c.get("/registrieren")
	c.post("/registrieren", form).mustStatus(t, http.StatusOK)
	slots := c.get("/buchen/termine?zentrum=test&produkt=janssen").mustStatus(t, http.StatusOK)
	slot := firstSlot(t, slots)
	// Someone else takes the place meanwhile.
	other := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	start, _ := time.Parse(time.RFC3339, slot)
	if _, err := h.App.Book(t.Context(), bookingFor(other.Resident.ID, other.AccessToken, start)); err != nil {
		t.Fatalf("other booking: %v", err)
	}
	p := c.post("/buchen/termine", url.Values{"zentrum": {"test"}, "produkt": {"janssen"}, "slot": {slot}}).mustStatus(t, http.StatusConflict)
	p.mustContain(t, `role="alert"`, "ausgebucht")
	if strings.Contains(p.body, `value="`+slot+`"`) {
		t.Fatal("the full slot is still offered")
	}
	if firstSlot(t, p) == "" {
		t.Fatal("the other free slot must be offered")
	}
}

func TestWaitlistWhenNoSlotIsFree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	e.hub.SingleCentre(t)
	e.hub.OpenRules(t)
	c := e.client(t)
	form := zoe()
	form.Set("postal_code", "01587")
	c.get("/registrieren")
	c.post("/registrieren", form)
	c.get("/buchen/termine?zentrum=test").mustStatus(t, http.StatusOK).mustContain(t, `id="no-slots"`, "Warteliste")
	c.post("/buchen/warteliste", url.Values{"zentrum": {"test"}}).mustStatus(t, http.StatusOK).mustContain(t, "Warteliste")
	if n := e.hub.Count(t, "SELECT count(*) FROM waitlist"); n != 1 {
		t.Fatalf("waitlist entries: %d", n)
	}
}

func TestFormWithoutCSRFTokenIsRefusedLoggedAndCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	c := e.client(t)
	c.get("/registrieren")
	p := c.post("/registrieren", url.Values{"csrf": {"forged"}, "given_names": {"X"}}).mustStatus(t, http.StatusForbidden)
	p.mustContain(t, `data-reason="csrf"`, "Formular ist abgelaufen")
	// A token of another session does not count either.
	other := e.client(t)
	other.get("/registrieren")
	tok := csrfRE.FindStringSubmatch(other.last.body)[1]
	c.post("/registrieren", url.Values{"csrf": {tok}}).mustStatus(t, http.StatusForbidden)
}

func TestSecurityHeadersOnEveryPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	c := e.client(t)
	for _, path := range []string{"/", "/registrieren", "/zentren?plz=04109", "/nix"} {
		h := c.get(path).header
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if h.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS without TLS", path)
		}
		if strings.Contains(c.last.body, "<script>") || strings.Contains(c.last.body, "style=") {
			t.Errorf("%s: inline script or style", path)
		}
	}
	for _, ck := range c.http.Jar.Cookies(mustURL(e.srv.URL)) {
		if ck.Name == cookieSession && len(ck.Value) < 20 {
			t.Errorf("session cookie %q", ck.Value)
		}
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

func TestSessionCookieIsHttpOnlyStrictAndHoldsNoReadableToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, nil)
	c := e.client(t)
	c.get("/registrieren")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/registrieren", strings.NewReader(withCSRF(c, zoe()).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Jar: c.http.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d", resp.StatusCode)
	}
	var found bool
	for _, ck := range resp.Cookies() {
		if ck.Name == cookieSession {
			found = true
			if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
				t.Fatalf("session cookie %+v", ck)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie after registering")
	}
}

func withCSRF(c *client, v url.Values) url.Values {
	v.Set("csrf", csrfRE.FindStringSubmatch(c.last.body)[1])
	return v
}

func TestPerIPRateLimitShowsAClearPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, func(c *Config) { c.IPRate, c.IPBurst = 0.01, 3 })
	c := e.client(t)
	for range 3 {
		c.get("/").mustStatus(t, http.StatusOK)
	}
	p := c.get("/").mustStatus(t, http.StatusTooManyRequests).mustContain(t, `data-reason="rate-ip"`)
	if p.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestPerSessionRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, func(c *Config) { c.SessionRate, c.SessionBurst = 0.01, 2 })
	c := e.client(t)
	c.get("/")
	c.get("/")
	c.get("/").mustStatus(t, http.StatusTooManyRequests).mustContain(t, `data-reason="rate-session"`)
	e.client(t).get("/").mustStatus(t, http.StatusOK) // another browser is not affected
}

func TestCentresNearestFirstByPostalCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, nil)
	c := e.client(t)
	for code, first := range map[string]string{"04109": "Impfzentrum Leipzig", "08523": "Impfzentrum", "02826": "Löbau", "09111": "Chemnitz"} {
		p := c.get("/zentren?plz="+code).mustStatus(t, http.StatusOK)
		i := strings.Index(p.body, `<ol class="centres"`)
		li := p.body[i : i+300]
		if !strings.Contains(li, first) {
			t.Errorf("%s: first centre is not %s: %s", code, first, li)
		}
	}
	c.get("/zentren?plz=80331").mustContain(t, "nicht in Sachsen")
}

func TestEnglishViaQueryAndCookie(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	c := e.client(t)
	c.get("/?lang=en").mustContain(t, `<html lang="en">`, "COVID-19 vaccination in Saxony", `href="?lang=de"`)
	c.get("/registrieren").mustContain(t, `<html lang="en">`, "Date of birth")
	c.get("/?lang=de").mustContain(t, `<html lang="de">`, "Corona-Schutzimpfung")
}

func TestRegistrationErrorsNameTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	c := e.client(t)
	c.get("/registrieren")
	f := zoe()
	f.Set("birth_date", "31.02.")
	f.Set("family_name", "")
	p := c.post("/registrieren", f).mustStatus(t, http.StatusUnprocessableEntity)
	p.mustContain(t, `id="birth_date" name="birth_date" value="31.02."`, `aria-invalid="true" aria-describedby="birth_date-error"`, `id="family_name-error"`)
	f = zoe()
	f.Set("given_names", "Zoë<script>")
	c.post("/registrieren", f).mustStatus(t, http.StatusUnprocessableEntity).mustContain(t, `aria-describedby="given_names-error"`, "Zoë&lt;script&gt;")
}

func TestPortalLeavesAPIRoutesAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	if p := e.client(t).get("/api/v1/x"); p.body != "API" {
		t.Fatalf("/api/ reached the portal: %q", p.body)
	}
}

func TestConfigIsValidated(t *testing.T) {
	if _, err := New(Config{Secret: testSecret}); err == nil {
		t.Fatal("no App: want an error")
	}
	e := newEnv(t, 0, nil)
	for name, c := range map[string]Config{
		"short secret":         {App: e.hub.App, Pool: e.hub.Pool, Secret: []byte("short")},
		"no pool":              {App: e.hub.App, Secret: testSecret},
		"idle under a minute":  {App: e.hub.App, Pool: e.hub.Pool, Secret: testSecret, SessionIdleTimeout: time.Second},
		"absolute before idle": {App: e.hub.App, Pool: e.hub.Pool, Secret: testSecret, SessionAbsoluteTimeout: 10 * time.Minute},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
	if _, err := New(Config{App: e.hub.App, Pool: e.hub.Pool, Secret: testSecret}); err != nil {
		t.Fatalf("defaults: %v", err)
	}
}

func bookingFor(residentID, token string, start time.Time) app.BookingInput {
	return app.BookingInput{AccessToken: token, ResidentID: residentID, CentreID: "test", Product: domain.Janssen, SlotStart: start}
}

// TestRegistrationAsksHowToNotify: the form offers post, SMS and e-mail with
// a consent checkbox (German and English); SMS without consent is refused
// naming the checkbox; with consent the resident is stored with SMS, the
// number in E.164 form and the consent time.
func TestRegistrationAsksHowToNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1, nil)
	c := e.client(t)
	c.get("/registrieren").mustStatus(t, http.StatusOK).mustContain(t, "Benachrichtigung per Post", "Benachrichtigung per SMS",
		"Benachrichtigung per E-Mail", `id="notify-post" name="notify" value="post" checked`, `<input type="checkbox" id="consent" name="consent" value="1">`)
	c.get("/registrieren?lang=en").mustContain(t, "Notify me by post", "Notify me by SMS", "I agree to receive")
	c.get("/registrieren?lang=de")
	f := zoe()
	f.Set("phone", "0351 7654321")
	f.Set("notify", "sms")
	c.post("/registrieren", f).mustStatus(t, http.StatusUnprocessableEntity).
		mustContain(t, `id="consent-error"`, "Einverständnis", `id="notify-sms" name="notify" value="sms" checked`)
	f.Set("consent", "1")
	c.post("/registrieren", f).mustStatus(t, http.StatusOK)
	var channel, phone string
	var consent *time.Time
	if err := e.hub.Pool.QueryRow(t.Context(), `SELECT contact_channel, phone, contact_consent_at FROM residents WHERE given_names = 'Zoë Renée'`).
		Scan(&channel, &phone, &consent); err != nil {
		t.Fatal(err)
	}
	if channel != "sms" || phone != "+493517654321" || consent == nil {
		t.Errorf("stored contact: %s %s %v", channel, phone, consent)
	}
}
