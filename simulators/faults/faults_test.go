package faults_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// sim is a stand-in simulator behind the injector: it answers 200 "ok" and
// counts the requests that reach it.
type sim struct {
	srv  *httptest.Server
	inj  *faults.Injector
	hits atomic.Int64
}

func newSim(t *testing.T, opts faults.Options) *sim {
	t.Helper()
	s := &sim{inj: faults.New(opts)}
	s.srv = httptest.NewServer(s.inj.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		_, _ = io.WriteString(w, "ok")
	})))
	t.Cleanup(s.srv.Close)
	return s
}

type result struct {
	status int
	header http.Header
	body   string
	err    error
}

func (s *sim) do(t *testing.T, method, path, body string) result {
	t.Helper()
	req, err := http.NewRequest(method, s.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func (s *sim) view(t *testing.T) faults.View {
	t.Helper()
	r := s.do(t, http.MethodGet, "/_sim/faults", "")
	if r.err != nil || r.status != http.StatusOK {
		t.Fatalf("GET /_sim/faults: %v %d %s", r.err, r.status, r.body)
	}
	var v faults.View
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode view: %v: %s", err, r.body)
	}
	return v
}

func TestEachFaultOverRealHTTP(t *testing.T) {
	tests := []struct {
		name    string
		faults  faults.Faults
		path    string
		status  int    // expected status; 0 means a network error is expected
		fault   string // expected X-Sim-Fault header
		body    string // expected body substring
		header  [2]string
		minTime time.Duration
		reaches bool // the simulator itself is hit
	}{
		{name: "no faults", path: "/x", status: 200, body: "ok", reaches: true},
		{
			name:   "error rate 1 with status and body",
			faults: faults.Faults{Errors: &faults.Errors{Rate: 1, Status: 503, Body: `{"error":"down"}`}},
			path:   "/x", status: 503, fault: "error", body: `{"error":"down"}`,
			header: [2]string{"Content-Type", "application/json"},
		},
		{
			name:   "error rate 1 defaults to 500",
			faults: faults.Faults{Errors: &faults.Errors{Rate: 1}},
			path:   "/x", status: 500, fault: "error", body: "fault injected",
		},
		{
			name:   "error rate 0 is off",
			faults: faults.Faults{Errors: &faults.Errors{Rate: 0, Status: 503}},
			path:   "/x", status: 200, body: "ok", reaches: true,
		},
		{
			name:   "fixed latency",
			faults: faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(80 * time.Millisecond)}},
			path:   "/x", status: 200, body: "ok", minTime: 80 * time.Millisecond, reaches: true,
		},
		{
			name:   "429 on every request with Retry-After",
			faults: faults.Faults{RateLimit: &faults.RateLimit{Every: 1, RetryAfter: 7}},
			path:   "/x", status: 429, fault: "rate_limit", header: [2]string{"Retry-After", "7"},
		},
		{
			name:   "outage 503 with Retry-After",
			faults: faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(10 * time.Second), Mode: faults.Outage503}},
			path:   "/x", status: 503, fault: "outage", header: [2]string{"Retry-After", "10"},
		},
		{
			name:   "outage reset is a network error",
			faults: faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(10 * time.Second)}},
			path:   "/x", status: 0,
		},
		{
			name:   "exempt path is never faulted",
			faults: faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(10 * time.Second)}, Errors: &faults.Errors{Rate: 1}},
			path:   "/_sim/health", status: 200, body: "ok", reaches: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSim(t, faults.Options{Seed: 1, Initial: tc.faults})
			start := time.Now()
			r := s.do(t, http.MethodGet, tc.path, "")
			elapsed := time.Since(start)
			if tc.status == 0 {
				if r.err == nil {
					t.Fatalf("want a network error, got %d %q", r.status, r.body)
				}
			} else {
				if r.err != nil {
					t.Fatalf("request: %v", r.err)
				}
				if r.status != tc.status {
					t.Fatalf("status = %d, want %d (body %q)", r.status, tc.status, r.body)
				}
			}
			if got := r.header.Get(faults.HeaderFault); got != tc.fault {
				t.Errorf("%s = %q, want %q", faults.HeaderFault, got, tc.fault)
			}
			if !strings.Contains(r.body, tc.body) {
				t.Errorf("body %q does not contain %q", r.body, tc.body)
			}
			if tc.header[0] != "" && r.header.Get(tc.header[0]) != tc.header[1] {
				t.Errorf("%s = %q, want %q", tc.header[0], r.header.Get(tc.header[0]), tc.header[1])
			}
			if elapsed < tc.minTime {
				t.Errorf("took %v, want at least %v", elapsed, tc.minTime)
			}
			if got := s.hits.Load() > 0; got != tc.reaches {
				t.Errorf("simulator reached = %v, want %v", got, tc.reaches)
			}
		})
	}
}

func TestOutageEndsByItself(t *testing.T) {
	for _, mode := range []faults.OutageMode{faults.OutageReset, faults.Outage503} {
		t.Run(string(mode), func(t *testing.T) {
			s := newSim(t, faults.Options{})
			r := s.do(t, http.MethodPut, "/_sim/faults", fmt.Sprintf(`{"outage":{"duration":"150ms","mode":%q}}`, mode))
			if r.status != http.StatusOK {
				t.Fatalf("PUT: %d %s", r.status, r.body)
			}
			if v := s.view(t); v.Outage == nil || v.Outage.Remaining <= 0 {
				t.Fatalf("GET during outage shows %+v, want an outage with time remaining", v.Outage)
			}
			if r := s.do(t, http.MethodGet, "/x", ""); r.err == nil && r.status != http.StatusServiceUnavailable {
				t.Fatalf("during outage: %d %q, want a failure", r.status, r.body)
			}
			time.Sleep(200 * time.Millisecond)
			if r := s.do(t, http.MethodGet, "/x", ""); r.err != nil || r.status != http.StatusOK {
				t.Fatalf("after outage: %v %d, want 200", r.err, r.status)
			}
			if v := s.view(t); v.Outage != nil {
				t.Fatalf("GET after outage still shows %+v", v.Outage)
			}
		})
	}
}

func TestRateLimitEveryNth(t *testing.T) {
	s := newSim(t, faults.Options{Initial: faults.Faults{RateLimit: &faults.RateLimit{Every: 3, RetryAfter: 2}}})
	var got []int
	for range 7 {
		r := s.do(t, http.MethodGet, "/x", "")
		if r.err != nil {
			t.Fatal(r.err)
		}
		got = append(got, r.status)
		if r.status == 429 && r.header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After = %q, want 2", r.header.Get("Retry-After"))
		}
	}
	want := []int{200, 200, 429, 200, 200, 429, 200}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses = %v, want %v", got, want)
	}
}

func TestSameSeedGivesSameFaults(t *testing.T) {
	f := faults.Faults{
		Errors:    &faults.Errors{Rate: 0.5},
		RateLimit: &faults.RateLimit{Probability: 0.2},
		Latency:   &faults.Latency{Jitter: faults.Duration(time.Millisecond)},
	}
	run := func(seed uint64) string {
		s := newSim(t, faults.Options{Seed: seed, Initial: f})
		var b strings.Builder
		for range 40 {
			r := s.do(t, http.MethodGet, "/x", "")
			if r.err != nil {
				t.Fatal(r.err)
			}
			fmt.Fprintf(&b, "%d ", r.status)
		}
		return b.String()
	}
	a, b, c := run(42), run(42), run(43)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Errorf("different seeds gave identical sequences (possible, but unlikely): %s", a)
	}
	if !strings.Contains(a, "200") || !strings.Contains(a, "500") || !strings.Contains(a, "429") {
		t.Errorf("expected a mix of 200, 500 and 429, got %s", a)
	}
}

func TestAdminEndpoints(t *testing.T) {
	s := newSim(t, faults.Options{Custom: []faults.Custom{{Name: "csrf_expired", Help: "next modifying call fails CSRF validation"}}})

	steps := []struct {
		method, body string
		status       int
		check        func(t *testing.T, v faults.View)
	}{
		{"GET", "", 200, func(t *testing.T, v faults.View) {
			if v.Errors != nil || len(v.Custom) != 1 || v.Custom[0].On || v.Custom[0].Name != "csrf_expired" {
				t.Errorf("initial view %+v", v)
			}
		}},
		{"PUT", `{"errors":{"rate":0.5,"status":502},"latency":{"fixed":"1ms"}}`, 200, func(t *testing.T, v faults.View) {
			if v.Errors == nil || v.Errors.Status != 502 || v.Latency == nil || v.Latency.Fixed != faults.Duration(time.Millisecond) {
				t.Errorf("after PUT %+v", v.Faults)
			}
		}},
		{"POST", `{"rate_limit":{"every":10},"flags":{"csrf_expired":true}}`, 200, func(t *testing.T, v faults.View) {
			if v.Errors == nil || v.RateLimit == nil || !v.Flags["csrf_expired"] || !v.Custom[0].On {
				t.Errorf("POST must merge: %+v", v.Faults)
			}
		}},
		{"POST", `{"latency":{"fixed":"0s"}}`, 200, func(t *testing.T, v faults.View) {
			if v.Latency != nil || v.Errors == nil {
				t.Errorf("a zero-valued fault must switch only itself off: %+v", v.Faults)
			}
		}},
		{"PUT", `{"latency":{"fixed":"2ms"}}`, 200, func(t *testing.T, v faults.View) {
			if v.Errors != nil || v.RateLimit != nil || v.Flags["csrf_expired"] || v.Latency == nil {
				t.Errorf("PUT must replace: %+v", v.Faults)
			}
		}},
		{"PUT", `{"errors":{"rate":2}}`, 400, nil},
		{"PUT", `{"errors":{"rate":0.1,"status":200}}`, 400, nil},
		{"PUT", `{"latency":{"fixed":250}}`, 400, nil},
		{"PUT", `{"latencyy":{"fixed":"1s"}}`, 400, nil},
		{"PUT", `{"flags":{"no_such_flag":true}}`, 400, nil},
		{"PUT", `{"outage":{"duration":"1s","mode":"explode"}}`, 400, nil},
		{"PUT", ``, 400, nil},
		{"PATCH", `{}`, 405, nil},
		{"GET", "", 200, func(t *testing.T, v faults.View) {
			if v.Latency == nil || v.Latency.Fixed != faults.Duration(2*time.Millisecond) {
				t.Errorf("rejected requests must change nothing: %+v", v.Faults)
			}
		}},
		{"DELETE", "", 200, func(t *testing.T, v faults.View) {
			if v.Latency != nil || v.Errors != nil || v.Outage != nil || v.RateLimit != nil || len(v.Flags) != 0 {
				t.Errorf("DELETE must clear: %+v", v.Faults)
			}
		}},
	}
	for n, st := range steps {
		r := s.do(t, st.method, "/_sim/faults", st.body)
		if r.err != nil {
			t.Fatalf("step %d: %v", n, r.err)
		}
		if r.status != st.status {
			t.Fatalf("step %d %s %s: status %d, want %d: %s", n, st.method, st.body, r.status, st.status, r.body)
		}
		if st.status >= 400 && !strings.Contains(r.body, `"error"`) {
			t.Errorf("step %d: error body %q has no message", n, r.body)
		}
		if st.check != nil {
			var v faults.View
			if err := json.Unmarshal([]byte(r.body), &v); err != nil {
				t.Fatalf("step %d: %v", n, err)
			}
			st.check(t, v)
		}
	}
	if s.hits.Load() != 0 {
		t.Errorf("admin requests reached the simulator %d times", s.hits.Load())
	}
}

func TestGetAnswerCanBePutBack(t *testing.T) {
	s := newSim(t, faults.Options{Initial: faults.Faults{
		Errors:  &faults.Errors{Rate: 0.25, Status: 504},
		Outage:  &faults.Outage{Duration: faults.Duration(time.Hour), Mode: faults.Outage503},
		Latency: &faults.Latency{Fixed: faults.Duration(time.Millisecond)},
	}})
	before := s.view(t)
	b, _ := json.Marshal(before)
	if r := s.do(t, http.MethodPut, "/_sim/faults", string(b)); r.status != http.StatusOK {
		t.Fatalf("PUT of GET's answer: %d %s", r.status, r.body)
	}
	after := s.view(t)
	if !after.Outage.Until.Equal(before.Outage.Until) {
		t.Errorf("PUT back moved the outage end from %v to %v", before.Outage.Until, after.Outage.Until)
	}
	if *after.Errors != *before.Errors {
		t.Errorf("errors changed: %+v -> %+v", before.Errors, after.Errors)
	}
}

func TestCustomFaults(t *testing.T) {
	s := newSim(t, faults.Options{})
	if err := s.inj.Register(faults.Custom{Name: "csrf_expired", Help: "SAP: reject the CSRF token"}); err != nil {
		t.Fatal(err)
	}
	if err := s.inj.Register(faults.Custom{
		Name: "maintenance",
		Help: "answer every request with the maintenance page",
		Handle: func(w http.ResponseWriter, r *http.Request) bool {
			w.Header().Set(faults.HeaderFault, "maintenance")
			http.Error(w, "down for maintenance", http.StatusForbidden)
			return true
		},
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.inj.Register(faults.Custom{Name: "maintenance"}); err == nil {
		t.Error("registering a name twice must fail")
	}
	if err := s.inj.Register(faults.Custom{Name: "Bad Name"}); err == nil {
		t.Error("a name with spaces must be rejected")
	}

	if s.inj.Flag("csrf_expired") {
		t.Fatal("flag on before being switched on")
	}
	if r := s.do(t, http.MethodPost, "/_sim/faults", `{"flags":{"csrf_expired":true}}`); r.status != 200 {
		t.Fatalf("POST flag: %d %s", r.status, r.body)
	}
	if !s.inj.Flag("csrf_expired") {
		t.Fatal("flag off after POST")
	}
	if r := s.do(t, http.MethodGet, "/x", ""); r.status != 200 {
		t.Fatalf("a pure flag must not answer requests itself: %d", r.status)
	}
	if err := s.inj.SetFlag("maintenance", true); err != nil {
		t.Fatal(err)
	}
	r := s.do(t, http.MethodGet, "/x", "")
	if r.status != http.StatusForbidden || r.header.Get(faults.HeaderFault) != "maintenance" {
		t.Fatalf("hook: %d %v", r.status, r.header)
	}
	v := s.view(t)
	if len(v.Custom) != 2 || !v.Custom[0].On || v.Custom[0].Hook || !v.Custom[1].On || !v.Custom[1].Hook {
		t.Fatalf("GET custom = %+v", v.Custom)
	}
	if err := s.inj.SetFlag("nope", true); !errors.Is(err, faults.ErrInvalid) {
		t.Fatalf("unknown flag: err = %v, want ErrInvalid", err)
	}
	_ = s.inj.SetFlag("maintenance", false)
	if r := s.do(t, http.MethodGet, "/x", ""); r.status != 200 {
		t.Fatalf("after switching the hook off: %d", r.status)
	}
	if !s.inj.Flag("csrf_expired") {
		t.Fatal("switching one flag off must leave the other on")
	}
}

func TestLatencyIsAbandonedWhenTheClientGoesAway(t *testing.T) {
	s := newSim(t, faults.Options{Initial: faults.Faults{Latency: &faults.Latency{Fixed: faults.Duration(5 * time.Second)}}})
	c := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := c.Get(s.srv.URL + "/x"); err == nil {
		t.Fatal("want a client timeout")
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.inj.Stats().Delayed == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if s.hits.Load() != 0 {
		t.Fatal("a request whose client left during latency still reached the simulator")
	}
}

func TestConcurrentRequestsAndChanges(t *testing.T) {
	s := newSim(t, faults.Options{Seed: 7, Custom: []faults.Custom{{Name: "x"}}})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range 25 {
				switch {
				case g == 0 && n%5 == 0:
					_ = s.inj.Set(faults.Faults{Errors: &faults.Errors{Rate: 0.3}, RateLimit: &faults.RateLimit{Every: 4}})
				case g == 1 && n%5 == 0:
					_ = s.inj.SetFlag("x", n%2 == 0)
				case g == 2 && n%7 == 0:
					s.inj.Clear()
				case g == 3:
					_ = s.inj.View()
				default:
					if r := s.do(t, http.MethodGet, "/x", ""); r.err != nil {
						t.Error(r.err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	st := s.inj.Stats()
	if st.Requests != st.Passed+st.Errors+st.RateLimited {
		t.Errorf("stats do not add up: %+v", st)
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o faults.Options)
	}{
		{name: "everything", args: []string{
			"--fault-seed=9", "--fault-latency=20ms", "--fault-latency-jitter=5ms",
			"--fault-error-rate=0.25", "--fault-error-status=503", "--fault-error-body=nope",
			"--fault-outage=30s", "--fault-outage-mode=503",
			"--fault-429-rate=0.1", "--fault-429-every=4", "--fault-429-retry-after=3",
			"--fault-flag=csrf_expired", "--fault-exempt=/_sim/,/healthz",
		}, check: func(t *testing.T, o faults.Options) {
			f := o.Initial
			if o.Seed != 9 || f.Latency.Fixed != faults.Duration(20*time.Millisecond) || f.Latency.Jitter != faults.Duration(5*time.Millisecond) ||
				f.Errors.Rate != 0.25 || f.Errors.Status != 503 || f.Errors.Body != "nope" ||
				f.Outage.Duration != faults.Duration(30*time.Second) || f.Outage.Mode != faults.Outage503 ||
				f.RateLimit.Probability != 0.1 || f.RateLimit.Every != 4 || f.RateLimit.RetryAfter != 3 ||
				!f.Flags["csrf_expired"] || fmt.Sprint(o.ExemptPrefixes) != "[/_sim/ /healthz]" {
				t.Errorf("options = %+v", o)
			}
		}},
		{name: "nothing", args: nil, check: func(t *testing.T, o faults.Options) {
			if o.Initial.Latency != nil || o.Initial.Errors != nil || o.Initial.Outage != nil || o.Initial.RateLimit != nil || o.ExemptPrefixes != nil {
				t.Errorf("no flags must mean no faults: %+v", o)
			}
		}},
		{name: "rate above 1", args: []string{"--fault-error-rate=1.5"}, wantErr: "fault-error-rate"},
		{name: "status 200", args: []string{"--fault-error-status=200"}, wantErr: "fault-error-status"},
		{name: "negative latency", args: []string{"--fault-latency=-1s"}, wantErr: "fault-latency"},
		{name: "bad outage mode", args: []string{"--fault-outage-mode=boom"}, wantErr: "fault-outage-mode"},
		{name: "bad 429 rate", args: []string{"--fault-429-rate=x"}, wantErr: "fault-429-rate"},
		{name: "bad flag name", args: []string{"--fault-flag=Has Space"}, wantErr: "fault-flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var o faults.Options
			fs := flag.NewFlagSet("sim", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.RegisterFlags(fs)
			err := fs.Parse(tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestFlagsStartASimulatorWithFaults(t *testing.T) {
	o := faults.Options{Custom: []faults.Custom{{Name: "csrf_expired"}}}
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	o.RegisterFlags(fs)
	if err := fs.Parse([]string{"--fault-error-rate=1", "--fault-error-status=502", "--fault-flag=csrf_expired"}); err != nil {
		t.Fatal(err)
	}
	s := newSim(t, o)
	if r := s.do(t, http.MethodGet, "/x", ""); r.status != http.StatusBadGateway {
		t.Fatalf("status = %d, want 502", r.status)
	}
	if !s.inj.Flag("csrf_expired") {
		t.Fatal("--fault-flag did not switch the flag on")
	}
}

func TestNewPanicsOnInvalidOptions(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New accepted a flag that names no declared custom fault")
		}
	}()
	faults.New(faults.Options{Initial: faults.Faults{Flags: map[string]bool{"undeclared": true}}})
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(faults.Latency{Fixed: faults.Duration(1500 * time.Millisecond)})
	if err != nil || !bytes.Contains(b, []byte(`"fixed":"1.5s"`)) {
		t.Fatalf("marshal: %s %v", b, err)
	}
}

// TestLostAnswersDoTheWorkAndLoseTheAnswer: the handler runs, the client
// gets no answer (its timeout or a reset), and only the first Count
// requests of the methods named are affected.
func TestLostAnswersDoTheWorkAndLoseTheAnswer(t *testing.T) {
	var served atomic.Int32
	inj := faults.New(faults.Options{Seed: 1})
	srv := httptest.NewServer(inj.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		_, _ = io.WriteString(w, "done")
	})))
	defer srv.Close()
	if err := inj.Merge(faults.Faults{Lost: &faults.LostAnswers{Count: 1, Hold: faults.Duration(5 * time.Second)}}); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 300 * time.Millisecond}
	get, err := cl.Get(srv.URL + "/x")
	if err != nil {
		t.Fatalf("GET: %v (only POST loses its answer)", err)
	}
	get.Body.Close()
	start := time.Now()
	if resp, err := cl.Post(srv.URL+"/x", "text/plain", strings.NewReader("a")); err == nil {
		resp.Body.Close()
		t.Fatalf("the first POST got an answer %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the lost answer held the client %v, not until its own timeout", d)
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("%d requests served, want 2: the POST whose answer was lost must have done its work", n)
	}
	resp, err := cl.Post(srv.URL+"/x", "text/plain", strings.NewReader("b"))
	if err != nil {
		t.Fatalf("the second POST: %v (Count 1)", err)
	}
	resp.Body.Close()
	if st := inj.Stats(); st.Lost != 1 {
		t.Fatalf("stats %+v, want lost 1", st)
	}
	if err := inj.Merge(faults.Faults{Lost: &faults.LostAnswers{}}); err != nil || inj.Active().Lost != nil {
		t.Fatalf("{} must switch lost_answers off: %+v, %v", inj.Active().Lost, err)
	}
}

// TestLostAnswersWithOnlyAPathSuffixAreOn: the README says only {} switches
// lost_answers off; a path_suffix alone aims it (every POST to that path).
func TestLostAnswersWithOnlyAPathSuffixAreOn(t *testing.T) {
	inj := faults.New(faults.Options{Seed: 1})
	srv := httptest.NewServer(inj.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "done")
	})))
	defer srv.Close()
	if err := inj.Merge(faults.Faults{Lost: &faults.LostAnswers{PathSuffix: "/messages"}}); err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Timeout: 300 * time.Millisecond}
	if resp, err := cl.Post(srv.URL+"/other", "text/plain", strings.NewReader("a")); err != nil {
		t.Fatalf("POST to another path lost its answer: %v", err)
	} else {
		resp.Body.Close()
	}
	if resp, err := cl.Post(srv.URL+"/messages", "text/plain", strings.NewReader("a")); err == nil {
		resp.Body.Close()
		t.Fatalf("POST to the aimed path got an answer %d: lost_answers with only path_suffix was off", resp.StatusCode)
	}
}
