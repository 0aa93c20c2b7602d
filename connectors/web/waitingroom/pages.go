package waitingroom

import (
	"encoding/json"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// The pages are plain server-rendered HTML: they refresh themselves with
// <meta http-equiv="refresh"> and carry no script and no inline style, so a
// strict Content-Security-Policy (default-src 'self') holds.
var pages = template.Must(template.New("wait").Parse(`<!doctype html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>{{.TitleDE}} – {{.TitleEN}}</title>
</head>
<body>
<main>
<section>
<h1>{{.TitleDE}}</h1>
{{if .NoticeDE}}<p role="alert">{{.NoticeDE}}</p>{{end}}
{{if .Waiting}}
{{if .Paused}}<p>Die Terminbuchung ist gerade angehalten. Ihr Platz in der Warteschlange bleibt erhalten.</p>
{{else if .PreRelease}}<p>Die Buchung öffnet am {{.ReleaseDE}}. Wer vorher kommt, erhält dann einen ausgelosten Platz: früher klicken bringt keinen Vorteil.</p>
{{else if not .Known}}<p>Ihre Position wird gerade ermittelt.</p>
{{else}}<p>Ihre Position: <strong id="position" data-position="{{.Position}}">{{.Position}}</strong></p>
<p>Geschätzte Wartezeit: {{.WaitDE}}</p>{{end}}
<p>Diese Seite aktualisiert sich alle {{.Refresh}} Sekunden von selbst. Bitte lassen Sie sie geöffnet; wenn Sie an der Reihe sind, geht es automatisch weiter. Telefonisch buchen Sie über die Hotline ohne Warteraum.</p>
{{else}}<p><a href="/">Zur Startseite</a></p>{{end}}
</section>
<section lang="en">
<h2>{{.TitleEN}}</h2>
{{if .NoticeEN}}<p>{{.NoticeEN}}</p>{{end}}
{{if .Waiting}}
{{if .Paused}}<p>Booking is paused right now. You keep your place in the queue.</p>
{{else if .PreRelease}}<p>Booking opens on {{.ReleaseEN}}. Everyone who arrives before then gets a place drawn at random: clicking early gains nothing.</p>
{{else if not .Known}}<p>Your position is being worked out.</p>
{{else}}<p>Your position: <strong>{{.Position}}</strong></p>
<p>Estimated wait: {{.WaitEN}}</p>{{end}}
<p>This page refreshes itself every {{.Refresh}} seconds. Please keep it open; when it is your turn you will be taken to booking automatically. The phone hotline books without a waiting room.</p>
{{else}}<p><a href="/">Home page</a></p>{{end}}
</section>
</main>
</body>
</html>
`))

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
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; style-src 'self'; frame-ancestors 'none'")
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
	if c, err := req.Cookie(cookiePass); err == nil {
		if p, ok := r.sign.decodePass(c.Value, sid); ok && r.cfg.Now().Before(p.expires) {
			return StatusReply{State: "admitted"}, http.StatusOK
		}
	}
	c, err := req.Cookie(cookieTicket)
	if err != nil {
		return StatusReply{State: "none"}, http.StatusOK
	}
	t, err := r.sign.decodeTicket(c.Value, sid)
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
		}
	}
	rep.RefreshAfterSeconds = r.refreshSeconds(v, rep.Position, st)
	return rep, http.StatusOK
}
