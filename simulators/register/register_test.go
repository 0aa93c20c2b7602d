package register_test

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/register"
)

const testSize = 20_000

var (
	sharedOnce sync.Once
	sharedURL  string
	sharedErr  error
)

// shared is one simulator of 20,000 residents for the read-only tests.
func shared(t *testing.T) string {
	t.Helper()
	sharedOnce.Do(func() {
		s, err := register.New(register.Config{Seed: 7, Size: testSize})
		if err != nil {
			sharedErr = err
			return
		}
		sharedURL = httptest.NewServer(s.Handler()).URL // lives for the whole test binary
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedURL
}

type resident struct {
	ID             string   `json:"id"`
	Kind           string   `json:"kind"`
	Status         string   `json:"status"`
	Family         string   `json:"family"`
	Given          []string `json:"given"`
	Gender         string   `json:"gender"`
	BirthDate      string   `json:"birth_date"`
	Age            int      `json:"age"`
	Street         string   `json:"street"`
	PostalCode     string   `json:"postal_code"`
	Municipality   string   `json:"municipality_key"`
	DistrictAGS    string   `json:"district_ags"`
	DeceasedDate   string   `json:"deceased_date"`
	SameNameAndDoB []string `json:"same_name_and_birth_date"`
	FHIRSearch     string   `json:"fhir_search"`
}

type sampleAnswer struct {
	Count     int        `json:"count"`
	Residents []resident `json:"residents"`
}

type bundle struct {
	ResourceType string `json:"resourceType"`
	Type         string `json:"type"`
	Total        int    `json:"total"`
	Entry        []struct {
		FullURL string `json:"fullUrl"`
		Search  struct {
			Score float64 `json:"score"`
		} `json:"search"`
		Resource patient `json:"resource"`
	} `json:"entry"`
	Issue []issue `json:"issue"`
}

type issue struct {
	Severity string `json:"severity"`
	Code     string `json:"code"`
	Details  struct {
		Coding []struct {
			Code string `json:"code"`
		} `json:"coding"`
	} `json:"details"`
	Diagnostics string `json:"diagnostics"`
}

type patient struct {
	ResourceType     string `json:"resourceType"`
	ID               string `json:"id"`
	DeceasedDateTime string `json:"deceasedDateTime"`
	BirthDate        string `json:"birthDate"`
	Gender           string `json:"gender"`
	Extension        []struct {
		URL       string `json:"url"`
		ValueCode string `json:"valueCode"`
	} `json:"extension"`
	Name []struct {
		Family string   `json:"family"`
		Given  []string `json:"given"`
	} `json:"name"`
	Address []struct {
		Use        string `json:"use"`
		State      string `json:"state"`
		Country    string `json:"country"`
		PostalCode string `json:"postalCode"`
		Period     *struct {
			Start string `json:"start"`
			End   string `json:"end"`
		} `json:"period"`
	} `json:"address"`
	Issue []issue `json:"issue"`
}

const requestID = "60e4b8a8-4d1c-4f4e-9d1c-2b0a4b0a4b0a"

// get fetches base+path with an X-Request-ID and decodes JSON into out.
func get(t *testing.T, base, path string, out any) *http.Response {
	t.Helper()
	return getWith(t, base, path, map[string]string{"X-Request-ID": requestID}, out)
}

func getWith(t *testing.T, base, path string, header map[string]string, out any) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("GET %s: %d %s: %v", path, resp.StatusCode, body, err)
		}
	}
	return resp
}

func sample(t *testing.T, base, query string) []resident {
	t.Helper()
	var a sampleAnswer
	if resp := get(t, base, "/_sim/residents/sample?"+query, &a); resp.StatusCode != http.StatusOK {
		t.Fatalf("sample %s: %d", query, resp.StatusCode)
	}
	return a.Residents
}

// find pages through normal residents until pred holds.
func find(t *testing.T, base string, what string, pred func(resident) bool) resident {
	t.Helper()
	for page := 0; page < 40; page++ {
		for _, r := range sample(t, base, fmt.Sprintf("n=1000&page=%d", page)) {
			if pred(r) {
				return r
			}
		}
	}
	t.Fatalf("no resident %s in the sample", what)
	return resident{}
}

func search(t *testing.T, base string, v url.Values) bundle {
	t.Helper()
	var b bundle
	if resp := get(t, base, "/Patient?"+v.Encode(), &b); resp.StatusCode != http.StatusOK {
		t.Fatalf("search %s: %d %+v", v.Encode(), resp.StatusCode, b.Issue)
	}
	return b
}

func outcomeCode(b bundle) string {
	if len(b.Issue) == 0 || len(b.Issue[0].Details.Coding) == 0 {
		return ""
	}
	return b.Issue[0].Details.Coding[0].Code
}

func ids(b bundle) []string {
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ID)
	}
	return out
}

func TestExactSearchFindsSampledResident(t *testing.T) {
	base := shared(t)
	for _, r := range sample(t, base, "n=25") {
		b := search(t, base, url.Values{"family": {r.Family}, "given": {strings.Join(r.Given, " ")}, "birthdate": {"eq" + r.BirthDate}})
		if b.ResourceType != "Bundle" || b.Type != "searchset" || b.Total != 1 || len(b.Entry) != 1 {
			t.Fatalf("%s %v %s: want one entry, got %+v", r.Family, r.Given, r.BirthDate, b)
		}
		e := b.Entry[0]
		if e.Resource.ID != r.ID || e.Search.Score != 1 || !strings.HasSuffix(e.FullURL, "/Patient/"+r.ID) {
			t.Errorf("%s: got %s score %v url %s", r.ID, e.Resource.ID, e.Search.Score, e.FullURL)
		}
		// The sample's own search link finds the same resident.
		if b := search(t, base, mustQuery(t, r.FHIRSearch)); b.Total != 1 || b.Entry[0].Resource.ID != r.ID {
			t.Errorf("fhir_search %s: %+v", r.FHIRSearch, ids(b))
		}
	}
}

func mustQuery(t *testing.T, path string) url.Values {
	u, err := url.Parse(path)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestFuzzySearchToleratesHowPeopleTypeNames(t *testing.T) {
	base := shared(t)
	hasFamily := func(f string) func(resident) bool { return func(r resident) bool { return r.Family == f } }
	cases := []struct {
		name   string
		pick   func(resident) bool
		family func(resident) string
		given  func(resident) string
	}{
		{"umlaut typed as ue", hasFamily("Müller"), func(resident) string { return "Mueller" }, first},
		{"ß typed as ss", hasFamily("Weiß"), func(resident) string { return "Weiss" }, first},
		{"diacritics dropped", hasFamily("Ćosić"), func(resident) string { return "Cosic" }, first},
		{"upper case", hasFamily("Böhme"), func(resident) string { return "BÖHME" }, first},
		{"phonetic spelling", hasFamily("Meier"), func(resident) string { return "Mayer" }, first},
		{"second given name missing", func(r resident) bool { return len(r.Given) == 2 && !strings.Contains(r.Family, "-") },
			func(r resident) string { return r.Family }, first},
		{"given names swapped", func(r resident) bool { return len(r.Given) == 2 },
			func(r resident) string { return r.Family }, func(r resident) string { return r.Given[1] + " " + r.Given[0] }},
		{"family and given transposed", func(r resident) bool { return len(r.Given) == 1 && !strings.Contains(r.Family, "-") },
			func(r resident) string { return r.Given[0] }, func(r resident) string { return r.Family }},
		{"one part of a double name", func(r resident) bool { return strings.Count(r.Family, "-") == 1 && !strings.HasPrefix(r.Family, "Al-") },
			func(r resident) string { return strings.Split(r.Family, "-")[0] }, first},
		{"hyphenated given name typed apart", func(r resident) bool { return strings.Contains(r.Given[0], "-") },
			func(r resident) string { return r.Family }, func(r resident) string { return strings.ReplaceAll(r.Given[0], "-", " ") }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := find(t, base, c.name, c.pick)
			v := url.Values{"family": {c.family(r)}, "given": {c.given(r)}, "birthdate": {"eq" + r.BirthDate},
				"_fuzzy-match": {"true"}, "_max-results": {"50"}}
			b := search(t, base, v)
			if b.Total == 0 || b.Entry[0].Resource.ID != r.ID {
				t.Fatalf("%s %v (%s): fuzzy %v found %v", r.Family, r.Given, r.ID, v, ids(b))
			}
			if s := b.Entry[0].Search.Score; s < 0.75 || s > 1 {
				t.Errorf("score %v outside 0.75..1", s)
			}
			for k := 1; k < len(b.Entry); k++ {
				if b.Entry[k].Search.Score > b.Entry[k-1].Search.Score {
					t.Errorf("entries not sorted best first: %v", b.Entry)
				}
			}
		})
	}
}

func first(r resident) string { return r.Given[0] }

func TestNonFuzzySearchNeedsTheSpellingOfTheRegister(t *testing.T) {
	base := shared(t)
	r := find(t, base, "Müller", func(r resident) bool { return r.Family == "Müller" })
	v := url.Values{"family": {"Mueller"}, "given": {r.Given[0]}, "birthdate": {"eq" + r.BirthDate}, "_max-results": {"50"}}
	if b := search(t, base, v); slices.Contains(ids(b), r.ID) {
		t.Errorf("non-fuzzy Mueller found Müller %s", r.ID)
	}
	v.Set("family", "Mü*")
	if b := search(t, base, v); !slices.Contains(ids(b), r.ID) {
		t.Errorf("wildcard Mü* did not find Müller %s: %v", r.ID, ids(b))
	}
}

func TestBlockedResidentsAreNeverReturned(t *testing.T) {
	base := shared(t)
	blocked := sample(t, base, "kind=blocked&n=30")
	if len(blocked) < 20 {
		t.Fatalf("only %d blocked residents", len(blocked))
	}
	for _, r := range blocked {
		for _, fuzzy := range []string{"false", "true"} {
			v := url.Values{"family": {r.Family}, "given": {r.Given[0]}, "birthdate": {"eq" + r.BirthDate},
				"_fuzzy-match": {fuzzy}, "_max-results": {"50"}}
			if b := search(t, base, v); slices.Contains(ids(b), r.ID) {
				t.Errorf("blocked %s returned by search (fuzzy %s)", r.ID, fuzzy)
			}
		}
		var p patient
		if resp := get(t, base, "/Patient/"+r.ID, &p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET blocked %s: %d, want 404", r.ID, resp.StatusCode)
		}
		if x := xmeldSearch(t, base, r, false); strings.Contains(x, r.ID) {
			t.Errorf("blocked %s returned by XMeld", r.ID)
		}
	}
}

func TestDeceasedResidentsCarryDeceasedDateTime(t *testing.T) {
	base := shared(t)
	for _, r := range sample(t, base, "kind=deceased&n=10") {
		b := search(t, base, url.Values{"family": {r.Family}, "given": {strings.Join(r.Given, " ")}, "birthdate": {"eq" + r.BirthDate}, "_max-results": {"50"}})
		k := slices.Index(ids(b), r.ID)
		if k < 0 {
			t.Fatalf("deceased %s not found: %v", r.ID, ids(b))
		}
		p := b.Entry[k].Resource
		if r.DeceasedDate == "" || !strings.HasPrefix(p.DeceasedDateTime, r.DeceasedDate+"T") {
			t.Errorf("%s: deceasedDateTime %q, sample says %q", r.ID, p.DeceasedDateTime, r.DeceasedDate)
		}
		if p.DeceasedDateTime < p.BirthDate || p.DeceasedDateTime > "2021-01-01" {
			t.Errorf("%s: died %s, born %s", r.ID, p.DeceasedDateTime, p.BirthDate)
		}
		if len(p.Extension) == 0 || p.Extension[0].ValueCode != "deceased" {
			t.Errorf("%s: status extension %+v", r.ID, p.Extension)
		}
	}
	for _, r := range sample(t, base, "n=10") {
		var p patient
		get(t, base, "/Patient/"+r.ID, &p)
		if p.DeceasedDateTime != "" {
			t.Errorf("living %s has deceasedDateTime %s", r.ID, p.DeceasedDateTime)
		}
	}
}

func TestMovedOutResidentsLiveOutsideSaxony(t *testing.T) {
	base := shared(t)
	for _, r := range sample(t, base, "kind=moved&n=20") {
		var p patient
		if resp := get(t, base, "/Patient/"+r.ID, &p); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", r.ID, resp.StatusCode)
		}
		inSaxony := false
		oldEnded := false
		for _, a := range p.Address {
			if a.Use == "home" && a.State == "DE-SN" {
				inSaxony = true
			}
			if a.Use == "old" && a.State == "DE-SN" && a.Period != nil && a.Period.End != "" {
				oldEnded = true
			}
		}
		if inSaxony || !oldEnded {
			t.Errorf("moved %s: addresses %+v", r.ID, p.Address)
		}
		if !strings.HasPrefix(r.Status, "moved-") || p.Extension[0].ValueCode != r.Status {
			t.Errorf("moved %s: status %q / %q", r.ID, r.Status, p.Extension[0].ValueCode)
		}
	}
}

func TestAmbiguousPairIsTooManyMatchesOrTwoEntries(t *testing.T) {
	base := shared(t)
	pairs := sample(t, base, "kind=ambiguous&n=5")
	if len(pairs) == 0 {
		t.Fatal("no ambiguous residents")
	}
	for _, r := range pairs {
		if len(r.SameNameAndDoB) == 0 {
			t.Fatalf("ambiguous %s has no twin", r.ID)
		}
		v := url.Values{"family": {r.Family}, "given": {strings.Join(r.Given, " ")}, "birthdate": {"eq" + r.BirthDate}}
		// Default _max-results is 1, as in the PDS application-restricted mode.
		b := search(t, base, v)
		if b.ResourceType != "OperationOutcome" || outcomeCode(b) != "TOO_MANY_MATCHES" || b.Issue[0].Code != "multiple-matches" {
			t.Errorf("%s: want TOO_MANY_MATCHES, got %+v", r.ID, b)
		}
		v.Set("_max-results", "10")
		b = search(t, base, v)
		got := ids(b)
		if !slices.Contains(got, r.ID) || !slices.Contains(got, r.SameNameAndDoB[0]) || b.Total != len(got) {
			t.Errorf("%s and %s: got %v", r.ID, r.SameNameAndDoB[0], got)
		}
		for _, e := range b.Entry {
			if e.Search.Score != 1 {
				t.Errorf("%s: score %v", e.Resource.ID, e.Search.Score)
			}
		}
	}
}

func TestRequestIDIsMandatory(t *testing.T) {
	base := shared(t)
	r := sample(t, base, "n=1")[0]
	for _, path := range []string{"/Patient/" + r.ID, r.FHIRSearch} {
		var b bundle
		resp := getWith(t, base, path, nil, &b)
		if resp.StatusCode != http.StatusBadRequest || b.ResourceType != "OperationOutcome" || outcomeCode(b) != "MISSING_VALUE" {
			t.Errorf("%s without X-Request-ID: %d %+v", path, resp.StatusCode, b)
		}
		resp = getWith(t, base, path, map[string]string{"X-Request-ID": "not-a-uuid"}, &b)
		if resp.StatusCode != http.StatusBadRequest || outcomeCode(b) != "INVALID_VALUE" {
			t.Errorf("%s with a bad X-Request-ID: %d %+v", path, resp.StatusCode, b)
		}
	}
	resp := getWith(t, base, "/Patient/"+r.ID, map[string]string{"X-Request-ID": requestID, "X-Correlation-ID": "abc"}, nil)
	if resp.Header.Get("X-Request-ID") != requestID || resp.Header.Get("X-Correlation-ID") != "abc" {
		t.Errorf("request and correlation IDs not echoed: %v", resp.Header)
	}
}

func TestSearchErrorsUsePDSCodes(t *testing.T) {
	base := shared(t)
	cases := []struct {
		query, code string
	}{
		{"", "UNSUPPORTED_SERVICE"},
		{"family=Müller&birthdate=eq1950-04-12&colour=blue", "ADDITIONAL_PROPERTIES"},
		{"family=Müller&birthdate=eq1950-04-12&gender=mal", "INVALID_VALUE"},
		{"family=Müller&birthdate=eq1950-13-12", "INVALID_VALUE"},
		{"family=Müller&birthdate=eq1950-04-12&_max-results=51", "INVALID_VALUE"},
		{"family=Müller", "INVALID_SEARCH_DATA"},
		{"given=Jürgen&birthdate=eq1950-04-12", "INVALID_SEARCH_DATA"},
		{"family=Müller&birthdate=eq1950-04-12&_fuzzy-match=true", "INVALID_SEARCH_DATA"},
		{"family=Mü*&given=Jürgen&birthdate=eq1950-04-12&_fuzzy-match=true", "INVALID_SEARCH_DATA"},
	}
	for _, c := range cases {
		var b bundle
		resp := get(t, base, "/Patient?"+c.query, &b)
		if resp.StatusCode != http.StatusBadRequest || outcomeCode(b) != c.code || b.Issue[0].Severity != "error" {
			t.Errorf("%q: %d %+v, want 400 %s", c.query, resp.StatusCode, b.Issue, c.code)
		}
	}
	var b bundle
	get(t, base, "/Patient?family=Zzyzx&birthdate=eq1950-04-12", &b)
	if b.ResourceType != "Bundle" || b.Total != 0 || len(b.Entry) != 0 {
		t.Errorf("empty search: %+v", b)
	}
}

func TestReadPatientByID(t *testing.T) {
	base := shared(t)
	r := sample(t, base, "n=1&min_age=80")[0]
	var p patient
	resp := get(t, base, "/Patient/"+r.ID, &p)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("ETag") != `W/"1"` || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/fhir+json") {
		t.Fatalf("GET %s: %d %v", r.ID, resp.StatusCode, resp.Header)
	}
	if p.ResourceType != "Patient" || p.ID != r.ID || p.BirthDate != r.BirthDate || p.Gender != r.Gender ||
		p.Name[0].Family != r.Family || !slices.Equal(p.Name[0].Given, r.Given) || r.Age < 80 {
		t.Errorf("patient %+v does not match sample %+v", p, r)
	}
	if a := p.Address[0]; a.State != "DE-SN" || a.PostalCode != r.PostalCode || a.Country != "DE" {
		t.Errorf("address %+v", a)
	}
	for path, status := range map[string]int{"/Patient/abc": 400, "/Patient/1234567890": 400, "/Patient/" + luhnID("999999999"): 404} {
		var o patient
		if resp := get(t, base, path, &o); resp.StatusCode != status || o.ResourceType != "OperationOutcome" {
			t.Errorf("GET %s: %d %+v, want %d", path, resp.StatusCode, o, status)
		}
	}
}

// luhnID appends a Luhn check digit to nine digits.
func luhnID(s string) string {
	sum := 0
	for k := 0; k < len(s); k++ {
		d := int(s[len(s)-1-k] - '0')
		if k%2 == 0 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

const xmeldRequest = `<?xml version="1.0" encoding="UTF-8"?>
<xmeld:datenabruf.personensuche.suchanfrage.1330 xmlns:xmeld="http://www.osci.de/xmeld2511a">
 <nachrichtenkopf.g2g><identifikation.nachricht>
  <nachrichtenUUID>%s</nachrichtenUUID><nachrichtentyp><code>1330</code></nachrichtentyp>
  <erstellungszeitpunkt>2021-01-11T08:00:00Z</erstellungszeitpunkt></identifikation.nachricht>
  <leser><kennung>ags:14000000</kennung></leser><autor><kennung>dbs:140000000001</kennung></autor>
 </nachrichtenkopf.g2g>
 <xmeld:datenAbrufendeStelle><behoerdenname>Impfzentrum</behoerdenname><anlassDesAbrufs>Impfberechtigung</anlassDesAbrufs></xmeld:datenAbrufendeStelle>
 <xmeld:suchprofil><xmeld:auswahldaten>
  <xmeld:name><xmeld:name><xmeld:nachnameUndVornamen>
   <xmeld:vornamen><name>%s</name></xmeld:vornamen>
   <xmeld:nachname><name>%s</name></xmeld:nachname>
  </xmeld:nachnameUndVornamen></xmeld:name></xmeld:name>
  <xmeld:anschrift>
   <gemeindeschluessel listVersionID="2025-01-31"><code>%s</code></gemeindeschluessel>
   <postleitzahl>%s</postleitzahl>
  </xmeld:anschrift>
  <xmeld:geburtsdatum><xmeld:geburtsdatum><teilbekanntesDatum>
   <jahrMonatTag>%s</jahrMonatTag></teilbekanntesDatum></xmeld:geburtsdatum></xmeld:geburtsdatum>
 </xmeld:auswahldaten></xmeld:suchprofil>
 <xmeld:steuerungsinformationen><phonetischeSuche>%t</phonetischeSuche></xmeld:steuerungsinformationen>
</xmeld:datenabruf.personensuche.suchanfrage.1330>`

func postXMeld(t *testing.T, base, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/xmeld", "application/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func xmeldSearch(t *testing.T, base string, r resident, phonetic bool) string {
	t.Helper()
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(r.Family))
	status, body := postXMeld(t, base, fmt.Sprintf(xmeldRequest, requestID, strings.Join(r.Given, " "), esc.String(), r.Municipality, "", r.BirthDate, phonetic))
	if status != http.StatusOK {
		t.Fatalf("XMeld search for %s: %d %s", r.ID, status, body)
	}
	return body
}

type trefferliste struct {
	XMLName xml.Name `xml:"datenabruf.personensuche.trefferliste.1331"`
	Anzahl  int      `xml:"anzahlTreffer"`
	Treffer []struct {
		ID     string `xml:"ordnungsmerkmal"`
		Family string `xml:"familienname>name"`
		Given  string `xml:"vornamen>name"`
		Birth  string `xml:"geburtsdatum>teilbekanntesDatum>jahrMonatTag"`
		Postal string `xml:"anschrift>postleitzahl"`
		Muni   string `xml:"anschrift>gemeindeschluessel>code"`
		Dead   string `xml:"verstorben"`
		Verzug string `xml:"verzogen"`
	} `xml:"treffer"`
}

func TestXMeldSearchReturnsTheSameResident(t *testing.T) {
	base := shared(t)
	for _, r := range sample(t, base, "n=10") {
		var tl trefferliste
		if err := xml.Unmarshal([]byte(xmeldSearch(t, base, r, false)), &tl); err != nil {
			t.Fatal(err)
		}
		if tl.Anzahl != 1 || len(tl.Treffer) != 1 {
			t.Fatalf("%s: %d hits", r.ID, tl.Anzahl)
		}
		h := tl.Treffer[0]
		if h.ID != r.ID || h.Family != r.Family || h.Given != strings.Join(r.Given, " ") || h.Birth != r.BirthDate || h.Muni != r.Municipality || h.Postal != r.PostalCode {
			t.Errorf("hit %+v does not match %+v", h, r)
		}
	}
	// The search form and the phonetic search find Müller typed as Mueller.
	r := find(t, base, "Müller", func(r resident) bool { return r.Family == "Müller" })
	r.Family = "Mueller"
	for _, phonetic := range []bool{false, true} {
		if body := xmeldSearch(t, base, r, phonetic); !strings.Contains(body, r.ID) {
			t.Errorf("XMeld (phonetic %t) did not find Müller %s as Mueller: %s", phonetic, r.ID, body)
		}
	}
	// Deceased residents carry the flag and the date.
	d := sample(t, base, "kind=deceased&n=1")[0]
	var tl trefferliste
	if err := xml.Unmarshal([]byte(xmeldSearch(t, base, d, false)), &tl); err != nil || len(tl.Treffer) == 0 || tl.Treffer[0].Dead != "true" {
		t.Errorf("deceased %s: %+v %v", d.ID, tl, err)
	}
	// A municipality key of the whole Land (14000000) searches all of Saxony.
	r = sample(t, base, "n=1&page=3")[0]
	r.Municipality = "14000000"
	if body := xmeldSearch(t, base, r, false); !strings.Contains(body, r.ID) {
		t.Errorf("Land-wide search did not find %s", r.ID)
	}
}

func TestXMeldRefusesTooLittleSearchData(t *testing.T) {
	base := shared(t)
	r := sample(t, base, "n=1")[0]
	cases := map[string]string{
		"no municipality": fmt.Sprintf(xmeldRequest, requestID, r.Given[0], r.Family, "", r.PostalCode, r.BirthDate, false),
		"no given name":   fmt.Sprintf(xmeldRequest, requestID, "", r.Family, r.Municipality, "", r.BirthDate, false),
		"no UUID":         fmt.Sprintf(xmeldRequest, "x", r.Given[0], r.Family, r.Municipality, "", r.BirthDate, false),
		"not XML":         "<xmeld:datenabruf",
		"wrong message":   "<a/>",
	}
	for name, body := range cases {
		if status, answer := postXMeld(t, base, body); status != http.StatusBadRequest || !strings.Contains(answer, "<xmeld:fehler>") {
			t.Errorf("%s: %d %s", name, status, answer)
		}
	}
}

func TestSameSeedGivesSameResidents(t *testing.T) {
	urls := map[uint64][]string{}
	for _, seed := range []uint64{11, 11, 12} {
		s, err := register.New(register.Config{Seed: seed, Size: 5000})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(s.Handler())
		for _, q := range []string{"n=20", "kind=deceased&n=5", "kind=ambiguous&n=2"} {
			resp := getWith(t, srv.URL, "/_sim/residents/sample?"+q, nil, nil)
			_ = resp
			var a sampleAnswer
			get(t, srv.URL, "/_sim/residents/sample?"+q, &a)
			b, _ := json.Marshal(a)
			urls[seed] = append(urls[seed], string(b))
		}
		srv.Close()
		if len(urls[seed]) > 3 && !slices.Equal(urls[seed][:3], urls[seed][3:]) {
			t.Errorf("seed %d: two simulators gave different samples", seed)
		}
	}
	if slices.Equal(urls[11][:3], urls[12]) {
		t.Error("seeds 11 and 12 gave the same samples")
	}
}

func TestSampleKindsAndFilters(t *testing.T) {
	base := shared(t)
	for _, k := range []string{"normal", "deceased", "moved", "blocked", "ambiguous"} {
		rs := sample(t, base, "n=5&kind="+k)
		if len(rs) != 5 {
			t.Errorf("kind %s: %d residents", k, len(rs))
		}
		for _, r := range rs {
			if r.Kind != k {
				t.Errorf("kind %s: got %s", k, r.Kind)
			}
			if k == "normal" && len(r.SameNameAndDoB) > 0 {
				t.Errorf("normal %s is not unique", r.ID)
			}
		}
	}
	for _, r := range sample(t, base, "n=20&district=14612&min_age=80") {
		if r.DistrictAGS != "14612" || r.Age < 80 || !strings.HasPrefix(r.Municipality, "14612") {
			t.Errorf("district/min_age filter: %+v", r)
		}
	}
	for _, r := range sample(t, base, "n=20&district=Görlitz&max_age=17") {
		if r.DistrictAGS != "14626" || r.Age > 17 {
			t.Errorf("district name/max_age filter: %+v", r)
		}
	}
	if a, b := sample(t, base, "n=5"), sample(t, base, "n=5&page=1"); slices.EqualFunc(a, b, func(x, y resident) bool { return x.ID == y.ID }) {
		t.Error("page 1 gave the same residents as page 0")
	}
	for _, q := range []string{"kind=alien", "n=0", "district=Bayern", "min_age=x", "colour=red"} {
		if resp := getWith(t, base, "/_sim/residents/sample?"+q, nil, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestPopulationLooksLikeSaxony(t *testing.T) {
	base := shared(t)
	var st struct {
		Size      int            `json:"size"`
		Kinds     map[string]int `json:"kinds"`
		Aged80    int            `json:"aged_80_plus"`
		Districts []struct {
			AGS       string `json:"ags"`
			Residents int    `json:"residents"`
		} `json:"districts"`
	}
	get(t, base, "/_sim/residents/stats", &st)
	share := func(n int) float64 { return float64(n) / float64(st.Size) }
	within := func(name string, got, lo, hi float64) {
		if got < lo || got > hi {
			t.Errorf("%s: %.4f outside %.4f..%.4f", name, got, lo, hi)
		}
	}
	within("deceased", share(st.Kinds["deceased"]), 0.006, 0.014)
	within("moved", share(st.Kinds["moved"]), 0.007, 0.013)
	within("blocked", share(st.Kinds["blocked"]), 0.003, 0.007)
	within("ambiguous", share(st.Kinds["ambiguous"]), 0.001, 0.003)
	within("aged 80+", share(st.Aged80), 0.09, 0.13) // 450,000 of 4.06 million
	if len(st.Districts) != 13 {
		t.Fatalf("%d districts", len(st.Districts))
	}
	for _, d := range st.Districts {
		if d.AGS == "14713" { // Leipzig, about 600,000 of 4.06 million
			within("Leipzig", share(d.Residents), 0.13, 0.165)
		}
	}
}

func TestFaultsApplyToTheRegisterButNotToSim(t *testing.T) {
	s, err := register.New(register.Config{Seed: 3, Size: 2000})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	r := sample(t, srv.URL, "n=1")[0]
	post := func(body string) {
		resp, err := http.Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(body))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /_sim/faults %s: %v %v", body, resp, err)
		}
		resp.Body.Close()
	}
	post(`{"errors":{"rate":1,"status":503}}`)
	if resp := get(t, srv.URL, r.FHIRSearch, nil); resp.StatusCode != 503 || resp.Header.Get("X-Sim-Fault") != "error" {
		t.Errorf("search during injected errors: %d", resp.StatusCode)
	}
	if status, _ := postXMeld(t, srv.URL, "<a/>"); status != 503 {
		t.Errorf("XMeld during injected errors: %d", status)
	}
	if len(sample(t, srv.URL, "n=1")) != 1 {
		t.Error("sample faulted")
	}
	resp, err := http.Post(srv.URL+"/_sim/faults", "application/json", strings.NewReader(`{"errors":{"rate":0},"flags":{"too_many_matches":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var b bundle
	if resp := get(t, srv.URL, r.FHIRSearch, &b); resp.StatusCode != 200 || outcomeCode(b) != "TOO_MANY_MATCHES" || resp.Header.Get("X-Sim-Fault") != "too_many_matches" {
		t.Errorf("too_many_matches: %d %+v", resp.StatusCode, b)
	}
	post(`{"flags":{"too_many_matches":false,"register_timeout":true}}`)
	if resp := get(t, srv.URL, "/Patient/"+r.ID, &b); resp.StatusCode != 408 || outcomeCode(b) != "UNABLE_TO_CALL_SERVICE" {
		t.Errorf("register_timeout: %d %+v", resp.StatusCode, b)
	}
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/_sim/faults", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	if resp := get(t, srv.URL, "/Patient/"+r.ID, nil); resp.StatusCode != 200 {
		t.Errorf("after clearing faults: %d", resp.StatusCode)
	}
}

func TestRequireAuth(t *testing.T) {
	s, err := register.New(register.Config{Size: 500, RequireAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	r := sample(t, srv.URL, "n=1")[0]
	var b bundle
	if resp := get(t, srv.URL, "/Patient/"+r.ID, &b); resp.StatusCode != 401 || outcomeCode(b) != "ACCESS_DENIED" {
		t.Errorf("without credentials: %d %+v", resp.StatusCode, b)
	}
	if resp := getWith(t, srv.URL, "/Patient/"+r.ID, map[string]string{"X-Request-ID": requestID, "Authorization": "Bearer abc"}, nil); resp.StatusCode != 200 {
		t.Errorf("with a bearer token: %d", resp.StatusCode)
	}
}

// syncBuffer is an io.Writer that Main may write to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func TestMainServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- register.Main(ctx, []string{"--addr", "127.0.0.1:0", "--size", "1000", "--seed", "5", "--fault-latency", "1ms"}, out)
	}()
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			if i := strings.Index(sc.Text(), "http://"); i >= 0 {
				addr = strings.Fields(sc.Text()[i:])[0]
			}
		}
	}
	if addr == "" {
		t.Fatalf("no address printed: %q", out.String())
	}
	if !strings.Contains(out.String(), "1000 residents") {
		t.Errorf("start-up line: %q", out.String())
	}
	if len(sample(t, addr, "n=2")) != 2 {
		t.Error("sample via Main failed")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
	if err := register.Main(context.Background(), []string{"--size", "-5"}, io.Discard); err == nil {
		t.Error("negative size accepted")
	}
}
