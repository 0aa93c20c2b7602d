package waitingroom

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The pages are server-rendered HTML without inline script or inline style,
// so a strict Content-Security-Policy (script-src 'self') holds. The waiting
// page never reloads itself on a timer (no <meta http-equiv="refresh"),
// which would take the page away from a visitor who is still reading it
// (WCAG 2.2.1): it offers a "Jetzt prüfen / Check now" link (a plain GET of
// the same address, which works without JavaScript) and loads wait.js from
// ScriptPath, which polls the status endpoint at StatusPath, updates the
// position and estimate in an aria-live region and goes on to the booking
// page when it is the visitor's turn.
var pages = template.Must(template.New("wait").Parse(`<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.TitleDE}} – {{.TitleEN}}</title>
{{if .Waiting}}<script src="{{.ScriptURL}}" defer></script>{{end}}
</head>
<body>
<main{{if .Waiting}} id="waiting" data-status="{{.StatusURL}}" data-next="{{.Self}}" data-refresh="{{.Refresh}}" data-mode="{{.Mode}}" data-unknown-de="unbekannt" data-unknown-en="unknown"{{end}}>
<section>
<h1>{{.TitleDE}}</h1>
{{if .NoticeDE}}<p role="alert">{{.NoticeDE}}</p>{{end}}
{{if .Waiting}}
<div id="wait-status-de" aria-live="polite" aria-atomic="true">
<p data-block="paused"{{if ne .Mode "paused"}} hidden{{end}}>Die Terminbuchung ist gerade angehalten. Ihr Platz in der Warteschlange bleibt erhalten.</p>
{{if .ReleaseDE}}<p data-block="prerelease"{{if ne .Mode "prerelease"}} hidden{{end}}>Die Buchung öffnet am {{.ReleaseDE}}. Wer vorher kommt, erhält dann einen ausgelosten Platz: früher klicken bringt keinen Vorteil.</p>{{end}}
<p data-block="unknown"{{if ne .Mode "unknown"}} hidden{{end}}>Ihre Position wird gerade ermittelt.</p>
<div data-block="known"{{if ne .Mode "known"}} hidden{{end}}>
<p>Ihre Position: <strong id="position"{{if .Known}} data-position="{{.Position}}"{{end}}>{{.Position}}</strong></p>
<p>Geschätzte Wartezeit: <span id="wait-de">{{.WaitDE}}</span></p>
</div>
</div>
<p>Bitte lassen Sie diese Seite geöffnet. Mit JavaScript aktualisiert sich die Anzeige von selbst, und wenn Sie an der Reihe sind, geht es automatisch weiter; ohne JavaScript prüfen Sie Ihren Stand mit „Jetzt prüfen“. Telefonisch buchen Sie über die Hotline ohne Warteraum.</p>
<p><a id="check-now" href="{{.Self}}">Jetzt prüfen</a></p>
{{else}}<p><a href="/">Zur Startseite</a></p>{{end}}
</section>
<section lang="en">
<h2>{{.TitleEN}}</h2>
{{if .NoticeEN}}<p>{{.NoticeEN}}</p>{{end}}
{{if .Waiting}}
<div id="wait-status-en" aria-live="polite" aria-atomic="true">
<p data-block="paused"{{if ne .Mode "paused"}} hidden{{end}}>Booking is paused right now. You keep your place in the queue.</p>
{{if .ReleaseEN}}<p data-block="prerelease"{{if ne .Mode "prerelease"}} hidden{{end}}>Booking opens on {{.ReleaseEN}}. Everyone who arrives before then gets a place drawn at random: clicking early gains nothing.</p>{{end}}
<p data-block="unknown"{{if ne .Mode "unknown"}} hidden{{end}}>Your position is being worked out.</p>
<div data-block="known"{{if ne .Mode "known"}} hidden{{end}}>
<p>Your position: <strong id="position-en">{{.Position}}</strong></p>
<p>Estimated wait: <span id="wait-en">{{.WaitEN}}</span></p>
</div>
</div>
<p>Please keep this page open. With JavaScript it updates itself and takes you to booking when it is your turn; without JavaScript, check with “Check now”. The phone hotline books without a waiting room.</p>
<p><a id="check-now-en" href="{{.Self}}">Check now</a></p>
{{else}}<p><a href="/">Home page</a></p>{{end}}
</section>
</main>
</body>
</html>
`))

// StatusPath and ScriptPath are where the waiting page expects the room's
// Status and Script handlers: mount both there, outside the gate.
const (
	StatusPath = "/warteraum/status"
	ScriptPath = "/warteraum/wait.js"
)

//go:embed wait.js
var waitScript []byte

var waitScriptETag = func() string {
	sum := sha256.Sum256(waitScript)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}()

// Script serves wait.js, the waiting page's script (mount it at ScriptPath,
// outside the gate). The page works without it.
func (r *Room) Script() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("ETag", waitScriptETag)
		h.Set("X-Content-Type-Options", "nosniff")
		http.ServeContent(w, req, "wait.js", time.Time{}, bytes.NewReader(waitScript))
	})
}

type pageData struct {
	TitleDE, TitleEN     string
	NoticeDE, NoticeEN   string
	Waiting              bool
	Paused, PreRelease   bool
	Known                bool
	Position             int64
	WaitDE, WaitEN       string
	ReleaseDE, ReleaseEN string
	Refresh              int
	// Mode is the status block shown: paused, prerelease, unknown or known.
	Mode string
	// Self is the address the "check now" link and the script go back to;
	// StatusURL and ScriptURL are where the script and its JSON are.
	Self, StatusURL, ScriptURL string
}

var berlin = func() *time.Location {
	if l, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return l
	}
	return time.Local
}()

func (r *Room) refreshSeconds(v *view, pos int64, st rankStatus) int {
	full := int(r.cfg.Refresh / time.Second)
	switch {
	case st == rankPending && !v.releaseAt.IsZero():
		until := int(math.Ceil(time.Until(v.releaseAt.Add(r.cfg.FreezeGrace)).Seconds())) + 1
		return max(1, min(full, until))
	case st != rankKnown || v.paused:
		return full
	case pos <= 0:
		return 1
	}
	if est := v.estimate(pos); est >= 0 && est < r.cfg.Refresh {
		return max(1, int(est/time.Second))
	}
	return full
}

// waitPage shows a waiting visitor their position and estimated wait.
func (r *Room) waitPage(w http.ResponseWriter, req *http.Request, v *view, rank int64, st rankStatus, notice error) {
	pos := v.position(rank)
	d := pageData{
		TitleDE: "Sie sind im Warteraum", TitleEN: "You are in the waiting room",
		Waiting: true, Paused: v.paused, PreRelease: st == rankPending && !v.releaseAt.IsZero(), Known: st == rankKnown, Position: pos,
		Refresh: r.refreshSeconds(v, pos, st),
		Self:    req.URL.RequestURI(), StatusURL: StatusPath, ScriptURL: ScriptPath,
	}
	switch {
	case d.Paused:
		d.Mode = "paused"
	case d.PreRelease:
		d.Mode = "prerelease"
	case !d.Known:
		d.Mode = "unknown"
	default:
		d.Mode = "known"
	}
	if notice != nil {
		rf := refusalFor(notice)
		d.NoticeDE, d.NoticeEN = rf.German, rf.English
	}
	if est := v.estimate(pos); est >= 0 {
		d.WaitDE, d.WaitEN = waitText(est)
	} else {
		d.WaitDE, d.WaitEN = "unbekannt", "unknown"
	}
	if !v.releaseAt.IsZero() {
		t := v.releaseAt.In(berlin)
		d.ReleaseDE = t.Format("02.01.2006 um 15:04:05 Uhr")
		d.ReleaseEN = t.Format("2 Jan 2006 at 15:04:05 (Berlin time)")
	}
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(d.Refresh))
	status := http.StatusOK
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		status = http.StatusTooManyRequests // a form sent while waiting is not taken
	}
	r.render(w, status, d)
}

func waitText(d time.Duration) (string, string) {
	switch m := int(math.Ceil(d.Minutes())); {
	case d < time.Minute:
		return "weniger als eine Minute", "less than a minute"
	case m == 1:
		return "etwa 1 Minute", "about 1 minute"
	case m < 120:
		return fmt.Sprintf("etwa %d Minuten", m), fmt.Sprintf("about %d minutes", m)
	default:
		h := int(math.Round(d.Hours()))
		return fmt.Sprintf("etwa %d Stunden", h), fmt.Sprintf("about %d hours", h)
	}
}

// refuse shows why a request is not let through.
func (r *Room) refuse(w http.ResponseWriter, req *http.Request, err error) {
	rf := refusalFor(err)
	if rf.Status >= 500 {
		r.cfg.Log.Error("waiting room", "room", r.cfg.Room, "path", req.URL.Path, "err", err)
	} else {
		r.cfg.Log.Info("waiting room refused a ticket", "room", r.cfg.Room, "code", rf.Code, "err", err)
	}
	r.render(w, rf.Status, pageData{
		TitleDE: "Warteraum", TitleEN: "Waiting room",
		NoticeDE: rf.German, NoticeEN: rf.English,
	})
}

func (r *Room) render(w http.ResponseWriter, status int, d pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := pages.Execute(w, d); err != nil {
		r.cfg.Log.Warn("waiting room page", "err", err)
	}
}

// StatusReply is the JSON of the status endpoint.
type StatusReply struct {
	// State: "waiting", "called" (the next request to the booking flow
	// admits), "admitted", "none" (no ticket) or "refused".
	State                string     `json:"state"`
	Position             int64      `json:"position,omitempty"`
	EstimatedWaitSeconds *int64     `json:"estimated_wait_seconds,omitempty"`
	RefreshAfterSeconds  int        `json:"refresh_after_seconds,omitempty"`
	Paused               bool       `json:"paused,omitempty"`
	ReleaseAt            *time.Time `json:"release_at,omitempty"`
	Shuffling            bool       `json:"shuffling,omitempty"`
	Code                 string     `json:"code,omitempty"`
	// WaitDE and WaitEN are the estimated wait as the waiting page words it.
	WaitDE string `json:"wait_de,omitempty"`
	WaitEN string `json:"wait_en,omitempty"`
}

// Status is a read-only JSON endpoint for the waiting page (mount it outside
// the gate). It verifies the ticket and reads the replica's snapshot, so a
// position check costs no database round trip; it never admits anybody.
func (r *Room) Status() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rep, status := r.status(req)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		if err := json.NewEncoder(w).Encode(rep); err != nil {
			slog.Debug("waiting room status", "err", err)
		}
	})
}

func (r *Room) status(req *http.Request) (StatusReply, int) {
	sid := ""
	if r.cfg.SessionID != nil {
		sid, _ = r.cfg.SessionID(req)
	}
	if sid == "" {
		if c, err := req.Cookie(cookieSession); err == nil {
			sid = c.Value
		}
	}
	passValue, ticketValue := "", ""
	if c, err := req.Cookie(cookiePass); err == nil {
		passValue = c.Value
	}
	if c, err := req.Cookie(cookieTicket); err == nil {
		ticketValue = c.Value
	}
	return r.statusOf(sid, passValue, ticketValue)
}

// statusOf is the status of a session's admission and ticket ("" when it
// has none), from the snapshot.
func (r *Room) statusOf(sid, passValue, ticketValue string) (StatusReply, int) {
	if passValue != "" {
		if p, ok := r.sign.decodePass(passValue, sid); ok && r.cfg.Now().Before(p.expires) {
			return StatusReply{State: "admitted"}, http.StatusOK
		}
	}
	if ticketValue == "" {
		return StatusReply{State: "none"}, http.StatusOK
	}
	t, err := r.sign.decodeTicket(ticketValue, sid)
	if err != nil {
		rf := refusalFor(err)
		return StatusReply{State: "refused", Code: rf.Code}, rf.Status
	}
	v := r.view()
	rank, st := v.rankOf(t)
	if st == rankStale && t.issued.After(v.now) {
		st = rankPending
	}
	if st == rankStale || r.cfg.Now().Sub(t.issued) > r.cfg.TicketTTL {
		return StatusReply{State: "refused", Code: "ticket-expired"}, http.StatusOK
	}
	rep := StatusReply{State: "waiting", Paused: v.paused, Shuffling: st == rankPending}
	if !v.releaseAt.IsZero() {
		t := v.releaseAt
		rep.ReleaseAt = &t
	}
	if st == rankKnown {
		rep.Position = v.position(rank)
		if rep.Position == 0 {
			rep.State = "called"
		}
		if est := v.estimate(rep.Position); est >= 0 {
			s := int64(math.Ceil(est.Seconds()))
			rep.EstimatedWaitSeconds = &s
			rep.WaitDE, rep.WaitEN = waitText(est)
		}
	}
	rep.RefreshAfterSeconds = r.refreshSeconds(v, rep.Position, st)
	return rep, http.StatusOK
}
