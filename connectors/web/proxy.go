package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/domain"
)

// A proxy (a relative) registers and manages several residents: the session
// holds the proxy's ID and token (never a page), the account lists the
// people, and /konto/person switches the resident the pages are about.

func germanDate(d domain.Date) string { return fmt.Sprintf("%02d.%02d.%04d", d.Day, d.Month, d.Year) }

// switchPerson makes one of the proxy's residents the session's resident.
func (p *portal) switchPerson(w http.ResponseWriter, r *http.Request) {
	s := *sessionFrom(r.Context())
	if s.ProxyID == "" {
		v := p.view(r, "account")
		v.Error = v.L.T("err.forbidden")
		p.render(w, r, http.StatusForbidden, v)
		return
	}
	people, err := p.app.ResidentsOfProxy(r.Context(), s.ProxyID, s.ProxyToken)
	if err != nil {
		p.fail(w, r, p.view(r, "account"), err)
		return
	}
	id := r.PostFormValue("person")
	for _, m := range people {
		if m.Resident.ID == id {
			s.ResidentID, s.Token, s.Reference, s.Waitlist = id, s.ProxyToken, m.Reference, ""
			p.sessions.save(w, r, &s)
			http.Redirect(w, r, "/konto", http.StatusSeeOther)
			return
		}
	}
	v := p.view(r, "account")
	v.Error = v.L.T("err.notfound")
	p.render(w, r, http.StatusNotFound, v)
}

// confirmationPDF serves the confirmation letter of an open appointment: the
// session's own (no parameter), or ?buchung=REF of the session's resident
// or of a resident the signed-in proxy manages.
func (p *portal) confirmationPDF(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := sessionFrom(ctx)
	v := p.view(r, "account")
	ref := r.URL.Query().Get("buchung")
	if ref == "" {
		ref = s.Reference
	}
	if s.ResidentID == "" && s.ProxyID == "" {
		v.Error = v.L.T("err.forbidden")
		p.render(w, r, http.StatusForbidden, v)
		return
	}
	if ref == "" {
		v.Error = v.L.T("err.notfound")
		p.render(w, r, http.StatusNotFound, v)
		return
	}
	// One answer for a reference that is malformed, unknown or someone
	// else's: the PDF must not tell which references exist.
	notFound := func() {
		v.Error = v.L.T("err.notfound")
		p.render(w, r, http.StatusNotFound, v)
	}
	ap, err := p.app.Appointment(ctx, ref)
	if errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid) {
		notFound()
		return
	}
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	allowed := ap.ResidentID == s.ResidentID && (ref == s.Reference || s.Token != "")
	if !allowed && s.ProxyID != "" {
		allowed = p.app.AuthorizeResident(ctx, ap.ResidentID, s.ProxyToken) == nil
	}
	if !allowed {
		notFound()
		return
	}
	if ap.Status != domain.SeriesBooked {
		v.Error = v.L.T("err.notfound")
		p.render(w, r, http.StatusNotFound, v)
		return
	}
	res, err := p.app.Resident(ctx, ap.ResidentID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	l := letter.Letter{
		Kind: letter.Confirmation,
		Recipient: letter.Address{Name: res.GivenNames + " " + res.FamilyName, Street: res.Address.Street,
			PostalCode: res.Address.PostalCode, City: res.Address.City},
		Reference: ap.Reference,
		Date:      p.app.Now(),
	}
	if centres, err := p.app.Centres(ctx); err == nil {
		for _, c := range centres {
			if c.ID == ap.CentreID {
				l.Centre = letter.Centre{Name: c.Name, Street: c.Street, PostalCode: c.PostalCode, City: c.City}
			}
		}
	}
	for _, d := range ap.Doses {
		if d.Status == domain.DoseBooked || d.Status == domain.DoseCheckedIn {
			l.Doses = append(l.Doses, letter.Dose{Number: d.Number, Product: string(d.Product), Start: d.Start, End: d.End})
		}
	}
	if len(l.Doses) == 0 {
		v.Error = v.L.T("err.notfound")
		p.render(w, r, http.StatusNotFound, v)
		return
	}
	doc, err := p.letters.Render(l)
	if err != nil {
		p.log.ErrorContext(ctx, "web: render confirmation letter", "reference", ap.Reference, "err", err)
		v.Error = v.L.T("err.internal")
		p.render(w, r, http.StatusInternalServerError, v)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="terminbestaetigung-%s.pdf"`, ap.Reference))
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(len(doc.PDF)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc.PDF)
}
