package web

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/vaxhub/vaxhub/core/domain"
)

var personRE = regexp.MustCompile(`name="person" value="([^"]+)"`)

// The relative registers Opa Horst (new proxy), then Oma Zoë under the same
// proxy, books for Zoë, lists both, switches between them and downloads the
// confirmation letter; another browser cannot.
func TestProxyRegistersTwoPeopleBooksAndDownloadsTheLetter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, nil)
	c := e.client(t)
	reg := c.get("/registrieren").mustStatus(t, http.StatusOK)
	reg.mustContain(t, `<label for="as_proxy">Ich registriere eine andere Person (Angehörige/r)</label>`,
		`<label for="proxy_name">`, `<label for="proxy_phone">`, `<label for="proxy_email">`)

	// The option without the proxy's name is refused on the field.
	horst := zoe()
	horst.Set("given_names", "Horst")
	horst.Set("family_name", "Müller")
	horst.Set("birth_date", "02.02.1936")
	horst.Set("sex", "m")
	horst.Set("as_proxy", "1")
	c.post("/registrieren", horst).mustStatus(t, http.StatusUnprocessableEntity).mustContain(t, `id="proxy_name-error"`)

	horst.Set("proxy_name", "Jana Müller")
	horst.Set("proxy_phone", "+49 351 7654321")
	horst.Set("proxy_email", "jana@example.de")
	acc := c.post("/registrieren", horst).mustStatus(t, http.StatusOK).mustContain(t, "Horst Müller", `id="people"`, `id="add-person"`)
	if strings.Contains(acc.body, "token") {
		t.Fatalf("the account page mentions a token:\n%s", acc.body)
	}
	// Another person under the same proxy: no proxy fields, a notice.
	second := c.get("/registrieren").mustStatus(t, http.StatusOK).mustContain(t, "weitere Person")
	if strings.Contains(second.body, `id="as_proxy"`) {
		t.Fatal("a signed-in proxy is offered to become a new proxy")
	}
	acc = c.post("/registrieren", zoe()).mustStatus(t, http.StatusOK).mustContain(t, "Zoë Renée", "Horst Müller")
	people := personRE.FindAllStringSubmatch(acc.body, -1)
	if len(people) != 1 || !strings.Contains(acc.body, "Nguyễn-Weiß") {
		t.Fatalf("want both people, one switch button:\n%s", acc.body)
	}
	horstID := people[0][1]
	horstRes, err := e.hub.App.Resident(t.Context(), horstID)
	if err != nil || horstRes.GivenNames != "Horst" || horstRes.ProxyID == "" {
		t.Fatalf("Horst in the core: %+v %v", horstRes, err)
	}

	// Book for Zoë (the second person) with the proxy's session.
	slots := c.get("/buchen/termine?zentrum=dresden").mustStatus(t, http.StatusOK)
	done := c.post("/buchen/termine", url.Values{"zentrum": {"dresden"}, "produkt": {formValue(slots.body, "produkt")}, "slot": {firstSlot(t, slots)}}).
		mustStatus(t, http.StatusOK).mustContain(t, "Ihr Termin ist gebucht", "Terminbestätigung als PDF")
	ref := refRE.FindStringSubmatch(done.body)[1]
	ap, err := e.hub.App.Appointment(t.Context(), ref)
	if err != nil || ap.Status != domain.SeriesBooked {
		t.Fatalf("appointment: %+v %v", ap, err)
	}
	zoeRes, _ := e.hub.App.Resident(t.Context(), ap.ResidentID)
	if zoeRes.GivenNames != "Zoë Renée" || zoeRes.ProxyID != horstRes.ProxyID {
		t.Fatalf("booked for %+v, want Zoë under Horst's proxy", zoeRes)
	}
	mine, err := e.hub.App.ResidentsOfProxy(t.Context(), horstRes.ProxyID, "wrong")
	if err == nil || mine != nil {
		t.Fatal("ResidentsOfProxy accepted a wrong token")
	}

	// The account lists both, Zoë with her appointment.
	acc = c.get("/konto").mustStatus(t, http.StatusOK).mustContain(t, "Horst Müller", "Zoë Renée Nguyễn-Weiß", "Termin gebucht", ref)

	// The letter.
	pdf := c.get("/konto/terminbestaetigung.pdf?buchung="+ref).mustStatus(t, http.StatusOK)
	checkLetter(t, pdf, ref, "Zoë Renée Nguyễn-Weiß")
	c.get("/konto/terminbestaetigung.pdf").mustStatus(t, http.StatusOK) // the session's own

	// Switch to Horst: his page, no appointment; Zoë's letter still his proxy's to download.
	c.get("/konto")
	c.post("/konto/person", url.Values{"person": {horstID}}).mustStatus(t, http.StatusOK).mustContain(t, "Horst Müller", `id="book-link"`)
	c.get("/konto/terminbestaetigung.pdf").mustStatus(t, http.StatusNotFound)
	checkLetter(t, c.get("/konto/terminbestaetigung.pdf?buchung="+ref).mustStatus(t, http.StatusOK), ref, "Zoë Renée Nguyễn-Weiß")

	// A stranger: a fresh browser, and a resident of their own.
	other := e.client(t)
	other.get("/konto/terminbestaetigung.pdf?buchung="+ref).mustStatus(t, http.StatusForbidden)
	other.get("/registrieren")
	other.post("/registrieren", zoe()).mustStatus(t, http.StatusOK)
	if p := other.get("/konto/terminbestaetigung.pdf?buchung=" + ref); p.status != http.StatusNotFound || strings.HasPrefix(p.body, "%PDF") {
		t.Fatalf("a stranger got the letter: %d", p.status)
	}
	// Someone else's reference, an unknown one and a malformed one get the
	// same answer: the PDF does not tell which references exist.
	strangers := map[string]string{}
	for _, r := range []string{ref, "1000000009", "1234567895"} {
		p := other.get("/konto/terminbestaetigung.pdf?buchung=" + r)
		strangers[r] = strconv.Itoa(p.status) + " " + strings.ReplaceAll(p.body, r, "REF")
	}
	if strangers[ref] != strangers["1000000009"] || strangers[ref] != strangers["1234567895"] {
		t.Errorf("the letter download tells references apart:\n%.200s\n%.200s\n%.200s", strangers[ref], strangers["1000000009"], strangers["1234567895"])
	}
	other.get("/konto")
	other.post("/konto/person", url.Values{"person": {horstID}}).mustStatus(t, http.StatusForbidden)
	e.hub.CheckInvariants(t)
}

func checkLetter(t *testing.T, p page, ref, name string) {
	t.Helper()
	if ct := p.header.Get("Content-Type"); ct != "application/pdf" {
		t.Fatalf("Content-Type %q", ct)
	}
	if cd := p.header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, ref) {
		t.Fatalf("Content-Disposition %q", cd)
	}
	if !strings.HasPrefix(p.body, "%PDF-") || len(p.body) < 10_000 {
		t.Fatalf("not a PDF: %d bytes", len(p.body))
	}
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Log("pdftotext is not on PATH: checked the %PDF header and size only, not the text")
		return
	}
	in := filepath.Join(t.TempDir(), "letter.pdf")
	if err := os.WriteFile(in, []byte(p.body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-enc", "UTF-8", in, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	if !bytes.Contains(out, []byte(name)) {
		t.Fatalf("the letter lacks %q:\n%s", name, out)
	}
	// The letter prints the reference in groups of digits (1048 9398 08).
	if !bytes.Contains(bytes.ReplaceAll(out, []byte(" "), nil), []byte("Buchungsnummer"+ref)) {
		t.Fatalf("the letter lacks the reference %s:\n%s", ref, out)
	}
}

// A relative registers two people in a real browser; the proxy parts of the
// registration form and the account's list of people pass axe.
func TestBrowserProxyPagesPassAxe(t *testing.T) {
	t.Parallel()
	ctx := newBrowser(t)
	e := newEnv(t, 40, nil)
	base := e.srv.URL
	horst := zoe()
	horst.Set("given_names", "Horst")
	steps := []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/registrieren"), chromedp.WaitVisible(chromedp.ID("as_proxy"))}
	for _, name := range []string{"given_names", "family_name", "birth_date", "street", "postal_code", "city"} {
		steps = append(steps, chromedp.SendKeys(chromedp.ID(name), horst.Get(name)))
	}
	steps = append(steps, chromedp.Click(chromedp.ID("as_proxy")), chromedp.SendKeys(chromedp.ID("proxy_name"), "Jana Müller"),
		chromedp.Click(chromedp.ID("register-submit")), chromedp.WaitVisible(chromedp.ID("people")))
	run(t, ctx, "register as proxy", steps...)
	checkAxe(t, ctx, "account of a proxy")
	run(t, ctx, "register another person", chromedp.Click(chromedp.ID("add-person")), chromedp.WaitVisible(chromedp.ID("page-notice")))
	checkAxe(t, ctx, "register another person")
	registerInBrowser(t, ctx, base, zoe())
	run(t, ctx, "both listed", chromedp.WaitVisible(chromedp.CSS(`#people form button`)))
	checkAxe(t, ctx, "account of a proxy with two people")
	if got := text(t, ctx, "#people"); !strings.Contains(got, "Horst") || !strings.Contains(got, "Zoë") {
		t.Fatalf("people: %q", got)
	}
}
