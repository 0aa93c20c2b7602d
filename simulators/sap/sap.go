// Package sap simulates the SAP S/4HANA inventory that the hub talks to:
// OData v2 services for material documents, stock and batches under
// /sap/opu/odata/sap/, with Basic auth, CSRF tokens bound to a session
// cookie, stock derived from goods movements, a delivery plan on a simulated
// clock, and the shared fault injection. It is the outside world and must
// never import anything from core/ or connectors/.
package sap

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vaxhub/vaxhub/simulators/simclock"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// BasePath is where the OData services are served.
const BasePath = "/sap/opu/odata/sap/"

// FaultCSRFExpired is the SAP simulator's own fault: the next modifying call
// fails CSRF token validation and every token issued so far is invalid, as
// when the server session behind the token has timed out.
const FaultCSRFExpired = "csrf_expired"

// DefaultStart is the simulated time at start-up when neither Config.Start
// nor the delivery plan says otherwise: the first Monday of 2021.
var DefaultStart = time.Date(2021, 1, 4, 6, 0, 0, 0, time.UTC)

// Config configures a Simulator. The zero value works: user sim/sim, client
// 100, 100 entities per page, no deliveries, a clock that stands still at
// DefaultStart.
type Config struct {
	// User and Password are the communication user for Basic auth (default
	// "sim"/"sim"). SAP user names are case-insensitive.
	User, Password string

	// Client is the SAP client (sap-client). A request that names another
	// client fails logon with 401; a request without sap-client uses this
	// one. Default "100".
	Client string

	// PageSize is the server-side page size: a collection longer than this is
	// cut and continued with "__next" (…?$skiptoken=N), which a client must
	// follow. Default 100.
	PageSize int

	// DeliveryPlan lists goods receipts that appear as 101 material documents
	// when the simulated clock reaches their time. Nil: no deliveries.
	DeliveryPlan *DeliveryPlan

	// Start is the simulated time when New is called. Zero: the plan's start,
	// else DefaultStart.
	Start time.Time

	// TimeScale is how many simulated seconds pass per real second: 1 is real
	// time, 3600 an hour per second, 0 (the default) a clock that only moves
	// through POST /_sim/clock/advance (deterministic tests).
	TimeScale float64

	// Now is the real clock the simulated one runs on. Default time.Now.
	Now func() time.Time

	// Faults configures the shared fault injection. The custom fault
	// FaultCSRFExpired is declared by New if it is missing.
	Faults faults.Options
}

func (c *Config) setDefaults() {
	if c.User == "" {
		c.User = "sim"
	}
	if c.Password == "" {
		c.Password = "sim"
	}
	if c.Client == "" {
		c.Client = "100"
	}
	if c.PageSize == 0 {
		c.PageSize = 100
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
		if c.DeliveryPlan != nil && !c.DeliveryPlan.Start.IsZero() {
			c.Start = c.DeliveryPlan.Start
		}
	}
	declared := false
	for _, cu := range c.Faults.Custom {
		declared = declared || cu.Name == FaultCSRFExpired
	}
	if !declared {
		c.Faults.Custom = append(append([]faults.Custom(nil), c.Faults.Custom...), csrfFault())
	}
}

func csrfFault() faults.Custom {
	return faults.Custom{
		Name: FaultCSRFExpired,
		Help: "the next modifying call fails CSRF token validation (403, x-csrf-token: Required) and every token issued so far is void; the flag then switches itself off",
	}
}

var clientPattern = regexp.MustCompile(`^[0-9]{3}$`)

// Validate reports the first problem with the configuration, naming the field.
func (c Config) Validate() error {
	if !clientPattern.MatchString(c.Client) {
		return fmt.Errorf("sap: Client %q must be three digits", c.Client)
	}
	if c.PageSize < 1 {
		return fmt.Errorf("sap: PageSize %d must be at least 1", c.PageSize)
	}
	if c.TimeScale < 0 {
		return fmt.Errorf("sap: TimeScale %v must not be negative", c.TimeScale)
	}
	if c.DeliveryPlan != nil {
		if err := c.DeliveryPlan.Validate(); err != nil {
			return err
		}
	}
	return c.Faults.Validate()
}

// Simulator is one SAP system: its documents, stock, batches, sessions and
// clock, all in memory. It is safe for concurrent use.
type Simulator struct {
	cfg      Config
	inj      *faults.Injector
	clock    *simclock.Clock
	services map[string]*service
	handler  http.Handler
	txnSeq   atomic.Uint64

	mu            sync.Mutex
	docs          []*document
	docByKey      map[string]*document
	lastDocNumber int64
	stock         map[stockKey]int64
	stockOrder    []stockKey
	batches       map[batchKey]*batch
	batchOrder    []batchKey
	plan          []Delivery
	planNext      int
	planErrors    []string
	sessions      map[string]*session
	sessionOrder  []string
}

// firstDocumentNumber is the number range of material documents.
const firstDocumentNumber = 4900000001

// New checks cfg and returns a simulator with the deliveries that are due at
// the start already posted.
func New(cfg Config) (*Simulator, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Simulator{
		cfg:           cfg,
		clock:         simclock.New(cfg.Start, cfg.TimeScale, cfg.Now, time.Millisecond),
		services:      services(),
		docByKey:      map[string]*document{},
		lastDocNumber: firstDocumentNumber - 1,
		stock:         map[stockKey]int64{},
		batches:       map[batchKey]*batch{},
		sessions:      map[string]*session{},
	}
	if cfg.DeliveryPlan != nil {
		s.plan = cfg.DeliveryPlan.sorted()
	}
	s.inj = faults.New(cfg.Faults)
	mux := http.NewServeMux()
	mux.HandleFunc(BasePath, s.serveOData)
	mux.HandleFunc("/_sim/clock", s.serveClock)
	mux.HandleFunc("/_sim/clock/advance", s.serveAdvance)
	mux.HandleFunc("/_sim/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	s.handler = s.inj.Wrap(mux)
	s.mu.Lock()
	s.deliverDue()
	s.mu.Unlock()
	return s, nil
}

// Handler serves the OData services, /_sim/clock, /_sim/health and
// /_sim/faults, all behind the fault injection.
func (s *Simulator) Handler() http.Handler { return s.handler }

// Faults is the simulator's fault injector, for in-process tests.
func (s *Simulator) Faults() *faults.Injector { return s.inj }

// Now is the simulated time.
func (s *Simulator) Now() time.Time { return s.clock.Now() }

// Advance moves the simulated clock forward by d and posts the deliveries
// that have become due. It returns the new simulated time.
func (s *Simulator) Advance(d time.Duration) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clock.Advance(d)
	s.deliverDue()
	return s.clock.Now()
}

// deliverDue posts every planned delivery whose time has come. The caller
// holds s.mu.
func (s *Simulator) deliverDue() {
	now := s.clock.Now()
	for s.planNext < len(s.plan) && !s.plan[s.planNext].At.After(now) {
		d := s.plan[s.planNext]
		s.planNext++
		hdr, items := d.document(s.planNext)
		if _, perr := s.post(hdr, items, planUser, d.At); perr != nil {
			s.planErrors = append(s.planErrors, fmt.Sprintf("delivery %d at %s to %s: %s", s.planNext, d.At.Format(time.RFC3339), d.Plant, perr.details[0].Message))
		}
	}
}

// planUser is CreatedByUser of the documents the delivery plan posts.
const planUser = "SIM_PLAN"

// bufferedResponse collects an answer built under the lock, so that a slow
// client never holds the lock while it reads.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

func (b *bufferedResponse) flush(w http.ResponseWriter, head bool) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	if !head {
		_, _ = w.Write(b.body.Bytes())
	}
}

// serveOData authenticates, checks the client and the CSRF token, and
// answers one OData request.
func (s *Simulator) serveOData(w http.ResponseWriter, r *http.Request) {
	parts := splitPath(strings.TrimPrefix(r.URL.Path, BasePath))
	svcName, _, _ := strings.Cut(parts[0], ";") // API_X;v=0001
	svcName = strings.ToUpper(svcName)

	user, ok := s.authenticate(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Basic realm="SAP NetWeaver Application Server [SIM/%s]"`, s.cfg.Client))
		writeText(w, http.StatusUnauthorized, "Logon failed")
		return
	}
	if c := r.URL.Query().Get("sap-client"); c != "" && c != s.cfg.Client {
		writeText(w, http.StatusUnauthorized, fmt.Sprintf("Logon failed: client %s is not available in this system", c))
		return
	}
	modifying := r.Method != http.MethodGet && r.Method != http.MethodHead
	if modifying && !s.checkCSRF(w, r, user) {
		return
	}
	if !modifying && strings.EqualFold(r.Header.Get("X-CSRF-Token"), "Fetch") {
		s.issueToken(w, r, user)
	}

	svc := s.services[svcName]
	if svc == nil {
		s.writeError(w, svcName, &odataError{Status: http.StatusNotFound, Code: codeNoService,
			Message: fmt.Sprintf("No service found for namespace '/SAP/', name '%s', version '0001'", svcName)})
		return
	}
	req := &request{svc: svc, rawURL: r.URL, baseURL: baseURL(r)}
	req.base = req.baseURL + BasePath + svc.Name + "/"
	rest := parts[1:]
	if len(rest) > 0 && rest[len(rest)-1] == "" {
		rest = rest[:len(rest)-1] // trailing slash
	}

	switch {
	case len(rest) == 0:
		if modifying {
			s.writeError(w, svc.Name, &odataError{Status: http.StatusMethodNotAllowed, Code: codeNotImplemented, Message: "The service document is read-only"})
			return
		}
		names := []string{}
		for _, es := range svc.Sets {
			names = append(names, es.Name)
		}
		b, _ := json.Marshal(map[string]any{"d": map[string]any{"EntitySets": names}})
		writeJSON(w, http.StatusOK, b)
		return
	case rest[0] == "$metadata":
		if modifying || len(rest) > 1 {
			s.writeError(w, svc.Name, &odataError{Status: http.StatusMethodNotAllowed, Code: codeNotImplemented, Message: "$metadata is read-only"})
			return
		}
		body := metadataXML(svc)
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("dataserviceversion", "2.0")
		_, _ = io.WriteString(w, body)
		return
	}

	// Set, Set(keys), Set(keys)/nav, Set/$count, Set(keys)/nav/$count
	seg := rest[0]
	setName, pred, hasKeys := strings.Cut(seg, "(")
	req.es = svc.set(setName)
	if req.es == nil {
		s.writeError(w, svc.Name, &odataError{Status: http.StatusNotFound, Code: codeNoResource,
			Message: fmt.Sprintf("Resource not found for segment '%s'", setName)})
		return
	}
	if hasKeys {
		keys, oerr := parseKeys(strings.TrimSuffix(pred, ")"), req.es)
		if oerr != nil {
			s.writeError(w, svc.Name, oerr)
			return
		}
		req.keys = keys
	}
	rest = rest[1:]
	if len(rest) > 0 && req.keys != nil && rest[0] != "$count" {
		req.nav, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 && rest[0] == "$count" {
		req.count, rest = true, rest[1:]
	}
	if len(rest) > 0 {
		s.writeError(w, svc.Name, &odataError{Status: http.StatusNotFound, Code: codeNoResource,
			Message: fmt.Sprintf("Resource not found for segment '%s'", rest[0])})
		return
	}

	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
		if err != nil {
			s.writeError(w, svc.Name, badRequest(codeBadPayload, "Cannot read the request body: %v", err))
			return
		}
		body = b
	}
	buf := &bufferedResponse{header: http.Header{}}
	for k, v := range w.Header() {
		buf.header[k] = v
	}
	var oerr *odataError
	s.mu.Lock()
	s.deliverDue()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		oerr = s.serveRead(buf, r, req)
	case http.MethodPost:
		oerr = s.serveCreate(buf, body, req, user)
	default:
		oerr = &odataError{Status: http.StatusMethodNotAllowed, Code: codeNotImplemented,
			Message: fmt.Sprintf("Method '%s' is not supported for %s by this service", r.Method, req.es.Name)}
		if req.es.Name == setStock || req.es.Name == setMatlStock {
			oerr.Message = fmt.Sprintf("%s is read-only: stock changes only through material documents", req.es.Name)
		}
	}
	s.mu.Unlock()
	if oerr != nil {
		s.writeError(w, svc.Name, oerr)
		return
	}
	buf.flush(w, r.Method == http.MethodHead)
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func writeText(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, text)
}

// session is a server session: the logged-on user and the CSRF token bound
// to it (empty until fetched, or after the token expired).
type session struct {
	user, token string
}

const maxSessions = 10000

func (s *Simulator) cookieName() string { return "SAP_SESSIONID_SIM_" + s.cfg.Client }

func (s *Simulator) sessionOf(r *http.Request) (string, *session) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return "", nil
	}
	return c.Value, s.sessions[c.Value]
}

// authenticate checks Basic auth, or else a valid session cookie, as SAP's
// ICF does. It returns the user.
func (s *Simulator) authenticate(r *http.Request) (string, bool) {
	if u, p, ok := r.BasicAuth(); ok {
		return strings.ToUpper(u), strings.EqualFold(u, s.cfg.User) && p == s.cfg.Password
	}
	if r.Header.Get("Authorization") != "" {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, sess := s.sessionOf(r); sess != nil {
		return sess.user, true
	}
	return "", false
}

// issueToken answers "X-CSRF-Token: Fetch": the session's token, with a new
// session cookie if the request had no valid one.
func (s *Simulator) issueToken(w http.ResponseWriter, r *http.Request, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, sess := s.sessionOf(r)
	if sess == nil || sess.user != user {
		id = randomToken(32)
		sess = &session{user: user}
		s.sessions[id] = sess
		s.sessionOrder = append(s.sessionOrder, id)
		if len(s.sessionOrder) > maxSessions {
			delete(s.sessions, s.sessionOrder[0])
			s.sessionOrder = s.sessionOrder[1:]
		}
		http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "sap-usercontext", Value: "sap-client=" + s.cfg.Client, Path: "/"})
	}
	if sess.token == "" {
		sess.token = randomToken(24)
	}
	w.Header().Set("x-csrf-token", sess.token)
}

// checkCSRF lets a modifying request through only with the token of its
// session cookie; otherwise it answers 403 with x-csrf-token: Required.
func (s *Simulator) checkCSRF(w http.ResponseWriter, r *http.Request, user string) bool {
	if s.inj.Flag(FaultCSRFExpired) {
		s.mu.Lock()
		for _, sess := range s.sessions {
			sess.token = ""
		}
		s.mu.Unlock()
		_ = s.inj.SetFlag(FaultCSRFExpired, false)
		w.Header().Set(faults.HeaderFault, FaultCSRFExpired)
		rejectCSRF(w)
		return false
	}
	tok := r.Header.Get("X-CSRF-Token")
	s.mu.Lock()
	_, sess := s.sessionOf(r)
	valid := sess != nil && sess.token != "" && tok == sess.token && sess.user == user
	s.mu.Unlock()
	if !valid {
		rejectCSRF(w)
	}
	return valid
}

func rejectCSRF(w http.ResponseWriter) {
	w.Header().Set("x-csrf-token", "Required")
	writeText(w, http.StatusForbidden, "CSRF token validation failed")
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// clockView is the answer of /_sim/clock.
type clockView struct {
	Now        time.Time      `json:"now"`
	TimeScale  float64        `json:"time_scale"`
	Documents  int            `json:"documents"`
	Deliveries deliveriesView `json:"deliveries"`
}

type deliveriesView struct {
	Total  int        `json:"total"`
	Posted int        `json:"posted"`
	Next   *time.Time `json:"next,omitempty"`
	Errors []string   `json:"errors,omitempty"`
}

func (s *Simulator) clockView() clockView {
	scale := s.clock.Scale()
	v := clockView{Now: s.clock.Now(), TimeScale: scale, Documents: len(s.docs),
		Deliveries: deliveriesView{Total: len(s.plan), Posted: s.planNext, Errors: s.planErrors}}
	if s.planNext < len(s.plan) {
		next := s.plan[s.planNext].At
		v.Deliveries.Next = &next
	}
	return v
}

func writeView(w http.ResponseWriter, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, append(b, '\n'))
}

func writeAdminError(w http.ResponseWriter, status int, err error) {
	b, _ := json.Marshal(map[string]string{"error": err.Error()})
	writeJSON(w, status, b)
}

// serveClock answers GET /_sim/clock (the simulated time and the delivery
// plan's progress) and POST /_sim/clock {"time_scale": 3600}.
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
		w.Header().Set("Allow", "GET, HEAD, POST, PUT")
		writeAdminError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliverDue()
	writeView(w, s.clockView())
}

// serveAdvance answers POST /_sim/clock/advance with {"by":"24h"} or
// {"to":"2021-02-01T00:00:00Z"} (or ?by=24h): simulated time moves forward
// and the deliveries that fall due are posted.
func (s *Simulator) serveAdvance(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeAdminError(w, http.StatusMethodNotAllowed, fmt.Errorf("method %s not allowed", r.Method))
		return
	}
	d, err := s.clock.AdvanceBy(r, parseLiteralTime)
	if err != nil {
		writeAdminError(w, http.StatusBadRequest, err)
		return
	}
	s.Advance(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	writeView(w, s.clockView())
}

func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(io.LimitReader(body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("bad body: %w", err)
	}
	return nil
}
