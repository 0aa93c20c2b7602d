package web

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

var indicationCodes = []string{
	string(domain.IndCareHomeResident), string(domain.IndCareHomeStaff), string(domain.IndMedicalHighRisk),
	string(domain.IndMedicalHigh), string(domain.IndTrisomy21), string(domain.IndDementia), string(domain.IndTransplant),
	string(domain.IndCloseContact), string(domain.IndPolice), string(domain.IndTeacherPrimary),
	string(domain.IndChronicCondition), string(domain.IndCriticalInfra), string(domain.IndRetail),
}

func (p *portal) home(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, p.view(r, "home"))
}

func (p *portal) notFound(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusNotFound, p.view(r, "notfound"))
}

func (p *portal) registerForm(w http.ResponseWriter, r *http.Request) {
	v := p.view(r, "register")
	v.Indics = indicationCodes
	v.Form["sex"] = "x"
	v.Form["notify"] = string(domain.ContactPost)
	if v.Proxy {
		v.Notice = v.L.T("reg.another")
	}
	p.render(w, r, http.StatusOK, v)
}

var formFields = []string{"given_names", "family_name", "birth_date", "sex", "street", "postal_code", "city", "phone", "email",
	"notify", "proxy_name", "proxy_phone", "proxy_email"}

// parseDate reads DD.MM.YYYY (what people type) or YYYY-MM-DD.
func parseDate(s string) (domain.Date, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{"02.01.2006", "2.1.2006", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return domain.DateOf(t), true
		}
	}
	return domain.Date{}, false
}

func nfc(s string) string { return norm.NFC.String(strings.TrimSpace(s)) }

func (p *portal) register(w http.ResponseWriter, r *http.Request) {
	v := p.view(r, "register")
	v.Indics = indicationCodes
	for _, f := range formFields {
		v.Form[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	asProxy := !v.Proxy && r.PostFormValue("as_proxy") == "1"
	if v.Form["notify"] == "" {
		v.Form["notify"] = string(domain.ContactPost)
	}
	consent := r.PostFormValue("consent") == "1"
	v.Checked["consent"] = consent
	v.Checked["as_proxy"] = asProxy
	if v.Proxy {
		v.Notice = v.L.T("reg.another")
	}
	var inds []domain.Indication
	for _, code := range r.PostForm["indications"] {
		if domain.KnownIndication(domain.Indication(code)) {
			inds = append(inds, domain.Indication(code))
			v.Checked[code] = true
		}
	}
	birth, ok := parseDate(v.Form["birth_date"])
	if !ok {
		v.Errs["birth_date"] = v.L.T("err.date")
		if v.Form["birth_date"] == "" {
			v.Errs["birth_date"] = v.L.T("err.required")
		}
	}
	for _, f := range []string{"given_names", "family_name", "street", "postal_code", "city"} {
		if v.Form[f] == "" {
			v.Errs[f] = v.L.T("err.required")
		}
	}
	if asProxy && v.Form["proxy_name"] == "" {
		v.Errs["proxy_name"] = v.L.T("err.required")
	}
	if len(v.Errs) > 0 {
		v.Error = v.L.T("reg.fix")
		p.render(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	res := domain.Resident{
		GivenNames: nfc(v.Form["given_names"]), FamilyName: nfc(v.Form["family_name"]), BirthDate: birth,
		Sex: domain.Sex(v.Form["sex"]), Phone: v.Form["phone"], Email: v.Form["email"], Indications: inds,
		Address: domain.Address{Street: nfc(v.Form["street"]), PostalCode: v.Form["postal_code"], City: nfc(v.Form["city"]),
			MunicipalityKey: p.postal.municipalityKey(v.Form["postal_code"])},
		Channel: "web",
	}
	res.Contact.Channel = domain.ContactChannel(v.Form["notify"])
	in := app.Registration{Resident: res, Consent: consent}
	ss := sessionFrom(r.Context())
	switch {
	case v.Proxy: // a signed-in proxy registers another person
		in.ProxyID, in.ProxyToken = ss.ProxyID, ss.ProxyToken
	case asProxy:
		in.Proxy = &domain.Proxy{Name: nfc(v.Form["proxy_name"]), Phone: v.Form["proxy_phone"], Email: v.Form["proxy_email"]}
	}
	reg, err := p.app.RegisterResident(r.Context(), in)
	if err != nil {
		status, msg, field := failure(err, v.L)
		if status >= 500 {
			p.log.ErrorContext(r.Context(), "web: register", "err", err)
		}
		field = strings.TrimPrefix(field, "address.")
		switch field {
		case "contact.channel":
			field = "notify"
		case "contact.consent":
			field = "consent"
		case "contact.phone":
			field = "phone"
		case "contact.email":
			field = "email"
		}
		if f, ok := strings.CutPrefix(field, "proxy."); ok {
			field = "proxy_" + f
		}
		if field == "municipality_key" {
			field = "postal_code"
		}
		if field != "" {
			v.Errs[field] = msg
			msg = v.L.T("reg.fix")
		}
		v.Error = msg
		p.render(w, r, status, v)
		return
	}
	s := &session{ID: ss.ID, ResidentID: reg.Resident.ID, Token: reg.AccessToken}
	switch {
	case v.Proxy:
		s.ProxyID, s.ProxyToken, s.Token = ss.ProxyID, ss.ProxyToken, ss.ProxyToken
	case reg.ProxyToken != "":
		s.ProxyID, s.ProxyToken, s.Token = reg.ProxyID, reg.ProxyToken, reg.ProxyToken
	}
	if !p.signIn(w, r, s) {
		return
	}
	http.Redirect(w, r, "/konto", http.StatusSeeOther)
}

func (p *portal) account(w http.ResponseWriter, r *http.Request) {
	v := p.view(r, "account")
	s := sessionFrom(r.Context())
	switch r.URL.Query().Get("info") {
	case "storniert":
		v.Notice = v.L.T("appt.cancelled")
	}
	if sessionEnded(r.Context()) {
		v.Notice = v.L.T("acc.ended")
	}
	if s.ResidentID == "" && s.Reference == "" {
		p.render(w, r, http.StatusOK, v)
		return
	}
	ctx := r.Context()
	if s.ResidentID != "" {
		res, err := p.app.Resident(ctx, s.ResidentID)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		v.Resident = res
		v.Verify, v.VerifyWhy = p.verification(ctx, res.ID, v.L)
		ent, err := p.app.Entitlement(ctx, res.ID)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		v.Ent = &entitlementView{Open: len(ent.Products) > 0, Group: ent.Group, Products: p.productNames(ctx, ent.Products)}
		if ent.Reason != nil {
			_, v.Ent.Reason, _ = failure(ent.Reason, v.L)
		}
	}
	if s.Reference != "" {
		ap, err := p.app.Appointment(ctx, s.Reference)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		v.Appt = p.apptView(ctx, ap, v.L)
	}
	v.Waitlist = s.Waitlist != ""
	if s.ProxyID != "" {
		people, err := p.app.ResidentsOfProxy(ctx, s.ProxyID, s.ProxyToken)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		for _, m := range people {
			v.People = append(v.People, personView{ID: m.Resident.ID, Name: m.Resident.GivenNames + " " + m.Resident.FamilyName,
				Birth: germanDate(m.Resident.BirthDate), Current: m.Resident.ID == s.ResidentID, Booked: m.Reference != ""})
		}
	}
	p.render(w, r, http.StatusOK, v)
}

// verification is the register check's outcome as text.
func (p *portal) verification(ctx context.Context, residentID string, l lang) (string, string) {
	ver, err := p.app.Verification(ctx, residentID)
	if err != nil || ver == nil {
		if err != nil && !errors.Is(err, domain.ErrNotFound) {
			p.log.WarnContext(ctx, "web: verification", "err", err)
		}
		return l.T("ver.pending"), ""
	}
	return l.T("ver." + string(ver.Status)), ver.Reason
}

func (p *portal) productNames(ctx context.Context, ids []domain.ProductID) []string {
	all, err := p.app.Products(ctx)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		name := string(id)
		if err == nil {
			for _, pr := range all {
				if pr.ID == id {
					name = pr.Name
				}
			}
		}
		out = append(out, name)
	}
	return out
}

func (p *portal) apptView(ctx context.Context, ap *domain.Appointment, l lang) *apptView {
	av := &apptView{Reference: ap.Reference, Centre: ap.CentreID, Status: l.T("status." + string(ap.Status)),
		Open: ap.CanCancel() == nil}
	if names := p.productNames(ctx, []domain.ProductID{ap.Product}); len(names) == 1 {
		av.Product = names[0]
	}
	if centres, err := p.app.Centres(ctx); err == nil {
		for _, c := range centres {
			if c.ID == ap.CentreID {
				av.Centre = c.Name + ", " + c.Street + ", " + c.PostalCode + " " + c.City
			}
		}
	}
	for _, d := range ap.Doses {
		av.Doses = append(av.Doses, doseView{Number: d.Number, When: l.When(d.Start), Status: l.T("status." + string(d.Status))})
	}
	return av
}

func (p *portal) fail(w http.ResponseWriter, r *http.Request, v *view, err error) {
	status, msg, _ := failure(err, v.L)
	if status >= 500 {
		p.log.ErrorContext(r.Context(), "web: request failed", "path", r.URL.Path, "err", err)
	}
	v.Error = msg
	p.render(w, r, status, v)
}

func (p *portal) centres(w http.ResponseWriter, r *http.Request) {
	v := p.view(r, "centres")
	v.Postal = strings.TrimSpace(r.URL.Query().Get("plz"))
	if v.Postal == "" {
		if s := sessionFrom(r.Context()); s.ResidentID != "" {
			if res, err := p.app.Resident(r.Context(), s.ResidentID); err == nil {
				v.Postal = res.Address.PostalCode
			}
		}
	}
	centres, err := p.app.Centres(r.Context())
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	v.Centres = p.postal.nearest(v.Postal, centres)
	_, known := p.postal.lookup(v.Postal)
	v.Unknown = v.Postal != "" && !known
	p.render(w, r, http.StatusOK, v)
}

func (p *portal) findForm(w http.ResponseWriter, r *http.Request) {
	p.render(w, r, http.StatusOK, p.view(r, "find"))
}

func (p *portal) find(w http.ResponseWriter, r *http.Request) {
	v := p.view(r, "find")
	v.Form["reference"] = strings.TrimSpace(r.PostFormValue("reference"))
	v.Form["birth_date"] = strings.TrimSpace(r.PostFormValue("birth_date"))
	birth, ok := parseDate(v.Form["birth_date"])
	if !ok {
		v.Errs["birth_date"] = v.L.T("err.date")
		p.render(w, r, http.StatusUnprocessableEntity, v)
		return
	}
	ap, err := p.app.VerifyHolder(app.WithChannel(r.Context(), app.ChannelWeb), v.Form["reference"], birth)
	if err != nil {
		status, msg, _ := failure(err, v.L)
		switch until := domain.LockedUntil(err); {
		case !until.IsZero():
			// The core's attempt ledger locked the reference (issue 12).
			status, msg = http.StatusTooManyRequests, v.L.Tf("find.locked", v.L.When(until))
			w.Header().Set("Retry-After", retryAfter(until, p.app.Now()))
		case errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid):
			status, msg = http.StatusNotFound, v.L.T("find.nomatch")
		}
		v.Error = msg
		p.render(w, r, status, v)
		return
	}
	s := *sessionFrom(r.Context())
	if s.ResidentID != ap.ResidentID {
		s.ResidentID, s.Token = ap.ResidentID, "" // found by reference: may move or cancel, not book anew
	}
	s.Reference = ap.Reference
	if !p.signIn(w, r, &s) {
		return
	}
	http.Redirect(w, r, "/konto", http.StatusSeeOther)
}

// retryAfter is the Retry-After value (whole seconds, at least 1) for a
// lock that ends at until.
func retryAfter(until, now time.Time) string {
	return strconv.Itoa(max(1, int(math.Ceil(until.Sub(now).Seconds()))))
}

func (p *portal) cancel(w http.ResponseWriter, r *http.Request) {
	s := *sessionFrom(r.Context())
	if s.Reference == "" {
		http.Redirect(w, r, "/konto", http.StatusSeeOther)
		return
	}
	if _, err := p.app.Cancel(r.Context(), s.Reference, "resident"); err != nil {
		p.fail(w, r, p.view(r, "account"), err)
		return
	}
	s.Reference = ""
	p.sessions.save(w, r, &s)
	http.Redirect(w, r, "/konto?info=storniert", http.StatusSeeOther)
}
