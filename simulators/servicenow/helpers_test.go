package servicenow_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/servicenow"
)

// realClock is a real clock that a test moves by hand (token expiry, rate
// limit windows).
type realClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *realClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *realClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// start runs a simulator on a free port and returns a client logged on as
// sim/sim.
func start(t *testing.T, cfg servicenow.Config) *client {
	t.Helper()
	sim, err := servicenow.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL, hc: &http.Client{Timeout: 5 * time.Second}, user: "sim", pass: "sim"}
}

type client struct {
	t          *testing.T
	base       string
	hc         *http.Client
	user, pass string
	bearer     string
}

func (c *client) as(user, pass string) *client {
	cp := *c
	cp.user, cp.pass, cp.bearer = user, pass, ""
	return &cp
}

func (c *client) withBearer(tok string) *client {
	cp := *c
	cp.user, cp.pass, cp.bearer = "", "", tok
	return &cp
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer is not a JSON object (%d): %v\n%s", r.status, err, r.body)
	}
	return m
}

// one is the "result" object of a single-record answer.
func (r response) one(t *testing.T) map[string]any {
	t.Helper()
	m, ok := r.json(t)["result"].(map[string]any)
	if !ok {
		t.Fatalf("no result object (%d): %s", r.status, r.body)
	}
	return m
}

// list is the "result" array of a list answer.
func (r response) list(t *testing.T) []map[string]any {
	t.Helper()
	raw, ok := r.json(t)["result"].([]any)
	if !ok {
		t.Fatalf("no result array (%d): %s", r.status, r.body)
	}
	out := make([]map[string]any, len(raw))
	for i, x := range raw {
		out[i] = x.(map[string]any)
	}
	return out
}

func (c *client) do(method, path string, body any) response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *client) get(path string) response { return c.do(http.MethodGet, path, nil) }

// mustOK fails unless the answer has the status.
func mustStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

// admin posts to a /_sim endpoint and decodes the answer into out.
func (c *client) admin(path string, body any, out any) {
	c.t.Helper()
	r := c.do(http.MethodPost, path, body)
	mustStatus(c.t, r, http.StatusOK)
	if out != nil {
		if err := json.Unmarshal(r.body, out); err != nil {
			c.t.Fatalf("%s: %v\n%s", path, err, r.body)
		}
	}
}

func (c *client) advanceTo(t string) {
	c.t.Helper()
	c.admin("/_sim/clock/advance", map[string]string{"to": t}, nil)
}

// team returns the sys_id of a seeded team by code.
func (c *client) team(code string) string {
	c.t.Helper()
	rs := c.get("/api/now/table/sys_user_group?sysparm_query=u_code=" + code).list(c.t)
	if len(rs) != 1 {
		c.t.Fatalf("team %s: %d records", code, len(rs))
	}
	return rs[0]["sys_id"].(string)
}

// newTask creates a wm_task and returns it.
func (c *client) newTask(fields map[string]any) map[string]any {
	c.t.Helper()
	r := c.do(http.MethodPost, "/api/now/table/wm_task", fields)
	mustStatus(c.t, r, http.StatusCreated)
	return r.one(c.t)
}

// ref is the value of a reference object.
func ref(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("not a reference object: %#v", v)
	}
	return m["value"].(string)
}
