package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/internal/hubtest"
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

// BenchmarkSignedInSessionCheck is what every signed-in request pays for
// its session: open the sealed cookie and check both timeouts (what it paid
// before issue 12, less the timeouts), then also look the ID up in the
// revocation list (one primary-key look-up in PostgreSQL).
func BenchmarkSignedInSessionCheck(b *testing.B) {
	h := hubtest.New(b, julyMorning(b))
	ss, err := newSessions(testSecret, false, h.App.Now, 30*time.Minute, 12*time.Hour, &revocations{pool: h.Pool})
	if err != nil {
		b.Fatal(err)
	}
	// A list of realistic size: 10,000 signed-out sessions.
	if _, err := h.Pool.Exec(b.Context(), `INSERT INTO web_session_revocations (id_hash, revoked_at, keep_until)
		SELECT sha256(g::text::bytea), now(), now() + interval '12 hours' FROM generate_series(1, 10000) g`); err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	ss.save(rec, httptest.NewRequest(http.MethodGet, "/", nil), &session{ResidentID: "r1", Token: "t"})
	req := httptest.NewRequest(http.MethodGet, "/konto", nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	b.Run("cookie only", func(b *testing.B) {
		for b.Loop() {
			if s, live := ss.open(req, h.App.Now()); !live || !s.signedIn() {
				b.Fatal("session not live")
			}
		}
	})
	b.Run("cookie and revocation list", func(b *testing.B) {
		for b.Loop() {
			s, live := ss.open(req, h.App.Now())
			if !live || !s.signedIn() {
				b.Fatal("session not live")
			}
			if revoked, err := ss.revoked.revoked(b.Context(), s.ID); err != nil || revoked {
				b.Fatalf("revoked %v, %v", revoked, err)
			}
		}
	})
}
