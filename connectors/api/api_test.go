package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

const (
	staffToken   = "centre-staff-token"
	managerToken = "vaccine-manager-token"
	reportToken  = "reporting-token"
)

// serve starts the API over real HTTP on a free port. Its public rate
// limits are off (as benchmarks switch them off): these tests send hundreds
// of requests from one address to test the core behind the API; the limits
// have their own tests with the production settings.
func serve(t *testing.T, h *hubtest.Hub) string {
	t.Helper()
	srv, err := api.New(h.App, api.Config{StaffTokens: testStaffTokens(), MaxBodyBytes: 16 << 10, IPRate: -1, TokenRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return ts.URL
}

func testStaffTokens() []api.StaffToken {
	return []api.StaffToken{
		{Name: "staff", SHA256: api.HashToken(staffToken), Roles: []string{api.RoleCentreStaff}},
		{Name: "manager", SHA256: api.HashToken(managerToken), Roles: []string{api.RoleVaccineManager}},
		{Name: "reporting", SHA256: api.HashToken(reportToken), Roles: []string{api.RoleReporting}},
	}
}

type reply struct {
	status int
	body   []byte
	ctype  string
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func call(t *testing.T, c *http.Client, method, url, token string, body any) reply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return reply{}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return reply{status: res.StatusCode, body: b, ctype: res.Header.Get("Content-Type")}
}

type problem struct {
	Type, Title, Detail, Field, Code string
	Status                           int
}

func TestFiveHundredConcurrentBookingsForFiftyPlacesAndFortyDoses(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	slot := h.At(day, 10, 0)
	h.Slot(t, slot, 50)
	h.Deliver(t, "test", domain.Janssen, 40, day)
	base := serve(t, h)

	const n = 500
	type person struct{ id, token string }
	people := make([]person, n)
	for i := range people {
		reg := h.Resident(t, domain.Date{Year: 1940 + i%60, Month: time.Month(1 + i%12), Day: 1 + i%28})
		people[i] = person{reg.Resident.ID, reg.AccessToken}
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}, Timeout: 60 * time.Second}
	start := make(chan struct{})
	var wg sync.WaitGroup
	replies := make([]reply, n)
	for i := range people {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			replies[i] = call(t, client, "POST", base+"/api/v1/appointments", people[i].token, map[string]string{
				"resident_id": people[i].id, "centre_id": "test", "product": "janssen", "slot_start": slot.Format(time.RFC3339)})
		}(i)
	}
	close(start)
	wg.Wait()
	booked, refused := 0, 0
	refs := map[string]bool{}
	for _, r := range replies {
		switch r.status {
		case http.StatusCreated:
			booked++
			var ap domain.Appointment
			r.json(t, &ap)
			if refs[ap.Reference] {
				t.Errorf("reference %s handed out twice", ap.Reference)
			}
			refs[ap.Reference] = true
		case http.StatusConflict:
			refused++
			var p problem
			r.json(t, &p)
			if r.ctype != "application/problem+json" || (p.Code != "no-stock" && p.Code != "slot-full") || p.Detail == "" {
				t.Errorf("refusal is not a clean problem: %s %s", r.ctype, r.body)
			}
		default:
			t.Errorf("unexpected reply %d: %s", r.status, r.body)
		}
	}
	if booked != 40 || refused != n-40 {
		t.Fatalf("booked %d, refused %d; want exactly 40 bookings and %d clean 409s", booked, refused, n-40)
	}
	if got := h.Count(t, `SELECT booked FROM slots WHERE centre_id = 'test'`); got != 40 {
		t.Errorf("slot holds %d bookings, want 40", got)
	}
	if got := h.Count(t, `SELECT sum(reserved) FROM deliveries`); got != 40 {
		t.Errorf("%d doses reserved, want 40", got)
	}
	if got := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.booked'`); got != 40 {
		t.Errorf("%d appointment.booked events, want 40", got)
	}
	h.CheckInvariants(t)
}

func TestCapacityBindsWhenDosesAreAmple(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(1)
	h.Slot(t, h.At(day, 9, 0), 12)
	// Two-dose series: dose 2 needs a slot 21-42 days later.
	h.Slot(t, h.At(day.AddDays(21), 9, 0), 100)
	h.Deliver(t, "test", domain.Comirnaty, 1000, day)
	base := serve(t, h)
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 60; i++ {
		reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1 + i%28})
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := call(t, http.DefaultClient, "POST", base+"/api/v1/appointments", reg.AccessToken, map[string]string{
				"resident_id": reg.Resident.ID, "centre_id": "test", "product": "comirnaty", "slot_start": h.At(day, 9, 0).Format(time.RFC3339)})
			mu.Lock()
			codes[r.status]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if codes[201] != 12 || codes[409] != 48 {
		t.Fatalf("status counts %v, want 12 x 201 and 48 x 409", codes)
	}
	if got := h.Count(t, `SELECT sum(reserved) FROM deliveries`); got != 24 {
		t.Errorf("%d doses reserved for 12 two-dose series, want 24", got)
	}
	h.CheckInvariants(t)
}

func TestBadRequestsGetProblemDocuments(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	base := serve(t, h)
	reg := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	other := h.Resident(t, domain.Date{Year: 1951, Month: 1, Day: 1})
	good := `{"given_names":"Jürgen","family_name":"Müller-Lüdenscheidt","birth_date":"1938-04-02","sex":"m","address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"}}`
	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		field                     string
	}{
		{"malformed JSON", "POST", "/api/v1/residents", "", `{"given_names":`, 400, "body"},
		{"unknown field", "POST", "/api/v1/residents", "", strings.Replace(good, `"sex"`, `"shoe_size":42,"sex"`, 1), 400, "shoe_size"},
		{"wrong type", "POST", "/api/v1/residents", "", strings.Replace(good, `"sex":"m"`, `"sex":7`, 1), 400, "sex"},
		{"birth date in the future", "POST", "/api/v1/residents", "", strings.Replace(good, "1938-04-02", "2999-01-01", 1), 400, "birth_date"},
		{"birth date not a date", "POST", "/api/v1/residents", "", strings.Replace(good, "1938-04-02", "02.04.1938", 1), 400, "birth_date"},
		{"postal code outside Germany", "POST", "/api/v1/residents", "", strings.Replace(good, "01587", "1234", 1), 400, "address.postal_code"},
		{"name with digits", "POST", "/api/v1/residents", "", strings.Replace(good, "Jürgen", "J0rgen", 1), 400, "given_names"},
		{"trailing data", "POST", "/api/v1/residents", "", good + `{}`, 400, "body"},
		{"body too large", "POST", "/api/v1/residents", "", `{"given_names":"` + strings.Repeat("a", 20<<10) + `"}`, 413, ""},
		{"no token", "GET", "/api/v1/residents/" + reg.Resident.ID, "", nil, 401, ""},
		{"someone else's token", "GET", "/api/v1/residents/" + reg.Resident.ID, other.AccessToken, nil, 404, ""},
		{"unknown resident", "GET", "/api/v1/residents/01890000-0000-7000-8000-000000000000", staffToken, nil, 404, ""},
		{"bad reference", "GET", "/api/v1/appointments/12345", staffToken, nil, 400, "reference"},
		{"staff endpoint without token", "POST", "/api/v1/checkins", "", `{}`, 401, ""},
		{"staff endpoint with a resident token", "POST", "/api/v1/checkins", reg.AccessToken, `{}`, 401, ""},
		{"wrong role", "POST", "/api/v1/stock/deliveries", staffToken, `{}`, 403, ""},
		{"reporting needs its role", "GET", "/api/v1/reports/progress", managerToken, nil, 403, ""},
		{"delivery with zero doses", "POST", "/api/v1/stock/deliveries", managerToken, `{"centre_id":"test","product":"janssen","doses":0,"arrives_on":"2021-06-15"}`, 400, "doses"},
		{"unknown product", "POST", "/api/v1/stock/deliveries", managerToken, `{"centre_id":"test","product":"sputnik","doses":5,"arrives_on":"2021-06-15"}`, 400, "product"},
		{"slots with a bad time", "GET", "/api/v1/centres/test/slots?from=tomorrow", "", nil, 400, "from"},
		{"slots of an unknown centre", "GET", "/api/v1/centres/atlantis/slots", "", nil, 404, ""},
		{"book without centre", "POST", "/api/v1/appointments", reg.AccessToken, `{"resident_id":"` + reg.Resident.ID + `"}`, 400, "centre_id"},
		{"book in the past", "POST", "/api/v1/appointments", reg.AccessToken, `{"resident_id":"` + reg.Resident.ID + `","centre_id":"test","slot_start":"2020-01-01T10:00:00+01:00"}`, 400, "slot_start"},
		{"rule set without version", "POST", "/api/v1/rulesets", managerToken, `{"effective_from":"2021-07-01T00:00:00Z","groups":[{"number":1,"min_age":80}],"open_groups":[1],"vaccines":[]}`, 400, "version"},
		{"unknown endpoint", "GET", "/api/v1/nothing", "", nil, 404, ""},
		{"wrong method", "PUT", "/api/v1/centres", "", nil, 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := call(t, http.DefaultClient, c.method, base+c.path, c.token, c.body)
			if r.status != c.status {
				t.Fatalf("status %d, want %d: %s", r.status, c.status, r.body)
			}
			if r.ctype != "application/problem+json" {
				t.Errorf("content type %q, want application/problem+json", r.ctype)
			}
			var p problem
			r.json(t, &p)
			if p.Status != c.status || p.Title == "" || p.Type == "" {
				t.Errorf("incomplete problem: %s", r.body)
			}
			if c.field != "" && p.Field != c.field {
				t.Errorf("problem names field %q, want %q: %s", p.Field, c.field, r.body)
			}
		})
	}
}

// TestTour walks the README's five-minute tour over HTTP.
func TestTour(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.Saxony(t, 100) // Vaxzevria's second dose comes 63 to 84 days later
	base := serve(t, h)
	c := http.DefaultClient

	var centres struct{ Centres []domain.Centre }
	call(t, c, "GET", base+"/api/v1/centres", "", nil).json(t, &centres)
	if len(centres.Centres) != 13 {
		t.Fatalf("%d centres", len(centres.Centres))
	}
	r := call(t, c, "POST", base+"/api/v1/residents", "", `{"given_names":"Zoë","family_name":"Nguyễn","birth_date":"1958-04-02","sex":"f",
		"address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"},"intolerances":["peg"]}`)
	if r.status != 201 {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var reg struct {
		Resident    domain.Resident
		AccessToken string `json:"access_token"`
	}
	r.json(t, &reg)
	if reg.Resident.GivenNames != "Zoë" || reg.Resident.FamilyName != "Nguyễn" {
		t.Errorf("names did not survive: %+v", reg.Resident)
	}
	var ent struct {
		Products []string
		Open     bool
	}
	call(t, c, "GET", base+"/api/v1/residents/"+reg.Resident.ID+"/entitlement", reg.AccessToken, nil).json(t, &ent)
	if !ent.Open || strings.Contains(strings.Join(ent.Products, ","), "comirnaty") {
		t.Errorf("entitlement with PEG allergy: %+v, want open and no mRNA", ent)
	}
	var slots struct{ Slots []struct{ Start time.Time } }
	call(t, c, "GET", base+"/api/v1/centres/riesa/slots?product=vaxzevria", "", nil).json(t, &slots)
	if len(slots.Slots) == 0 {
		t.Fatal("no slots")
	}
	r = call(t, c, "POST", base+"/api/v1/appointments", reg.AccessToken, map[string]string{"resident_id": reg.Resident.ID, "centre_id": "riesa",
		"product": "vaxzevria", "slot_start": slots.Slots[3].Start.Format(time.RFC3339)})
	if r.status != 201 {
		t.Fatalf("book: %d %s", r.status, r.body)
	}
	var ap domain.Appointment
	r.json(t, &ap)
	if len(ap.Doses) != 2 {
		t.Fatalf("booked %+v", ap)
	}
	r = call(t, c, "POST", base+"/api/v1/appointments/"+ap.Reference+"/move", reg.AccessToken, map[string]string{"centre_id": "pirna"})
	if r.status != 200 {
		t.Fatalf("move: %d %s", r.status, r.body)
	}
	// Check in on the day, as centre staff.
	var moved domain.Appointment
	r.json(t, &moved)
	h.Clock.Set(moved.Doses[0].Start.Add(-10 * time.Minute))
	r = call(t, c, "POST", base+"/api/v1/checkins", staffToken, map[string]string{"reference": ap.Reference, "date_of_birth": "1958-04-02"})
	if r.status != 200 {
		t.Fatalf("check-in: %d %s", r.status, r.body)
	}
	r = call(t, c, "POST", base+"/api/v1/checkouts", staffToken, map[string]string{"reference": ap.Reference, "product": "vaxzevria", "batch": "ABV5300", "vaccinator_id": "v-17"})
	if r.status != 200 {
		t.Fatalf("check-out: %d %s", r.status, r.body)
	}
	r = call(t, c, "GET", base+"/api/v1/reports/rki.csv", reportToken, nil)
	want := fmt.Sprintf("Impfdatum,LandkreisId_Impfort,Altersgruppe,Impfschutz,Anzahl\n%s,14628,60+,1,1\n", domain.DateOf(moved.Doses[0].Start.In(h.Loc)))
	if r.status != 200 || string(r.body) != want {
		t.Errorf("rki.csv: %d %q, want %q", r.status, r.body, want)
	}
	if r := call(t, c, "DELETE", base+"/api/v1/appointments/"+ap.Reference, reg.AccessToken, nil); r.status != 409 {
		t.Errorf("cancelling after the first dose: %d %s, want 409", r.status, r.body)
	}
	r = call(t, c, "GET", base+"/api/v1/openapi.json", "", nil)
	if r.status != 200 || !json.Valid(r.body) {
		t.Errorf("openapi.json: %d", r.status)
	}
	if r := call(t, c, "GET", base+"/metrics", "", nil); r.status != 200 || !bytes.Contains(r.body, []byte("vaxhub_bookings_total")) {
		t.Errorf("metrics: %d", r.status)
	}
}

func TestBatchSuggestionIsFirstExpiredFirstOut(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	base := serve(t, h)
	for _, d := range []string{
		`{"id":"late","centre_id":"test","product":"comirnaty","doses":30,"arrives_on":"2021-06-10","expires_on":"2021-07-20","batch":"FE1234"}`,
		`{"id":"early","centre_id":"test","product":"comirnaty","doses":30,"arrives_on":"2021-06-12","expires_on":"2021-06-30","batch":"EW0150"}`,
		`{"id":"gone","centre_id":"test","product":"comirnaty","doses":30,"arrives_on":"2021-05-01","expires_on":"2021-06-13","batch":"EJ6795"}`,
	} {
		if r := call(t, http.DefaultClient, "POST", base+"/api/v1/stock/deliveries", managerToken, d); r.status != 201 {
			t.Fatalf("delivery: %d %s", r.status, r.body)
		}
	}
	r := call(t, http.DefaultClient, "GET", base+"/api/v1/centres/test/batch-suggestion?product=comirnaty", staffToken, nil)
	var b struct{ Batch string }
	r.json(t, &b)
	if r.status != 200 || b.Batch != "EW0150" {
		t.Fatalf("suggestion: %d %s, want batch EW0150 (expires first, not yet expired)", r.status, r.body)
	}
	if r := call(t, http.DefaultClient, "GET", base+"/api/v1/centres/test/batch-suggestion?product=janssen", staffToken, nil); r.status != 404 {
		t.Errorf("no janssen batch: %d %s, want 404", r.status, r.body)
	}
}

func TestFallbackServesPathsOutsideTheAPI(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	srv, err := api.New(h.App, api.Config{Fallback: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<p>portal " + r.URL.Path + "</p>"))
	})})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	if r := call(t, http.DefaultClient, "GET", ts.URL+"/termine", "", nil); r.status != 200 || string(r.body) != "<p>portal /termine</p>" {
		t.Errorf("portal path: %d %s", r.status, r.body)
	}
	if r := call(t, http.DefaultClient, "GET", ts.URL+"/api/v1/nothing", "", nil); r.status != 404 || r.ctype != "application/problem+json" {
		t.Errorf("unknown API path: %d %s, want a 404 problem", r.status, r.ctype)
	}
	if r := call(t, http.DefaultClient, "GET", ts.URL+"/api/v1/centres", "", nil); r.status != 200 {
		t.Errorf("API path: %d", r.status)
	}
}

func TestStaffPlanMobileCampaignAndSeeHeldDoses(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.Saxony(t, 3)
	mob, err := app.NewMobile(h.App, h.Store)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(h.App, api.Config{Mobile: mob, StaffTokens: []api.StaffToken{
		{Name: "staff", SHA256: api.HashToken(staffToken), Roles: []string{api.RoleCentreStaff}}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	a := h.Resident(t, domain.Date{Year: 1931, Month: 3, Day: 1}, func(r *domain.Resident) { r.Indications = []domain.Indication{domain.IndCareHomeResident} })
	b := h.Resident(t, domain.Date{Year: 1975, Month: 3, Day: 1}, func(r *domain.Resident) { r.Indications = []domain.Indication{domain.IndCareHomeStaff} })
	body := fmt.Sprintf(`{"care_home":"seniorenheim-riesa-weida","day":"2021-04-15","team":"MT07","centre_id":"riesa",
		"roster":[{"resident_id":%q},{"resident_id":%q,"staff":true}],"doses":{"comirnaty":2}}`, a.Resident.ID, b.Resident.ID)
	r := call(t, http.DefaultClient, "POST", ts.URL+"/api/v1/mobile-campaigns", staffToken, body)
	if r.status != 201 {
		t.Fatalf("plan: %d %s", r.status, r.body)
	}
	var c domain.MobileCampaign
	r.json(t, &c)
	if len(c.Roster) != 2 || c.Doses[domain.Comirnaty] != 2 || c.Version != 1 {
		t.Errorf("campaign: %+v", c)
	}
	if n := h.Count(t, `SELECT count(*) FROM outbox WHERE event_type IN ('mobile.campaign-planned','mobile.transfer-requested')`); n != 2 {
		t.Errorf("%d mobile events, want the plan and the transfer request", n)
	}
	r = call(t, http.DefaultClient, "POST", ts.URL+"/api/v1/mobile-campaigns/"+c.ID+"/change", staffToken, `{"day":"2021-04-16"}`)
	var moved domain.MobileCampaign
	r.json(t, &moved)
	if r.status != 200 || moved.Day != (domain.Date{Year: 2021, Month: 4, Day: 16}) || moved.Version != 2 {
		t.Errorf("change: %d %s", r.status, r.body)
	}
	if r := call(t, http.DefaultClient, "GET", ts.URL+"/api/v1/mobile-held-doses", staffToken, nil); r.status != 200 || !strings.Contains(string(r.body), `"held":[]`) {
		t.Errorf("held doses: %d %s", r.status, r.body)
	}
	if r := call(t, http.DefaultClient, "POST", ts.URL+"/api/v1/mobile-campaigns", staffToken, `{"care_home":"x","day":"2021-04-15","team":"MT07","roster":[{"resident_id":"01890000-0000-7000-8000-000000000000"}],"doses":{"comirnaty":1}}`); r.status < 400 || r.status >= 500 {
		t.Errorf("a roster with an unknown resident: %d %s, want a 4xx", r.status, r.body)
	}
}

func TestStaffAuthorizerChecksTokenAndRole(t *testing.T) {
	check := api.StaffAuthorizer([]api.StaffToken{
		{Name: "r", SHA256: api.HashToken(reportToken), Roles: []string{api.RoleReporting}},
		{Name: "s", SHA256: api.HashToken(staffToken), Roles: []string{api.RoleCentreStaff}},
		{Name: "a", SHA256: api.HashToken("admin-token"), Roles: []string{api.RoleAdmin}},
	}, api.RoleReporting)
	for token, want := range map[string]bool{reportToken: true, "admin-token": true, staffToken: false, "unknown": false, "": false} {
		r := httptest.NewRequest("GET", "/dashboard", nil)
		if token != "" {
			r.Header.Set("Authorization", "Bearer "+token)
		}
		if got := check(r); got != want {
			t.Errorf("token %q: %v, want %v", token, got, want)
		}
	}
}
