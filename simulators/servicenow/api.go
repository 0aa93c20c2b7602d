package servicenow

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// defaultLimit is sysparm_limit when a request does not give one.
const defaultLimit = 10000

// answer is a response built under the lock and written after it, so that
// a slow client never holds the lock.
type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a *answer) write(w http.ResponseWriter, head bool) {
	for k, v := range a.header {
		w.Header()[k] = v
	}
	if a.body != nil {
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	}
	w.WriteHeader(a.status)
	if !head && a.body != nil {
		_, _ = w.Write(a.body)
	}
}

func failure(status int, message string, detail any) *answer {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "detail": detail}, "status": "failure"})
	return &answer{status: status, header: http.Header{}, body: b}
}

func writeFailure(w http.ResponseWriter, status int, message string, detail any) {
	failure(status, message, detail).write(w, false)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func result(status int, v any) *answer {
	b, _ := json.Marshal(map[string]any{"result": v})
	return &answer{status: status, header: http.Header{}, body: b}
}

// tableRequest is one parsed Table API request.
type tableRequest struct {
	v2       bool
	tbl      *table
	id       string
	method   string
	params   url.Values
	base     string // scheme://host
	path     string
	user     string
	body     map[string]any
	fields   []string
	dv       string // sysparm_display_value: false, true, all
	exclLink bool
}

// serveTable answers /api/now/[v1/|v2/]table/{table}[/{sys_id}].
func (s *Simulator) serveTable(w http.ResponseWriter, r *http.Request) {
	user, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Basic realm="Service-now"`)
		writeFailure(w, http.StatusUnauthorized, "User Not Authenticated", "Required to provide Auth information")
		return
	}
	if !s.admit(w, user) {
		return
	}
	method := r.Method
	if o := r.Header.Get("X-HTTP-Method-Override"); o != "" && method == http.MethodPost {
		method = strings.ToUpper(o)
	}
	if !acceptsJSON(r.Header.Get("Accept")) {
		writeFailure(w, http.StatusNotAcceptable, "Requested response format is not supported", "Supported formats: application/json")
		return
	}

	rest := r.URL.Path
	v2 := false
	for _, p := range []string{"/api/now/v2/table/", "/api/now/v1/table/", "/api/now/table/"} {
		if after, ok := strings.CutPrefix(rest, p); ok {
			rest, v2 = after, p == "/api/now/v2/table/"
			break
		}
	}
	name, id, _ := strings.Cut(strings.Trim(rest, "/"), "/")
	req := &tableRequest{v2: v2, id: id, method: method, params: r.URL.Query(), base: baseURL(r), path: r.URL.Path, user: user}
	req.dv = strings.ToLower(req.params.Get("sysparm_display_value"))
	if req.dv != "true" && req.dv != "all" {
		req.dv = "false"
	}
	req.exclLink = req.params.Get("sysparm_exclude_reference_link") == "true"
	if f := req.params.Get("sysparm_fields"); f != "" {
		for _, x := range strings.Split(f, ",") {
			if x = strings.TrimSpace(x); x != "" {
				req.fields = append(req.fields, x)
			}
		}
	}

	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		if a := readBody(r, req); a != nil {
			a.write(w, false)
			return
		}
	}

	s.mu.Lock()
	var a *answer
	req.tbl = s.tables[name]
	switch {
	case name == "" || req.tbl == nil:
		a = failure(http.StatusBadRequest, "Invalid table "+name, nil)
	case strings.Contains(id, "/"):
		a = failure(http.StatusBadRequest, "Requested URI does not represent any resource", nil)
	default:
		now := s.catchUp()
		a = s.serveTableLocked(req, now)
	}
	s.mu.Unlock()
	a.write(w, r.Method == http.MethodHead)
}

func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "application/json", "application/*", "*/*", "text/json":
			return true
		}
	}
	return false
}

// readBody checks Content-Type and decodes the JSON body of a write. One
// record per call: an array's first element is taken, the rest ignored.
func readBody(r *http.Request, req *tableRequest) *answer {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return failure(http.StatusBadRequest, "Content-Type header is required", "Send Content-Type: application/json")
	}
	if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
		return failure(http.StatusUnsupportedMediaType, "Unsupported Media Type", "Content-Type "+ct+" is not supported; use application/json")
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		return failure(http.StatusBadRequest, "Cannot read the request body", err.Error())
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return failure(http.StatusBadRequest, "Exception while reading request", "The payload is not valid JSON.")
	}
	if arr, ok := v.([]any); ok && len(arr) > 0 {
		v = arr[0]
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return failure(http.StatusBadRequest, "Exception while reading request", "The payload is not a JSON object.")
	}
	req.body = obj
	return nil
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Simulator) serveTableLocked(req *tableRequest, now time.Time) *answer {
	t := req.tbl
	if req.id == "" {
		switch req.method {
		case http.MethodGet, http.MethodHead:
			return s.list(req)
		case http.MethodPost:
			vals, a := s.values(t, req.body, true)
			if a != nil {
				return a
			}
			r := s.create(t, vals, now, req.user)
			a = result(http.StatusCreated, s.render(t, r, req))
			a.header.Set("Location", tableLink(req.base, t.name, r.id()))
			return a
		}
		a := failure(http.StatusMethodNotAllowed, "Method not Supported", fmt.Sprintf("%s is not supported on a table; name a record by sys_id", req.method))
		a.header.Set("Allow", "GET, POST")
		return a
	}
	r := t.byID[req.id]
	switch req.method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		a := failure(http.StatusMethodNotAllowed, "Method not Supported", fmt.Sprintf("%s is not supported on a record", req.method))
		a.header.Set("Allow", "GET, PUT, PATCH, DELETE")
		return a
	}
	if r == nil {
		return failure(http.StatusNotFound, "No Record found", "Record doesn't exist or ACL restricts the record retrieval")
	}
	switch req.method {
	case http.MethodPut, http.MethodPatch:
		vals, a := s.values(t, req.body, false)
		if a != nil {
			return a
		}
		s.modify(t, r, vals, now, req.user)
		return result(http.StatusOK, s.render(t, r, req))
	case http.MethodDelete:
		t.remove(r)
		return &answer{status: http.StatusNoContent, header: http.Header{}}
	}
	return result(http.StatusOK, s.render(t, r, req))
}

// values normalises a request body to stored strings. Unknown fields are
// ignored, as are system fields (except a valid sys_id on insert).
func (s *Simulator) values(t *table, body map[string]any, insert bool) (map[string]string, *answer) {
	vals := map[string]string{}
	for k, v := range body {
		c := t.col[k]
		if c == nil || (isSystem(k) && !(insert && k == "sys_id")) {
			continue
		}
		n, err := s.normalise(c, v)
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				return nil, failure(http.StatusBadRequest, "Invalid value for field "+fe.field, fe.Error())
			}
			return nil, failure(http.StatusBadRequest, "Invalid request", err.Error())
		}
		vals[k] = n
	}
	return vals, nil
}

// create inserts a record after the business rules that fill defaults.
func (s *Simulator) create(t *table, vals map[string]string, now time.Time, user string) *record {
	switch t.name {
	case tOrder, tTask:
		if vals["state"] == "" {
			vals["state"] = stateDraft
		}
		if _, ok := vals["active"]; !ok {
			vals["active"] = "true"
		}
		if t.name == tOrder && vals["opened_at"] == "" {
			vals["opened_at"] = now.UTC().Format(timeLayout)
		}
		if t.name == tTask {
			if o := s.tables[tOrder].byID[vals["parent"]]; o != nil {
				for _, f := range []string{"location", "u_care_home", "assignment_group"} {
					if vals[f] == "" {
						vals[f] = o.v[f]
					}
				}
			}
		}
		s.linkCareHome(vals)
	case tGroup:
		if _, ok := vals["active"]; !ok {
			vals["active"] = "true"
		}
	case tVaccination:
		if vals["u_recorded_offline"] == "" {
			vals["u_recorded_offline"] = "false"
		}
		if tk := s.tables[tTask].byID[vals["u_task"]]; tk != nil && vals["u_assignment_group"] == "" {
			vals["u_assignment_group"] = tk.v["assignment_group"]
		}
	case tChoice:
		if vals["language"] == "" {
			vals["language"] = "en"
		}
		if vals["inactive"] == "" {
			vals["inactive"] = "false"
		}
	}
	s.closeRule(t, nil, vals, now)
	return t.insert(vals, now, user)
}

// modify updates a record after the business rules.
func (s *Simulator) modify(t *table, r *record, vals map[string]string, now time.Time, user string) []string {
	if t.name == tOrder || t.name == tTask {
		if _, ok := vals["u_care_home"]; ok {
			if _, ok := vals["location"]; !ok {
				vals["location"] = ""
			}
		}
		s.linkCareHome(vals)
	}
	s.closeRule(t, r, vals, now)
	return t.update(r, vals, now, user)
}

// linkCareHome keeps location (a cmn_location reference) and u_care_home
// (the care home's code) in step when only one of them is given.
func (s *Simulator) linkCareHome(vals map[string]string) {
	locs := s.tables[tLocation]
	if loc := locs.byID[vals["location"]]; loc != nil && vals["u_care_home"] == "" {
		vals["u_care_home"] = loc.v["u_code"]
	}
	if code := vals["u_care_home"]; code != "" && vals["location"] == "" {
		for _, l := range locs.records {
			if l.v["u_code"] == code {
				vals["location"] = l.id()
				break
			}
		}
	}
}

// closeRule: a work order or task in a closed state is inactive and has
// closed_at; one that is reopened is active again.
func (s *Simulator) closeRule(t *table, r *record, vals map[string]string, now time.Time) {
	if t.name != tOrder && t.name != tTask {
		return
	}
	st, ok := vals["state"]
	if !ok {
		return
	}
	if closedStates[st] {
		if _, given := vals["active"]; !given {
			vals["active"] = "false"
		}
		if vals["closed_at"] == "" && (r == nil || r.v["closed_at"] == "") {
			vals["closed_at"] = now.UTC().Format(timeLayout)
		}
	} else if r != nil && closedStates[r.v["state"]] {
		vals["active"] = "true"
		vals["closed_at"] = ""
	}
}

// list answers GET on a table: filter, order, page, render.
func (s *Simulator) list(req *tableRequest) *answer {
	t := req.tbl
	p := req.params
	offset, limit := 0, defaultLimit
	if v := p.Get("sysparm_offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return failure(http.StatusBadRequest, "offset is "+v, "Offset must be a number")
		}
		if n < 0 {
			return failure(http.StatusBadRequest, "offset is "+v, "Negative offset is not supported")
		}
		offset = n
	}
	if v := p.Get("sysparm_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return failure(http.StatusBadRequest, "limit is "+v, "Limit must be a number")
		}
		if n > 0 {
			limit = n
		}
	}
	var q query
	if enc := p.Get("sysparm_query"); enc != "" {
		q = parseQuery(enc)
	} else {
		// name=value pairs, the alternative to sysparm_query
		var group [][]condition
		for k, vs := range p {
			if strings.HasPrefix(k, "sysparm_") || len(vs) == 0 {
				continue
			}
			group = append(group, []condition{{path: k, op: "=", value: vs[0]}})
		}
		if len(group) > 0 {
			q.groups = [][][]condition{group}
		}
	}
	var matched []*record
	for _, r := range t.records {
		if s.matches(t, r, q) {
			matched = append(matched, r)
		}
	}
	s.sortRecords(t, matched, q.order)
	total := len(matched)
	page := []any{}
	if offset < total {
		for _, r := range matched[offset:min(total, offset+limit)] {
			page = append(page, s.render(t, r, req))
		}
	}
	var a *answer
	if len(page) == 0 && !req.v2 {
		a = failure(http.StatusNotFound, "No Record found", "Records matching query not found. Check query parameter or offset parameter")
	} else {
		a = result(http.StatusOK, page)
	}
	if p.Get("sysparm_no_count") != "true" {
		a.header.Set("X-Total-Count", strconv.Itoa(total))
	}
	if p.Get("sysparm_suppress_pagination_header") != "true" {
		a.header.Set("Link", pageLinks(req, offset, limit, total))
	}
	return a
}

// pageLinks builds the Link header as the real instance does, including a
// prev link with a negative offset on the first page.
func pageLinks(req *tableRequest, offset, limit, total int) string {
	link := func(off int, rel string) string {
		q := url.Values{}
		for k, v := range req.params {
			q[k] = v
		}
		q.Set("sysparm_limit", strconv.Itoa(limit))
		q.Set("sysparm_offset", strconv.Itoa(off))
		return fmt.Sprintf(`<%s%s?%s>;rel="%s"`, req.base, req.path, q.Encode(), rel)
	}
	last := 0
	if total > 0 {
		last = (total - 1) / limit * limit
	}
	links := []string{link(0, "first"), link(offset-limit, "prev")}
	if offset+limit < total {
		links = append(links, link(offset+limit, "next"))
	}
	links = append(links, link(last, "last"))
	return strings.Join(links, ",")
}

// render shapes a record as the Table API shows it.
func (s *Simulator) render(t *table, r *record, req *tableRequest) map[string]any {
	out := map[string]any{}
	paths := req.fields
	if paths == nil {
		for _, c := range t.cols {
			paths = append(paths, c.name)
		}
	}
	for _, path := range paths {
		ft, rec, c, ok := s.resolve(t, r, path)
		if !ok {
			continue // invalid names are ignored
		}
		v := ""
		if rec != nil {
			v = rec.v[c.name]
		}
		out[path] = s.renderValue(ft, c, v, req)
	}
	return out
}

func (s *Simulator) renderValue(t *table, c *column, v string, req *tableRequest) any {
	if c.kind == kReference {
		if v == "" {
			if req.dv == "all" {
				return map[string]any{"display_value": "", "link": "", "value": ""}
			}
			return ""
		}
		link := tableLink(req.base, c.ref, v)
		disp := s.displayOf(c.ref, v)
		switch {
		case req.dv == "false" && req.exclLink:
			return v
		case req.dv == "false":
			return map[string]any{"link": link, "value": v}
		case req.dv == "true" && req.exclLink:
			return disp
		case req.dv == "true":
			return map[string]any{"display_value": disp, "link": link}
		case req.exclLink:
			return map[string]any{"display_value": disp, "value": v}
		}
		return map[string]any{"display_value": disp, "link": link, "value": v}
	}
	disp := v
	if c.kind == kChoice {
		disp = s.choiceLabel(t.name, c.name, v)
	}
	switch req.dv {
	case "true":
		return disp
	case "all":
		return map[string]any{"display_value": disp, "value": v}
	}
	return v
}

// displayOf is the display value of a referenced record.
func (s *Simulator) displayOf(tbl, id string) string {
	t := s.tables[tbl]
	if t == nil {
		return ""
	}
	if r := t.byID[id]; r != nil {
		return r.v[t.display]
	}
	return ""
}

// choiceLabel reads the label of a choice value from sys_choice.
func (s *Simulator) choiceLabel(tbl, element, value string) string {
	if value == "" {
		return ""
	}
	for _, r := range s.tables[tChoice].records {
		if r.v["name"] == tbl && r.v["element"] == element && r.v["value"] == value {
			return r.v["label"]
		}
	}
	return value
}
