package web

import (
	"net/http"
	"testing"
	"time"
)

// signInAndOut registers a resident through the form and signs out.
func signInAndOut(t *testing.T, e *portalEnv) {
	t.Helper()
	c := e.client(t)
	c.get("/registrieren")
	c.post("/registrieren", zoe()).mustStatus(t, http.StatusOK).mustContain(t, "Zoë Renée")
	c.post("/abmelden", nil).mustStatus(t, http.StatusOK)
}

func TestSignOutPrunesRevocationsPastTheirAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, nil)
	count := func() int { return e.hub.Count(t, `SELECT count(*) FROM web_session_revocations`) }
	signInAndOut(t, e)
	signInAndOut(t, e)
	if n := count(); n != 2 {
		t.Fatalf("%d revoked sessions after two sign-outs, want 2", n)
	}
	// Within the absolute timeout the entries stay: their cookies would
	// still be live.
	e.hub.Clock.Advance(11 * time.Hour)
	signInAndOut(t, e)
	if n := count(); n != 3 {
		t.Fatalf("%d revoked sessions, want 3 (none past its absolute expiry yet)", n)
	}
	// Past it, the next sign-out deletes them.
	e.hub.Clock.Advance(time.Hour + time.Minute)
	signInAndOut(t, e)
	if n := count(); n != 2 {
		t.Fatalf("%d revoked sessions, want 2 (the two past their absolute expiry pruned)", n)
	}
}

func TestSessionCookieIsResealedAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 40, nil)
	c := e.client(t)
	c.get("/registrieren")
	c.post("/registrieren", zoe()).mustStatus(t, http.StatusOK)
	resealed := func() bool {
		t.Helper()
		p := c.get("/konto").mustStatus(t, http.StatusOK).mustContain(t, "Zoë Renée")
		for _, v := range p.header.Values("Set-Cookie") {
			if len(v) > len(cookieSession) && v[:len(cookieSession)+1] == cookieSession+"=" {
				return true
			}
		}
		return false
	}
	if resealed() {
		t.Fatal("the session cookie is sealed again on a request right after sign-in")
	}
	e.hub.Clock.Advance(61 * time.Second)
	if !resealed() {
		t.Fatal("the idle expiry did not slide after a minute")
	}
	if resealed() {
		t.Fatal("the session cookie is sealed again right after sliding")
	}
}
