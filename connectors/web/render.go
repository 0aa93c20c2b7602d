package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/vaxhub/vaxhub/core/domain"
)

// pageSet holds one template per page, each with the shared layout.
type pageSet struct{ m map[string]*template.Template }

var pageNames = []string{"home", "register", "account", "centres", "choose", "slots", "done", "find", "blocked", "notfound", "dashboard", "denied"}

func loadPages() (*pageSet, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout: %w", err)
	}
	ps := &pageSet{m: map[string]*template.Template{}}
	for _, n := range pageNames {
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, "templates/"+n+".html")
		if err != nil {
			return nil, fmt.Errorf("web: page %s: %w", n, err)
		}
		ps.m[n] = t
	}
	return ps, nil
}

var funcs = template.FuncMap{
	"field": func(v *view, name, label, auto, mode string, req bool) fieldArgs {
		return fieldArgs{V: v, Name: name, Label: label, Auto: auto, Mode: mode, Req: req}
	},
	"sexes":          func() []string { return []string{"f", "m", "d", "x"} },
	"notifyChannels": func() []string { return []string{"post", "sms", "email"} },
}

// fieldArgs are the arguments of the "input" partial.
type fieldArgs struct {
	V                       *view
	Name, Label, Auto, Mode string
	Req                     bool
}

// view is what every page template gets.
type view struct {
	Page     string
	L        lang
	CSRF     string
	Path     string
	SignedIn bool
	Notice   string
	Error    string
	Reason   string // blocked pages

	Form      map[string]string
	Errs      map[string]string
	Checked   map[string]bool
	Resident  *domain.Resident
	Verify    string
	VerifyWhy string
	Ent       *entitlementView
	Appt      *apptView
	Centres   []nearbyCentre
	Postal    string
	Unknown   bool
	Centre    *domain.Centre
	Product   string
	Products  []string
	Days      []dayLink
	Day       string
	DayLabel  string
	Slots     []slotOption
	SlotDays  int
	Move      bool
	Waitlist  bool
	Gated     bool
	Indics    []string
	Dash      *dashData
	Proxy     bool // a proxy (relative) is signed in
	People    []personView
}

// personView is one person a signed-in proxy manages.
type personView struct {
	ID, Name, Birth string
	Current, Booked bool
}

type entitlementView struct {
	Open     bool
	Group    int
	Products []string
	Reason   string
}

type apptView struct {
	Reference string
	Centre    string
	Product   string
	Status    string
	Open      bool
	Doses     []doseView
}

type doseView struct {
	Number int
	When   string
	Status string
}

type dayLink struct {
	Date, Label string
	Current     bool
}

type slotOption struct {
	Value, Label string
}

func (p *portal) view(r *http.Request, page string) *view {
	s := sessionFrom(r.Context())
	v := &view{Page: page, L: langOf(r), Path: r.URL.Path, SignedIn: s.ResidentID != "" || s.Reference != "", Proxy: s.ProxyID != "",
		Form: map[string]string{}, Errs: map[string]string{}, Checked: map[string]bool{}}
	if s.ID != "" {
		v.CSRF = p.sessions.csrfToken(s)
	}
	return v
}

func (p *portal) render(w http.ResponseWriter, r *http.Request, status int, v *view) {
	t, ok := p.pages.m[v.Page]
	if !ok {
		p.log.Error("web: no such page", "page", v.Page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		p.log.Error("web: render", "page", v.Page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Language", string(v.L))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// failure maps an error from the core to a status and a text in l: the one
// place where errors become HTTP statuses and messages on pages. field is
// set for an invalid input field.
func failure(err error, l lang) (status int, msg, field string) {
	var fe *domain.FieldError
	var ref *domain.Refusal
	switch {
	case errors.As(err, &fe):
		return http.StatusUnprocessableEntity, fieldText(fe, l), fe.Field
	case errors.As(err, &ref):
		msg = ref.Message
		if en, ok := refusalEN[ref.Code]; ok && l == langEN {
			msg = en
		}
		status = http.StatusConflict
		if errors.Is(ref, domain.ErrNotEntitled) || errors.Is(ref, domain.ErrProductNotAllowed) {
			status = http.StatusUnprocessableEntity
		}
		return status, msg, ""
	case errors.Is(err, domain.ErrInvalid):
		return http.StatusUnprocessableEntity, l.T("err.invalid"), ""
	case errors.Is(err, domain.ErrForbidden):
		return http.StatusForbidden, l.T("err.forbidden"), ""
	case errors.Is(err, domain.ErrNotFound):
		return http.StatusNotFound, l.T("err.notfound"), ""
	case errors.Is(err, domain.ErrNoCapacity):
		return http.StatusConflict, l.T("err.full"), ""
	case errors.Is(err, domain.ErrNoStock):
		return http.StatusConflict, l.T("err.stock"), ""
	case errors.Is(err, domain.ErrAlreadyBooked):
		return http.StatusConflict, l.T("err.already"), ""
	case errors.Is(err, domain.ErrConflict):
		return http.StatusConflict, l.T("err.internal"), ""
	}
	return http.StatusInternalServerError, l.T("err.internal"), ""
}

// fieldText is a resident-friendly text for an invalid field: the core's
// reason is English and technical, so German pages get a generic hint.
func fieldText(fe *domain.FieldError, l lang) string {
	switch {
	case fe.Field == "contact.consent":
		return l.T("err.consent")
	case fe.Field == "contact.phone":
		return l.T("err.needphone")
	case fe.Field == "contact.email":
		return l.T("err.needemail")
	case fe.Field == "phone":
		return l.T("err.phone")
	case fe.Reason == "is required":
		return l.T("err.required")
	case strings.HasPrefix(fe.Field, "birth_date"):
		if l == langEN {
			return "Date of birth: " + fe.Reason + "."
		}
		return l.T("err.date")
	case l == langEN:
		return "This entry " + fe.Reason + "."
	}
	return l.T("err.invalid")
}
