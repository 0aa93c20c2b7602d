package web

import (
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// The booking flow (/buchen/...) runs behind the waiting room's gate.

// bookingSession returns the session if it may book or move; otherwise it
// shows the page that says why and returns nil.
func (p *portal) bookingSession(w http.ResponseWriter, r *http.Request, page string) *session {
	s := sessionFrom(r.Context())
	if s.ResidentID == "" || (s.Token == "" && s.Reference == "") {
		v := p.view(r, page)
		v.Error = v.L.T("book.signin")
		p.render(w, r, http.StatusUnauthorized, v)
		return nil
	}
	return s
}

func (p *portal) chooseCentre(w http.ResponseWriter, r *http.Request) {
	s := p.bookingSession(w, r, "choose")
	if s == nil {
		return
	}
	v := p.view(r, "choose")
	v.Gated = p.cfg.Room != nil
	ctx := r.Context()
	res, err := p.app.Resident(ctx, s.ResidentID)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	v.Postal = res.Address.PostalCode
	if q := r.URL.Query().Get("plz"); q != "" {
		v.Postal = q
	}
	centres, err := p.app.Centres(ctx)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	v.Centres = p.postal.nearest(v.Postal, centres)
	v.Move = s.Reference != ""
	if v.Move {
		v.Notice = v.L.T("book.has")
	}
	p.render(w, r, http.StatusOK, v)
}

func (p *portal) slotPage(w http.ResponseWriter, r *http.Request) {
	if s := p.bookingSession(w, r, "slots"); s == nil {
		return
	}
	q := r.URL.Query()
	v := p.view(r, "slots")
	p.fillSlots(w, r, v, q.Get("zentrum"), q.Get("produkt"), q.Get("tag"), http.StatusOK)
}

// fillSlots renders the slot page for a centre: only slots that are bookable
// right now (a free place and, for the chosen vaccine, a free dose).
func (p *portal) fillSlots(w http.ResponseWriter, r *http.Request, v *view, centreID, product, day string, status int) {
	ctx := r.Context()
	s := sessionFrom(ctx)
	v.Gated = p.cfg.Room != nil
	v.SlotDays = p.cfg.SlotDays
	centres, err := p.app.Centres(ctx)
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	for i := range centres {
		if centres[i].ID == centreID {
			v.Centre = &centres[i]
		}
	}
	if v.Centre == nil {
		v.Page = "notfound"
		p.render(w, r, http.StatusNotFound, v)
		return
	}
	if s.Reference != "" {
		ap, err := p.app.Appointment(ctx, s.Reference)
		if err == nil && ap.CanCancel() == nil {
			v.Move, product = true, string(ap.Product)
		}
	}
	if !v.Move {
		ent, err := p.app.Entitlement(ctx, s.ResidentID)
		if err != nil {
			p.fail(w, r, v, err)
			return
		}
		if len(ent.Products) == 0 {
			if ent.Reason != nil {
				_, v.Error, _ = failure(ent.Reason, v.L)
			}
			p.render(w, r, http.StatusUnprocessableEntity, v)
			return
		}
		found := false
		for _, pr := range ent.Products {
			v.Products = append(v.Products, string(pr))
			found = found || string(pr) == product
		}
		if !found {
			product = string(ent.Products[0])
		}
	}
	v.Product = product
	now := p.app.Now()
	slots, err := p.app.Slots(ctx, centreID, now, now.AddDate(0, 0, v.SlotDays), domain.ProductID(product))
	if err != nil {
		p.fail(w, r, v, err)
		return
	}
	byDay := map[string][]app.SlotView{}
	for _, sl := range slots {
		if sl.Free <= 0 || sl.DosesFree <= 0 || !sl.Start.After(now) {
			continue
		}
		d := sl.Start.In(berlin).Format(time.DateOnly)
		if _, ok := byDay[d]; !ok {
			v.Days = append(v.Days, dayLink{Date: d, Label: v.L.Day(sl.Start)})
		}
		byDay[d] = append(byDay[d], sl)
	}
	if len(v.Days) > 0 {
		if _, ok := byDay[day]; !ok {
			day = v.Days[0].Date
		}
		v.Day = day
		for i := range v.Days {
			v.Days[i].Current = v.Days[i].Date == day
			if v.Days[i].Current {
				v.DayLabel = v.Days[i].Label
			}
		}
		for _, sl := range byDay[day] {
			v.Slots = append(v.Slots, slotOption{Value: sl.Start.UTC().Format(time.RFC3339),
				Label: fmt.Sprintf("%s–%s (%s)", v.L.Clock(sl.Start), v.L.Clock(sl.End), v.L.Tf("slots.free", min(sl.Free, sl.DosesFree)))})
		}
	}
	p.render(w, r, status, v)
}

// DayQuery builds the link to another day of the slot page.
func (v *view) DayQuery(day string) string {
	q := url.Values{"zentrum": {v.Centre.ID}, "produkt": {v.Product}, "tag": {day}}
	return "/buchen/termine?" + q.Encode()
}

// slotFromForm reads the chosen slot; ok false re-renders with a hint.
func (p *portal) slotFromForm(w http.ResponseWriter, r *http.Request, v *view) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, r.PostFormValue("slot"))
	if err != nil {
		v.Error = v.L.T("slots.pick")
		p.fillSlots(w, r, v, r.PostFormValue("zentrum"), r.PostFormValue("produkt"), r.PostFormValue("tag"), http.StatusUnprocessableEntity)
		return time.Time{}, false
	}
	return t, true
}

func (p *portal) book(w http.ResponseWriter, r *http.Request) {
	s := p.bookingSession(w, r, "slots")
	if s == nil {
		return
	}
	v := p.view(r, "slots")
	start, ok := p.slotFromForm(w, r, v)
	if !ok {
		return
	}
	centre, product := r.PostFormValue("zentrum"), r.PostFormValue("produkt")
	ap, err := p.app.Book(r.Context(), app.BookingInput{AccessToken: s.Token, ResidentID: s.ResidentID, CentreID: centre,
		Product: domain.ProductID(product), SlotStart: start})
	if err != nil {
		p.slotRefused(w, r, v, err, centre, product, start)
		return
	}
	p.finished(w, r, ap, "appt.booked")
}

func (p *portal) move(w http.ResponseWriter, r *http.Request) {
	s := p.bookingSession(w, r, "slots")
	if s == nil {
		return
	}
	v := p.view(r, "slots")
	start, ok := p.slotFromForm(w, r, v)
	if !ok {
		return
	}
	centre := r.PostFormValue("zentrum")
	ap, err := p.app.Move(r.Context(), app.MoveInput{Reference: s.Reference, CentreID: centre, SlotStart: start})
	if err != nil {
		p.slotRefused(w, r, v, err, centre, r.PostFormValue("produkt"), start)
		return
	}
	p.finished(w, r, ap, "appt.moved")
}

// slotRefused answers a refused booking in the same request: the reason and
// the slots that are bookable now.
func (p *portal) slotRefused(w http.ResponseWriter, r *http.Request, v *view, err error, centre, product string, start time.Time) {
	status, msg, _ := failure(err, v.L)
	if status >= 500 {
		p.log.ErrorContext(r.Context(), "web: booking failed", "err", err)
	}
	v.Error = msg
	p.fillSlots(w, r, v, centre, product, start.In(berlin).Format(time.DateOnly), status)
}

// finished ends the waiting-room session (the next visitor is called) and
// shows the appointment.
func (p *portal) finished(w http.ResponseWriter, r *http.Request, ap *domain.Appointment, notice string) {
	s := *sessionFrom(r.Context())
	s.Reference = ap.Reference
	p.sessions.save(w, r, &s)
	if p.cfg.Room != nil {
		if err := p.cfg.Room.EndSession(w, r); err != nil {
			p.log.WarnContext(r.Context(), "web: end waiting-room session", "err", err)
		}
	}
	v := p.view(r, "done")
	v.Notice = v.L.T(notice)
	v.Appt = p.apptView(r.Context(), ap, v.L)
	p.render(w, r, http.StatusOK, v)
}

func (p *portal) joinWaitlist(w http.ResponseWriter, r *http.Request) {
	s := p.bookingSession(w, r, "slots")
	if s == nil {
		return
	}
	v := p.view(r, "slots")
	centre, product := r.PostFormValue("zentrum"), r.PostFormValue("produkt")
	if _, err := p.app.JoinWaitlist(r.Context(), s.ResidentID, centre, "", domain.ProductID(product)); err != nil {
		status, msg, _ := failure(err, v.L)
		v.Error = msg
		p.fillSlots(w, r, v, centre, product, "", status)
		return
	}
	ns := *s
	ns.Waitlist = centre
	p.sessions.save(w, r, &ns)
	if p.cfg.Room != nil {
		_ = p.cfg.Room.EndSession(w, r)
	}
	v = p.view(r, "done")
	v.Notice = v.L.T("wl.joined")
	p.render(w, r, http.StatusOK, v)
}
