package web

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
)

const (
	cookieSession = "vh_session"
	cookieLang    = "vh_lang"
	fieldCSRF     = "csrf"
)

// session is the browser's state. It lives only in an encrypted, HttpOnly,
// SameSite=Strict cookie: the resident's access token never reaches a page
// or a script.
type session struct {
	ID         string `json:"s"`           // random browser session ID (waiting room, CSRF, rate limit)
	ResidentID string `json:"r,omitempty"` // signed-in resident
	Token      string `json:"t,omitempty"` // the resident's access token (books)
	Reference  string `json:"a,omitempty"` // the resident's appointment series
	Waitlist   string `json:"w,omitempty"` // centre of a waitlist entry
	ProxyID    string `json:"p,omitempty"` // signed-in proxy (relative) managing ResidentID and others
	ProxyToken string `json:"q,omitempty"` // the proxy's access token (registers, switches, books)
}

type sessionKey struct{}

// sessionFrom returns the request's session (set by the session middleware).
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	if s == nil {
		return &session{}
	}
	return s
}

// sessions seals and opens session cookies (AES-256-GCM) and derives the
// CSRF token from the session ID (HMAC-SHA256).
type sessions struct {
	aead    cipher.AEAD
	csrfKey []byte
	secure  bool
}

func newSessions(secret []byte, secure bool) (*sessions, error) {
	key := derive(secret, "vaxhub web session")
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sessions{aead: aead, csrfKey: derive(secret, "vaxhub web csrf"), secure: secure}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

func randomID() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (ss *sessions) open(r *http.Request) (*session, bool) {
	c, err := r.Cookie(cookieSession)
	if err != nil {
		return nil, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	ns := ss.aead.NonceSize()
	if err != nil || len(raw) < ns {
		return nil, false
	}
	plain, err := ss.aead.Open(nil, raw[:ns], raw[ns:], []byte(cookieSession))
	if err != nil {
		return nil, false
	}
	var s session
	if json.Unmarshal(plain, &s) != nil || len(s.ID) < 16 {
		return nil, false
	}
	return &s, true
}

// save writes s into the session cookie.
func (ss *sessions) save(w http.ResponseWriter, r *http.Request, s *session) {
	plain, _ := json.Marshal(s)
	nonce := make([]byte, ss.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := ss.aead.Seal(nonce, nonce, plain, []byte(cookieSession))
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ss.secure || r.TLS != nil})
}

// middleware makes sure every request has a session, in its context.
func (ss *sessions) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, ok := ss.open(r)
		if !ok {
			s = &session{ID: randomID()}
			ss.save(w, r, s)
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)))
	})
}

// csrfToken is the form token bound to the session: HMAC(session ID).
func (ss *sessions) csrfToken(s *session) string {
	m := hmac.New(sha256.New, ss.csrfKey)
	m.Write([]byte(s.ID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfOK checks the token of a state-changing request.
func (ss *sessions) csrfOK(r *http.Request, s *session) bool {
	got := r.PostFormValue(fieldCSRF)
	want := ss.csrfToken(s)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// SessionID returns the portal's browser session ID of a request that runs
// through the portal. Give it to waitingroom.Config.SessionID so that
// waiting-room tickets and passes are bound to the portal's session.
func SessionID(r *http.Request) (string, bool) {
	s, _ := r.Context().Value(sessionKey{}).(*session)
	if s == nil || s.ID == "" {
		return "", false
	}
	return s.ID, true
}
