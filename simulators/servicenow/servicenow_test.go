package servicenow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/servicenow"
)

var (
	sysIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)
	timePattern  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)
)

func TestTaskCRUDKeepsEveryValueAStringAndReferencesAsObjects(t *testing.T) {
	c := start(t, servicenow.Config{})
	team := c.team("MT19") // Meißen

	created := c.newTask(map[string]any{
		"short_description": "Mobile vaccination visit",
		"u_care_home":       "seniorenheim-riesa-weida",
		"u_planned_start":   "2021-01-07 08:15:00",
		"u_doses":           42, // a number in, a string out
		"assignment_group":  team,
		"no_such_field":     "ignored",
	})
	for k, v := range created {
		switch v.(type) {
		case string:
		case map[string]any:
			if k != "assignment_group" && k != "location" {
				t.Errorf("%s is an object, want a string", k)
			}
		default:
			t.Errorf("%s is %T (%v), want a string", k, v, v)
		}
	}
	id := created["sys_id"].(string)
	if !sysIDPattern.MatchString(id) {
		t.Errorf("sys_id %q is not 32 hex digits", id)
	}
	for field, want := range map[string]string{
		"u_doses": "42", "sys_mod_count": "0", "state": "1", "active": "true", "sys_created_by": "sim",
		"sys_updated_by": "sim", "sys_class_name": "wm_task", "u_planned_start": "2021-01-07 08:15:00",
	} {
		if created[field] != want {
			t.Errorf("%s = %v, want %q", field, created[field], want)
		}
	}
	if _, ok := created["no_such_field"]; ok {
		t.Error("an unknown field was stored")
	}
	if !strings.HasPrefix(created["number"].(string), "WOT") {
		t.Errorf("number %v, want WOT...", created["number"])
	}
	for _, f := range []string{"sys_created_on", "sys_updated_on"} {
		if !timePattern.MatchString(created[f].(string)) {
			t.Errorf("%s = %q, want YYYY-MM-DD hh:mm:ss", f, created[f])
		}
	}
	group := created["assignment_group"].(map[string]any)
	if group["value"] != team || group["link"] != c.base+"/api/now/table/sys_user_group/"+team {
		t.Errorf("assignment_group = %v, want {link, value: %s}", group, team)
	}
	// the care home code is linked to its cmn_location record
	loc := c.get("/api/now/table/cmn_location/" + ref(t, created["location"])).one(t)
	if loc["u_code"] != "seniorenheim-riesa-weida" || loc["u_district"] != "Meißen" {
		t.Errorf("location = %v", loc)
	}

	got := c.get("/api/now/table/wm_task/" + id)
	mustStatus(t, got, http.StatusOK)
	if got.one(t)["number"] != created["number"] {
		t.Errorf("read back %v", got.one(t))
	}

	patched := c.do(http.MethodPatch, "/api/now/table/wm_task/"+id, map[string]any{"u_doses": "45"})
	mustStatus(t, patched, http.StatusOK)
	if p := patched.one(t); p["u_doses"] != "45" || p["sys_mod_count"] != "1" {
		t.Errorf("after PATCH: u_doses %v, sys_mod_count %v", p["u_doses"], p["sys_mod_count"])
	}
	put := c.do(http.MethodPut, "/api/now/v2/table/wm_task/"+id, map[string]any{"short_description": "Zweitimpfung"})
	mustStatus(t, put, http.StatusOK)
	if p := put.one(t); p["short_description"] != "Zweitimpfung" || p["u_doses"] != "45" || p["sys_mod_count"] != "2" {
		t.Errorf("after PUT: %v", p)
	}

	del := c.do(http.MethodDelete, "/api/now/table/wm_task/"+id, nil)
	mustStatus(t, del, http.StatusNoContent)
	if len(del.body) != 0 {
		t.Errorf("DELETE answered a body: %s", del.body)
	}
	mustStatus(t, c.get("/api/now/table/wm_task/"+id), http.StatusNotFound)
}

func TestModCountIncrementsOnEveryChangeAndNotOnANoOp(t *testing.T) {
	clock := &realClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := start(t, servicenow.Config{Now: clock.Now, TimeScale: 1})
	task := c.newTask(map[string]any{"u_care_home": "pflegeheim-pirna-copitz", "u_planned_start": "2021-01-08 09:00:00", "u_doses": "30"})
	path := "/api/now/table/wm_task/" + task["sys_id"].(string)

	for i, doses := range []string{"31", "32", "33"} {
		clock.Add(90 * time.Second)
		r := c.do(http.MethodPatch, path, map[string]any{"u_doses": doses}).one(t)
		if want := fmt.Sprint(i + 1); r["sys_mod_count"] != want {
			t.Fatalf("update %d: sys_mod_count %v, want %s", i+1, r["sys_mod_count"], want)
		}
		if r["sys_updated_on"].(string) <= task["sys_updated_on"].(string) {
			t.Errorf("sys_updated_on %v did not move past %v", r["sys_updated_on"], task["sys_updated_on"])
		}
		if r["sys_created_on"] != task["sys_created_on"] {
			t.Errorf("sys_created_on changed to %v", r["sys_created_on"])
		}
	}
	before := c.get(path).one(t)
	clock.Add(time.Minute)
	same := c.do(http.MethodPatch, path, map[string]any{"u_doses": "33"}).one(t)
	if same["sys_mod_count"] != "3" || same["sys_updated_on"] != before["sys_updated_on"] {
		t.Errorf("a write that changes nothing bumped the record: %v %v", same["sys_mod_count"], same["sys_updated_on"])
	}
}

func TestEncodedQueryOperators(t *testing.T) {
	c := start(t, servicenow.Config{})
	count := func(q string) int {
		t.Helper()
		r := c.get("/api/now/v2/table/cmn_location?sysparm_query=" + url.QueryEscape(q))
		mustStatus(t, r, http.StatusOK)
		return len(r.list(t))
	}
	homes := count("cmn_location_type=care_home")
	dresden := count("cmn_location_type=care_home^u_district=Dresden")
	leipzig := count("cmn_location_type=care_home^u_district=Leipzig")
	if homes < 30 || dresden == 0 || leipzig == 0 {
		t.Fatalf("seed: %d care homes, %d in Dresden, %d in Leipzig", homes, dresden, leipzig)
	}
	cases := []struct {
		query string
		want  int
	}{
		{"cmn_location_type=district", 13},
		{"cmn_location_type=care_home^u_district!=Dresden", homes - dresden},
		{"cmn_location_type=care_home^u_district=Dresden^ORu_district=Leipzig", dresden + leipzig},
		{"cmn_location_type=care_home^nameLIKEriesa", 1},
		{"cmn_location_type=care_home^nameSTARTSWITHpflegeheim dresden", 2},
		{"cmn_location_type=care_home^u_district=Dresden^no_such_field=whatever", dresden},
		{"no_such_field=whatever", homes + 13},
		{"parent.u_district_ags=14612", dresden},
		{"u_residents>=100", count("u_residents>99")},
		{"u_district=Dresden^NQu_district=Leipzig", dresden + leipzig + 2},
	}
	for _, tc := range cases {
		if got := count(tc.query); got != tc.want {
			t.Errorf("%s: %d records, want %d", tc.query, got, tc.want)
		}
	}

	names := func(q string) []string {
		var out []string
		for _, r := range c.get("/api/now/table/sys_user_group?sysparm_fields=name&sysparm_query=" + url.QueryEscape(q)).list(t) {
			out = append(out, r["name"].(string))
		}
		return out
	}
	asc := names("u_district=Dresden^ORu_district=Leipzig^ORDERBYname")
	desc := names("u_district=Dresden^ORu_district=Leipzig^ORDERBYDESCname")
	if len(asc) != 8 || !sort.StringsAreSorted(asc) {
		t.Errorf("ORDERBY name: %v", asc)
	}
	for i := range desc {
		if desc[i] != asc[len(asc)-1-i] {
			t.Fatalf("ORDERBYDESC name: %v", desc)
		}
	}
}

func TestPagingWithLinkAndTotalCount(t *testing.T) {
	c := start(t, servicenow.Config{})
	next := "/api/now/table/sys_user_group?sysparm_limit=7&sysparm_query=" + url.QueryEscape("ORDERBYu_code")
	seen := map[string]bool{}
	var codes []string
	pages := 0
	linkRe := regexp.MustCompile(`<([^>]+)>;rel="(\w+)"`)
	for next != "" {
		r := c.get(next)
		mustStatus(t, r, http.StatusOK)
		pages++
		if r.header.Get("X-Total-Count") != "30" {
			t.Fatalf("X-Total-Count %q, want 30", r.header.Get("X-Total-Count"))
		}
		for _, g := range r.list(t) {
			seen[g["sys_id"].(string)] = true
			codes = append(codes, g["u_code"].(string))
		}
		rels := map[string]string{}
		for _, m := range linkRe.FindAllStringSubmatch(r.header.Get("Link"), -1) {
			rels[m[2]] = m[1]
		}
		for _, rel := range []string{"first", "prev", "last"} {
			if rels[rel] == "" {
				t.Fatalf("Link lacks rel=%s: %s", rel, r.header.Get("Link"))
			}
		}
		if pages == 1 && !strings.Contains(rels["last"], "sysparm_offset=28") {
			t.Errorf("last link %s, want offset 28", rels["last"])
		}
		next = rels["next"]
		if pages > 10 {
			t.Fatal("paging does not end")
		}
	}
	if pages != 5 || len(seen) != 30 || !sort.StringsAreSorted(codes) {
		t.Errorf("%d pages, %d teams, codes %v", pages, len(seen), codes)
	}

	r := c.get("/api/now/table/sys_user_group?sysparm_limit=5&sysparm_offset=5&sysparm_no_count=true")
	if len(r.list(t)) != 5 || r.header.Get("X-Total-Count") != "" {
		t.Errorf("sysparm_no_count: %d records, X-Total-Count %q", len(r.list(t)), r.header.Get("X-Total-Count"))
	}
	// an empty result: 404 on v1, 200 with [] on v2, as the real API does
	mustStatus(t, c.get("/api/now/table/sys_user_group?sysparm_query=u_code=XX99"), http.StatusNotFound)
	empty := c.get("/api/now/v2/table/sys_user_group?sysparm_query=u_code=XX99")
	mustStatus(t, empty, http.StatusOK)
	if len(empty.list(t)) != 0 || empty.header.Get("X-Total-Count") != "0" {
		t.Errorf("v2 empty: %s", empty.body)
	}
}

func TestFieldsAndDisplayValue(t *testing.T) {
	c := start(t, servicenow.Config{})
	team := c.team("MT06")
	task := c.newTask(map[string]any{"u_care_home": "seniorenheim-dresden-johannstadt", "u_planned_start": "2021-01-07 08:00:00", "u_doses": "60", "assignment_group": team})
	path := "/api/now/table/wm_task/" + task["sys_id"].(string)

	r := c.get(path + "?sysparm_fields=number,state,assignment_group,assignment_group.u_code,bogus").one(t)
	if len(r) != 4 || r["state"] != "1" || r["assignment_group.u_code"] != "MT06" || ref(t, r["assignment_group"]) != team {
		t.Errorf("sysparm_fields: %v", r)
	}

	r = c.get(path + "?sysparm_fields=state,assignment_group,u_doses&sysparm_display_value=true").one(t)
	g := r["assignment_group"].(map[string]any)
	if r["state"] != "Draft" || r["u_doses"] != "60" || !strings.HasPrefix(g["display_value"].(string), "Mobiles Impfteam 06") || g["link"] == nil {
		t.Errorf("display_value=true: %v", r)
	}
	if _, ok := g["value"]; ok {
		t.Errorf("display_value=true shows the sys_id: %v", g)
	}

	r = c.get(path + "?sysparm_fields=state,assignment_group&sysparm_display_value=all").one(t)
	st := r["state"].(map[string]any)
	g = r["assignment_group"].(map[string]any)
	if st["value"] != "1" || st["display_value"] != "Draft" || g["value"] != team || g["display_value"] == "" || g["link"] == "" {
		t.Errorf("display_value=all: %v", r)
	}

	r = c.get(path + "?sysparm_fields=assignment_group&sysparm_exclude_reference_link=true").one(t)
	if r["assignment_group"] != team {
		t.Errorf("exclude_reference_link: %v", r)
	}
}

func TestErrorBodies(t *testing.T) {
	c := start(t, servicenow.Config{})
	failure := func(r response, status int, message string) {
		t.Helper()
		mustStatus(t, r, status)
		m := r.json(t)
		e, ok := m["error"].(map[string]any)
		if !ok || m["status"] != "failure" || e["message"] != message {
			t.Errorf("body %s, want error.message %q and status failure", r.body, message)
		}
		if _, ok := e["detail"]; !ok {
			t.Errorf("error without detail: %s", r.body)
		}
	}
	failure(c.get("/api/now/table/wm_task/0123456789abcdef0123456789abcdef"), http.StatusNotFound, "No Record found")
	failure(c.do(http.MethodPatch, "/api/now/table/wm_task/not-a-sys-id", map[string]any{"u_doses": "1"}), http.StatusNotFound, "No Record found")
	failure(c.get("/api/now/table/wm_nothing"), http.StatusBadRequest, "Invalid table wm_nothing")
	failure(c.get("/api/now/table/wm_task?sysparm_offset=-9"), http.StatusBadRequest, "offset is -9")
	failure(c.do(http.MethodPost, "/api/now/table/wm_task", map[string]any{"u_planned_start": "13.04.2021 08:15"}), http.StatusBadRequest, "Invalid value for field u_planned_start")

	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/now/table/wm_task", strings.NewReader("u_doses=1"))
	req.SetBasicAuth("sim", "sim")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form body: %d, want 415", resp.StatusCode)
	}

	// X-HTTP-Method-Override turns a POST into a PATCH
	task := c.newTask(map[string]any{"u_care_home": "seniorenheim-borna", "u_planned_start": "2021-01-05 08:00:00"})
	req, _ = http.NewRequest(http.MethodPost, c.base+"/api/now/table/wm_task/"+task["sys_id"].(string), strings.NewReader(`{"u_doses":"12"}`))
	req.SetBasicAuth("sim", "sim")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HTTP-Method-Override", "PATCH")
	resp, err = c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := c.get("/api/now/table/wm_task/" + task["sys_id"].(string)).one(t); resp.StatusCode != http.StatusOK || got["u_doses"] != "12" {
		t.Errorf("method override: %d, u_doses %v", resp.StatusCode, got["u_doses"])
	}
}

func TestBasicAuthAndOAuthTokens(t *testing.T) {
	clock := &realClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := start(t, servicenow.Config{Now: clock.Now, Users: map[string]string{"hub": "secret"}})
	const path = "/api/now/table/sys_user_group?sysparm_limit=1"

	for _, anon := range []*client{c.as("", ""), c.as("sim", "wrong"), c.as("nobody", "sim"), c.withBearer("made-up")} {
		r := anon.get(path)
		mustStatus(t, r, http.StatusUnauthorized)
		if e, _ := r.json(t)["error"].(map[string]any); e == nil || r.json(t)["status"] != "failure" {
			t.Errorf("401 body %s", r.body)
		}
	}
	mustStatus(t, c.as("hub", "secret").get(path), http.StatusOK)

	token := func(form url.Values) (int, map[string]any) {
		t.Helper()
		resp, err := http.PostForm(c.base+"/oauth_token.do", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	status, tok := token(url.Values{"grant_type": {"password"}, "client_id": {"sim"}, "client_secret": {"sim"}, "username": {"hub"}, "password": {"secret"}})
	if status != http.StatusOK || tok["token_type"] != "Bearer" || tok["expires_in"] != float64(1799) || tok["refresh_token"] == "" {
		t.Fatalf("password grant: %d %v", status, tok)
	}
	access := tok["access_token"].(string)
	r := c.withBearer(access).do(http.MethodPost, "/api/now/table/wm_order", map[string]any{"u_care_home": "pflegeheim-pirna-copitz"})
	mustStatus(t, r, http.StatusCreated)
	if r.one(t)["sys_created_by"] != "hub" {
		t.Errorf("a bearer token of hub created as %v", r.one(t)["sys_created_by"])
	}

	if status, _ := token(url.Values{"grant_type": {"password"}, "client_id": {"sim"}, "client_secret": {"wrong"}, "username": {"hub"}, "password": {"secret"}}); status != http.StatusUnauthorized {
		t.Errorf("bad client secret: %d", status)
	}
	if status, _ := token(url.Values{"grant_type": {"password"}, "client_id": {"sim"}, "client_secret": {"sim"}, "username": {"hub"}, "password": {"nope"}}); status != http.StatusUnauthorized {
		t.Errorf("bad user password: %d", status)
	}
	status, cc := token(url.Values{"grant_type": {"client_credentials"}, "client_id": {"sim"}, "client_secret": {"sim"}})
	if status != http.StatusOK {
		t.Fatalf("client_credentials: %d %v", status, cc)
	}
	mustStatus(t, c.withBearer(cc["access_token"].(string)).get(path), http.StatusOK)

	clock.Add(1800 * time.Second) // past expires_in
	mustStatus(t, c.withBearer(access).get(path), http.StatusUnauthorized)
	status, refreshed := token(url.Values{"grant_type": {"refresh_token"}, "client_id": {"sim"}, "client_secret": {"sim"}, "refresh_token": {tok["refresh_token"].(string)}})
	if status != http.StatusOK {
		t.Fatalf("refresh_token grant: %d %v", status, refreshed)
	}
	mustStatus(t, c.withBearer(refreshed["access_token"].(string)).get(path), http.StatusOK)
}

func TestRateLimitAnswers429WithHeaders(t *testing.T) {
	clock := &realClock{t: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	c := start(t, servicenow.Config{Now: clock.Now, RateLimit: 3, Users: map[string]string{"bulk": "pw"}, UserRateLimits: map[string]int{"bulk": 0}})
	const path = "/api/now/table/sys_choice?sysparm_limit=1"
	for i := 1; i <= 3; i++ {
		r := c.get(path)
		mustStatus(t, r, http.StatusOK)
		if r.header.Get("X-RateLimit-Limit") != "3" || r.header.Get("X-RateLimit-Remaining") != fmt.Sprint(3-i) {
			t.Errorf("request %d: limit %q remaining %q", i, r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
		}
	}
	r := c.get(path)
	mustStatus(t, r, http.StatusTooManyRequests)
	reset := fmt.Sprint(clock.Now().Add(time.Hour).Unix())
	if r.header.Get("X-RateLimit-Remaining") != "0" || r.header.Get("X-RateLimit-Reset") != reset || r.header.Get("Retry-After") != "3600" {
		t.Errorf("429 headers: %v", r.header)
	}
	if r.json(t)["status"] != "failure" {
		t.Errorf("429 body %s", r.body)
	}
	// another user has its own limit (none here)
	for range 5 {
		mustStatus(t, c.as("bulk", "pw").get(path), http.StatusOK)
	}
	clock.Add(time.Hour)
	mustStatus(t, c.get(path), http.StatusOK)

	// the limit can be changed at run time
	c.admin("/_sim/rate-limit", map[string]any{"limit": 1, "window": "10m"}, nil)
	mustStatus(t, c.get(path), http.StatusOK)
	mustStatus(t, c.get(path), http.StatusTooManyRequests)
}

func TestChoiceListServesTheTaskStates(t *testing.T) {
	c := start(t, servicenow.Config{})
	rs := c.get("/api/now/table/sys_choice?sysparm_query=" + url.QueryEscape("name=wm_task^element=state^ORDERBYsequence")).list(t)
	var values, labels []string
	for _, r := range rs {
		values = append(values, r["value"].(string))
		labels = append(labels, r["label"].(string))
	}
	if got := strings.Join(values, ","); got != "1,10,15,16,17,18,3,4,7" {
		t.Errorf("wm_task states %s", got)
	}
	if labels[0] != "Draft" || labels[3] != "Assigned" || labels[8] != "Cancelled" {
		t.Errorf("labels %v", labels)
	}
	if n := len(c.get("/api/now/table/sys_choice?sysparm_query=name=wm_order^element=state").list(t)); n == 0 {
		t.Error("no wm_order states")
	}
}

// vaccinate records vaccinations on a team's device.
func (c *client) vaccinate(team string, vs ...map[string]any) []map[string]any {
	c.t.Helper()
	var out []map[string]any
	c.admin("/_sim/devices/"+team+"/vaccinations", vs, &out)
	return out
}

func TestOfflineDeviceSyncsABurstOfHoursOldVaccinations(t *testing.T) {
	c := start(t, servicenow.Config{})
	team := c.team("MT05")
	task := c.newTask(map[string]any{"u_care_home": "seniorenheim-werdau", "u_planned_start": "2021-01-05 08:00:00", "u_doses": "6", "assignment_group": team})

	c.advanceTo("2021-01-05T07:30:00Z")
	c.admin("/_sim/devices/MT05/offline", nil, nil)
	vaccinations := "/api/now/v2/table/u_vaccination?sysparm_query=" + url.QueryEscape("u_assignment_group="+team+"^ORDERBYu_administered_at")
	for i := range 6 {
		c.advanceTo(fmt.Sprintf("2021-01-05T%02d:%02d:00Z", 8+i/2, 10+30*(i%2)))
		got := c.vaccinate("MT05", map[string]any{
			"resident": fmt.Sprintf("92603875%02d", i), "product": "comirnaty", "batch": "EJ6701",
			"dose_number": 1, "vaccinator": "Dr. Anke Winkler", "task": task["number"],
		})
		if len(got) != 1 || got[0]["queued"] != true {
			t.Fatalf("offline vaccination not queued: %v", got)
		}
		if n := len(c.get(vaccinations).list(t)); n != 0 {
			t.Fatalf("%d vaccinations visible while the device is offline", n)
		}
	}

	c.advanceTo("2021-01-05T14:00:00Z")
	var rep struct {
		Created []map[string]any `json:"created"`
	}
	c.admin("/_sim/devices/MT05/sync", nil, &rep)
	if len(rep.Created) != 6 {
		t.Fatalf("sync created %d", len(rep.Created))
	}

	rs := c.get(vaccinations).list(t)
	if len(rs) != 6 {
		t.Fatalf("%d vaccinations after sync, want 6", len(rs))
	}
	for i, r := range rs {
		want := fmt.Sprintf("2021-01-05 %02d:%02d:00", 8+i/2, 10+30*(i%2))
		if r["u_administered_at"] != want {
			t.Errorf("vaccination %d: u_administered_at %v, want %s (the time on the device)", i, r["u_administered_at"], want)
		}
		if r["sys_updated_on"] != "2021-01-05 14:00:00" || r["sys_created_on"] != "2021-01-05 14:00:00" || r["sys_mod_count"] != "0" {
			t.Errorf("vaccination %d: created %v updated %v mod %v, want the sync time", i, r["sys_created_on"], r["sys_updated_on"], r["sys_mod_count"])
		}
		if r["u_recorded_offline"] != "true" || r["u_batch"] != "EJ6701" || r["u_product"] != "comirnaty" || r["sys_created_by"] != "mt05.device" {
			t.Errorf("vaccination %d: %v", i, r)
		}
		if ref(t, r["u_task"]) != task["sys_id"] {
			t.Errorf("vaccination %d: task %v", i, r["u_task"])
		}
	}
	// a poller with a cursor from before the burst finds all of it
	poll := c.get("/api/now/v2/table/u_vaccination?sysparm_query=" + url.QueryEscape("sys_updated_on>=javascript:gs.dateGenerate('2021-01-05','13:00:00')^ORDERBYsys_updated_on"))
	if len(poll.list(t)) != 6 {
		t.Errorf("poll since 13:00 found %d", len(poll.list(t)))
	}
	// online, a vaccination is visible at once
	c.vaccinate("MT05", map[string]any{"resident": "9260387599", "product": "comirnaty", "batch": "EJ6701", "task": task["sys_id"]})
	if n := len(c.get(vaccinations).list(t)); n != 7 {
		t.Errorf("online vaccination: %d records", n)
	}
}

func TestConflictingCentralEditDuringOfflineTime(t *testing.T) {
	c := start(t, servicenow.Config{})
	team := c.team("MT07")
	task := c.newTask(map[string]any{"u_care_home": "seniorenheim-dresden-johannstadt", "u_planned_start": "2021-01-05 09:00:00", "u_doses": "40", "assignment_group": team})
	id := task["sys_id"].(string)
	path := "/api/now/table/wm_task/" + id

	c.advanceTo("2021-01-05T08:00:00Z")
	c.admin("/_sim/devices/MT07/offline", nil, nil)

	c.advanceTo("2021-01-05T10:00:00Z")
	central := c.do(http.MethodPatch, path, map[string]any{"state": "7", "u_doses": "44", "work_notes": "Ausbruch im Heim: Besuch abgesagt"}).one(t)
	if central["sys_mod_count"] != "1" || central["active"] != "false" {
		t.Fatalf("central cancel: %v", central)
	}

	c.advanceTo("2021-01-05T12:30:00Z")
	c.admin("/_sim/devices/MT07/edits", map[string]any{"table": "wm_task", "sys_id": id, "fields": map[string]any{"state": "3", "work_end": "2021-01-05 12:30:00"}}, nil)
	if got := c.get(path).one(t); got["state"] != "7" || got["sys_mod_count"] != "1" {
		t.Fatalf("an offline edit is visible before sync: %v", got)
	}

	c.advanceTo("2021-01-05T16:00:00Z")
	var rep struct {
		Conflicts []struct {
			SysID   string            `json:"sys_id"`
			Central map[string]string `json:"central"`
			Device  map[string]string `json:"device"`
		} `json:"conflicts"`
		Updated []map[string]any `json:"updated"`
	}
	c.admin("/_sim/devices/MT07/sync", nil, &rep)
	if len(rep.Conflicts) != 1 || rep.Conflicts[0].SysID != id || rep.Conflicts[0].Central["state"] != "7" || rep.Conflicts[0].Device["state"] != "3" {
		t.Fatalf("sync report conflicts %+v", rep.Conflicts)
	}

	got := c.get(path).one(t)
	if got["state"] != "3" || got["u_doses"] != "44" || got["work_notes"] == "" {
		t.Errorf("after sync (device wins on state, central change to doses kept): %v", got)
	}
	if got["sys_mod_count"] != "2" || got["sys_updated_on"] != "2021-01-05 16:00:00" || got["sys_updated_by"] != "mt07.device" {
		t.Errorf("synced write: mod %v updated %v by %v", got["sys_mod_count"], got["sys_updated_on"], got["sys_updated_by"])
	}
}

func TestServerWinsKeepsCentralValues(t *testing.T) {
	c := start(t, servicenow.Config{})
	task := c.newTask(map[string]any{"u_care_home": "pflegeheim-pirna-copitz", "u_planned_start": "2021-01-05 09:00:00", "u_doses": "40", "assignment_group": c.team("MT20")})
	path := "/api/now/table/wm_task/" + task["sys_id"].(string)
	c.admin("/_sim/devices/MT20/offline", nil, nil)
	c.do(http.MethodPatch, path, map[string]any{"u_doses": "50"})
	c.admin("/_sim/devices/MT20/edits", map[string]any{"sys_id": task["sys_id"], "fields": map[string]any{"u_doses": "38", "work_notes": "2 refused"}}, nil)
	c.admin("/_sim/devices/MT20/sync", map[string]any{"conflicts": "server-wins"}, nil)
	if got := c.get(path).one(t); got["u_doses"] != "50" || got["work_notes"] != "2 refused" || got["sys_mod_count"] != "2" {
		t.Errorf("server-wins: %v", got)
	}
}

func TestDispatcherMovesTasksThroughTheirStates(t *testing.T) {
	c := start(t, servicenow.Config{Dispatch: true})
	order := c.do(http.MethodPost, "/api/now/table/wm_order", map[string]any{"u_care_home": "haus-am-rosental-leipzig", "u_campaign_date": "2021-01-07"}).one(t)
	task := c.newTask(map[string]any{"parent": order["sys_id"], "u_planned_start": "2021-01-07 08:00:00", "u_doses": "87"})
	path := "/api/now/table/wm_task/" + task["sys_id"].(string)
	state := func() map[string]any { return c.get(path).one(t) }

	if got := state(); got["state"] != "15" || got["u_care_home"] != "haus-am-rosental-leipzig" {
		t.Fatalf("new task: state %v (want scheduled 15), care home %v", got["state"], got["u_care_home"])
	}
	c.advanceTo("2021-01-05T09:00:00Z") // past P-48h
	got := state()
	group := c.get("/api/now/table/sys_user_group/" + ref(t, got["assignment_group"])).one(t)
	if got["state"] != "16" || group["u_district"] != "Leipzig" {
		t.Fatalf("assigned: state %v, team %v", got["state"], group["name"])
	}
	if got["sys_updated_on"] != "2021-01-05 08:00:00" || got["sys_updated_by"] != "fsm.dispatcher" {
		t.Errorf("assignment stamped %v by %v, want when it fell due", got["sys_updated_on"], got["sys_updated_by"])
	}

	// the team goes offline: accepting and starting the visit happen on the device
	code := group["u_code"].(string)
	c.admin("/_sim/devices/"+code+"/offline", nil, nil)
	c.advanceTo("2021-01-07T09:00:00Z")
	if got := state(); got["state"] != "16" {
		t.Fatalf("state %v while the device is offline, want 16", got["state"])
	}
	c.admin("/_sim/devices/"+code+"/sync", nil, nil)
	got = state()
	if got["state"] != "18" || got["work_start"] != "2021-01-07 08:00:00" || got["sys_updated_on"] != "2021-01-07 09:00:00" {
		t.Errorf("after sync: state %v work_start %v updated %v", got["state"], got["work_start"], got["sys_updated_on"])
	}
	c.advanceTo("2021-01-07T13:00:00Z")
	got = state()
	if got["state"] != "3" || got["active"] != "false" || got["closed_at"] == "" {
		t.Errorf("closed: %v", got)
	}
	if o := c.get("/api/now/table/wm_order/" + order["sys_id"].(string)).one(t); o["state"] != "3" {
		t.Errorf("work order state %v, want 3 when its only task is closed complete", o["state"])
	}
}

func TestManualDispatchPass(t *testing.T) {
	c := start(t, servicenow.Config{})
	task := c.newTask(map[string]any{"u_care_home": "seniorenheim-borna", "u_planned_start": "2021-01-05 08:00:00"})
	var v struct {
		Transitions []map[string]any `json:"transitions"`
	}
	c.admin("/_sim/dispatch", nil, &v)
	got := c.get("/api/now/table/wm_task/" + task["sys_id"].(string)).one(t)
	if len(v.Transitions) != 3 || got["state"] != "16" || got["sys_mod_count"] != "3" {
		t.Errorf("one pass: %d transitions, state %v, mod %v", len(v.Transitions), got["state"], got["sys_mod_count"])
	}
}

func TestFaultsApplyToTheAPIButNotToSim(t *testing.T) {
	c := start(t, servicenow.Config{})
	c.do(http.MethodPut, "/_sim/faults", map[string]any{"errors": map[string]any{"rate": 1, "status": 503}})
	r := c.get("/api/now/table/sys_user_group")
	if r.status != http.StatusServiceUnavailable || r.header.Get("X-Sim-Fault") != "error" {
		t.Errorf("API under fault: %d %v", r.status, r.header.Get("X-Sim-Fault"))
	}
	mustStatus(t, c.get("/_sim/clock"), http.StatusOK)
	mustStatus(t, c.get("/_sim/devices"), http.StatusOK)
	c.do(http.MethodDelete, "/_sim/faults", nil)
	mustStatus(t, c.get("/api/now/table/sys_user_group"), http.StatusOK)
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

func TestMainPrintsItsAddressAndServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- servicenow.Main(ctx, []string{"--addr", "127.0.0.1:0", "--password", "geheim", "--rate-limit", "100", "--fault-latency", "1ms"}, &out)
	}()
	addr := regexp.MustCompile(`http://(127\.0\.0\.1:\d+)/`)
	deadline := time.Now().Add(3 * time.Second)
	for !addr.MatchString(out.String()) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	m := addr.FindStringSubmatch(out.String())
	if m == nil {
		cancel()
		t.Fatalf("no address printed: %q", out.String())
	}
	if strings.Contains(out.String(), "geheim") {
		t.Error("the password is printed")
	}
	c := &client{t: t, base: "http://" + m[1], hc: &http.Client{Timeout: 5 * time.Second}, user: "sim", pass: "geheim"}
	mustStatus(t, c.get("/api/now/table/sys_user_group?sysparm_limit=1"), http.StatusOK)
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Main: %v", err)
	}
}
