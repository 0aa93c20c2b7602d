package api

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

type addressIn struct {
	Street          string `json:"street"`
	PostalCode      string `json:"postal_code"`
	City            string `json:"city"`
	MunicipalityKey string `json:"municipality_key"`
}

type proxyIn struct {
	Name  string `json:"name"`
	Phone string `json:"phone"`
	Email string `json:"email"`
}

type residentIn struct {
	GivenNames   string               `json:"given_names"`
	FamilyName   string               `json:"family_name"`
	BirthDate    string               `json:"birth_date"`
	Sex          string               `json:"sex"`
	Address      addressIn            `json:"address"`
	Phone        string               `json:"phone"`
	Email        string               `json:"email"`
	Indications  []domain.Indication  `json:"indications"`
	Intolerances []domain.Intolerance `json:"intolerances"`
	Proxy        *proxyIn             `json:"proxy"`
	ProxyID      string               `json:"proxy_id"`
	ProxyToken   string               `json:"proxy_token"`
	Channel      string               `json:"channel"`
	Contact      *contactIn           `json:"contact"`
}

// contactIn is a contact preference as residents and staff send it: consent
// is a yes, its time is recorded by the hub.
type contactIn struct {
	Channel string `json:"channel"`
	Phone   string `json:"phone"`
	Email   string `json:"email"`
	Consent bool   `json:"consent"`
}

func nfc(s string) string { return norm.NFC.String(s) }

func parseDay(field, s string) (domain.Date, error) {
	if s == "" {
		return domain.Date{}, domain.Invalid(field, "is required (YYYY-MM-DD)")
	}
	d, err := domain.ParseDate(s)
	if err != nil {
		return domain.Date{}, domain.Invalid(field, "is not a date (YYYY-MM-DD)")
	}
	return d, nil
}

func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, domain.Invalid(field, "is not a time (RFC 3339, e.g. 2021-04-13T10:15:00+02:00)")
	}
	return t, nil
}

func (s *Server) registerResident(w http.ResponseWriter, r *http.Request) {
	var in residentIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	birth, err := parseDay("birth_date", in.BirthDate)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	channel := in.Channel
	switch channel {
	case "", "web":
		channel = "web"
	case "phone", "staff":
		if !principalOf(r.Context()).has(RoleCentreStaff) {
			s.writeError(w, r, fmt.Errorf("channel %q needs role %s: %w", channel, RoleCentreStaff, domain.ErrForbidden))
			return
		}
	default:
		s.writeError(w, r, domain.Invalid("channel", "must be web, phone or staff"))
		return
	}
	reg := app.Registration{Resident: domain.Resident{
		GivenNames: nfc(in.GivenNames), FamilyName: nfc(in.FamilyName), BirthDate: birth, Sex: domain.Sex(in.Sex),
		Address: domain.Address{Street: nfc(in.Address.Street), PostalCode: in.Address.PostalCode, City: nfc(in.Address.City), MunicipalityKey: in.Address.MunicipalityKey},
		Phone:   in.Phone, Email: in.Email, Indications: in.Indications, Intolerances: in.Intolerances, Channel: channel,
	}, ProxyID: in.ProxyID, ProxyToken: in.ProxyToken}
	if c := in.Contact; c != nil {
		reg.Resident.Contact = domain.Contact{Channel: domain.ContactChannel(c.Channel), Phone: c.Phone, Email: c.Email}
		reg.Consent = c.Consent
		if in.Phone != "" && c.Phone != "" || in.Email != "" && c.Email != "" {
			s.writeError(w, r, domain.Invalid("contact", "give phone and email either in contact or beside it, not both"))
			return
		}
	}
	if in.Proxy != nil {
		reg.Proxy = &domain.Proxy{Name: nfc(in.Proxy.Name), Phone: in.Proxy.Phone, Email: in.Proxy.Email}
	}
	out, err := s.app.RegisterResident(r.Context(), reg)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/residents/"+out.Resident.ID)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) getResident(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeResident(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.app.Resident(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// putContact sets how the resident wants to be notified: the resident (or
// their proxy) with their token, or centre staff.
func (s *Server) putContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeResident(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in contactIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.Channel == "" {
		s.writeError(w, r, domain.Invalid("channel", "is required: post, sms or email"))
		return
	}
	res, err := s.app.ChangeContact(r.Context(), id, domain.ContactChange{Channel: domain.ContactChannel(in.Channel), Phone: in.Phone, Email: in.Email, Consent: in.Consent})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Contact)
}

func (s *Server) getEntitlement(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeResident(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	e, err := s.app.Entitlement(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

func (s *Server) listCentres(w http.ResponseWriter, r *http.Request) {
	cs, err := s.app.Centres(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"centres": cs})
}

func (s *Server) listProducts(w http.ResponseWriter, r *http.Request) {
	ps, err := s.app.Products(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"products": ps})
}

func (s *Server) listSlots(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	now := s.app.Now()
	from, to := now, now.Add(7*24*time.Hour)
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = parseWhen("from", v, s.app.Location()); err != nil {
			s.writeError(w, r, err)
			return
		}
		to = from.Add(7 * 24 * time.Hour)
	}
	if v := q.Get("to"); v != "" {
		if to, err = parseWhen("to", v, s.app.Location()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	slots, err := s.app.Slots(r.Context(), r.PathValue("id"), from, to, domain.ProductID(q.Get("product")))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if slots == nil {
		slots = []app.SlotView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"centre_id": r.PathValue("id"), "slots": slots})
}

// parseWhen accepts an RFC 3339 time or a day (midnight in the campaign's zone).
func parseWhen(field, v string, loc *time.Location) (time.Time, error) {
	if len(v) == 10 {
		d, err := parseDay(field, v)
		if err != nil {
			return time.Time{}, err
		}
		return d.In(loc), nil
	}
	return parseTime(field, v)
}

type bookIn struct {
	ResidentID string `json:"resident_id"`
	CentreID   string `json:"centre_id"`
	Product    string `json:"product"`
	SlotStart  string `json:"slot_start"`
}

func (s *Server) book(w http.ResponseWriter, r *http.Request) {
	var in bookIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.ResidentID == "" {
		s.writeError(w, r, domain.Invalid("resident_id", "is required"))
		return
	}
	if in.CentreID == "" {
		s.writeError(w, r, domain.Invalid("centre_id", "is required"))
		return
	}
	p := principalOf(r.Context())
	bi := app.BookingInput{ResidentID: in.ResidentID, CentreID: in.CentreID, Product: domain.ProductID(in.Product),
		Staff: p.has(RoleCentreStaff), AccessToken: p.bearer}
	if err := residentGate(p); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.SlotStart != "" {
		t, err := parseTime("slot_start", in.SlotStart)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		bi.SlotStart = t
	}
	// The token must open the resident before the caller queues or books.
	if err := s.authorizeResident(r, in.ResidentID); err != nil {
		s.writeError(w, r, err)
		return
	}
	adm, ok := s.admit(w, r)
	if !ok {
		return
	}
	ap, err := s.app.Book(r.Context(), bi)
	adm.done(w, r, err == nil, s.roomLog(r))
	if err != nil {
		s.bookings.WithLabelValues(outcome(err)).Inc()
		s.writeError(w, r, err)
		return
	}
	s.bookings.WithLabelValues("booked").Inc()
	w.Header().Set("Location", "/api/v1/appointments/"+ap.Reference)
	writeJSON(w, http.StatusCreated, ap)
}

func outcome(err error) string {
	p := problemFor(err)
	if p.Code != "" {
		return p.Code
	}
	return strconv.Itoa(p.Status)
}

// appointmentFor loads an appointment and checks that the caller may see
// it, authorising before revealing anything: no token is 401 and a staff
// token without centre-staff 403 for every reference; a resident's token
// gets the appointment only if it is theirs, and otherwise one answer
// (errHidden) whether the reference exists, does not exist or has a wrong
// check digit (which anyone can compute, so it is refused without a
// look-up). Existing and missing references cost the same number of reads:
// an existing one is two (the series, its doses) and the token check; a
// missing one is one, and the token check against a resident that never
// exists, twice. Centre staff get 400 and 404 as they are.
func (s *Server) appointmentFor(r *http.Request) (*domain.Appointment, error) {
	ctx, ref := r.Context(), r.PathValue("reference")
	p := principalOf(ctx)
	if err := residentGate(p); err != nil {
		return nil, err
	}
	if p.has(RoleCentreStaff) {
		return s.app.Appointment(ctx, ref)
	}
	if !domain.ValidReference(domain.NormalizeReference(ref)) {
		return nil, errHidden
	}
	ap, err := s.app.Appointment(ctx, ref)
	switch {
	case err == nil:
	case errors.Is(err, domain.ErrNotFound):
		// The same round trips as for an existing reference; the answer
		// is errHidden whatever these reads say.
		_ = s.app.AuthorizeResident(ctx, absentResident, p.bearer)
		_ = s.app.AuthorizeResident(ctx, absentResident, p.bearer)
		return nil, errHidden
	default:
		return nil, err
	}
	if err := hide(s.app.AuthorizeResident(ctx, ap.ResidentID, p.bearer)); err != nil {
		return nil, err
	}
	return ap, nil
}

func (s *Server) getAppointment(w http.ResponseWriter, r *http.Request) {
	ap, err := s.appointmentFor(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ap)
}

func (s *Server) cancelAppointment(w http.ResponseWriter, r *http.Request) {
	ap, err := s.appointmentFor(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	reason := "resident"
	if principalOf(r.Context()).staff != "" {
		reason = "staff"
	}
	ap, err = s.app.Cancel(r.Context(), ap.Reference, reason)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ap)
}

type moveIn struct {
	CentreID  string `json:"centre_id"`
	SlotStart string `json:"slot_start"`
}

func (s *Server) moveAppointment(w http.ResponseWriter, r *http.Request) {
	if err := residentGate(principalOf(r.Context())); err != nil {
		s.writeError(w, r, err)
		return
	}
	var in moveIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	ap, err := s.appointmentFor(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	mi := app.MoveInput{Reference: ap.Reference, CentreID: in.CentreID}
	if in.SlotStart != "" {
		if mi.SlotStart, err = parseTime("slot_start", in.SlotStart); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	adm, ok := s.admit(w, r)
	if !ok {
		return
	}
	moved, err := s.app.Move(r.Context(), mi)
	adm.done(w, r, err == nil, s.roomLog(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, moved)
}

type waitlistIn struct {
	ResidentID  string `json:"resident_id"`
	CentreID    string `json:"centre_id"`
	DistrictAGS string `json:"district_ags"`
	Product     string `json:"product"`
}

func (s *Server) joinWaitlist(w http.ResponseWriter, r *http.Request) {
	var in waitlistIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if in.ResidentID == "" {
		s.writeError(w, r, domain.Invalid("resident_id", "is required"))
		return
	}
	if err := s.authorizeResident(r, in.ResidentID); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The waitlist books by itself when places free up, so joining it goes
	// through the waiting room like booking (the portal's waitlist form is
	// behind the room too).
	adm, ok := s.admit(w, r)
	if !ok {
		return
	}
	e, err := s.app.JoinWaitlist(r.Context(), in.ResidentID, in.CentreID, in.DistrictAGS, domain.ProductID(in.Product))
	adm.done(w, r, err == nil, s.roomLog(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

// identifyIn is the body of POST /api/v1/appointments/{reference}/identify.
type identifyIn struct {
	DateOfBirth string `json:"date_of_birth"`
}

// identifyHolder answers the appointment to whoever gives its reference and
// the holder's date of birth (a resident without a token). Every answer goes
// through the core's attempt ledger, shared with the portal and the
// hotline: a wrong date and an unknown reference are the same 404, and after
// too many failures the reference is locked (429 with Retry-After) on every
// channel.
func (s *Server) identifyHolder(w http.ResponseWriter, r *http.Request) {
	var in identifyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	birth, err := parseDay("date_of_birth", in.DateOfBirth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ap, err := s.app.VerifyHolder(app.WithChannel(r.Context(), app.ChannelAPI), r.PathValue("reference"), birth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ap)
}

type checkInIn struct {
	Reference   string `json:"reference"`
	DateOfBirth string `json:"date_of_birth"`
}

func (s *Server) checkIn(w http.ResponseWriter, r *http.Request) {
	var in checkInIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	birth, err := parseDay("date_of_birth", in.DateOfBirth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ap, err := s.app.CheckIn(r.Context(), in.Reference, birth)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ap)
}

type checkOutIn struct {
	Reference      string `json:"reference"`
	Product        string `json:"product"`
	Batch          string `json:"batch"`
	VaccinatorID   string `json:"vaccinator_id"`
	AdministeredAt string `json:"administered_at"`
}

func (s *Server) checkOut(w http.ResponseWriter, r *http.Request) {
	var in checkOutIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	co := app.CheckOutInput{Reference: in.Reference, Product: domain.ProductID(in.Product), Batch: in.Batch, VaccinatorID: in.VaccinatorID}
	if in.AdministeredAt != "" {
		t, err := parseTime("administered_at", in.AdministeredAt)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if t.After(s.app.Now().Add(5 * time.Minute)) {
			s.writeError(w, r, domain.Invalid("administered_at", "lies in the future"))
			return
		}
		co.At = t
	}
	ap, err := s.app.CheckOut(r.Context(), co)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ap)
}

type endOfDayIn struct {
	Before string `json:"before"`
}

func (s *Server) endOfDay(w http.ResponseWriter, r *http.Request) {
	var in endOfDayIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	before := s.app.Now()
	if in.Before != "" {
		t, err := parseTime("before", in.Before)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if t.After(before) {
			s.writeError(w, r, domain.Invalid("before", "lies in the future"))
			return
		}
		before = t
	}
	n, err := s.app.EndOfDay(r.Context(), r.PathValue("id"), before)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"no_shows": n})
}

type deliveryIn struct {
	ID        string `json:"id"`
	CentreID  string `json:"centre_id"`
	Product   string `json:"product"`
	Doses     int    `json:"doses"`
	ArrivesOn string `json:"arrives_on"`
	ExpiresOn string `json:"expires_on"`
	Batch     string `json:"batch"`
	Announced bool   `json:"announced"`
}

func (s *Server) recordDelivery(w http.ResponseWriter, r *http.Request) {
	var in deliveryIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	arrives, err := parseDay("arrives_on", in.ArrivesOn)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	d := app.Delivery{ID: in.ID, CentreID: in.CentreID, Product: domain.ProductID(in.Product), Doses: in.Doses, Arrives: arrives, Batch: in.Batch, Announced: in.Announced}
	if in.ExpiresOn != "" {
		if d.Expires, err = parseDay("expires_on", in.ExpiresOn); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	fresh, err := s.app.RecordDelivery(r.Context(), d)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !fresh {
		status = http.StatusOK
	}
	writeJSON(w, status, map[string]any{"recorded": fresh, "delivery": d})
}

func (s *Server) listRuleSets(w http.ResponseWriter, r *http.Request) {
	rs, err := s.app.RuleSets(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"rulesets": rs})
}

func (s *Server) publishRuleSet(w http.ResponseWriter, r *http.Request) {
	var rs domain.RuleSet
	if err := decode(r, &rs); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.app.PublishRuleSet(r.Context(), &rs); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, rs)
}

func (s *Server) whatIf(w http.ResponseWriter, r *http.Request) {
	var rs domain.RuleSet
	if err := decode(r, &rs); err != nil {
		s.writeError(w, r, err)
		return
	}
	rep, err := s.app.WhatIf(r.Context(), &rs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) progress(w http.ResponseWriter, r *http.Request) {
	p, err := s.app.Progress(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) rkiCSV(w http.ResponseWriter, r *http.Request) {
	rows, err := s.app.RKIRows(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="rki.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"Impfdatum", "LandkreisId_Impfort", "Altersgruppe", "Impfschutz", "Anzahl"})
	for _, row := range rows {
		_ = cw.Write([]string{row.Day, row.DistrictAGS, row.AgeGroup, strconv.Itoa(row.Protection), strconv.FormatInt(row.Count, 10)})
	}
	cw.Flush()
}

func (s *Server) getVerification(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.authorizeResident(r, id); err != nil {
		s.writeError(w, r, err)
		return
	}
	v, err := s.app.Verification(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type verifyIn struct {
	Note string `json:"note"`
}

// verifyByHand records that centre staff checked an ID card; audited.
func (s *Server) verifyByHand(w http.ResponseWriter, r *http.Request) {
	var in verifyIn
	if err := decode(r, &in); err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(in.Note) == "" {
		s.writeError(w, r, domain.Invalid("note", "say which document was checked (never its number)"))
		return
	}
	v, err := s.app.VerifyByHand(r.Context(), r.PathValue("id"), principalOf(r.Context()).staff, in.Note)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// suggestBatch tells check-out staff which batch to use: the one with doses
// left that expires first (FEFO).
func (s *Server) suggestBatch(w http.ResponseWriter, r *http.Request) {
	product := domain.ProductID(r.URL.Query().Get("product"))
	if !domain.KnownProduct(product) {
		s.writeError(w, r, domain.Invalid("product", "give one of comirnaty, spikevax, vaxzevria, janssen"))
		return
	}
	b, err := s.app.SuggestBatchNow(r.Context(), r.PathValue("id"), product)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}
