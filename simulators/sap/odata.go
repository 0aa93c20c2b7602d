package sap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// odataError is an OData v2 error as SAP Gateway writes it (external-apis.md
// 1.1): code, message, innererror with the application, a transaction ID, a
// timestamp and errordetails.
type odataError struct {
	Status  int
	Code    string
	Message string
	Details []errorDetail
}

type errorDetail struct {
	Code    string
	Message string
	Target  string
}

func (e *odataError) Error() string { return e.Code + ": " + e.Message }

// Gateway-level codes. SAP Gateway uses codes of this shape (/IWFND/MED/170
// is its "no service found"); the /IWBEP/CM_MGW_RT numbers are the
// simulator's choice.
const (
	codeNoService      = "/IWFND/MED/170"
	codeNoResource     = "/IWBEP/CM_MGW_RT/021"
	codeBadQuery       = "/IWBEP/CM_MGW_RT/004"
	codeBadPayload     = "/IWBEP/CM_MGW_RT/020"
	codeNotImplemented = "/IWBEP/CM_MGW_RT/001"
)

func badRequest(code, format string, args ...any) *odataError {
	return &odataError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

func (s *Simulator) writeError(w http.ResponseWriter, svc string, e *odataError) {
	details := []map[string]string{}
	for _, d := range e.Details {
		details = append(details, map[string]string{
			"code": d.Code, "message": d.Message, "propertyref": "", "severity": "error", "target": d.Target,
		})
	}
	if len(details) == 0 {
		details = append(details, map[string]string{"code": e.Code, "message": e.Message, "propertyref": "", "severity": "error", "target": ""})
	}
	s.txnSeq.Add(1)
	now := s.clock.Now()
	body := map[string]any{"error": map[string]any{
		"code":    e.Code,
		"message": map[string]string{"lang": "en", "value": e.Message},
		"innererror": map[string]any{
			"application": map[string]string{
				"component_id": "MM-IM-GF-REP", "service_namespace": "/SAP/", "service_id": svc, "service_version": "0001",
			},
			"transactionid": fmt.Sprintf("%032X", s.txnSeq.Load()),
			"timestamp":     now.Format("20060102150405") + fmt.Sprintf(".%07d", now.Nanosecond()/100),
			"Error_Resolution": map[string]string{
				"SAP_Transaction": "For backend administrators: use ADT feed reader \"SAP Gateway Error Log\" or run transaction /IWFND/ERROR_LOG on SAP Gateway hub system and search for entries with the timestamp above for more details",
				"SAP_Note":        "See SAP Note 1797736 for error analysis (https://service.sap.com/sap/support/notes/1797736)",
			},
			"errordetails": details,
		},
	}}
	b, _ := json.Marshal(body)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("dataserviceversion", "1.0")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// request is one OData request after routing.
type request struct {
	svc     *service
	es      *entitySet
	keys    map[string]string // entity addressed by key, or nil
	nav     string            // navigation from the keyed entity, or ""
	count   bool              // /$count
	base    string            // http://host/sap/opu/odata/sap/SERVICE/
	rawURL  *url.URL
	baseURL string
}

// splitPath splits a resource path on "/" outside quotes.
func splitPath(p string) []string {
	var parts []string
	var cur strings.Builder
	inQuote := false
	for _, c := range p {
		switch {
		case c == '\'':
			inQuote = !inQuote
			cur.WriteRune(c)
		case c == '/' && !inQuote:
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(c)
		}
	}
	return append(parts, cur.String())
}

// parseKeys reads a key predicate such as
// (MaterialDocumentYear='2021',MaterialDocument='4900000001') or ('VAC-X').
func parseKeys(pred string, es *entitySet) (map[string]string, *odataError) {
	ks := es.keys()
	toks, err := tokenize(pred)
	if err != nil {
		return nil, badRequest(codeBadQuery, "Invalid key predicate (%s): %v", pred, err)
	}
	out := map[string]string{}
	if len(toks) == 1 && toks[0].kind == "string" && len(ks) == 1 {
		out[ks[0].Name] = toks[0].text
		return out, nil
	}
	for i := 0; i < len(toks); {
		if i+2 >= len(toks) || toks[i].kind != "ident" || toks[i+1].kind != "=" || toks[i+2].kind != "string" {
			return nil, badRequest(codeBadQuery, "Invalid key predicate (%s): use Name='value' pairs", pred)
		}
		out[toks[i].text] = toks[i+2].text
		i += 3
		if i < len(toks) {
			if toks[i].kind != "," {
				return nil, badRequest(codeBadQuery, "Invalid key predicate (%s)", pred)
			}
			i++
		}
	}
	for _, k := range ks {
		if _, ok := out[k.Name]; !ok {
			return nil, badRequest(codeBadQuery, "Key property %s is missing in the key predicate of %s", k.Name, es.Name)
		}
	}
	if len(out) != len(ks) {
		return nil, badRequest(codeBadQuery, "The key predicate of %s has properties that are not keys", es.Name)
	}
	return out, nil
}

// selection is what $select and $expand ask of one entity.
type selection struct {
	all   bool
	props map[string]bool
	navs  map[string]*selection // expanded navigation properties
	empty bool                  // expanded, but written as an empty list (create response)
}

// query holds the system query options of a collection or entity request.
type query struct {
	filter      filterNode
	sel         *selection
	orderBy     []orderKey
	top, skip   int // top < 0: none
	skipToken   int
	inlineCount bool
}

type orderKey struct {
	prop prop
	desc bool
}

var knownOptions = []string{"$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$skiptoken", "$inlinecount", "$format"}

func parseQuery(v url.Values, es *entitySet, svc *service) (*query, *odataError) {
	for name := range v {
		if strings.HasPrefix(name, "$") && !slices.Contains(knownOptions, name) {
			return nil, badRequest(codeBadQuery, "System query option %s is not supported", name)
		}
	}
	q := &query{top: -1}
	if f := v.Get("$format"); f != "" && f != "json" {
		return nil, &odataError{Status: http.StatusNotAcceptable, Code: codeNotImplemented,
			Message: fmt.Sprintf("Format %s is not supported by the simulator; use $format=json", f)}
	}
	if f := strings.TrimSpace(v.Get("$filter")); f != "" {
		n, err := parseFilter(f, es, svc)
		if err != nil {
			return nil, badRequest(codeBadQuery, "Invalid filter expression: %v", err)
		}
		q.filter = n
	}
	sel, oerr := parseSelection(v.Get("$select"), v.Get("$expand"), es, svc)
	if oerr != nil {
		return nil, oerr
	}
	q.sel = sel
	for _, part := range strings.Split(v.Get("$orderby"), ",") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		pr, ok := es.prop(f[0])
		if !ok || len(f) > 2 || (len(f) == 2 && f[1] != "asc" && f[1] != "desc") {
			return nil, badRequest(codeBadQuery, "Invalid $orderby %q: use Property [asc|desc]", strings.TrimSpace(part))
		}
		q.orderBy = append(q.orderBy, orderKey{prop: pr, desc: len(f) == 2 && f[1] == "desc"})
	}
	for _, o := range []struct {
		name string
		dst  *int
	}{{"$top", &q.top}, {"$skip", &q.skip}, {"$skiptoken", &q.skipToken}} {
		if s := v.Get(o.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, badRequest(codeBadQuery, "Invalid value %q for %s: use a whole number of 0 or more", s, o.name)
			}
			*o.dst = n
		}
	}
	switch v.Get("$inlinecount") {
	case "", "none":
	case "allpages":
		q.inlineCount = true
	default:
		return nil, badRequest(codeBadQuery, "Invalid value %q for $inlinecount: use allpages or none", v.Get("$inlinecount"))
	}
	return q, nil
}

func parseSelection(selectOpt, expandOpt string, es *entitySet, svc *service) (*selection, *odataError) {
	sel := &selection{all: true, props: map[string]bool{}, navs: map[string]*selection{}}
	for _, e := range strings.Split(expandOpt, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if strings.Contains(e, "/") {
			return nil, badRequest(codeBadQuery, "Nested $expand %s is not supported by the simulator", e)
		}
		if _, ok := es.nav(e); !ok {
			return nil, badRequest(codeBadQuery, "Property %s is not a navigation property of %s", e, es.Type)
		}
		sel.navs[e] = &selection{all: true, props: map[string]bool{}}
	}
	items := []string{}
	for _, p := range strings.Split(selectOpt, ",") {
		if p = strings.TrimSpace(p); p != "" {
			items = append(items, p)
		}
	}
	if len(items) == 0 || slices.Contains(items, "*") {
		return sel, nil
	}
	sel.all = false
	wildcard := map[string]bool{} // nav/* seen
	for _, p := range items {
		path := strings.Split(p, "/")
		switch {
		case len(path) == 1:
			if _, ok := es.prop(p); ok {
				sel.props[p] = true
				continue
			}
			if _, ok := es.nav(p); ok {
				sel.props[p] = true // deferred, or whole if expanded
				continue
			}
			return nil, badRequest(codeBadQuery, "Property %s is not a property of %s", p, es.Type)
		case len(path) == 2:
			nsel := sel.navs[path[0]]
			if nsel == nil {
				return nil, badRequest(codeBadQuery, "$select %s needs $expand=%s", p, path[0])
			}
			n, _ := es.nav(path[0])
			if _, ok := svc.set(n.Target).prop(path[1]); !ok && path[1] != "*" {
				return nil, badRequest(codeBadQuery, "Property %s is not a property of %s", path[1], svc.set(n.Target).Type)
			}
			if path[1] == "*" {
				wildcard[path[0]] = true
				nsel.all = true
				continue
			}
			if !wildcard[path[0]] {
				nsel.all = false
			}
			nsel.props[path[1]] = true
		default:
			return nil, badRequest(codeBadQuery, "$select %s is too deep", p)
		}
	}
	return sel, nil
}

// apply filters, counts, orders and pages rows. It returns the page, the
// number of rows that match the filter, and the $skiptoken of the next page
// (-1 if this is the last).
func (s *Simulator) apply(rows []row, es *entitySet, q *query) ([]row, int, int, *odataError) {
	var matched []row
	for _, r := range rows {
		if q.filter != nil {
			ok, err := q.filter.eval(s, es, r)
			if err != nil {
				return nil, 0, -1, badRequest(codeBadQuery, "Invalid filter expression: %v", err)
			}
			if !ok {
				continue
			}
		}
		matched = append(matched, r)
	}
	if len(q.orderBy) > 0 {
		slices.SortStableFunc(matched, func(a, b row) int {
			for _, k := range q.orderBy {
				c, ok := compareValues(k.prop.Type, a[k.prop.Name], b[k.prop.Name])
				if !ok {
					c = boolInt(!isNull(a[k.prop.Name])) - boolInt(!isNull(b[k.prop.Name]))
				}
				if k.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	total := len(matched)
	// The client's $skip and $top choose a window; the server pages inside
	// it with $skiptoken.
	window := matched[min(q.skip, len(matched)):]
	if q.top >= 0 {
		window = window[:min(q.top, len(window))]
	}
	start := min(q.skipToken, len(window))
	end := min(start+s.cfg.PageSize, len(window))
	next := -1
	if end < len(window) {
		next = end
	}
	return window[start:end], total, next, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// entityURI is the absolute URI of one entity, as __metadata.uri.
func entityURI(base string, es *entitySet, r row) string {
	return base + es.Name + keyPredicate(es, r)
}

func keyPredicate(es *entitySet, r row) string {
	ks := es.keys()
	if len(ks) == 1 {
		return "(" + quote(r.str(ks[0].Name)) + ")"
	}
	parts := make([]string, len(ks))
	for i, k := range ks {
		parts[i] = k.Name + "=" + quote(r.str(k.Name))
	}
	return "(" + strings.Join(parts, ",") + ")"
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// writeEntity writes one entity as an ordered JSON object.
func (s *Simulator) writeEntity(b *bytes.Buffer, base string, es *entitySet, r row, sel *selection) {
	svc := s.services[es.Service]
	uri := entityURI(base, es, r)
	b.WriteString(`{"__metadata":{"id":`)
	writeJSONString(b, uri)
	b.WriteString(`,"uri":`)
	writeJSONString(b, uri)
	b.WriteString(`,"type":`)
	writeJSONString(b, es.Service+"."+es.Type)
	b.WriteString("}")
	for _, p := range es.Props {
		if sel != nil && !sel.all && !sel.props[p.Name] {
			continue
		}
		b.WriteString(",")
		writeJSONString(b, p.Name)
		b.WriteString(":")
		writeValue(b, p.Type, r[p.Name])
	}
	for _, n := range es.Navs {
		var nsel *selection
		if sel != nil {
			nsel = sel.navs[n.Name]
		}
		switch {
		case nsel != nil:
			target := svc.set(n.Target)
			b.WriteString(",")
			writeJSONString(b, n.Name)
			b.WriteString(":")
			var rel []row
			if !nsel.empty {
				rel = n.Resolve(s, r)
			}
			if n.Many {
				b.WriteString(`{"results":[`)
				for i, rr := range rel {
					if i > 0 {
						b.WriteString(",")
					}
					s.writeEntity(b, base, target, rr, &selection{all: nsel.all, props: nsel.props})
				}
				b.WriteString("]}")
			} else if len(rel) == 0 {
				b.WriteString("null")
			} else {
				s.writeEntity(b, base, target, rel[0], &selection{all: nsel.all, props: nsel.props})
			}
		case sel == nil || sel.all || sel.props[n.Name]:
			b.WriteString(",")
			writeJSONString(b, n.Name)
			b.WriteString(`:{"__deferred":{"uri":`)
			writeJSONString(b, uri+"/"+n.Name)
			b.WriteString("}}")
		}
	}
	b.WriteString("}")
}

func writeJSONString(b *bytes.Buffer, s string) {
	enc, _ := json.Marshal(s)
	b.Write(enc)
}

// writeValue writes a property value in OData v2 JSON: decimals as strings
// with three decimals, DateTime as "/Date(ms)/", Time as "PT07H00M00S".
func writeValue(b *bytes.Buffer, typ string, v any) {
	switch typ {
	case edmDecimal:
		n, _ := v.(int64)
		fmt.Fprintf(b, `"%d.000"`, n)
	case edmDateTime:
		t, _ := v.(time.Time)
		if t.IsZero() {
			b.WriteString("null")
			return
		}
		fmt.Fprintf(b, `"/Date(%d)/"`, t.UnixMilli())
	case edmDateTimeOffset:
		t, _ := v.(time.Time)
		if t.IsZero() {
			b.WriteString("null")
			return
		}
		fmt.Fprintf(b, `"/Date(%d+0000)/"`, t.UnixMilli())
	case edmTime:
		d, _ := v.(time.Duration)
		fmt.Fprintf(b, `"PT%02dH%02dM%02dS"`, int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
	case edmBoolean:
		x, _ := v.(bool)
		b.WriteString(strconv.FormatBool(x))
	default:
		x, _ := v.(string)
		writeJSONString(b, x)
	}
}

// writeCollection writes {"d":{"__count":"N","results":[...],"__next":"..."}}.
func (s *Simulator) writeCollection(w http.ResponseWriter, req *request, es *entitySet, rows []row, sel *selection, total, next int, q *query) {
	var b bytes.Buffer
	b.WriteString(`{"d":{`)
	if q.inlineCount {
		fmt.Fprintf(&b, `"__count":"%d",`, total)
	}
	b.WriteString(`"results":[`)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		s.writeEntity(&b, req.base, es, r, sel)
	}
	b.WriteString("]")
	if next >= 0 {
		u := *req.rawURL
		v := u.Query()
		v.Set("$skiptoken", strconv.Itoa(next))
		b.WriteString(`,"__next":`)
		writeJSONString(&b, req.baseURL+u.Path+"?"+v.Encode())
	}
	b.WriteString("}}")
	writeJSON(w, http.StatusOK, b.Bytes())
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("dataserviceversion", "2.0")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// findByKey returns the row of es with the given keys, or nil.
func (s *Simulator) findByKey(es *entitySet, keys map[string]string) row {
	if es.Name == setHeader {
		if d := s.docByKey[docKey(keys["MaterialDocumentYear"], keys["MaterialDocument"])]; d != nil {
			return d.header
		}
		return nil
	}
	for _, r := range es.List(s) {
		match := true
		for k, v := range keys {
			if r.str(k) != v {
				match = false
				break
			}
		}
		if match {
			return r
		}
	}
	return nil
}

// serveRead answers a GET on an entity set, an entity, a navigation or $count.
func (s *Simulator) serveRead(w http.ResponseWriter, r *http.Request, req *request) *odataError {
	es := req.es
	var rows []row
	many := true
	if req.keys != nil {
		ent := s.findByKey(es, req.keys)
		if ent == nil {
			return &odataError{Status: http.StatusNotFound, Code: codeNoResource,
				Message: fmt.Sprintf("Resource not found for segment '%s'", es.Name)}
		}
		if req.nav == "" {
			rows, many = []row{ent}, false
		} else {
			n, ok := es.nav(req.nav)
			if !ok {
				return &odataError{Status: http.StatusNotFound, Code: codeNoResource,
					Message: fmt.Sprintf("Resource not found for segment '%s'", req.nav)}
			}
			rows, many = n.Resolve(s, ent), n.Many
			es = req.svc.set(n.Target)
		}
	} else {
		rows = es.List(s)
	}
	q, oerr := parseQuery(r.URL.Query(), es, req.svc)
	if oerr != nil {
		return oerr
	}
	if !many {
		if req.count {
			return badRequest(codeBadQuery, "$count is only defined for collections")
		}
		if len(rows) == 0 {
			writeJSON(w, http.StatusOK, []byte(`{"d":null}`))
			return nil
		}
		var b bytes.Buffer
		b.WriteString(`{"d":`)
		s.writeEntity(&b, req.base, es, rows[0], q.sel)
		b.WriteString("}")
		writeJSON(w, http.StatusOK, b.Bytes())
		return nil
	}
	page, total, next, oerr := s.apply(rows, es, q)
	if oerr != nil {
		return oerr
	}
	if req.count {
		n := total
		if q.skip > 0 || q.top >= 0 {
			n = max(0, min(total-q.skip, total))
			if q.top >= 0 {
				n = min(n, q.top)
			}
		}
		body := strconv.Itoa(n)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("dataserviceversion", "2.0")
		_, _ = io.WriteString(w, body)
		return nil
	}
	s.writeCollection(w, req, es, page, q.sel, total, next, q)
	return nil
}

// decodeEntity reads the properties of a create payload into a row. Unknown
// properties are refused; properties the client may not set are ignored.
func decodeEntity(es *entitySet, raw map[string]json.RawMessage, skip ...string) (row, *odataError) {
	out := row{}
	for name, v := range raw {
		if name == "__metadata" || slices.Contains(skip, name) {
			continue
		}
		p, ok := es.prop(name)
		if !ok {
			if _, isNav := es.nav(name); isNav {
				return nil, badRequest(codeBadPayload, "Deep insert of %s into %s is not supported", name, es.Name)
			}
			return nil, badRequest(codeBadPayload, "Property '%s' is invalid: %s has no such property", name, es.Type)
		}
		if !p.Creatable {
			continue
		}
		val, err := decodeValue(p, v)
		if err != nil {
			return nil, badRequest(codeBadPayload, "Property '%s' has an invalid value: %v", name, err)
		}
		if val != nil {
			out[name] = val
		}
	}
	return out, nil
}

func decodeValue(p prop, v json.RawMessage) (any, error) {
	if string(v) == "null" {
		return nil, nil
	}
	switch p.Type {
	case edmString:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("want a string")
		}
		if p.MaxLength > 0 && len([]rune(s)) > p.MaxLength {
			return nil, fmt.Errorf("%q is longer than %d characters", s, p.MaxLength)
		}
		return s, nil
	case edmDecimal:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			s = string(v) // a JSON number is accepted too
		}
		r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
		if !ok {
			return nil, fmt.Errorf("%s is not a decimal", v)
		}
		if !r.IsInt() {
			return nil, fmt.Errorf("%s: unit %s has no decimal places", s, baseUnit)
		}
		if !r.Num().IsInt64() {
			return nil, fmt.Errorf("%s is too large", s)
		}
		return r.Num().Int64(), nil
	case edmDateTime, edmDateTimeOffset:
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("want a date string such as \"/Date(1618272000000)/\"")
		}
		return parseODataTime(s)
	case edmBoolean:
		var x bool
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, fmt.Errorf("want true or false")
		}
		return x, nil
	}
	return nil, fmt.Errorf("cannot be set")
}

// parseODataTime reads "/Date(ms)/", "/Date(ms+0120)/" or "2021-01-04T00:00:00".
func parseODataTime(s string) (time.Time, error) {
	if rest, ok := strings.CutPrefix(s, "/Date("); ok {
		inner, ok := strings.CutSuffix(rest, ")/")
		if !ok {
			return time.Time{}, fmt.Errorf("%q is not a /Date(ms)/ value", s)
		}
		if i := strings.IndexAny(inner[1:], "+-"); i >= 0 {
			inner = inner[:i+1] // the offset does not change the instant
		}
		ms, err := strconv.ParseInt(inner, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a /Date(ms)/ value", s)
		}
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := parseLiteralTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want \"/Date(ms)/\" or \"2021-01-04T00:00:00\"", s)
	}
	return t, nil
}

// serveCreate answers POST A_MaterialDocumentHeader: a deep insert of the
// header with its items. The 201 answer echoes the header with an empty
// to_MaterialDocumentItem, as the real service does.
func (s *Simulator) serveCreate(w http.ResponseWriter, body []byte, req *request, user string) *odataError {
	es := req.es
	if req.keys != nil || req.count || !es.Creatable {
		return &odataError{Status: http.StatusMethodNotAllowed, Code: codeNotImplemented,
			Message: fmt.Sprintf("Method 'POST' is not supported for %s in this service", es.Name)}
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return badRequest(codeBadPayload, "Malformed JSON payload: %v", err)
	}
	if d, ok := raw["d"]; ok && len(raw) == 1 { // some clients wrap the entity in "d"
		if err := json.Unmarshal(d, &raw); err != nil {
			return badRequest(codeBadPayload, "Malformed JSON payload: %v", err)
		}
	}
	hdr, oerr := decodeEntity(es, raw, navItems)
	if oerr != nil {
		return oerr
	}
	var itemsRaw []map[string]json.RawMessage
	if v, ok := raw[navItems]; ok && string(v) != "null" {
		if err := json.Unmarshal(v, &itemsRaw); err != nil {
			var wrapped struct {
				Results []map[string]json.RawMessage `json:"results"`
			}
			if err2 := json.Unmarshal(v, &wrapped); err2 != nil {
				return badRequest(codeBadPayload, "%s must be an array of items or {\"results\":[...]}", navItems)
			}
			itemsRaw = wrapped.Results
		}
	}
	itemSet := req.svc.set(setItem)
	items := make([]row, 0, len(itemsRaw))
	for _, ir := range itemsRaw {
		it, oerr := decodeEntity(itemSet, ir)
		if oerr != nil {
			return oerr
		}
		items = append(items, it)
	}
	doc, perr := s.post(hdr, items, user, s.clock.Now())
	if perr != nil {
		return &odataError{Status: http.StatusBadRequest, Code: perr.details[0].Code, Message: perr.details[0].Message, Details: perr.details}
	}
	// The real service answers the deep insert with an empty item list.
	var b bytes.Buffer
	b.WriteString(`{"d":`)
	s.writeEntity(&b, req.base, es, doc.header, &selection{all: true, props: map[string]bool{},
		navs: map[string]*selection{navItems: {empty: true}}})
	b.WriteString("}")
	w.Header().Set("Location", entityURI(req.base, es, doc.header))
	writeJSON(w, http.StatusCreated, b.Bytes())
	return nil
}
