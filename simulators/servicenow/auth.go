package servicenow

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// token is an OAuth access or refresh token.
type token struct {
	user    string
	expires time.Time // real time
	refresh bool
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// authenticate checks Basic auth or a Bearer access token and returns the
// user.
func (s *Simulator) authenticate(r *http.Request) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u, p, ok := r.BasicAuth(); ok {
		want, known := s.users[u]
		return u, known && equal(p, want)
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		t := s.tokens[strings.TrimSpace(tok)]
		if t == nil || t.refresh || !s.cfg.Now().Before(t.expires) {
			return "", false
		}
		return t.user, true
	}
	return "", false
}

// serveToken answers POST /oauth_token.do (form-encoded) with the grants
// password, client_credentials and refresh_token.
func (s *Simulator) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if id, sec, ok := r.BasicAuth(); ok && clientID == "" {
		clientID, secret = id, sec
	}
	// The real instance answers a failed grant with 401 and
	// {"error_description":"access_denied","error":"server_error"}.
	if !equal(clientID, s.cfg.ClientID) || !equal(secret, s.cfg.ClientSecret) {
		oauthError(w, http.StatusUnauthorized, "server_error", "access_denied")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var user string
	switch f.Get("grant_type") {
	case "password":
		u, p := f.Get("username"), f.Get("password")
		want, known := s.users[u]
		if !known || !equal(p, want) {
			oauthError(w, http.StatusUnauthorized, "server_error", "access_denied")
			return
		}
		user = u
	case "client_credentials":
		user = s.cfg.User
	case "refresh_token":
		t := s.tokens[f.Get("refresh_token")]
		if t == nil || !t.refresh || !s.cfg.Now().Before(t.expires) {
			oauthError(w, http.StatusUnauthorized, "server_error", "access_denied")
			return
		}
		user = t.user
	default:
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not supported", f.Get("grant_type")))
		return
	}
	now := s.cfg.Now()
	s.expireTokens(now)
	access, refresh := randomToken(), randomToken()
	s.tokens[access] = &token{user: user, expires: now.Add(s.cfg.TokenTTL)}
	s.tokens[refresh] = &token{user: user, expires: now.Add(100 * s.cfg.TokenTTL), refresh: true}
	b, _ := json.Marshal(map[string]any{
		"access_token": access, "refresh_token": refresh, "scope": "useraccount",
		"token_type": "Bearer", "expires_in": int(s.cfg.TokenTTL / time.Second),
	})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, b)
}

// expireTokens forgets tokens that have expired. The caller holds s.mu.
func (s *Simulator) expireTokens(now time.Time) {
	for k, t := range s.tokens {
		if !now.Before(t.expires) {
			delete(s.tokens, k)
		}
	}
}

func oauthError(w http.ResponseWriter, status int, code, description string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": description})
	writeJSON(w, status, b)
}

// rateLimits counts Table API requests per user in fixed windows of real
// time, like the per-user rules of sys_rate_limit_rules.
type rateLimits struct {
	limit  int
	users  map[string]int
	window time.Duration
	counts map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// rateRule is the sys_id shown in X-RateLimit-Rule.
var rateRule = stableSysID("sys_rate_limit_rules", "vaxhub-sim")

func (l *rateLimits) limitFor(user string) int {
	if n, ok := l.users[user]; ok {
		return n
	}
	return l.limit
}

// admit counts one request of user and answers 429 when the user's limit
// for the current window is used up. Every counted request carries the
// X-RateLimit-* headers.
func (s *Simulator) admit(w http.ResponseWriter, user string) bool {
	s.mu.Lock()
	l := &s.limits
	limit := l.limitFor(user)
	if limit <= 0 {
		s.mu.Unlock()
		return true
	}
	now := s.cfg.Now()
	win := l.counts[user]
	if win == nil || !now.Before(win.start.Add(l.window)) {
		win = &window{start: now}
		l.counts[user] = win
	}
	reset := win.start.Add(l.window)
	allowed := win.n < limit
	if allowed {
		win.n++
	}
	remaining := limit - win.n
	length := l.window
	s.mu.Unlock()

	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Rule", rateRule)
	if !allowed {
		secs := int((reset.Sub(now) + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(max(secs, 1)))
		writeFailure(w, http.StatusTooManyRequests, "Rate limit exceeded",
			fmt.Sprintf("User %s has made more than %d requests in %s; try again after %s", user, limit, length, reset.UTC().Format(time.RFC1123)))
	}
	return allowed
}
