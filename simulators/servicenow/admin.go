package servicenow

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simclock"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// The /_sim endpoints are the simulator's own controls; the shared fault
// injection never touches them.

func writeView(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, append(b, '\n'))
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	writeJSON(w, status, b)
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeAdminError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed on %s", r.Method, r.URL.Path))
}

// decodeStrict reads a JSON body; an empty body leaves v as it is.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 4<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bad body: %w", err)
	}
	return nil
}

type clockView struct {
	Now       time.Time `json:"now"`
	TimeScale float64   `json:"time_scale"`
	Dispatch  bool      `json:"dispatch"`
}

func (s *Simulator) clockView() clockView {
	return clockView{Now: s.clock.Now(), TimeScale: s.clock.Scale(), Dispatch: s.auto}
}

// serveClock answers GET /_sim/clock and POST /_sim/clock {"time_scale":N}.
func (s *Simulator) serveClock(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost, http.MethodPut:
		var in struct {
			TimeScale *float64 `json:"time_scale"`
		}
		if err := decodeStrict(r.Body, &in); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		if in.TimeScale == nil || *in.TimeScale < 0 {
			writeAdminError(w, http.StatusBadRequest, errors.New(`send {"time_scale": N} with N >= 0`))
			return
		}
		s.clock.SetScale(*in.TimeScale)
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST, PUT")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catchUp()
	writeView(w, http.StatusOK, s.clockView())
}

// serveAdvance answers POST /_sim/clock/advance {"by":"6h"} or
// {"to":"2021-01-05T08:00:00Z"} (or ?by=6h).
func (s *Simulator) serveAdvance(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	d, err := s.clock.AdvanceBy(r, func(v string) (time.Time, error) {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t, nil
		}
		return parseSNTime(v)
	})
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, err)
		return
	}
	s.Advance(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	writeView(w, http.StatusOK, s.clockView())
}

type dispatchView struct {
	Now         time.Time        `json:"now"`
	Auto        bool             `json:"auto"`
	Transitions []TransitionView `json:"transitions"`
	Upcoming    []TransitionView `json:"upcoming"`
}

// serveDispatch answers GET /_sim/dispatch (what falls due next) and POST
// /_sim/dispatch [{"auto":true|false}]: one dispatcher pass now, every due
// transition stamped with the current simulated time, and optionally the
// automatic dispatcher switched on or off.
func (s *Simulator) serveDispatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Auto *bool `json:"auto"`
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		if err := decodeStrict(r.Body, &in); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.catchUp()
	v := dispatchView{Now: now, Transitions: []TransitionView{}, Upcoming: []TransitionView{}}
	if r.Method == http.MethodPost {
		v.Transitions = append(v.Transitions, s.dispatch(now, false)...)
		if in.Auto != nil {
			s.auto = *in.Auto
		}
	}
	v.Auto = s.auto
	for _, t := range s.tables[tTask].records {
		if tr, ok := s.next(t); ok {
			by := dispatcherUser
			if tr.fieldSide {
				by = s.device(t.v["assignment_group"]).user
			}
			v.Upcoming = append(v.Upcoming, TransitionView{Task: t.id(), Number: t.v["number"], From: tr.from, To: tr.to, At: tr.due, By: by})
		}
	}
	sort.SliceStable(v.Upcoming, func(i, j int) bool { return v.Upcoming[i].At.Before(v.Upcoming[j].At) })
	writeView(w, http.StatusOK, v)
}

// DeviceView describes a team's device.
type DeviceView struct {
	Group        string       `json:"group"`
	Code         string       `json:"code"`
	Name         string       `json:"name"`
	User         string       `json:"user"`
	Online       bool         `json:"online"`
	OfflineSince *time.Time   `json:"offline_since,omitempty"`
	Queued       int          `json:"queued"`
	Vaccinations int          `json:"queued_vaccinations"`
	Edits        int          `json:"queued_edits"`
	Queue        []QueuedView `json:"queue,omitempty"`
	Syncs        []SyncReport `json:"syncs,omitempty"`
}

// QueuedView is one change waiting on an offline device.
type QueuedView struct {
	Table   string            `json:"table"`
	SysID   string            `json:"sys_id,omitempty"`
	LocalID string            `json:"local_id,omitempty"`
	Fields  map[string]string `json:"fields"`
	At      time.Time         `json:"at"`
}

func (s *Simulator) deviceView(d *device, detail bool) DeviceView {
	v := DeviceView{Group: d.group, Code: d.code, User: d.user, Online: !d.offline, Queued: len(d.queue)}
	if g := s.tables[tGroup].byID[d.group]; g != nil {
		v.Name = g.v["name"]
	}
	if d.offline {
		since := d.since
		v.OfflineSince = &since
	}
	for _, o := range d.queue {
		if o.id == "" {
			v.Vaccinations++
		} else {
			v.Edits++
		}
		if detail {
			v.Queue = append(v.Queue, QueuedView{Table: o.table, SysID: o.id, LocalID: o.localID, Fields: o.fields, At: o.at})
		}
	}
	if detail {
		v.Syncs = d.syncs
	}
	return v
}

// serveDevices answers GET /_sim/devices: every team's device.
func (s *Simulator) serveDevices(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.catchUp()
	out := []DeviceView{}
	for _, g := range s.tables[tGroup].records {
		if g.v["type"] == "mobile_team" {
			out = append(out, s.deviceView(s.device(g.id()), false))
		}
	}
	writeView(w, http.StatusOK, out)
}

// serveDevice answers /_sim/devices/{group}[/offline|/online|/sync|/vaccinations|/edits];
// {group} is the team's sys_id, code (MT07) or name.
func (s *Simulator) serveDevice(w http.ResponseWriter, r *http.Request) {
	key, action, _ := strings.Cut(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_sim/devices/"), "/"), "/")
	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		body = b
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.catchUp()
	g := s.findGroup(key)
	if g == nil {
		writeAdminError(w, http.StatusNotFound, fmt.Errorf("no team %q (give its sys_id, code such as MT07, or name)", key))
		return
	}
	d := s.device(g.id())
	if action == "" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		writeView(w, http.StatusOK, s.deviceView(d, true))
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, "POST")
		return
	}
	switch action {
	case "offline":
		s.goOffline(d, now)
		writeView(w, http.StatusOK, s.deviceView(d, false))
	case "sync", "online":
		var in struct {
			Conflicts string `json:"conflicts"`
		}
		if err := decodeStrict(strings.NewReader(string(body)), &in); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		switch in.Conflicts {
		case "":
			in.Conflicts = DeviceWins
		case DeviceWins, ServerWins:
		default:
			writeAdminError(w, http.StatusBadRequest, fmt.Errorf("conflicts %q: want %q or %q", in.Conflicts, DeviceWins, ServerWins))
			return
		}
		writeView(w, http.StatusOK, s.sync(d, now, in.Conflicts))
	case "vaccinations":
		var ins []VaccinationInput
		trimmed := strings.TrimSpace(string(body))
		var err error
		if strings.HasPrefix(trimmed, "[") {
			err = decodeStrict(strings.NewReader(trimmed), &ins)
		} else {
			var one VaccinationInput
			err = decodeStrict(strings.NewReader(trimmed), &one)
			ins = []VaccinationInput{one}
		}
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		type recorded struct {
			LocalID string `json:"local_id"`
			Queued  bool   `json:"queued"`
			SysID   string `json:"sys_id,omitempty"`
			Number  string `json:"number,omitempty"`
		}
		out := []recorded{}
		for i, in := range ins {
			local, rec, err := s.recordVaccination(d, in, now)
			if err != nil {
				writeAdminError(w, http.StatusBadRequest, fmt.Errorf("vaccination %d: %w", i, err))
				return
			}
			x := recorded{LocalID: local, Queued: rec == nil}
			if rec != nil {
				x.SysID, x.Number = rec.id(), rec.v["number"]
			}
			out = append(out, x)
		}
		writeView(w, http.StatusOK, out)
	case "edits":
		var in EditInput
		if err := decodeStrict(strings.NewReader(string(body)), &in); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		rec, err := s.edit(d, in, now)
		if err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
		out := map[string]any{"queued": rec == nil}
		if rec != nil {
			out["sys_id"], out["sys_mod_count"] = rec.id(), rec.v["sys_mod_count"]
		}
		writeView(w, http.StatusOK, out)
	default:
		writeAdminError(w, http.StatusNotFound, fmt.Errorf("unknown device action %q (offline, sync, online, vaccinations, edits)", action))
	}
}

type rateLimitView struct {
	Limit  int            `json:"limit"`
	Users  map[string]int `json:"users"`
	Window string         `json:"window"`
}

// serveRateLimit answers GET /_sim/rate-limit and POST /_sim/rate-limit
// {"limit":N,"users":{"name":N},"window":"1h"}; changing it restarts every
// window.
func (s *Simulator) serveRateLimit(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Limit  *int           `json:"limit"`
		Users  map[string]int `json:"users"`
		Window string         `json:"window"`
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost, http.MethodPut:
		if err := decodeStrict(r.Body, &in); err != nil {
			writeAdminError(w, http.StatusBadRequest, err)
			return
		}
	default:
		methodNotAllowed(w, r, "GET, HEAD, POST, PUT")
		return
	}
	var win time.Duration
	if in.Window != "" {
		d, err := simclock.ParseDuration(in.Window)
		if err != nil || d <= 0 {
			writeAdminError(w, http.StatusBadRequest, fmt.Errorf("window %q: want a positive duration such as 1h", in.Window))
			return
		}
		win = d
	}
	if in.Limit != nil && *in.Limit < 0 {
		writeAdminError(w, http.StatusBadRequest, errors.New("limit must not be negative"))
		return
	}
	for u, n := range in.Users {
		if n < 0 {
			writeAdminError(w, http.StatusBadRequest, fmt.Errorf("users[%q] must not be negative", u))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l := &s.limits
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		if in.Limit != nil {
			l.limit = *in.Limit
		}
		if r.Method == http.MethodPut {
			l.users = map[string]int{}
		}
		for u, n := range in.Users {
			l.users[u] = n
		}
		if win > 0 {
			l.window = win
		}
		l.counts = map[string]*window{}
	}
	users := map[string]int{}
	for u, n := range l.users {
		users[u] = n
	}
	writeView(w, http.StatusOK, rateLimitView{Limit: l.limit, Users: users, Window: l.window.String()})
}
