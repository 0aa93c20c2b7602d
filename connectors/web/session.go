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
	"strings"
	"time"
)

const (
	cookieSession = "vh_session"
	cookieLang    = "vh_lang"
	fieldCSRF     = "csrf"
)

// session is the browser's state. It lives only in an encrypted, HttpOnly,
// SameSite=Strict cookie: the resident's access token never reaches a page
// or a script. Issued and Expires bound its life (Config.SessionIdleTimeout,
// Config.SessionAbsoluteTimeout); a signed-in session is also checked
// against the revocation list on every request (see revocations).
type session struct {
	ID         string `json:"s"`           // random browser session ID (waiting room, CSRF, rate limit, revocation); new on every sign-in
	Issued     int64  `json:"i"`           // Unix seconds when ID was issued (absolute timeout)
	Expires    int64  `json:"x"`           // Unix seconds after which the session is idle-expired; slides on use
	ResidentID string `json:"r,omitempty"` // signed-in resident
	Token      string `json:"t,omitempty"` // the resident's access token (books)
	Reference  string `json:"a,omitempty"` // the resident's appointment series
	Waitlist   string `json:"w,omitempty"` // centre of a waitlist entry
	ProxyID    string `json:"p,omitempty"` // signed-in proxy (relative) managing ResidentID and others
	ProxyToken string `json:"q,omitempty"` // the proxy's access token (registers, switches, books)
}

// signedIn reports whether the session grants access to someone's data.
func (s *session) signedIn() bool { return s.ResidentID != "" || s.Reference != "" || s.ProxyID != "" }

type sessionKey struct{}

// sessionEndedKey marks a request whose signed-in session was refused
// (expired or signed out elsewhere): the account page says so.
type sessionEndedKey struct{}

// sessionFrom returns the request's session (set by the session middleware).
func sessionFrom(ctx context.Context) *session {
	s, _ := ctx.Value(sessionKey{}).(*session)
	if s == nil {
		return &session{}
	}
	return s
}

// sessionEnded reports whether the request came with a signed-in session
// that has expired or was signed out.
func sessionEnded(ctx context.Context) bool {
	ended, _ := ctx.Value(sessionEndedKey{}).(bool)
	return ended
}

// sessions seals and opens session cookies (AES-256-GCM), derives the CSRF
// token from the session ID (HMAC-SHA256), enforces the idle and absolute
// timeouts and asks the revocation list about signed-in sessions.
type sessions struct {
	aead     cipher.AEAD
	csrfKey  []byte
	secure   bool
	now      func() time.Time
	idle     time.Duration
	absolute time.Duration
	revoked  *revocations
}

func newSessions(secret []byte, secure bool, now func() time.Time, idle, absolute time.Duration, revoked *revocations) (*sessions, error) {
	key := derive(secret, "vaxhub web session")
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sessions{aead: aead, csrfKey: derive(secret, "vaxhub web csrf"), secure: secure, now: now,
		idle: idle, absolute: absolute, revoked: revoked}, nil
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

// fresh is a new anonymous session issued now.
func (ss *sessions) fresh(now time.Time) *session {
	s := &session{}
	ss.issue(s, now)
	return s
}

// issue gives s a new ID, issued now, with a full idle period.
func (ss *sessions) issue(s *session, now time.Time) {
	s.ID = randomID()
	s.Issued = now.Unix()
	s.Expires = 0
	ss.slide(s, now)
}

// slide moves the idle expiry to now + idle, never past the absolute one.
func (ss *sessions) slide(s *session, now time.Time) {
	s.Expires = min(now.Add(ss.idle).Unix(), ss.absoluteEnd(s).Unix())
}

// absoluteEnd is when s expires however much it is used.
func (ss *sessions) absoluteEnd(s *session) time.Time {
	return time.Unix(s.Issued, 0).Add(ss.absolute)
}

// live reports whether s is within both timeouts at now.
func (ss *sessions) live(s *session, now time.Time) bool {
	return s.Issued > 0 && now.Unix() < s.Expires && now.Before(ss.absoluteEnd(s)) &&
		time.Unix(s.Issued, 0).Before(now.Add(time.Minute)) // not issued in the future (a clock set back)
}

// open reads the session cookie. It returns nil when there is none or it
// does not open; ok is false for a cookie that opened but has expired.
func (ss *sessions) open(r *http.Request, now time.Time) (s *session, ok bool) {
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
	s = &session{}
	if json.Unmarshal(plain, s) != nil || len(s.ID) < 16 {
		return nil, false
	}
	return s, ss.live(s, now)
}

// save writes s into the session cookie, replacing one set earlier in the
// same response. A session without an issue time is issued now.
func (ss *sessions) save(w http.ResponseWriter, r *http.Request, s *session) {
	if s.Issued == 0 {
		ss.issue(s, ss.now())
	}
	plain, _ := json.Marshal(s)
	nonce := make([]byte, ss.aead.NonceSize())
	_, _ = rand.Read(nonce)
	sealed := ss.aead.Seal(nonce, nonce, plain, []byte(cookieSession))
	h := w.Header()
	if set := h.Values("Set-Cookie"); len(set) > 0 {
		kept := set[:0:0]
		for _, v := range set {
			if !strings.HasPrefix(v, cookieSession+"=") {
				kept = append(kept, v)
			}
		}
		h["Set-Cookie"] = kept
	}
	http.SetCookie(w, &http.Cookie{Name: cookieSession, Value: base64.RawURLEncoding.EncodeToString(sealed), Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: ss.secure || r.TLS != nil})
}

// refreshEvery is how stale the sliding expiry may get before the cookie is
// sealed again: not on every request, at most once a minute.
func (ss *sessions) refreshEvery() time.Duration { return min(time.Minute, ss.idle/10) }

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

// withSession makes sure every request has a live session in its context:
// a missing, unreadable, expired or revoked one is replaced by a new
// anonymous session. A signed-in session costs one indexed look-up in the
// revocation list (not for /static/); a live one has its idle expiry moved
// on at most once a minute.
func (p *portal) withSession(next http.Handler) http.Handler {
	ss := p.sessions
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := ss.now()
		s, live := ss.open(r, now)
		ended := s != nil && s.signedIn() && !live
		if live && s.signedIn() && !strings.HasPrefix(r.URL.Path, "/static/") {
			revoked, err := ss.revoked.revoked(r.Context(), s.ID)
			if err != nil {
				p.log.ErrorContext(r.Context(), "web: session check", "err", err)
				p.blockedPage(w, r, "unavailable", http.StatusServiceUnavailable)
				return
			}
			if revoked {
				live, ended = false, true
			}
		}
		switch {
		case !live:
			s = ss.fresh(now)
			ss.save(w, r, s)
		case s.Expires < min(now.Add(ss.idle-ss.refreshEvery()).Unix(), ss.absoluteEnd(s).Unix()):
			ss.slide(s, now)
			ss.save(w, r, s)
		}
		ctx := context.WithValue(r.Context(), sessionKey{}, s)
		if ended {
			ctx = context.WithValue(ctx, sessionEndedKey{}, true)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// signIn stores s, which grants access to a resident or a proxy, under a new
// session ID (and so a new CSRF token), issued now: a sign-in never keeps an
// ID that a page, a script or another person may have seen before. A
// signed-in session it replaces is revoked, so that no copy of it outlives
// the sign-out of the new one. It reports false after answering with an
// error page.
func (p *portal) signIn(w http.ResponseWriter, r *http.Request, s *session) bool {
	now := p.sessions.now()
	if old := sessionFrom(r.Context()); old.signedIn() && old.ID != "" {
		if err := p.sessions.revoked.revoke(r.Context(), old.ID, p.sessions.absoluteEnd(old), now); err != nil {
			p.log.ErrorContext(r.Context(), "web: sign-in: revoke the previous session", "err", err)
			p.blockedPage(w, r, "unavailable", http.StatusServiceUnavailable)
			return false
		}
	}
	p.sessions.issue(s, now)
	p.sessions.save(w, r, s)
	return true
}

// signOut ends the session everywhere: its ID goes on the revocation list
// (until its absolute expiry), so that a copy of the cookie opens nothing,
// and the browser gets a new anonymous session.
func (p *portal) signOut(w http.ResponseWriter, r *http.Request) {
	if p.cfg.Room != nil {
		_ = p.cfg.Room.EndSession(w, r)
	}
	now := p.sessions.now()
	old := sessionFrom(r.Context())
	var err error
	if old.signedIn() {
		err = p.sessions.revoked.revoke(r.Context(), old.ID, p.sessions.absoluteEnd(old), now)
	}
	s := p.sessions.fresh(now)
	p.sessions.save(w, r, s)
	if err != nil {
		p.log.ErrorContext(r.Context(), "web: sign-out: revoke the session", "err", err)
		p.blockedPage(w, r.WithContext(context.WithValue(r.Context(), sessionKey{}, s)), "unavailable", http.StatusServiceUnavailable)
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
