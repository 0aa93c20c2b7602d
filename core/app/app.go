package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Ports bundles what the use cases need from storage.
type Ports struct {
	Residents Residents
	Campaign  Campaign
	RuleSets  RuleSets
	Bookings  Bookings
	Stock     Stock
	Waitlist  Waitlist
	Reports   Reports
	// Verifications stores register verdicts (issue 5); optional unless
	// Config.RequireVerification is on.
	Verifications Verifications
	// Attempts is the attempt ledger of identifications by date of birth
	// (issue 12), shared by every channel.
	Attempts Attempts
	// Events records the events of connectors through the outbox
	// (App.RecordEvent); optional: without it RecordEvent fails.
	Events Events
}

// Config tunes the use cases.
type Config struct {
	// Location is the campaign's time zone (Europe/Berlin).
	Location *time.Location
	// RuleCacheTTL bounds how long a loaded rule set is reused; a rule set
	// published elsewhere, or one whose effective time passes, applies after
	// at most this long.
	RuleCacheTTL time.Duration
	// BookingHorizonDays: how far ahead dose 1 may be booked.
	BookingHorizonDays int
	Clock              Clock
	Logger             *slog.Logger
	// RequireVerification makes booking refuse a resident whom the
	// population register has not confirmed (Refusal code "not-verified";
	// issue 5). Default false, so that a hub without the register connector
	// books as before; the Saxony campaign switches it on. Needs
	// Ports.Verifications.
	RequireVerification bool
	// BurstLimit is how many registrations from one phone number or e-mail
	// address within BurstWindow pass the fraud check; beyond it a verdict
	// goes to review (flagged burst-phone or burst-email). Default 10; a
	// negative value switches the check off.
	BurstLimit int
	// BurstWindow is the time over which BurstLimit counts. Default 24 h.
	BurstWindow time.Duration
	// Attempts limits identifications by date of birth on every channel
	// (issue 12): 5 failures within 15 min, or 20 within 24 h, lock the
	// reference and the resident for 15 min, doubling with each further
	// lock up to 24 h (see domain.AttemptPolicy). Zero fields get these
	// defaults.
	Attempts domain.AttemptPolicy
}

func (c *Config) setDefaults() {
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.RuleCacheTTL == 0 {
		c.RuleCacheTTL = time.Second
	}
	if c.BookingHorizonDays == 0 {
		c.BookingHorizonDays = 120
	}
	if c.Clock == nil {
		c.Clock = systemClock{}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.BurstLimit == 0 {
		c.BurstLimit = 10
	}
	if c.BurstWindow == 0 {
		c.BurstWindow = 24 * time.Hour
	}
	c.Attempts = c.Attempts.WithDefaults()
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// App is the set of use cases.
type App struct {
	p   Ports
	cfg Config

	mu        sync.Mutex
	rules     *domain.RuleSet
	rulesAt   time.Time
	rulesNext time.Time // do not reuse the cached rule set at or after this time
}

// New builds the use cases over the given ports.
func New(p Ports, cfg Config) (*App, error) {
	cfg.setDefaults()
	if p.Residents == nil || p.Campaign == nil || p.RuleSets == nil || p.Bookings == nil || p.Stock == nil || p.Waitlist == nil || p.Reports == nil || p.Attempts == nil {
		return nil, errors.New("app: every port must be set")
	}
	if err := cfg.Attempts.Validate(); err != nil {
		return nil, fmt.Errorf("app: Config.Attempts: %w", err)
	}
	if cfg.RequireVerification && p.Verifications == nil {
		return nil, errors.New("app: RequireVerification needs Ports.Verifications")
	}
	return &App{p: p, cfg: cfg}, nil
}

// Now is the app's clock.
func (a *App) Now() time.Time { return a.cfg.Clock.Now() }

// Location is the campaign's time zone.
func (a *App) Location() *time.Location { return a.cfg.Location }

func (a *App) today() domain.Date { return domain.DateOf(a.Now().In(a.cfg.Location)) }

type ctxKey int

const correlationKey ctxKey = 1

// WithCorrelationID tags ctx with the ID of the request that causes the work;
// events emitted under ctx carry it.
func WithCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey, id)
}

// CorrelationID returns the correlation ID of ctx, or "".
func CorrelationID(ctx context.Context) string {
	s, _ := ctx.Value(correlationKey).(string)
	return s
}

// CurrentRules returns the rule set in force now. A rule set published to take
// effect later applies at its effective time without a restart.
func (a *App) CurrentRules(ctx context.Context) (*domain.RuleSet, error) {
	now := a.Now()
	a.mu.Lock()
	if a.rules != nil && now.Sub(a.rulesAt) < a.cfg.RuleCacheTTL && now.After(a.rulesAt) {
		rs := a.rules
		a.mu.Unlock()
		return rs, nil
	}
	a.mu.Unlock()
	rs, err := a.p.RuleSets.RuleSetAt(ctx, now)
	if err != nil {
		return nil, fmt.Errorf("rules in force: %w", err)
	}
	a.mu.Lock()
	a.rules, a.rulesAt = rs, now
	a.mu.Unlock()
	return rs, nil
}

func (a *App) invalidateRules() {
	a.mu.Lock()
	a.rules = nil
	a.mu.Unlock()
}

// NewToken returns a random access token and its hash for storage.
func NewToken() (token string, hash []byte) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken hashes a token for storage and comparison.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Registration is the input of RegisterResident.
type Registration struct {
	Resident domain.Resident
	// Proxy, when set, creates a new proxy contact who manages this and later residents.
	Proxy *domain.Proxy
	// ProxyID and ProxyToken register another resident under an existing proxy.
	ProxyID, ProxyToken string
	// Consent: the resident agrees to be notified on Resident.Contact.Channel
	// (SMS or e-mail); the time of registration is recorded as consent_at.
	Consent bool
}

// Registered is the answer of RegisterResident. Tokens are shown once.
type Registered struct {
	Resident    *domain.Resident `json:"resident"`
	AccessToken string           `json:"access_token"`
	ProxyID     string           `json:"proxy_id,omitempty"`
	ProxyToken  string           `json:"proxy_token,omitempty"`
}

// RegisterResident validates and stores a new resident.
func (a *App) RegisterResident(ctx context.Context, reg Registration) (*Registered, error) {
	r := reg.Resident
	r.RegisteredAt = a.Now().UTC()
	r.Contact.ConsentAt = nil
	if reg.Consent {
		r.Contact.ConsentAt = &r.RegisteredAt
	}
	r.Normalize()
	if err := r.Validate(a.today()); err != nil {
		return nil, err
	}
	r.ID = domain.NewID()
	if r.Channel == "" {
		r.Channel = "web"
	}
	out := &Registered{Resident: &r}
	var proxyHash []byte
	var proxy *domain.Proxy
	switch {
	case reg.Proxy != nil && reg.ProxyID != "":
		return nil, domain.Invalid("proxy", "give either a new proxy or proxy_id, not both")
	case reg.Proxy != nil:
		p := *reg.Proxy
		if p.Name == "" {
			return nil, domain.Invalid("proxy.name", "is required")
		}
		p.ID = domain.NewID()
		proxy = &p
		out.ProxyToken, proxyHash = NewToken()
		r.ProxyID, out.ProxyID = p.ID, p.ID
	case reg.ProxyID != "":
		h, err := a.p.Residents.ProxyTokenHash(ctx, reg.ProxyID)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", reg.ProxyID, err)
		}
		if subtle.ConstantTimeCompare(h, HashToken(reg.ProxyToken)) != 1 {
			return nil, fmt.Errorf("proxy token does not match: %w", domain.ErrForbidden)
		}
		r.ProxyID, out.ProxyID = reg.ProxyID, reg.ProxyID
	}
	token, hash := NewToken()
	out.AccessToken = token
	ev := domain.NewEvent("resident.registered", r.ID, CorrelationID(ctx), a.Now(), domain.ResidentRegistered{
		ResidentID: r.ID, MunicipalityKey: r.Address.MunicipalityKey, AgeGroup: domain.AgeGroup(r.AgeOn(a.today())),
		Channel: r.Channel, ProxyID: r.ProxyID})
	if err := a.p.Residents.CreateResident(ctx, &r, hash, proxy, proxyHash, []domain.Event{ev}); err != nil {
		return nil, fmt.Errorf("register resident: %w", err)
	}
	return out, nil
}

// ChangeContact sets how a resident wants to be notified (post, SMS or
// e-mail, with consent for the latter two). The caller has authorised the
// request (the resident's or their proxy's token, or staff).
func (a *App) ChangeContact(ctx context.Context, residentID string, ch domain.ContactChange) (*domain.Resident, error) {
	r, err := a.p.Residents.Resident(ctx, residentID)
	if err != nil {
		return nil, err
	}
	if err := ch.Apply(r, a.Now()); err != nil {
		return nil, err
	}
	if err := a.p.Residents.SetContact(ctx, r); err != nil {
		return nil, fmt.Errorf("change contact: %w", err)
	}
	return r, nil
}

// AuthorizeResident checks that token belongs to the resident or to their proxy.
func (a *App) AuthorizeResident(ctx context.Context, residentID, token string) error {
	own, proxy, err := a.p.Residents.TokenHashes(ctx, residentID)
	if err != nil {
		return err
	}
	return checkToken(own, proxy, token)
}

// checkToken compares a bearer token with the stored hashes in constant time.
func checkToken(own, proxy []byte, token string) error {
	h := HashToken(token)
	ok := subtle.ConstantTimeCompare(own, h) == 1
	if proxy != nil {
		ok = subtle.ConstantTimeCompare(proxy, h) == 1 || ok
	}
	if !ok {
		return fmt.Errorf("token does not belong to this resident: %w", domain.ErrForbidden)
	}
	return nil
}

// Resident returns a resident by ID.
func (a *App) Resident(ctx context.Context, id string) (*domain.Resident, error) {
	return a.p.Residents.Resident(ctx, id)
}

// EntitlementView is a resident's entitlement with the reason when nothing is open.
type EntitlementView struct {
	domain.Entitlement
	Code    string `json:"reason_code,omitempty"`
	Message string `json:"reason,omitempty"`
}

// Entitlement tells what a resident may book today.
func (a *App) Entitlement(ctx context.Context, residentID string) (*EntitlementView, error) {
	r, err := a.p.Residents.Resident(ctx, residentID)
	if err != nil {
		return nil, err
	}
	rs, err := a.CurrentRules(ctx)
	if err != nil {
		return nil, err
	}
	e := rs.Entitle(r, a.today())
	v := &EntitlementView{Entitlement: e}
	if e.Reason != nil {
		v.Code, v.Message = e.Reason.Code, e.Reason.Message
	}
	return v, nil
}

// Centres lists the centres.
func (a *App) Centres(ctx context.Context) ([]domain.Centre, error) { return a.p.Campaign.Centres(ctx) }

// Products lists the products.
func (a *App) Products(ctx context.Context) ([]domain.Product, error) {
	return a.p.Campaign.Products(ctx)
}

// Slots lists bookable slots of a centre between from and to.
func (a *App) Slots(ctx context.Context, centreID string, from, to time.Time, product domain.ProductID) ([]SlotView, error) {
	if _, err := a.p.Campaign.Centre(ctx, centreID); err != nil {
		return nil, err
	}
	if product != "" && !domain.KnownProduct(product) {
		return nil, domain.Invalid("product", "unknown product %q", product)
	}
	if to.Before(from) {
		return nil, domain.Invalid("to", "lies before from")
	}
	if to.Sub(from) > 31*24*time.Hour {
		return nil, domain.Invalid("to", "the window may span at most 31 days")
	}
	if now := a.Now(); from.Before(now) {
		from = now
	}
	return a.p.Bookings.Slots(ctx, centreID, from, to, product)
}

// BookingInput is what a resident asks for.
type BookingInput struct {
	// Staff: the caller is centre staff (or a channel that identified the
	// resident itself); otherwise AccessToken must be the resident's or
	// their proxy's token.
	Staff       bool
	AccessToken string
	ResidentID  string
	CentreID    string
	Product     domain.ProductID // empty: the first product the resident may have
	SlotStart   time.Time        // zero: the earliest fitting slot
	Earliest    time.Time        // for the earliest search; zero: now
}

// Book books dose 1 and, for two-dose products, dose 2 at the same centre
// inside the product's interval, in one transaction.
func (a *App) Book(ctx context.Context, in BookingInput) (*domain.Appointment, error) {
	var r *domain.Resident
	var err error
	if in.Staff {
		r, err = a.p.Residents.Resident(ctx, in.ResidentID)
	} else {
		var own, proxy []byte
		if r, own, proxy, err = a.p.Residents.ResidentWithTokens(ctx, in.ResidentID); err == nil {
			err = checkToken(own, proxy, in.AccessToken)
		}
	}
	if err != nil {
		return nil, err
	}
	req, err := a.plan(ctx, in, r)
	if err != nil {
		return nil, err
	}
	corr := CorrelationID(ctx)
	appt, err := a.p.Bookings.Book(ctx, req, func(ap *domain.Appointment) []domain.Event {
		return []domain.Event{domain.BookedEvent(ap, corr, req.BookedAt)}
	})
	if err != nil {
		return nil, err
	}
	return appt, nil
}

// plan turns a booking wish of r into a store request after checking entitlement.
func (a *App) plan(ctx context.Context, in BookingInput, r *domain.Resident) (BookRequest, error) {
	if err := a.mayBook(ctx, r.ID); err != nil {
		return BookRequest{}, err
	}
	centre, err := a.p.Campaign.Centre(ctx, in.CentreID)
	if err != nil {
		return BookRequest{}, err
	}
	rs, err := a.CurrentRules(ctx)
	if err != nil {
		return BookRequest{}, err
	}
	now := a.Now()
	if !in.SlotStart.IsZero() && !in.SlotStart.After(now) {
		return BookRequest{}, domain.Invalid("slot_start", "lies in the past")
	}
	if !in.SlotStart.IsZero() && in.SlotStart.After(now.AddDate(0, 0, a.cfg.BookingHorizonDays)) {
		return BookRequest{}, domain.Invalid("slot_start", "lies more than %d days ahead", a.cfg.BookingHorizonDays)
	}
	day := a.today()
	if !in.SlotStart.IsZero() {
		day = domain.DateOf(in.SlotStart.In(a.cfg.Location))
	}
	product := in.Product
	if product == "" {
		e := rs.Entitle(r, day)
		if len(e.Products) == 0 {
			return BookRequest{}, e.Reason
		}
		product = e.Products[0]
	} else if !domain.KnownProduct(product) {
		return BookRequest{}, domain.Invalid("product", "unknown product %q", product)
	}
	plan, err := rs.PlanSeries(r, product, day)
	if err != nil {
		return BookRequest{}, err
	}
	earliest := in.Earliest
	if earliest.IsZero() || earliest.Before(now) {
		earliest = now
	}
	req := BookRequest{
		Reference: domain.NewReference(), ResidentID: r.ID, CentreID: centre.ID, Product: plan.Product,
		PriorityGroup: rs.GroupOf(r, day), SlotStart: in.SlotStart, Earliest: earliest,
		Latest: now.AddDate(0, 0, a.cfg.BookingHorizonDays), BookedAt: now,
	}
	if plan.Doses == 2 {
		next, err := rs.NextDoseFor(plan.Product, r, day)
		if err != nil {
			return BookRequest{}, err
		}
		req.NextProduct, req.NextMinDays, req.NextMaxDays = next.Product, next.MinDays, next.MaxDays
	}
	return req, nil
}

// Appointment returns a series by its reference.
func (a *App) Appointment(ctx context.Context, ref string) (*domain.Appointment, error) {
	ref = domain.NormalizeReference(ref)
	if !domain.ValidReference(ref) {
		return nil, domain.Invalid("reference", "is not a valid booking reference (10 digits with check digit)")
	}
	return a.p.Bookings.Appointment(ctx, ref)
}

// Cancel cancels a series and frees its places and doses.
func (a *App) Cancel(ctx context.Context, ref, reason string) (*domain.Appointment, error) {
	ref = domain.NormalizeReference(ref)
	now := a.Now()
	corr := CorrelationID(ctx)
	ap, err := a.p.Bookings.Cancel(ctx, ref, func(ap *domain.Appointment) error { return ap.CanCancel() },
		func(ap *domain.Appointment) []domain.Event {
			return []domain.Event{domain.CancelledEvent(ap, reason, corr, now)}
		})
	if err != nil {
		return nil, err
	}
	a.serveAfterRelease(ctx, ap.CentreID)
	return ap, nil
}

// MoveInput asks for new times for a series.
type MoveInput struct {
	Reference string
	CentreID  string    // empty: the same centre
	SlotStart time.Time // zero: the earliest fitting slot from Earliest
	Earliest  time.Time
}

// Move moves a series to a new dose-1 slot (and a new dose 2) atomically:
// either the new places are held and the old ones freed, or nothing changes.
func (a *App) Move(ctx context.Context, in MoveInput) (*domain.Appointment, error) {
	ref := domain.NormalizeReference(in.Reference)
	cur, err := a.p.Bookings.Appointment(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := cur.CanCancel(); err != nil {
		return nil, err
	}
	centre := in.CentreID
	if centre == "" {
		centre = cur.CentreID
	}
	r, err := a.p.Residents.Resident(ctx, cur.ResidentID)
	if err != nil {
		return nil, err
	}
	req, err := a.plan(ctx, BookingInput{ResidentID: cur.ResidentID, CentreID: centre, Product: cur.Product, SlotStart: in.SlotStart, Earliest: in.Earliest}, r)
	if err != nil {
		return nil, err
	}
	req.Reference, req.PriorityGroup = cur.Reference, cur.PriorityGroup
	corr := CorrelationID(ctx)
	moved, err := a.p.Bookings.Move(ctx, ref, req, func(ap *domain.Appointment) error { return ap.CanCancel() },
		func(old, moved *domain.Appointment) []domain.Event {
			return []domain.Event{domain.MovedEvent(old, moved, corr, req.BookedAt)}
		})
	if err != nil {
		return nil, err
	}
	a.serveAfterRelease(ctx, cur.CentreID)
	return moved, nil
}

// serveAfterRelease tries to hand freed capacity to the waitlist. Failure is
// logged, not returned: the cancellation itself has succeeded.
func (a *App) serveAfterRelease(ctx context.Context, centreID string) {
	if _, err := a.ServeWaitlist(ctx, centreID); err != nil {
		a.cfg.Logger.WarnContext(ctx, "serving the waitlist failed", "centre", centreID, "err", err)
	}
}

// CheckIn checks a person in by reference and date of birth. Staff see the
// person and their ID card, so a lock of the attempt ledger does not stop a
// check-in (an attacker's guesses must not cost someone their vaccination);
// a wrong date still counts as a failure (channel staff), and checking in a
// locked resident is audited (outcome override).
func (a *App) CheckIn(ctx context.Context, ref string, birth domain.Date) (*domain.Appointment, error) {
	if _, err := a.verifyHolder(ctx, ref, birth, true); err != nil {
		return nil, err
	}
	now := a.Now()
	corr := CorrelationID(ctx)
	return a.p.Bookings.Update(ctx, domain.NormalizeReference(ref), func(ap *domain.Appointment) ([]domain.Event, error) {
		d, err := ap.CheckIn(now, a.cfg.Location)
		if err != nil {
			return nil, err
		}
		return []domain.Event{domain.NewEvent("appointment.checked-in", ap.Reference, corr, now, domain.AppointmentCheckedIn{
			Reference: ap.Reference, CentreID: ap.CentreID, DoseNumber: d.Number, CheckedInAt: domain.Time(now)})}, nil
	})
}

// CheckOutInput records the dose given.
type CheckOutInput struct {
	Reference    string
	Product      domain.ProductID
	Batch        string
	VaccinatorID string
	At           time.Time // zero: now
}

// CheckOut records the dose given: product, batch, vaccinator and time.
func (a *App) CheckOut(ctx context.Context, in CheckOutInput) (*domain.Appointment, error) {
	at := in.At
	if at.IsZero() {
		at = a.Now()
	}
	ref := domain.NormalizeReference(in.Reference)
	cur, err := a.p.Bookings.Appointment(ctx, ref)
	if err != nil {
		return nil, err
	}
	r, err := a.p.Residents.Resident(ctx, cur.ResidentID)
	if err != nil {
		return nil, err
	}
	corr := CorrelationID(ctx)
	return a.p.Bookings.Update(ctx, ref, func(ap *domain.Appointment) ([]domain.Event, error) {
		d, err := ap.Administer(in.Product, in.Batch, in.VaccinatorID, at)
		if err != nil {
			return nil, err
		}
		return []domain.Event{domain.NewEvent("appointment.dose-administered", ap.Reference, corr, at, domain.DoseGiven{
			Reference: ap.Reference, ResidentID: ap.ResidentID, CentreID: ap.CentreID, Product: d.Product, Batch: d.Batch,
			DoseNumber: d.Number, VaccinatorID: d.VaccinatorID, AdministeredAt: domain.Time(at),
			AgeGroup: domain.AgeGroup(r.AgeOn(domain.DateOf(at.In(a.cfg.Location)))), SeriesComplete: ap.Status == domain.SeriesCompleted})}, nil
	})
}

// EndOfDay marks every dose still booked whose slot has ended before "before"
// as a no-show and frees what it held. centreID empty: every centre.
func (a *App) EndOfDay(ctx context.Context, centreID string, before time.Time) (int, error) {
	corr := CorrelationID(ctx)
	now := a.Now()
	n, err := a.p.Bookings.MarkNoShows(ctx, centreID, before, func(ap *domain.Appointment, d domain.Dose) []domain.Event {
		return []domain.Event{domain.NewEvent("appointment.no-show", ap.Reference, corr, now, domain.NoShow{
			Reference: ap.Reference, CentreID: ap.CentreID, DoseNumber: d.Number, SlotStart: domain.Time(d.Start)})}
	})
	if err != nil {
		return 0, fmt.Errorf("end of day: %w", err)
	}
	return n, nil
}

// RecordDelivery records doses delivered (or announced) to a centre and serves
// the waitlist with the new stock.
func (a *App) RecordDelivery(ctx context.Context, d Delivery) (bool, error) {
	if _, err := a.p.Campaign.Centre(ctx, d.CentreID); err != nil {
		return false, err
	}
	switch {
	case !domain.KnownProduct(d.Product):
		return false, domain.Invalid("product", "unknown product %q", d.Product)
	case d.Doses <= 0 || d.Doses > 1_000_000:
		return false, domain.Invalid("doses", "must be between 1 and 1000000")
	case d.Arrives.IsZero():
		return false, domain.Invalid("arrives_on", "is required (YYYY-MM-DD)")
	case !d.Expires.IsZero() && d.Expires.Before(d.Arrives):
		return false, domain.Invalid("expires_on", "lies before arrives_on")
	}
	if d.ID == "" {
		d.ID = domain.NewID()
	}
	reason := "delivery"
	if d.Announced {
		reason = "announced"
	}
	ev := domain.NewEvent("stock.changed", d.CentreID+"/"+string(d.Product), CorrelationID(ctx), a.Now(), domain.StockChanged{
		CentreID: d.CentreID, Product: d.Product, Day: d.Arrives.String(), Delta: d.Doses, Reason: reason,
		Batch: d.Batch, Expires: dateOrEmpty(d.Expires), DeliveryID: d.ID})
	fresh, err := a.p.Stock.RecordDelivery(ctx, d, []domain.Event{ev})
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	if fresh {
		a.serveAfterRelease(ctx, d.CentreID)
	}
	return fresh, nil
}

func dateOrEmpty(d domain.Date) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

// JoinWaitlist puts a resident on the waitlist for a centre or a district.
func (a *App) JoinWaitlist(ctx context.Context, residentID, centreID, districtAGS string, product domain.ProductID) (*domain.WaitlistEntry, error) {
	r, err := a.p.Residents.Resident(ctx, residentID)
	if err != nil {
		return nil, err
	}
	if (centreID == "") == (districtAGS == "") {
		return nil, domain.Invalid("centre_id", "give either centre_id or district_ags")
	}
	if centreID != "" {
		if _, err := a.p.Campaign.Centre(ctx, centreID); err != nil {
			return nil, err
		}
	}
	if districtAGS != "" && len(districtAGS) != 5 {
		return nil, domain.Invalid("district_ags", "must have 5 digits")
	}
	if product != "" && !domain.KnownProduct(product) {
		return nil, domain.Invalid("product", "unknown product %q", product)
	}
	rs, err := a.CurrentRules(ctx)
	if err != nil {
		return nil, err
	}
	e := rs.Entitle(r, a.today())
	if len(e.Products) == 0 {
		return nil, e.Reason
	}
	if product != "" && !slices.Contains(e.Products, product) {
		if ref := rs.AllowsProduct(product, r, a.today()); ref != nil {
			return nil, ref
		}
	}
	if ap, err := a.p.Bookings.OpenAppointmentOf(ctx, residentID); err == nil && ap != nil {
		return nil, &domain.Refusal{Kind: domain.ErrAlreadyBooked, Code: "already-booked", Message: "Sie haben bereits einen Termin."}
	}
	entry := &domain.WaitlistEntry{ID: domain.NewID(), ResidentID: residentID, CentreID: centreID, DistrictAGS: districtAGS,
		Product: product, PriorityGroup: e.Group, JoinedAt: a.Now().UTC(), Status: "waiting"}
	ev := domain.NewEvent("waitlist.joined", entry.ID, CorrelationID(ctx), a.Now(), domain.WaitlistJoined{
		EntryID: entry.ID, ResidentID: residentID, CentreID: centreID, DistrictAGS: districtAGS, PriorityGroup: e.Group})
	if err := a.p.Waitlist.JoinWaitlist(ctx, entry, []domain.Event{ev}); err != nil {
		return nil, err
	}
	return entry, nil
}

// ServeWaitlist assigns appointments at a centre to waiting residents in
// order (priority group, then time of joining) until nothing more fits. It
// returns the number served.
func (a *App) ServeWaitlist(ctx context.Context, centreID string) (int, error) {
	centre, err := a.p.Campaign.Centre(ctx, centreID)
	if err != nil {
		return 0, err
	}
	entries, err := a.p.Waitlist.Waiting(ctx, centre.ID, centre.DistrictAGS, 200)
	if err != nil {
		return 0, err
	}
	served := 0
	corr := CorrelationID(ctx)
	for _, e := range entries {
		r, err := a.p.Residents.Resident(ctx, e.ResidentID)
		if err != nil {
			return served, err
		}
		req, err := a.plan(ctx, BookingInput{ResidentID: e.ResidentID, CentreID: centre.ID, Product: e.Product}, r)
		if err != nil {
			continue // not entitled (any more) or no product: stays waiting
		}
		req.WaitlistEntryID = e.ID
		entry := e
		_, err = a.p.Bookings.Book(ctx, req, func(ap *domain.Appointment) []domain.Event {
			return []domain.Event{
				domain.BookedEvent(ap, corr, req.BookedAt),
				domain.NewEvent("waitlist.served", entry.ID, corr, req.BookedAt, domain.WaitlistServed{
					EntryID: entry.ID, ResidentID: entry.ResidentID, Reference: ap.Reference, CentreID: ap.CentreID}),
			}
		})
		switch {
		case err == nil:
			served++
		case errors.Is(err, domain.ErrNoCapacity), errors.Is(err, domain.ErrNoStock):
			if e.Product != "" {
				continue // another product may still fit for the next person
			}
			return served, nil
		case errors.Is(err, domain.ErrAlreadyBooked), errors.Is(err, domain.ErrConflict):
			continue
		default:
			return served, err
		}
	}
	return served, nil
}

// PublishRuleSet validates and stores a rule set; it applies from its
// effective time on, without a restart.
func (a *App) PublishRuleSet(ctx context.Context, rs *domain.RuleSet) error {
	if err := rs.Validate(); err != nil {
		return err
	}
	products := []domain.ProductID{}
	for _, v := range rs.Vaccines {
		if v.Available {
			products = append(products, v.Product)
		}
	}
	open := rs.OpenGroups
	if open == nil {
		open = []int{}
	}
	ev := domain.NewEvent("ruleset.published", rs.Version, CorrelationID(ctx), a.Now(), domain.RuleSetPublished{
		Version: rs.Version, EffectiveFrom: domain.Time(rs.EffectiveFrom), OpenGroups: open, Products: products})
	if err := a.p.RuleSets.PublishRuleSet(ctx, rs, []domain.Event{ev}); err != nil {
		return err
	}
	a.invalidateRules()
	return nil
}

// RuleSets lists every published rule set.
func (a *App) RuleSets(ctx context.Context) ([]domain.RuleSet, error) {
	return a.p.RuleSets.RuleSets(ctx)
}

// WhatIf answers, without changing anything, what a draft rule set would
// change: group changes, newly entitled residents and broken bookings.
func (a *App) WhatIf(ctx context.Context, draft *domain.RuleSet) (*domain.WhatIfReport, error) {
	if err := draft.Validate(); err != nil {
		return nil, err
	}
	cur, err := a.p.RuleSets.RuleSetAt(ctx, a.Now())
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return nil, err
	}
	w := domain.NewWhatIf(cur, draft, a.today(), a.cfg.Location)
	residents := map[string]*domain.Resident{}
	if err := a.p.Residents.EachResident(ctx, func(r *domain.Resident) error {
		w.AddResident(r)
		residents[r.ID] = r
		return nil
	}); err != nil {
		return nil, err
	}
	if err := a.p.Bookings.EachOpenAppointment(ctx, func(ap *domain.Appointment) error {
		r, ok := residents[ap.ResidentID]
		if !ok {
			return nil
		}
		w.AddAppointment(ap, r)
		return nil
	}); err != nil {
		return nil, err
	}
	return &w.Report, nil
}

// Progress reads statewide progress.
func (a *App) Progress(ctx context.Context) (*Progress, error) { return a.p.Reports.Progress(ctx) }

// RKIRows reads the rows of the RKI-style CSV.
func (a *App) RKIRows(ctx context.Context) ([]RKIRow, error) { return a.p.Reports.RKIRows(ctx) }

// EnsureSlots creates the slots of every centre for days [from, from+days).
func (a *App) EnsureSlots(ctx context.Context, from domain.Date, days int) (int, error) {
	centres, err := a.p.Campaign.Centres(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for i := range centres {
		c := &centres[i]
		var specs []domain.SlotSpec
		for d := 0; d < days; d++ {
			specs = append(specs, c.SlotsOn(from.AddDays(d), a.cfg.Location)...)
		}
		n, err := a.p.Bookings.EnsureSlots(ctx, c.ID, specs)
		if err != nil {
			return total, fmt.Errorf("slots of %s: %w", c.ID, err)
		}
		total += n
		if n > 0 {
			a.serveAfterRelease(ctx, c.ID) // more places: the waitlist comes first
		}
	}
	return total, nil
}
