package api

import (
	"bytes"
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"github.com/vaxhub/vaxhub/connectors/print"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// The OpenAPI tests keep connectors/api/openapi.json true to routeTable(),
// the request DTOs, the response types and the role checks.

// Who may call a route.
const (
	authPublic   = "public"   // no token needed
	authResident = "resident" // the resident's (or proxy's) token, or centre-staff
)

// openapiRoute says, for every route of routeTable(), who may call it, which
// DTO its body decodes into (nil: no body) and which type its 2xx body is
// (nil: not JSON). auth is authPublic, authResident or a staff role.
type openapiRoute struct {
	auth string
	body reflect.Type
	resp reflect.Type
}

func typeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }

// Wrappers mirroring the map[string]any answers of the handlers.
type (
	centresOut struct {
		Centres []domain.Centre `json:"centres"`
	}
	productsOut struct {
		Products []domain.Product `json:"products"`
	}
	slotsOut struct {
		CentreID string         `json:"centre_id"`
		Slots    []app.SlotView `json:"slots"`
	}
	endOfDayOut struct {
		NoShows int `json:"no_shows"`
	}
	deliveryOut struct {
		Recorded bool         `json:"recorded"`
		Delivery app.Delivery `json:"delivery"`
	}
	ruleSetsOut struct {
		RuleSets []domain.RuleSet `json:"rulesets"`
	}
	heldOut struct {
		Held []domain.HeldFieldDose `json:"held"`
	}
	lettersOut struct {
		Letters []print.LetterView `json:"letters"`
	}
)

var openapiRoutes = map[string]openapiRoute{
	"POST /api/v1/residents":                         {authPublic, typeOf[residentIn](), typeOf[app.Registered]()},
	"GET /api/v1/residents/{id}":                     {authResident, nil, typeOf[domain.Resident]()},
	"GET /api/v1/residents/{id}/entitlement":         {authResident, nil, typeOf[app.EntitlementView]()},
	"PUT /api/v1/residents/{id}/contact":             {authResident, typeOf[contactIn](), typeOf[domain.Contact]()},
	"GET /api/v1/residents/{id}/verification":        {authResident, nil, typeOf[domain.Verification]()},
	"POST /api/v1/residents/{id}/verification":       {RoleCentreStaff, typeOf[verifyIn](), typeOf[domain.Verification]()},
	"GET /api/v1/centres":                            {authPublic, nil, typeOf[centresOut]()},
	"GET /api/v1/centres/{id}/slots":                 {authPublic, nil, typeOf[slotsOut]()},
	"POST /api/v1/centres/{id}/end-of-day":           {RoleCentreStaff, typeOf[endOfDayIn](), typeOf[endOfDayOut]()},
	"GET /api/v1/products":                           {authPublic, nil, typeOf[productsOut]()},
	"GET /api/v1/centres/{id}/batch-suggestion":      {RoleCentreStaff, nil, typeOf[app.BatchStock]()},
	"POST /api/v1/appointments":                      {authResident, typeOf[bookIn](), typeOf[domain.Appointment]()},
	"GET /api/v1/appointments/{reference}":           {authResident, nil, typeOf[domain.Appointment]()},
	"DELETE /api/v1/appointments/{reference}":        {authResident, nil, typeOf[domain.Appointment]()},
	"POST /api/v1/appointments/{reference}/move":     {authResident, typeOf[moveIn](), typeOf[domain.Appointment]()},
	"POST /api/v1/appointments/{reference}/identify": {authPublic, typeOf[identifyIn](), typeOf[domain.Appointment]()},
	"POST /api/v1/waitlist":                          {authResident, typeOf[waitlistIn](), typeOf[domain.WaitlistEntry]()},
	"GET /api/v1/waiting-room/tickets/{ticket}":      {authResident, nil, typeOf[RoomPosition]()},
	"POST /api/v1/checkins":                          {RoleCentreStaff, typeOf[checkInIn](), typeOf[domain.Appointment]()},
	"POST /api/v1/checkouts":                         {RoleCentreStaff, typeOf[checkOutIn](), typeOf[domain.Appointment]()},
	"POST /api/v1/stock/deliveries":                  {RoleVaccineManager, typeOf[deliveryIn](), typeOf[deliveryOut]()},
	"GET /api/v1/rulesets":                           {RoleVaccineManager, nil, typeOf[ruleSetsOut]()},
	"POST /api/v1/rulesets":                          {RoleVaccineManager, typeOf[domain.RuleSet](), typeOf[domain.RuleSet]()},
	"POST /api/v1/rulesets/whatif":                   {RoleVaccineManager, typeOf[domain.RuleSet](), typeOf[domain.WhatIfReport]()},
	"GET /api/v1/reports/progress":                   {RoleReporting, nil, typeOf[app.Progress]()},
	"GET /api/v1/reports/rki.csv":                    {RoleReporting, nil, nil},
	"GET /api/v1/openapi.json":                       {authPublic, nil, nil},
	"POST /api/v1/mobile-campaigns":                  {RoleCentreStaff, typeOf[mobileCampaignIn](), typeOf[domain.MobileCampaign]()},
	"GET /api/v1/mobile-campaigns/{id}":              {RoleCentreStaff, nil, typeOf[domain.MobileCampaign]()},
	"POST /api/v1/mobile-campaigns/{id}/change":      {RoleCentreStaff, typeOf[mobileChangeIn](), typeOf[domain.MobileCampaign]()},
	"GET /api/v1/mobile-held-doses":                  {RoleCentreStaff, nil, typeOf[heldOut]()},
	"POST /api/v1/mobile-held-doses/{id}/decision":   {RoleCentreStaff, typeOf[heldDecisionIn](), typeOf[app.FieldDoseResult]()},
	"POST /api/v1/letters":                           {RoleCentreStaff, typeOf[letterIn](), typeOf[print.LetterView]()},
	"GET /api/v1/letters":                            {RoleCentreStaff, nil, typeOf[lettersOut]()},
	"GET /api/v1/letters/{id}":                       {RoleCentreStaff, nil, typeOf[print.LetterView]()},
}

// Paths served outside routeTable() that the document must also describe.
var openapiExtraPaths = []string{"GET /healthz", "GET /readyz", "GET /metrics"}

type jsonObj = map[string]any

type openapiDoc struct {
	root jsonObj
}

func loadOpenAPI(t *testing.T) *openapiDoc {
	t.Helper()
	var root jsonObj
	dec := json.NewDecoder(bytes.NewReader(openapiJSON))
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if v, _ := root["openapi"].(string); !strings.HasPrefix(v, "3.1") {
		t.Fatalf("openapi = %q, want 3.1.x", v)
	}
	return &openapiDoc{root: root}
}

// resolve follows a local $ref ("#/components/...") until it reaches a value.
func (d *openapiDoc) resolve(t *testing.T, v any) jsonObj {
	t.Helper()
	for range 10 {
		o, ok := v.(jsonObj)
		if !ok {
			t.Fatalf("expected an object, got %T", v)
		}
		ref, ok := o["$ref"].(string)
		if !ok {
			return o
		}
		p, ok := strings.CutPrefix(ref, "#/")
		if !ok {
			t.Fatalf("only local $refs are allowed: %q", ref)
		}
		var cur any = d.root
		for _, part := range strings.Split(p, "/") {
			m, _ := cur.(jsonObj)
			next, found := m[part]
			if !found {
				t.Fatalf("$ref %q does not resolve", ref)
			}
			cur = next
		}
		v = cur
	}
	t.Fatalf("$ref chain too long")
	return nil
}

// operations returns "METHOD path" -> operation object.
func (d *openapiDoc) operations(t *testing.T) map[string]jsonObj {
	t.Helper()
	paths, ok := d.root["paths"].(jsonObj)
	if !ok {
		t.Fatal("document has no paths")
	}
	ops := map[string]jsonObj{}
	for p, item := range paths {
		for m, op := range item.(jsonObj) {
			switch m {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				ops[strings.ToUpper(m)+" "+p] = op.(jsonObj)
			}
		}
	}
	return ops
}

func testServer() *Server { return &Server{log: slog.New(slog.DiscardHandler)} }

func TestOpenAPIRoutesMatchRouteTable(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	inTable := map[string]bool{}
	for _, rt := range testServer().routeTable() {
		key := rt.method + " " + rt.path
		inTable[key] = true
		if _, ok := ops[key]; !ok {
			t.Errorf("route %s is not documented in openapi.json", key)
		}
		if _, ok := openapiRoutes[key]; !ok {
			t.Errorf("route %s is missing from openapiRoutes in this test", key)
		}
	}
	for key := range openapiRoutes {
		if !inTable[key] {
			t.Errorf("openapiRoutes names %s, which routeTable() does not serve", key)
		}
	}
	for key := range ops {
		path := key[strings.Index(key, " ")+1:]
		if strings.HasPrefix(path, "/api/v1/") {
			if !inTable[key] {
				t.Errorf("openapi.json documents %s, which routeTable() does not serve", key)
			}
		} else if !slices.Contains(openapiExtraPaths, key) {
			t.Errorf("openapi.json documents %s, which the server does not serve", key)
		}
	}
	for _, key := range openapiExtraPaths {
		if _, ok := ops[key]; !ok {
			t.Errorf("%s is not documented", key)
		}
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIOperations(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	if s, _ := d.root["servers"].([]any); len(s) == 0 || d.resolve(t, s[0])["url"] != "http://127.0.0.1:8080" {
		t.Errorf("servers[0].url must be http://127.0.0.1:8080")
	}
	problemSchema := d.resolve(t, jsonObj{"$ref": "#/components/schemas/Problem"})
	compareSchema(t, d, problemSchema, typeOf[Problem](), "Problem", false)

	ids := map[string]string{}
	keys := make([]string, 0, len(ops))
	for k := range ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		op := ops[key]
		path := key[strings.Index(key, " ")+1:]
		id, _ := op["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", key)
		} else if other, dup := ids[id]; dup {
			t.Errorf("%s: operationId %q also used by %s", key, id, other)
		}
		ids[id] = key
		if s, _ := op["summary"].(string); s == "" {
			t.Errorf("%s: no summary", key)
		}
		responses, _ := op["responses"].(jsonObj)
		has2xx := false
		for code, r := range responses {
			if strings.HasPrefix(code, "2") {
				has2xx = true
			}
			if code[0] == '4' || code[0] == '5' {
				content, _ := d.resolve(t, r)["content"].(jsonObj)
				pj, ok := content["application/problem+json"].(jsonObj)
				if !ok || len(content) != 1 {
					t.Errorf("%s: response %s must be (only) application/problem+json", key, code)
					continue
				}
				if ref, _ := pj["schema"].(jsonObj)["$ref"].(string); ref != "#/components/schemas/Problem" {
					t.Errorf("%s: response %s must use the Problem schema, uses %v", key, code, pj["schema"])
				}
			}
		}
		if !has2xx {
			t.Errorf("%s: no 2xx response", key)
		}

		// Path parameters: exactly the {names} of the path, required, in path.
		want := map[string]bool{}
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			want[m[1]] = true
		}
		params, _ := op["parameters"].([]any)
		for _, p := range params {
			po := d.resolve(t, p)
			if po["in"] != "path" {
				continue
			}
			name, _ := po["name"].(string)
			if !want[name] {
				t.Errorf("%s: path parameter %q is not in the path", key, name)
			}
			if po["required"] != true {
				t.Errorf("%s: path parameter %q must be required", key, name)
			}
			delete(want, name)
		}
		for name := range want {
			t.Errorf("%s: path parameter %q is not declared", key, name)
		}

		spec, inTable := openapiRoutes[key]
		if !inTable {
			continue
		}
		desc, _ := op["description"].(string)
		security, hasSecurity := op["security"].([]any)
		bearer, anonymous := false, false
		for _, s := range security {
			so := s.(jsonObj)
			if _, ok := so["bearerAuth"]; ok {
				bearer = true
			}
			if len(so) == 0 {
				anonymous = true
			}
		}
		need := func(codes ...string) {
			for _, c := range codes {
				if _, ok := responses[c]; !ok {
					t.Errorf("%s: no %s response", key, c)
				}
			}
		}
		switch spec.auth {
		case authPublic:
			if !hasSecurity || (len(security) > 0 && !anonymous) {
				t.Errorf("%s is public: security must be [] or allow {}", key)
			}
		case authResident:
			if !bearer || anonymous {
				t.Errorf("%s: security must require bearerAuth", key)
			}
			if !strings.Contains(desc, "access token") || !strings.Contains(desc, RoleCentreStaff) {
				t.Errorf("%s: description must say it takes the resident's access token or a %s token", key, RoleCentreStaff)
			}
			need("401", "403")
		default:
			if !bearer || anonymous {
				t.Errorf("%s: security must require bearerAuth", key)
			}
			if !strings.Contains(desc, spec.auth) {
				t.Errorf("%s: description must name the role %s", key, spec.auth)
			}
			for _, r := range allRoles {
				if r != spec.auth && r != RoleAdmin && strings.Contains(desc, "role "+r) {
					t.Errorf("%s: description names role %s, but only %s (or admin) is accepted", key, r, spec.auth)
				}
			}
			need("401", "403")
		}
		if spec.body != nil {
			need("400", "413")
		}
	}
}

func TestOpenAPIRequestBodies(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	for key, spec := range openapiRoutes {
		op, ok := ops[key]
		if !ok {
			continue // reported by TestOpenAPIRoutesMatchRouteTable
		}
		rb, hasBody := op["requestBody"]
		if spec.body == nil {
			if hasBody {
				t.Errorf("%s takes no body, but the document gives one", key)
			}
			continue
		}
		if !hasBody {
			t.Errorf("%s: request body (%s) is not documented", key, spec.body)
			continue
		}
		rbo := d.resolve(t, rb)
		if rbo["required"] != true {
			t.Errorf("%s: requestBody.required must be true (an empty body is a 400)", key)
		}
		content, _ := rbo["content"].(jsonObj)
		mt, ok := content["application/json"].(jsonObj)
		if !ok || len(content) != 1 {
			t.Errorf("%s: request body must be (only) application/json", key)
			continue
		}
		compareSchema(t, d, d.resolve(t, mt["schema"]), spec.body, key+" body", true)
	}
}

func TestOpenAPIResponseBodies(t *testing.T) {
	d := loadOpenAPI(t)
	ops := d.operations(t)
	for key, spec := range openapiRoutes {
		op, ok := ops[key]
		if !ok || spec.resp == nil {
			continue
		}
		for code, r := range op["responses"].(jsonObj) {
			if !strings.HasPrefix(code, "2") {
				continue
			}
			content, _ := d.resolve(t, r)["content"].(jsonObj)
			mt, ok := content["application/json"].(jsonObj)
			if !ok {
				t.Errorf("%s: response %s must be application/json", key, code)
				continue
			}
			compareSchema(t, d, d.resolve(t, mt["schema"]), spec.resp, fmt.Sprintf("%s %s", key, code), false)
		}
	}
}

// schemaTypes returns the JSON Schema type(s) of s.
func schemaTypes(s jsonObj) []string {
	switch v := s["type"].(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	return nil
}

var (
	jsonUnmarshaler = typeOf[json.Unmarshaler]()
	textUnmarshaler = typeOf[encoding.TextUnmarshaler]()
	jsonMarshaler   = typeOf[json.Marshaler]()
	textMarshaler   = typeOf[encoding.TextMarshaler]()
)

func customJSON(t reflect.Type) bool {
	for _, x := range []reflect.Type{t, reflect.PointerTo(t)} {
		if x.Implements(jsonUnmarshaler) || x.Implements(textUnmarshaler) || x.Implements(jsonMarshaler) || x.Implements(textMarshaler) {
			return true
		}
	}
	return false
}

// jsonFields lists the JSON names of a struct's fields as encoding/json sees
// them (embedded structs without a name are flattened).
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}

// compareSchema checks that schema describes typ: same JSON type, and for
// structs exactly the same property names, recursively. strict (request
// bodies) also demands additionalProperties: false on every object, as the
// decoder rejects unknown fields.
func compareSchema(t *testing.T, d *openapiDoc, schema jsonObj, typ reflect.Type, where string, strict bool) {
	t.Helper()
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	types := schemaTypes(schema)
	want := ""
	switch {
	case customJSON(typ):
		want = "string"
	case typ.Kind() == reflect.String:
		want = "string"
	case typ.Kind() == reflect.Bool:
		want = "boolean"
	case typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Uint64:
		want = "integer"
	case typ.Kind() == reflect.Float32 || typ.Kind() == reflect.Float64:
		want = "number"
	case typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array:
		want = "array"
	case typ.Kind() == reflect.Map, typ.Kind() == reflect.Struct:
		want = "object"
	default:
		return // interface: anything goes
	}
	if !slices.Contains(types, want) {
		t.Errorf("%s: schema type %v, want %s (Go %s)", where, types, want, typ)
		return
	}
	if customJSON(typ) {
		return
	}
	switch typ.Kind() {
	case reflect.Slice, reflect.Array:
		items, ok := schema["items"]
		if !ok {
			t.Errorf("%s: array without items", where)
			return
		}
		compareSchema(t, d, d.resolve(t, items), typ.Elem(), where+"[]", strict)
	case reflect.Map:
		ap, ok := schema["additionalProperties"].(jsonObj)
		if !ok {
			t.Errorf("%s: map needs an additionalProperties schema", where)
			return
		}
		compareSchema(t, d, d.resolve(t, ap), typ.Elem(), where+"{}", strict)
	case reflect.Struct:
		props, _ := schema["properties"].(jsonObj)
		fields := jsonFields(typ)
		for name := range fields {
			if _, ok := props[name]; !ok {
				t.Errorf("%s: property %q of %s is not documented", where, name, typ)
			}
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s: documents property %q, which %s does not have", where, name, typ)
			}
		}
		if req, ok := schema["required"].([]any); ok {
			for _, r := range req {
				if _, ok := fields[fmt.Sprint(r)]; !ok {
					t.Errorf("%s: required %q is not a field of %s", where, r, typ)
				}
			}
		}
		if strict && schema["additionalProperties"] != false {
			t.Errorf("%s: %s rejects unknown fields: set additionalProperties: false", where, typ)
		}
		for name, ft := range fields {
			if p, ok := props[name]; ok {
				compareSchema(t, d, d.resolve(t, p), ft, where+"."+name, strict)
			}
		}
	}
}

// callRoute runs a handler of routeTable() with the caller p. The server has
// no app: a handler that gets past its checks panics, which counts as
// "passed" (status 0).
func callRoute(rt route, p principal, body string) (status int, prob Problem) {
	path := pathParam.ReplaceAllString(rt.path, "x")
	r := httptest.NewRequest(rt.method, path, strings.NewReader(body))
	for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
		r.SetPathValue(m[1], "1234567890")
	}
	r = r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
	w := httptest.NewRecorder()
	panicked := func() (panicked bool) {
		defer func() {
			if recover() != nil {
				panicked = true
			}
		}()
		rt.handler(w, r)
		return false
	}()
	if panicked {
		return 0, Problem{}
	}
	_ = json.Unmarshal(w.Body.Bytes(), &prob)
	return w.Code, prob
}

// TestOpenAPIRouteTableAuth checks the auth column of openapiRoutes against
// the handlers: staff-only routes refuse a non-staff bearer (401) and a staff
// token without the role (403), and let the role and admin through; other
// routes never refuse a non-staff bearer at the gate.
func TestOpenAPIRouteTableAuth(t *testing.T) {
	s := testServer()
	resident := principal{bearer: "a-resident-token"}
	for _, rt := range s.routeTable() {
		key := rt.method + " " + rt.path
		spec, ok := openapiRoutes[key]
		if !ok {
			continue
		}
		status, _ := callRoute(rt, resident, "")
		if spec.auth == authPublic || spec.auth == authResident {
			if status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("%s: a resident bearer got %d; openapiRoutes says %s", key, status, spec.auth)
			}
			continue
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s: a non-staff bearer got %d, want 401 (staff only: %s)", key, status, spec.auth)
		}
		if status, _ := callRoute(rt, principal{}, ""); status != http.StatusUnauthorized {
			t.Errorf("%s: no token got %d, want 401", key, status)
		}
		var others []string
		for _, r := range allRoles {
			if r != spec.auth && r != RoleAdmin {
				others = append(others, r)
			}
		}
		if status, _ := callRoute(rt, principal{staff: "t", roles: others, bearer: "t"}, ""); status != http.StatusForbidden {
			t.Errorf("%s: a staff token with roles %v got %d, want 403 (needs %s)", key, others, status, spec.auth)
		}
		for _, roles := range [][]string{{spec.auth}, {RoleAdmin}} {
			if status, _ := callRoute(rt, principal{staff: "t", roles: roles, bearer: "t"}, ""); status == http.StatusUnauthorized || status == http.StatusForbidden {
				t.Errorf("%s: a staff token with roles %v got %d", key, roles, status)
			}
		}
	}
}

// TestOpenAPIRouteTableBodies checks the body column of openapiRoutes against
// the handlers: each field of the DTO is known to the handler's decoder (a
// wrongly typed value is a 400 that is not "unknown field"), and a field the
// DTO lacks (among them every field of the other DTOs) is refused as unknown.
func TestOpenAPIRouteTableBodies(t *testing.T) {
	s := testServer()
	admin := principal{staff: "t", roles: []string{RoleAdmin}, bearer: "t"}
	for _, rt := range s.routeTable() {
		key := rt.method + " " + rt.path
		spec, ok := openapiRoutes[key]
		if !ok || spec.body == nil {
			continue
		}
		for name, ft := range jsonFields(spec.body) {
			wrong := `"x"`
			if ft.Kind() == reflect.String {
				wrong = `12345`
			}
			status, prob := callRoute(rt, admin, fmt.Sprintf(`{%q: %s}`, name, wrong))
			if status != http.StatusBadRequest || strings.Contains(prob.Detail, "unknown field") {
				t.Errorf("%s: field %q of %s with a wrong type got %d %q; is %s the DTO this handler decodes?",
					key, name, spec.body, status, prob.Detail, spec.body)
			}
		}
		// Fields of the other DTOs must be unknown to this handler.
		mine := jsonFields(spec.body)
		for _, other := range openapiRoutes {
			if other.body == nil {
				continue
			}
			for name := range jsonFields(other.body) {
				if _, ok := mine[name]; ok {
					continue
				}
				if status, prob := callRoute(rt, admin, fmt.Sprintf(`{%q: 1}`, name)); status != http.StatusBadRequest || prob.Field != name {
					t.Errorf("%s: field %q (not in %s) got %d %q, want 400 unknown field; is %s the DTO this handler decodes?",
						key, name, spec.body, status, prob.Detail, spec.body)
				}
			}
		}
		status, prob := callRoute(rt, admin, `{"no_such_field_in_any_dto": 1}`)
		if status != http.StatusBadRequest || prob.Field != "no_such_field_in_any_dto" {
			t.Errorf("%s: an unknown field got %d %+v, want 400 naming it", key, status, prob)
		}
	}
}
