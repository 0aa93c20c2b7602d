package print

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// JSONAPI is the media type of every API answer.
const JSONAPI = "application/vnd.api+json"

// Error is one JSON:API error object.
type Error struct {
	Code   string       `json:"code"`
	Title  string       `json:"title"`
	Detail string       `json:"detail,omitempty"`
	Source *ErrorSource `json:"source,omitempty"`
}

// ErrorSource points at the part of the request that is wrong.
type ErrorSource struct {
	Pointer   string `json:"pointer,omitempty"`
	Parameter string `json:"parameter,omitempty"`
}

func writeErrors(w http.ResponseWriter, status int, errs ...Error) {
	w.Header().Set("Content-Type", JSONAPI)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": errs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", JSONAPI)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Handler serves the API, the presigned uploads and the admin endpoints
// (/_sim/health, /_sim/faults, /_sim/letters), all behind the shared fault
// injection.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /auth/access-tokens", s.token)
	mux.HandleFunc("GET /file-upload", s.auth(s.fileUpload))
	mux.HandleFunc("PUT /file-storage/{id}", s.storeFile)
	org := "/organisations/{org}"
	mux.HandleFunc("POST "+org+"/letters", s.auth(s.org(s.createLetter)))
	mux.HandleFunc("GET "+org+"/letters", s.auth(s.org(s.listLetters)))
	mux.HandleFunc("GET "+org+"/letters/{id}", s.auth(s.org(s.getLetter)))
	mux.HandleFunc("POST "+org+"/webhooks", s.auth(s.org(s.createWebhook)))
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("GET /_sim/letters", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"letters": s.Letters(), "counts": s.Counts()})
	})
	mux.HandleFunc("GET /_sim/letters/{id}/file", func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.LetterPDF(r.PathValue("id"))
		if !ok {
			writeErrors(w, http.StatusNotFound, Error{Code: "not_found", Title: "Letter not found"})
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeErrors(w, http.StatusNotFound, Error{Code: "not_found", Title: "Not found", Detail: r.Method + " " + r.URL.Path + " does not exist"})
	})
	return s.faults.Wrap(mux)
}

func (s *Sim) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.authorised(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="pingen"`)
			writeErrors(w, http.StatusUnauthorized, Error{Code: "unauthenticated", Title: "Unauthenticated", Detail: "a valid bearer token from /auth/access-tokens is required"})
			return
		}
		h(w, r)
	}
}

func (s *Sim) org(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("org") != s.cfg.Organisation {
			writeErrors(w, http.StatusForbidden, Error{Code: "forbidden", Title: "Forbidden", Detail: "the token has no access to organisation " + r.PathValue("org"),
				Source: &ErrorSource{Parameter: "organisationId"}})
			return
		}
		h(w, r)
	}
}

// token: POST /auth/access-tokens, client credentials as JSON or form.
func (s *Sim) token(w http.ResponseWriter, r *http.Request) {
	var in struct {
		GrantType    string `json:"grant_type"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		v, _ := url.ParseQuery(string(body))
		in.GrantType, in.ClientID, in.ClientSecret = v.Get("grant_type"), v.Get("client_id"), v.Get("client_secret")
	} else if err := json.Unmarshal(body, &in); err != nil {
		writeErrors(w, http.StatusBadRequest, Error{Code: "invalid_request", Title: "Invalid request", Detail: "the body is neither JSON nor a form: " + err.Error()})
		return
	}
	if in.GrantType != "client_credentials" {
		writeErrors(w, http.StatusBadRequest, Error{Code: "unsupported_grant_type", Title: "Unsupported grant type", Detail: "use grant_type client_credentials",
			Source: &ErrorSource{Pointer: "/grant_type"}})
		return
	}
	if in.ClientID != s.cfg.ClientID || in.ClientSecret != s.cfg.ClientSecret {
		writeErrors(w, http.StatusUnauthorized, Error{Code: "invalid_client", Title: "Client authentication failed"})
		return
	}
	tok := hex.EncodeToString(randomBytes(24))
	s.mu.Lock()
	s.tokens[tok] = time.Now().Add(s.cfg.TokenTTL)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"token_type": "Bearer", "expires_in": int(s.cfg.TokenTTL.Seconds()), "access_token": tok,
		"scope": "letter batch webhook organisation_read"})
}

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// fileUpload: GET /file-upload hands out a presigned URL for one PUT.
func (s *Sim) fileUpload(w http.ResponseWriter, r *http.Request) {
	id := newID()
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	sig := s.sign(id, exp)
	s.mu.Lock()
	s.uploads[id] = &upload{id: id, sig: sig, expires: exp}
	s.mu.Unlock()
	u := fmt.Sprintf("%s/file-storage/%s?expires=%d&signature=%s", baseURL(r), id, exp.Unix(), sig)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{"id": id, "type": "file_uploads",
		"attributes": map[string]any{"url": u, "url_signature": sig, "expires_at": exp.UTC().Format(time.RFC3339)}}})
}

// storeFile: PUT to the presigned URL, no auth header, raw bytes.
func (s *Sim) storeFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	up, ok := s.uploads[id]
	s.mu.Unlock()
	if !ok || r.URL.Query().Get("signature") != up.sig {
		writeErrors(w, http.StatusForbidden, Error{Code: "signature_mismatch", Title: "The request signature does not match"})
		return
	}
	if time.Now().After(up.expires) {
		writeErrors(w, http.StatusForbidden, Error{Code: "expired", Title: "The presigned URL has expired"})
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, s.cfg.MaxFileSize+1))
	if err != nil {
		writeErrors(w, http.StatusBadRequest, Error{Code: "read_failed", Title: "The upload could not be read", Detail: err.Error()})
		return
	}
	if int64(len(data)) > s.cfg.MaxFileSize {
		writeErrors(w, http.StatusRequestEntityTooLarge, Error{Code: "too_large", Title: "File too large", Detail: fmt.Sprintf("at most %d bytes", s.cfg.MaxFileSize)})
		return
	}
	s.mu.Lock()
	up.data = data
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

type letterAttributes struct {
	FileOriginalName string `json:"file_original_name"`
	FileURL          string `json:"file_url"`
	FileURLSignature string `json:"file_url_signature"`
	AddressPosition  string `json:"address_position"`
	AutoSend         *bool  `json:"auto_send"`
	DeliveryProduct  string `json:"delivery_product"`
	PrintMode        string `json:"print_mode"`
	PrintSpectrum    string `json:"print_spectrum"`
}

// fingerprint identifies a request for idempotency: everything but the file
// URL, which a client that retries after a lost answer may have re-uploaded.
func (a letterAttributes) fingerprint() string {
	a.FileURL, a.FileURLSignature = "", ""
	b, _ := json.Marshal(a)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func invalid(pointer, detail string) Error {
	return Error{Code: "validation_failed", Title: "The given data was invalid", Detail: detail, Source: &ErrorSource{Pointer: pointer}}
}

// createLetter: POST /organisations/{org}/letters.
func (s *Sim) createLetter(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Data struct {
			Type       string           `json:"type"`
			Attributes letterAttributes `json:"attributes"`
		} `json:"data"`
	}
	if ct := r.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
		writeErrors(w, http.StatusUnsupportedMediaType, Error{Code: "unsupported_media_type", Title: "Unsupported media type", Detail: "send " + JSONAPI})
		return
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		writeErrors(w, http.StatusBadRequest, Error{Code: "invalid_json", Title: "Malformed JSON", Detail: err.Error()})
		return
	}
	a := in.Data.Attributes
	var errs []Error
	if in.Data.Type != "letters" {
		errs = append(errs, invalid("/data/type", "must be letters"))
	}
	if a.FileOriginalName == "" {
		errs = append(errs, invalid("/data/attributes/file_original_name", "is required"))
	}
	if !slices.Contains([]string{"left", "right"}, a.AddressPosition) {
		errs = append(errs, invalid("/data/attributes/address_position", "must be left or right"))
	}
	if a.AutoSend == nil {
		errs = append(errs, invalid("/data/attributes/auto_send", "is required"))
	}
	if a.DeliveryProduct != "" && !slices.Contains([]string{"fast", "cheap", "bulk", "premium", "registered"}, a.DeliveryProduct) {
		errs = append(errs, invalid("/data/attributes/delivery_product", "must be fast, cheap, bulk, premium or registered"))
	}
	if a.PrintMode != "" && a.PrintMode != "simplex" && a.PrintMode != "duplex" {
		errs = append(errs, invalid("/data/attributes/print_mode", "must be simplex or duplex"))
	}
	if a.PrintSpectrum != "" && a.PrintSpectrum != "grayscale" && a.PrintSpectrum != "color" {
		errs = append(errs, invalid("/data/attributes/print_spectrum", "must be grayscale or color"))
	}
	key := r.Header.Get("Idempotency-Key")
	fp := a.fingerprint()

	s.mu.Lock()
	if key != "" {
		if id, ok := s.idem[key]; ok {
			same := s.idemFp[key] == fp
			l := *s.letters[id]
			s.mu.Unlock()
			if !same {
				writeErrors(w, http.StatusUnprocessableEntity, Error{Code: "idempotency_key_reused", Title: "Idempotency key reused",
					Detail: "the key was used for a different letter", Source: &ErrorSource{Parameter: "Idempotency-Key"}})
				return
			}
			w.Header().Set("Idempotent-Replayed", "true")
			writeJSON(w, http.StatusCreated, map[string]any{"data": s.resource(&l)})
			return
		}
	}
	var up *upload
	if len(errs) == 0 {
		up = s.findUpload(a.FileURL)
		switch {
		case up == nil:
			errs = append(errs, invalid("/data/attributes/file_url", "is not a URL handed out by /file-upload"))
		case up.sig != a.FileURLSignature:
			errs = append(errs, invalid("/data/attributes/file_url_signature", "does not match the file URL"))
		case up.data == nil:
			errs = append(errs, invalid("/data/attributes/file_url", "nothing was uploaded to this URL"))
		}
	}
	if len(errs) > 0 {
		s.mu.Unlock()
		writeErrors(w, http.StatusUnprocessableEntity, errs...)
		return
	}
	now := time.Now()
	check := CheckPDF(up.data, s.cfg.MaxPages)
	l := &Letter{ID: newID(), Organisation: s.cfg.Organisation, FileName: a.FileOriginalName, FilePages: check.Pages,
		AddressPosition: a.AddressPosition, AutoSend: *a.AutoSend, DeliveryProduct: or(a.DeliveryProduct, "cheap"),
		PrintMode: or(a.PrintMode, "simplex"), PrintSpectrum: or(a.PrintSpectrum, "grayscale"), IdempotencyKey: key,
		CreatedAt: now.UTC(), UpdatedAt: now.UTC(), pdf: up.data, undeliverable: s.faults.Flag(FaultUndeliverable)}
	if len(check.Issues) > 0 {
		l.Status, l.Issues = StatusUnprintable, check.Issues
	} else {
		l.Status = StatusValid
		if l.AutoSend {
			l.next = now.Add(s.cfg.Step)
		}
	}
	s.letters[l.ID] = l
	s.order = append(s.order, l.ID)
	delete(s.uploads, up.id) // a file makes one letter
	if key != "" {
		s.idem[key], s.idemFp[key] = l.ID, fp
	}
	cp := *l
	s.mu.Unlock()
	s.notify(cp)
	writeJSON(w, http.StatusCreated, map[string]any{"data": s.resource(&cp)})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// findUpload finds the upload a file URL names; the caller holds s.mu.
func (s *Sim) findUpload(fileURL string) *upload {
	u, err := url.Parse(fileURL)
	if err != nil {
		return nil
	}
	id, ok := strings.CutPrefix(u.Path, "/file-storage/")
	if !ok {
		return nil
	}
	return s.uploads[id]
}

// resource is the JSON:API resource object of a letter.
func (s *Sim) resource(l *Letter) map[string]any {
	attrs := map[string]any{
		"status": l.Status, "file_original_name": l.FileName, "file_pages": l.FilePages, "address": nil, "address_position": l.AddressPosition,
		"country": "DE", "delivery_product": l.DeliveryProduct, "print_mode": l.PrintMode, "print_spectrum": l.PrintSpectrum,
		"price_currency": "EUR", "price_value": 0.85 + 0.10*float64(max(l.FilePages-1, 0)), "paper_types": []string{"normal"},
		"fonts": []any{}, "source": "api", "tracking_number": nilIfEmpty(l.TrackingNumber),
		"submitted_at": nilIfZero(l.SubmittedAt), "created_at": l.CreatedAt.Format(time.RFC3339), "updated_at": l.UpdatedAt.Format(time.RFC3339),
	}
	res := map[string]any{"id": l.ID, "type": "letters", "attributes": attrs,
		"relationships": map[string]any{"organisation": map[string]any{"data": map[string]any{"id": l.Organisation, "type": "organisations"}}},
		"links":         map[string]any{"self": "/organisations/" + l.Organisation + "/letters/" + l.ID}}
	if len(l.Issues) > 0 {
		res["meta"] = map[string]any{"issues": l.Issues}
	}
	return res
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(time.RFC3339)
}

func (s *Sim) getLetter(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	l, ok := s.letters[r.PathValue("id")]
	var cp Letter
	if ok {
		cp = *l
	}
	s.mu.Unlock()
	if !ok {
		writeErrors(w, http.StatusNotFound, Error{Code: "not_found", Title: "Letter not found", Source: &ErrorSource{Parameter: "letterId"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"data": s.resource(&cp)})
}

// listLetters: newest first, page[number] and page[limit] (default 20, at most 100).
func (s *Sim) listLetters(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, number := 20, 1
	if v := q.Get("page[limit]"); v != "" {
		if _, err := fmt.Sscan(v, &limit); err != nil || limit < 1 || limit > 100 {
			writeErrors(w, http.StatusBadRequest, Error{Code: "invalid_parameter", Title: "Invalid parameter", Detail: "page[limit] must be 1..100", Source: &ErrorSource{Parameter: "page[limit]"}})
			return
		}
	}
	if v := q.Get("page[number]"); v != "" {
		if _, err := fmt.Sscan(v, &number); err != nil || number < 1 {
			writeErrors(w, http.StatusBadRequest, Error{Code: "invalid_parameter", Title: "Invalid parameter", Detail: "page[number] must be positive", Source: &ErrorSource{Parameter: "page[number]"}})
			return
		}
	}
	all := s.Letters()
	slices.Reverse(all)
	from := min((number-1)*limit, len(all))
	to := min(from+limit, len(all))
	data := make([]any, 0, to-from)
	for i := from; i < to; i++ {
		data = append(data, s.resource(&all[i]))
	}
	last := max(1, (len(all)+limit-1)/limit)
	writeJSON(w, http.StatusOK, map[string]any{"data": data, "meta": map[string]any{"current_page": number, "last_page": last, "per_page": limit, "total": len(all)}})
}

// createWebhook: POST /organisations/{org}/webhooks registers a URL for every
// event category.
func (s *Sim) createWebhook(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Data struct {
			Type       string `json:"type"`
			Attributes struct {
				EventCategory string `json:"event_category"`
				URL           string `json:"url"`
				SigningKey    string `json:"signing_key"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
		writeErrors(w, http.StatusBadRequest, Error{Code: "invalid_json", Title: "Malformed JSON", Detail: err.Error()})
		return
	}
	u, err := url.Parse(in.Data.Attributes.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		writeErrors(w, http.StatusUnprocessableEntity, invalid("/data/attributes/url", "must be an absolute http(s) URL"))
		return
	}
	hook := webhook{ID: newID(), URL: u.String(), SigningKey: in.Data.Attributes.SigningKey}
	s.mu.Lock()
	s.webhooks = append(s.webhooks, hook)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"data": map[string]any{"id": hook.ID, "type": "webhooks",
		"attributes": map[string]any{"event_category": or(in.Data.Attributes.EventCategory, "all"), "url": hook.URL}}})
}

// WebhookEvent is the body of a webhook call.
type WebhookEvent struct {
	Data struct {
		ID         string `json:"id"`
		Type       string `json:"type"` // webhook_issues, webhook_sent, webhook_undeliverable, webhook_status
		Attributes struct {
			Status    string    `json:"status"`
			Reason    string    `json:"reason,omitempty"`
			CreatedAt time.Time `json:"created_at"`
		} `json:"attributes"`
		Relationships struct {
			Letter struct {
				Data struct {
					ID   string `json:"id"`
					Type string `json:"type"`
				} `json:"data"`
			} `json:"letter"`
		} `json:"relationships"`
	} `json:"data"`
}

// notify posts a webhook for l's current status to every registered URL,
// in the background, retrying a few times.
func (s *Sim) notify(l Letter) {
	var ev WebhookEvent
	ev.Data.ID = newID()
	switch l.Status {
	case StatusUnprintable:
		ev.Data.Type = "webhook_issues"
	case StatusSent:
		ev.Data.Type = "webhook_sent"
	case StatusUndeliverable:
		ev.Data.Type = "webhook_undeliverable"
	default:
		ev.Data.Type = "webhook_status"
	}
	ev.Data.Attributes.Status = l.Status
	ev.Data.Attributes.Reason = strings.Join(l.Issues, "; ")
	ev.Data.Attributes.CreatedAt = l.UpdatedAt
	ev.Data.Relationships.Letter.Data.ID = l.ID
	ev.Data.Relationships.Letter.Data.Type = "letters"
	body, _ := json.Marshal(ev)
	s.mu.Lock()
	hooks := slices.Clone(s.webhooks)
	s.mu.Unlock()
	if len(hooks) == 0 || s.faults.Flag(FaultLoseWebhooks) {
		return
	}
	for _, h := range hooks {
		s.hookWG.Add(1)
		go func() {
			defer s.hookWG.Done()
			for attempt := range 3 {
				if s.post(h, body) {
					return
				}
				select {
				case <-s.stop:
					return
				case <-time.After(time.Duration(100<<attempt) * time.Millisecond):
				}
			}
			s.log.Warn("webhook not delivered", "url", h.URL, "letter", l.ID, "status", l.Status)
		}()
	}
}

func (s *Sim) post(h webhook, body []byte) bool {
	req, err := http.NewRequest(http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", JSONAPI)
	if h.SigningKey != "" {
		req.Header.Set("Signature", Sign(h.SigningKey, body))
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode/100 == 2
}
