package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/api"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

var correlationMember = regexp.MustCompile(`"correlation_id":"[^"]*"`)

// answer is what a caller learns from a reply: status, the headers that
// could differ, and the body with the correlation ID blanked.
func answer(t *testing.T, res *http.Response) string {
	t.Helper()
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var hs []string
	for k, v := range res.Header {
		switch k {
		case "X-Correlation-Id", "Date":
			continue
		}
		hs = append(hs, k+": "+strings.Join(v, ","))
	}
	sort.Strings(hs)
	return fmt.Sprintf("%d\n%s\n%s", res.StatusCode, strings.Join(hs, "\n"), correlationMember.ReplaceAll(b, []byte(`"correlation_id":""`)))
}

// TestReferenceLookupDoesNotRevealExistence: a caller who may not see an
// appointment or a resident (no token, another resident's token, a made-up
// token) gets byte for byte the same answer whether the reference or ID
// exists, does not exist, or is malformed; staff with the role still get
// 200, 404 and 400. Nothing is changed by a refused DELETE or move.
func TestReferenceLookupDoesNotRevealExistence(t *testing.T) {
	h := hubtest.New(t, time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t)))
	h.SingleCentre(t)
	h.OpenRules(t)
	day := h.Today().AddDays(2)
	h.Slot(t, h.At(day, 10, 0), 50)
	h.Slot(t, h.At(day, 11, 0), 50)
	h.Deliver(t, "test", domain.Janssen, 40, day)
	srv, err := api.New(h.App, api.Config{StaffTokens: testStaffTokens()}) // production limits
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	ctx := context.Background()

	owner := h.Resident(t, domain.Date{Year: 1950, Month: 1, Day: 1})
	other := h.Resident(t, domain.Date{Year: 1951, Month: 1, Day: 1})
	ap, err := h.App.Book(ctx, app.BookingInput{ResidentID: owner.Resident.ID, CentreID: "test", Product: domain.Janssen, AccessToken: owner.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	missingRef := domain.NewReference()
	for missingRef == ap.Reference {
		missingRef = domain.NewReference()
	}
	badDigit := ap.Reference[:9] + string('0'+(ap.Reference[9]-'0'+1)%10)
	if domain.ValidReference(badDigit) {
		t.Fatal("test set-up: the changed check digit is valid")
	}
	refs := map[string]string{"existing": ap.Reference, "non-existing": missingRef, "bad check digit": badDigit}
	ids := map[string]string{"existing": owner.Resident.ID, "non-existing": "01890000-0000-7000-8000-000000000000", "malformed": "not-a-uuid"}

	type route struct{ method, path, body string }
	var groups [][]route // each group: the same route with existing, missing and malformed targets
	for _, r := range []route{
		{"GET", "/api/v1/appointments/%s", ""},
		{"DELETE", "/api/v1/appointments/%s", ""},
		{"POST", "/api/v1/appointments/%s/move", `{"centre_id":"test"}`},
	} {
		var g []route
		for _, kind := range []string{"existing", "non-existing", "bad check digit"} {
			g = append(g, route{r.method, fmt.Sprintf(r.path, refs[kind]), r.body})
		}
		groups = append(groups, g)
	}
	for _, p := range []string{"/api/v1/residents/%s", "/api/v1/residents/%s/entitlement", "/api/v1/residents/%s/verification"} {
		var g []route
		for _, kind := range []string{"existing", "non-existing", "malformed"} {
			g = append(g, route{"GET", fmt.Sprintf(p, ids[kind]), ""})
		}
		groups = append(groups, g)
	}
	do := func(token string, r route) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader(r.body))
		if r.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}

	callers := []struct {
		name, token string
		want        int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"another resident's token", other.AccessToken, http.StatusNotFound},
		{"a made-up token", "made-up-token-0123456789", http.StatusNotFound},
		{"staff token without centre-staff", reportToken, http.StatusForbidden},
	}
	for _, c := range callers {
		t.Run(c.name, func(t *testing.T) {
			var first string
			for _, g := range groups {
				for _, r := range g {
					got := answer(t, do(c.token, r))
					if !strings.HasPrefix(got, fmt.Sprint(c.want)) {
						t.Errorf("%s %s: %s; want %d", r.method, r.path, got, c.want)
					}
					if first == "" {
						first = got
						continue
					}
					if got != first {
						t.Errorf("%s %s answers differently from %s %s:\n%s\n--- versus ---\n%s", r.method, r.path, g[0].method, g[0].path, got, first)
					}
				}
			}
		})
	}

	// The refused DELETE and move changed nothing.
	if cur, err := h.App.Appointment(ctx, ap.Reference); err != nil || cur.Status != domain.SeriesBooked || !cur.Doses[0].Start.Equal(ap.Doses[0].Start) {
		t.Fatalf("after refused calls the appointment is %+v (%v)", cur, err)
	}

	// Staff with the role, and the owner, still get the real answers.
	for _, c := range []struct {
		token, path string
		want        int
	}{
		{staffToken, "/api/v1/appointments/" + ap.Reference, 200},
		{staffToken, "/api/v1/appointments/" + missingRef, 404},
		{staffToken, "/api/v1/appointments/" + badDigit, 400},
		{staffToken, "/api/v1/residents/" + ids["non-existing"], 404},
		{owner.AccessToken, "/api/v1/appointments/" + ap.Reference, 200},
		{owner.AccessToken, "/api/v1/residents/" + owner.Resident.ID, 200},
	} {
		if res := do(c.token, route{"GET", c.path, ""}); res.StatusCode != c.want {
			t.Errorf("GET %s with a rightful token: %d, want %d", c.path, res.StatusCode, c.want)
		}
	}

	// Timing: a foreign token costs the same reads for an existing and a
	// missing reference. Logged for the record (too noisy on a shared
	// machine to assert), on a server without the rate limits, which would
	// otherwise answer most of these look-ups with 429.
	quiet, err := api.New(h.App, api.Config{IPRate: -1, TokenRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	qs := httptest.NewServer(quiet)
	t.Cleanup(qs.Close)
	var took [2]time.Duration
	const n = 100
	for i := range 2 * n {
		ref := []string{ap.Reference, missingRef}[i%2]
		req, _ := http.NewRequest("GET", qs.URL+"/api/v1/appointments/"+ref, nil)
		req.Header.Set("Authorization", "Bearer "+other.AccessToken)
		start := time.Now()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		took[i%2] += time.Since(start)
		if res.StatusCode != http.StatusNotFound {
			t.Fatalf("timing run: %d", res.StatusCode)
		}
	}
	t.Logf("foreign token, mean per look-up over %d each: existing %v, non-existing %v", n, took[0]/n, took[1]/n)
}
