package sms

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/vaxhub/vaxhub/simulators/faults"
)

// APIVersion is the version segment of every API path.
const APIVersion = "2010-04-01"

// Error is Twilio's error body.
type Error struct {
	Code     int    `json:"code"`
	Message  string `json:"message"`
	MoreInfo string `json:"more_info"`
	Status   int    `json:"status"`
}

func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, Error{Code: code, Message: msg, MoreInfo: fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code), Status: status})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Handler serves the Messages API and the admin endpoints (/_sim/health,
// /_sim/faults, /_sim/messages, /_sim/outcomes), all behind the shared fault
// injection.
func (s *Sim) Handler() http.Handler {
	mux := http.NewServeMux()
	base := "/" + APIVersion + "/Accounts/{account}"
	mux.HandleFunc("POST "+base+"/Messages.json", s.auth(s.create))
	mux.HandleFunc("GET "+base+"/Messages.json", s.auth(s.list))
	mux.HandleFunc("GET "+base+"/Messages/{sid}", s.auth(s.get))
	mux.HandleFunc("GET /_sim/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /_sim/messages", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"messages": s.Messages(r.URL.Query().Get("to"))})
	})
	mux.HandleFunc("GET /_sim/outcomes", s.serveOutcomes)
	mux.HandleFunc("POST /_sim/outcomes", s.serveOutcomes)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
	})
	return s.faults.Wrap(mux)
}

// serveOutcomes: GET lists configured outcomes; POST merges
// {"+4915...":"undelivered"} ("delivered" removes one).
func (s *Sim) serveOutcomes(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		var in map[string]string
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object of number to outcome: " + err.Error()})
			return
		}
		for n, o := range in {
			if err := checkOutcome(n, o); err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
		}
		for n, o := range in {
			_ = s.SetOutcome(n, o)
		}
	}
	s.mu.Lock()
	out := map[string]string{}
	for n, o := range s.outcomes {
		out[n] = o
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"outcomes": out})
}

// auth checks Basic auth (account SID, auth token) and that the path names
// the same account.
func (s *Sim) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.cfg.AccountSID)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.cfg.AuthToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
			writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
			return
		}
		if r.PathValue("account") != s.cfg.AccountSID {
			writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
			return
		}
		h(w, r)
	}
}

var (
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	alphanumeric = regexp.MustCompile(`^[A-Za-z0-9 ]{1,11}$`)
	hasLetter    = regexp.MustCompile(`[A-Za-z]`)
)

func isE164(s string) bool { return e164.MatchString(s) }

// validSender: an E.164 number or an alphanumeric sender ID (1..11 letters,
// digits and spaces, at least one letter).
func validSender(s string) bool {
	return isE164(s) || (alphanumeric.MatchString(s) && hasLetter.MatchString(s))
}

// create: POST .../Messages.json, form-encoded To, From or
// MessagingServiceSid, Body, optional StatusCallback.
func (s *Sim) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, 20001, "Unable to parse request: "+err.Error())
		return
	}
	f := r.PostForm
	to, from, svc, body, cb := f.Get("To"), f.Get("From"), f.Get("MessagingServiceSid"), f.Get("Body"), f.Get("StatusCallback")
	switch {
	case to == "":
		writeError(w, http.StatusBadRequest, 21604, "A 'To' phone number is required.")
		return
	case !isE164(to):
		writeError(w, http.StatusBadRequest, 21211, fmt.Sprintf("Invalid 'To' Phone Number: %s", to))
		return
	case from == "" && svc == "":
		writeError(w, http.StatusBadRequest, 21603, "A 'From' phone number is required.")
		return
	case from != "" && !validSender(from):
		writeError(w, http.StatusBadRequest, 21212, fmt.Sprintf("The 'From' number %s is not a valid phone number, shortcode, or alphanumeric sender ID.", from))
		return
	case svc != "" && svc != s.cfg.MessagingService:
		writeError(w, http.StatusBadRequest, 21701, fmt.Sprintf("The Messaging Service Sid %s is invalid.", svc))
		return
	case body == "":
		writeError(w, http.StatusBadRequest, 21602, "Message body is required.")
		return
	case utf8.RuneCountInString(body) > MaxBodyChars:
		writeError(w, http.StatusBadRequest, 21617, "The concatenated message body exceeds the 1600 character limit.")
		return
	}
	if cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			writeError(w, http.StatusBadRequest, 21609, "Invalid StatusCallback url: "+cb)
			return
		}
	}
	now := time.Now()
	if ok, wait := s.allow(now); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(wait))
		writeError(w, http.StatusTooManyRequests, 20429, "Too Many Requests")
		return
	}
	m := &Message{SID: newSID(), AccountSID: s.cfg.AccountSID, To: to, From: from, MessagingServiceSID: svc, Body: body,
		Segments: segments(body), Status: StatusQueued, StatusCallback: cb, Created: now.UTC(), Updated: now.UTC(), next: now.Add(s.cfg.Step)}
	if svc != "" {
		m.Status = StatusAccepted
		if m.From == "" {
			m.From = s.cfg.ServiceSender
		}
	}
	s.mu.Lock()
	m.outcome = s.outcomes[to]
	s.messages[m.SID] = m
	s.order = append(s.order, m.SID)
	cp := *m
	s.mu.Unlock()
	s.log.Info("message accepted", "sid", m.SID, "segments", m.Segments)

	if s.faults.Flag(FaultDropAnswer) && faults.ResetConnection(w) {
		return
	}
	writeJSON(w, http.StatusCreated, resource(cp))
}

// get: GET .../Messages/{Sid}.json
func (s *Sim) get(w http.ResponseWriter, r *http.Request) {
	sid, ok := strings.CutSuffix(r.PathValue("sid"), ".json")
	s.mu.Lock()
	m, found := s.messages[sid]
	var cp Message
	if found {
		cp = *m
	}
	s.mu.Unlock()
	if !ok || !found {
		writeError(w, http.StatusNotFound, 20404, "The requested resource "+r.URL.Path+" was not found")
		return
	}
	writeJSON(w, http.StatusOK, resource(cp))
}

// list: GET .../Messages.json with To, From, DateSent (YYYY-MM-DD; also
// DateSent< and DateSent>, inclusive, as Twilio reads them), PageSize, Page.
// A message not yet sent is matched on its creation date.
func (s *Sim) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var on, after, before time.Time
	for key, dst := range map[string]*time.Time{"DateSent": &on, "DateSent>": &after, "DateSent<": &before} {
		if v := q.Get(key); v != "" {
			d, err := time.Parse(time.DateOnly, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, 20001, fmt.Sprintf("Invalid %s: %s (use YYYY-MM-DD)", key, v))
				return
			}
			*dst = d
		}
	}
	size, page := 50, 0
	if v := q.Get("PageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, 20001, "PageSize must be 1..1000")
			return
		}
		size = n
	}
	if v := q.Get("Page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, 20001, "Page must be a non-negative integer")
			return
		}
		page = n
	}
	var match []Message
	for _, m := range s.Messages(q.Get("To")) {
		if from := q.Get("From"); from != "" && m.From != from {
			continue
		}
		day := m.Sent
		if day.IsZero() {
			day = m.Created
		}
		day = day.Truncate(24 * time.Hour)
		if (!on.IsZero() && !day.Equal(on)) || (!after.IsZero() && day.Before(after)) || (!before.IsZero() && day.After(before)) {
			continue
		}
		match = append(match, m)
	}
	// Twilio lists newest first.
	for i, j := 0, len(match)-1; i < j; i, j = i+1, j-1 {
		match[i], match[j] = match[j], match[i]
	}
	start := len(match)
	if page <= len(match)/size { // page*size cannot overflow
		start = page * size
	}
	end := min(start+size, len(match))
	out := make([]map[string]any, 0, end-start)
	for _, m := range match[start:end] {
		out = append(out, resource(m))
	}
	pageURI := func(p int) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("PageSize", strconv.Itoa(size))
		v.Set("Page", strconv.Itoa(p))
		return r.URL.Path + "?" + v.Encode()
	}
	var next, prev any
	if end < len(match) {
		next = pageURI(page + 1)
	}
	if page > 0 {
		prev = pageURI(page - 1)
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out, "page": page, "page_size": size, "start": start, "end": max(end-1, start),
		"uri": r.URL.RequestURI(), "first_page_uri": pageURI(0), "next_page_uri": next, "previous_page_uri": prev})
}

// rfc2822 is how Twilio writes dates.
const rfc2822 = "Mon, 02 Jan 2006 15:04:05 -0700"

// resource is a message in Twilio's JSON shape.
func resource(m Message) map[string]any {
	uri := "/" + APIVersion + "/Accounts/" + m.AccountSID + "/Messages/" + m.SID
	var sent, code, msg, svc any
	if !m.Sent.IsZero() {
		sent = m.Sent.Format(rfc2822)
	}
	if m.ErrorCode != 0 {
		code, msg = m.ErrorCode, m.ErrorMessage
	}
	if m.MessagingServiceSID != "" {
		svc = m.MessagingServiceSID
	}
	return map[string]any{
		"account_sid": m.AccountSID, "api_version": APIVersion, "body": m.Body,
		"date_created": m.Created.Format(rfc2822), "date_updated": m.Updated.Format(rfc2822), "date_sent": sent,
		"direction": "outbound-api", "error_code": code, "error_message": msg, "from": m.From, "to": m.To,
		"messaging_service_sid": svc, "num_media": "0", "num_segments": strconv.Itoa(m.Segments),
		"price": nil, "price_unit": "EUR", "sid": m.SID, "status": m.Status,
		"subresource_uris": map[string]string{"media": uri + "/Media.json"}, "uri": uri + ".json",
	}
}

// gsm7 holds the characters of the GSM 03.38 basic set (the extension
// characters count twice).
const gsm7 = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
const gsm7ext = "^{}\\[~]|€\f"

// segments counts the SMS segments of body: GSM-7 160 characters alone or
// 153 per part, otherwise UCS-2 70 alone or 67 per part.
func segments(body string) int {
	n, gsm := 0, true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsm7, r):
			n++
		case strings.ContainsRune(gsm7ext, r):
			n += 2
		default:
			gsm = false
		}
	}
	single, part := 160, 153
	if !gsm {
		n = 0
		for _, r := range body {
			n += utf16.RuneLen(r)
		}
		single, part = 70, 67
	}
	if n <= single {
		return 1
	}
	return int(math.Ceil(float64(n) / float64(part)))
}
