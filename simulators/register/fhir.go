package register

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The FHIR R4 interface, modelled on the NHS Personal Demographics Service
// (reference/external-apis.md, section 3.2): search answers a searchset
// Bundle with a score per entry, errors are OperationOutcomes with the PDS
// error codes, and every request needs an X-Request-ID.

const (
	// SystemRegisterID is the identifier system of register IDs.
	SystemRegisterID = "https://vaxhub.example/sim/register/id"
	// ExtensionRegisterStatus carries the BMeldDAV §6 hit-list flags:
	// resident, deceased, moved-within-germany, moved-abroad, moved-unknown.
	ExtensionRegisterStatus = "https://vaxhub.example/sim/register/StructureDefinition/register-status"
	// ExtensionMunicipalityKey is the German base profile's extension for
	// the 8-digit Gemeindeschlüssel (AGS) of an address.
	ExtensionMunicipalityKey = "http://fhir.de/StructureDefinition/destatis/ags"
	systemAGS                = "http://fhir.de/sid/destatis/ags"
	systemErrorCode          = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
	fhirJSON                 = "application/fhir+json"
	maxResultsLimit          = 50
)

type fhirPatient struct {
	ResourceType     string          `json:"resourceType"`
	ID               string          `json:"id"`
	Identifier       []fhirIdent     `json:"identifier"`
	Meta             fhirMeta        `json:"meta"`
	Extension        []fhirExtension `json:"extension,omitempty"`
	Name             []fhirName      `json:"name"`
	Gender           string          `json:"gender"`
	BirthDate        string          `json:"birthDate"`
	DeceasedDateTime string          `json:"deceasedDateTime,omitempty"`
	Address          []fhirAddress   `json:"address,omitempty"`
}

type fhirIdent struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirMeta struct {
	VersionID string       `json:"versionId"`
	Security  []fhirCoding `json:"security"`
}

type fhirCoding struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type fhirExtension struct {
	URL             string     `json:"url"`
	ValueCode       string     `json:"valueCode,omitempty"`
	ValueIdentifier *fhirIdent `json:"valueIdentifier,omitempty"`
}

type fhirName struct {
	ID     string   `json:"id"`
	Use    string   `json:"use"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
}

type fhirPeriod struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type fhirAddress struct {
	ID         string          `json:"id"`
	Use        string          `json:"use"`
	Type       string          `json:"type,omitempty"`
	Line       []string        `json:"line,omitempty"`
	City       string          `json:"city,omitempty"`
	District   string          `json:"district,omitempty"`
	State      string          `json:"state,omitempty"`
	PostalCode string          `json:"postalCode,omitempty"`
	Country    string          `json:"country"`
	Period     *fhirPeriod     `json:"period,omitempty"`
	Extension  []fhirExtension `json:"extension,omitempty"`
	Text       string          `json:"text,omitempty"`
}

type fhirBundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Timestamp    string        `json:"timestamp"`
	Total        int           `json:"total"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleEntry struct {
	FullURL  string       `json:"fullUrl"`
	Search   bundleSearch `json:"search"`
	Resource *fhirPatient `json:"resource"`
}

type bundleSearch struct {
	Score float64 `json:"score"`
}

type operationOutcome struct {
	ResourceType string         `json:"resourceType"`
	Issue        []outcomeIssue `json:"issue"`
}

type outcomeIssue struct {
	Severity    string         `json:"severity"`
	Code        string         `json:"code"`
	Details     outcomeDetails `json:"details"`
	Diagnostics string         `json:"diagnostics,omitempty"`
}

type outcomeDetails struct {
	Coding []fhirCoding `json:"coding"`
}

func agsExtension(key string) []fhirExtension {
	if key == "" {
		return nil
	}
	return []fhirExtension{{URL: ExtensionMunicipalityKey, ValueIdentifier: &fhirIdent{System: systemAGS, Value: key}}}
}

// patientOf renders a resident as a FHIR Patient.
func patientOf(r *resident) *fhirPatient {
	p := &fhirPatient{
		ResourceType: "Patient",
		ID:           r.ID,
		Identifier:   []fhirIdent{{System: SystemRegisterID, Value: r.ID}},
		Meta: fhirMeta{VersionID: "1", Security: []fhirCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", Code: "U", Display: "unrestricted"}}},
		Extension: []fhirExtension{{URL: ExtensionRegisterStatus, ValueCode: r.status()}},
		Name:      []fhirName{{ID: "1", Use: "usual", Family: r.Family, Given: r.Given}},
		Gender:    fhirGender[r.Gender],
		BirthDate: r.Birth.Format(time.DateOnly),
	}
	if !r.Deceased.IsZero() {
		p.DeceasedDateTime = r.Deceased.Format(time.DateOnly) + "T00:00:00+00:00"
	}
	saxon := fhirAddress{
		ID: "1", Use: "home", Type: "both", Line: []string{r.line()}, City: r.Town.Name,
		District: r.District.Name, State: stateSaxony, PostalCode: r.Postal, Country: "DE",
		Extension: agsExtension(r.Town.Key),
	}
	if r.Kind != kindMoved {
		p.Address = []fhirAddress{saxon}
		return p
	}
	saxon.ID, saxon.Use = "2", "old"
	saxon.Period = &fhirPeriod{End: r.MovedOn.AddDate(0, 0, -1).Format(time.DateOnly)}
	if d := r.MovedTo; d != nil {
		p.Address = append(p.Address, fhirAddress{
			ID: "1", Use: "home", Type: "both", Line: []string{r.NewLine}, City: d.City, State: d.State,
			PostalCode: d.Postal, Country: d.Country, Period: &fhirPeriod{Start: r.MovedOn.Format(time.DateOnly)},
			Extension: agsExtension(d.Key),
		})
	}
	p.Address = append(p.Address, saxon)
	return p
}

var errorDisplay = map[string]string{
	"INVALID_SEARCH_DATA":    "Search data is invalid",
	"UNSUPPORTED_SERVICE":    "Unsupported Service",
	"MISSING_VALUE":          "Required value is missing",
	"INVALID_VALUE":          "Provided value is invalid",
	"ADDITIONAL_PROPERTIES":  "Additional properties are not allowed",
	"ACCESS_DENIED":          "Access Denied - Unauthorised",
	"INVALID_RESOURCE_ID":    "Resource Id is invalid",
	"RESOURCE_NOT_FOUND":     "Resource not found",
	"UNABLE_TO_CALL_SERVICE": "Unable to call service",
	"TOO_MANY_MATCHES":       "Too Many Matches",
	"METHOD_NOT_ALLOWED":     "Method not allowed",
}

func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeOutcome answers an OperationOutcome with one error issue.
func writeOutcome(w http.ResponseWriter, status int, issueCode, code, display, diagnostics string) {
	if display == "" {
		display = errorDisplay[code]
	}
	writeJSON(w, status, fhirJSON, operationOutcome{ResourceType: "OperationOutcome", Issue: []outcomeIssue{{
		Severity: "error", Code: issueCode,
		Details:     outcomeDetails{Coding: []fhirCoding{{System: systemErrorCode, Version: "1", Code: code, Display: display}}},
		Diagnostics: diagnostics,
	}}})
}

// writeTooManyMatches answers as the PDS does when a search finds more
// residents than _max-results: 200 with an OperationOutcome.
func writeTooManyMatches(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, fhirJSON, operationOutcome{ResourceType: "OperationOutcome", Issue: []outcomeIssue{{
		Severity: "information", Code: "multiple-matches",
		Details: outcomeDetails{Coding: []fhirCoding{{System: systemErrorCode, Version: "1", Code: "TOO_MANY_MATCHES", Display: errorDisplay["TOO_MANY_MATCHES"]}}},
	}}})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET")
	writeOutcome(w, http.StatusMethodNotAllowed, "not-supported", "METHOD_NOT_ALLOWED", "",
		fmt.Sprintf("Method %s is not supported on %s", r.Method, r.URL.Path))
}

// requestID checks the mandatory X-Request-ID and echoes it with the
// optional X-Correlation-ID; false means the error is already written.
func requestID(w http.ResponseWriter, r *http.Request) bool {
	id := r.Header.Get("X-Request-ID")
	if c := r.Header.Get("X-Correlation-ID"); c != "" {
		w.Header().Set("X-Correlation-ID", c)
	}
	if id == "" {
		writeOutcome(w, http.StatusBadRequest, "required", "MISSING_VALUE", "",
			"Invalid request with error - X-Request-ID header must be supplied to access this resource")
		return false
	}
	w.Header().Set("X-Request-ID", id)
	if !uuidPattern.MatchString(id) {
		writeOutcome(w, http.StatusBadRequest, "value", "INVALID_VALUE", "",
			fmt.Sprintf("Invalid value - '%s' in header 'X-Request-ID'", id))
		return false
	}
	return true
}

func (s *Simulator) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimSuffix(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// getPatient answers GET /Patient/{id}. A resident with an information
// block is answered 404 like an unknown ID, so the block itself stays
// invisible.
func (s *Simulator) getPatient(w http.ResponseWriter, r *http.Request) {
	if !requestID(w, r) {
		return
	}
	id := r.PathValue("id")
	i, ok := s.pop.index(id)
	if !ok && (len(id) != 10 || strings.Trim(id, "0123456789") != "" || luhn(id[:9]) != id[9]) {
		writeOutcome(w, http.StatusBadRequest, "value", "INVALID_RESOURCE_ID", "",
			fmt.Sprintf("Invalid resource ID - '%s' is not a valid register ID", id))
		return
	}
	if !ok || s.pop.kindOf(i) == kindBlocked {
		writeOutcome(w, http.StatusNotFound, "not-found", "RESOURCE_NOT_FOUND", "",
			fmt.Sprintf("Patient %s not found", id))
		return
	}
	w.Header().Set("ETag", `W/"1"`)
	writeJSON(w, http.StatusOK, fhirJSON, patientOf(s.pop.resident(i)))
}

var searchParams = map[string]bool{
	"family": true, "given": true, "gender": true, "birthdate": true, "death-date": true,
	"address-postalcode": true, "address-postcode": true, "general-practitioner": true,
	"email": true, "phone": true, "_fuzzy-match": true, "_exact-match": true, "_history": true,
	"_max-results": true,
}

// searchError is a 400 answer to a bad search.
type searchError struct {
	issue, code, diagnostics string
}

func (e *searchError) Error() string { return e.code + ": " + e.diagnostics }

func invalidValue(field, v string) *searchError {
	return &searchError{"value", "INVALID_VALUE", fmt.Sprintf("Invalid value - '%s' in field '%s'", v, field)}
}

// searchPatients answers GET /Patient?...
func (s *Simulator) searchPatients(w http.ResponseWriter, r *http.Request) {
	if !requestID(w, r) {
		return
	}
	q, maxResults, exact, serr := parseFHIRSearch(r)
	if serr != nil {
		writeOutcome(w, http.StatusBadRequest, serr.issue, serr.code, "", serr.diagnostics)
		return
	}
	hits := s.pop.search(q)
	if exact {
		n := 0
		for _, h := range hits {
			if h.score >= 1 {
				hits[n] = h
				n++
			}
		}
		hits = hits[:n]
	}
	if len(hits) > maxResults {
		writeTooManyMatches(w)
		return
	}
	b := fhirBundle{ResourceType: "Bundle", Type: "searchset", Timestamp: time.Now().UTC().Format(time.RFC3339), Total: len(hits)}
	base := s.baseURL(r)
	for _, h := range hits {
		res := s.pop.resident(h.idx)
		b.Entry = append(b.Entry, bundleEntry{
			FullURL: base + "/Patient/" + res.ID, Search: bundleSearch{Score: h.score}, Resource: patientOf(res),
		})
	}
	writeJSON(w, http.StatusOK, fhirJSON, b)
}

func parseBool(field, v string) (bool, *searchError) {
	switch v {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, invalidValue(field, v)
}

// parseFHIRSearch checks the query the way the PDS does and builds the search.
func parseFHIRSearch(r *http.Request) (*searchQuery, int, bool, *searchError) {
	v := r.URL.Query()
	if len(v) == 0 {
		return nil, 0, false, &searchError{"not-supported", "UNSUPPORTED_SERVICE", "No search parameters provided"}
	}
	for k := range v {
		if !searchParams[k] {
			return nil, 0, false, &searchError{"structure", "ADDITIONAL_PROPERTIES", fmt.Sprintf("Invalid parameter - '%s'", k)}
		}
	}
	fuzzy, err := parseBool("_fuzzy-match", v.Get("_fuzzy-match"))
	if err != nil {
		return nil, 0, false, err
	}
	exact, err := parseBool("_exact-match", v.Get("_exact-match"))
	if err != nil {
		return nil, 0, false, err
	}
	history, err := parseBool("_history", v.Get("_history"))
	if err != nil {
		return nil, 0, false, err
	}
	maxResults := 1
	if m := v.Get("_max-results"); m != "" {
		n, e := strconv.Atoi(m)
		if e != nil || n < 1 || n > maxResultsLimit {
			return nil, 0, false, invalidValue("_max-results", m)
		}
		maxResults = n
	}
	q := &searchQuery{gender: -1, mode: modeFold, history: history || fuzzy}
	if fuzzy {
		q.mode, q.transposed = modeFuzzy, true
	}
	wild := func(field, s string) (bool, *searchError) {
		i := strings.IndexByte(s, '*')
		if i < 0 {
			return false, nil
		}
		if fuzzy {
			return false, &searchError{"value", "INVALID_SEARCH_DATA", fmt.Sprintf("Wildcards are not allowed in a fuzzy search ('%s' in field '%s')", s, field)}
		}
		if i != len(s)-1 || len([]rune(s)) < 3 {
			return false, invalidValue(field, s)
		}
		return true, nil
	}
	if f := strings.TrimSpace(v.Get("family")); f != "" {
		if _, e := wild("family", f); e != nil {
			return nil, 0, false, e
		}
		nq := newNameQuery(f)
		q.family = &nq
	} else if _, present := v["family"]; present {
		return nil, 0, false, invalidValue("family", "")
	}
	for _, g := range v["given"] {
		for _, tok := range strings.Fields(g) {
			if _, e := wild("given", tok); e != nil {
				return nil, 0, false, e
			}
			q.givens = append(q.givens, newNameQuery(tok))
		}
	}
	if g := v.Get("gender"); g != "" {
		q.gender = -1
		for k, name := range fhirGender {
			if g == name {
				q.gender = k
			}
		}
		if q.gender < 0 {
			return nil, 0, false, invalidValue("gender", g)
		}
	}
	postal := v.Get("address-postalcode")
	if postal == "" {
		postal = v.Get("address-postcode")
	}
	if postal = strings.TrimSpace(postal); postal != "" {
		w, e := wild("address-postalcode", postal)
		if e != nil {
			return nil, 0, false, e
		}
		q.postal, q.postalWild = strings.TrimSuffix(postal, "*"), w
	}
	if bd := v["birthdate"]; len(bd) > 0 {
		from, to := 0, 1<<30
		for _, b := range bd {
			f, t, ok := parseDateParam(b)
			if !ok {
				return nil, 0, false, invalidValue("birthdate", b)
			}
			from, to = max(from, f), min(to, t)
		}
		q.hasBirth, q.from, q.to = true, from, to
		q.swapDay = fuzzy && from == to
	}
	hasGiven := len(q.givens) > 0
	hasFamily := q.family != nil
	if fuzzy {
		if !(hasGiven && hasFamily && q.hasBirth ||
			hasFamily && q.hasBirth && q.gender >= 0 && q.postal != "" ||
			hasGiven && q.hasBirth && q.gender >= 0 && q.postal != "") {
			return nil, 0, false, &searchError{"value", "INVALID_SEARCH_DATA",
				"Not enough search parameters were provided for a fuzzy search: use given, family and birthdate; or family, birthdate, gender and address-postalcode; or given, birthdate, gender and address-postalcode"}
		}
	} else if !hasFamily || !q.hasBirth {
		return nil, 0, false, &searchError{"value", "INVALID_SEARCH_DATA",
			"Not enough search parameters were provided to be able to make a search: a non-fuzzy search needs family and birthdate"}
	}
	return q, maxResults, exact, nil
}

// parseDateParam reads a FHIR date search value: an optional prefix (eq,
// ge, le, gt, lt) and YYYY, YYYY-MM or YYYY-MM-DD, as an inclusive range of
// days.
func parseDateParam(s string) (from, to int, ok bool) {
	prefix := "eq"
	if len(s) > 2 && s[0] >= 'a' && s[0] <= 'z' {
		prefix, s = s[:2], s[2:]
	}
	var start, end time.Time
	switch len(s) {
	case 4:
		t, err := time.Parse("2006", s)
		if err != nil {
			return 0, 0, false
		}
		start, end = t, t.AddDate(1, 0, -1)
	case 7:
		t, err := time.Parse("2006-01", s)
		if err != nil {
			return 0, 0, false
		}
		start, end = t, t.AddDate(0, 1, -1)
	case 10:
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return 0, 0, false
		}
		start, end = t, t
	default:
		return 0, 0, false
	}
	if start.Year() < 1900 {
		return 0, 0, false
	}
	a, b := dayOf(start), dayOf(end)
	const open = 1 << 30
	switch prefix {
	case "eq":
		return a, b, true
	case "ge":
		return a, open, true
	case "gt":
		return b + 1, open, true
	case "le":
		return 0, b, true
	case "lt":
		return 0, a - 1, true
	}
	return 0, 0, false
}
