// Package app holds the use cases of the vaccination campaign and the ports
// (interfaces) they need from storage. Every channel (web API, hotline,
// connectors) calls these use cases, so entitlement, capacity and stock rules
// are the same everywhere. It never touches HTTP, Kafka or SQL.
package app

import (
	"context"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Clock tells the time; tests use a fixed one.
type Clock interface{ Now() time.Time }

// Residents stores residents and their proxies.
type Residents interface {
	// CreateResident stores r (and a new proxy when proxy is not nil) with the
	// hashes of their access tokens, and the events, in one transaction.
	CreateResident(ctx context.Context, r *domain.Resident, tokenHash []byte, proxy *domain.Proxy, proxyTokenHash []byte, events []domain.Event) error
	Resident(ctx context.Context, id string) (*domain.Resident, error)
	// TokenHashes returns the hashes of the resident's own token and of their proxy's token (nil when none).
	TokenHashes(ctx context.Context, residentID string) (own, proxy []byte, err error)
	ProxyTokenHash(ctx context.Context, proxyID string) ([]byte, error)
	// ResidentWithTokens is Resident and TokenHashes in one read.
	ResidentWithTokens(ctx context.Context, id string) (r *domain.Resident, own, proxy []byte, err error)
	// EachResident calls fn for every registered resident.
	EachResident(ctx context.Context, fn func(*domain.Resident) error) error
	// SetContact stores r's phone, e-mail and contact preference.
	SetContact(ctx context.Context, r *domain.Resident) error
}

// Campaign is the static campaign data: centres and products.
type Campaign interface {
	Centres(ctx context.Context) ([]domain.Centre, error)
	Centre(ctx context.Context, id string) (*domain.Centre, error)
	Products(ctx context.Context) ([]domain.Product, error)
}

// RuleSets stores entitlement rule sets.
type RuleSets interface {
	PublishRuleSet(ctx context.Context, rs *domain.RuleSet, events []domain.Event) error
	// RuleSetAt returns the rule set in force at t: the latest whose
	// effective time is not after t.
	RuleSetAt(ctx context.Context, t time.Time) (*domain.RuleSet, error)
	RuleSets(ctx context.Context) ([]domain.RuleSet, error)
}

// BookRequest is what the store must reserve atomically.
type BookRequest struct {
	Reference     string
	ResidentID    string
	CentreID      string
	Product       domain.ProductID
	PriorityGroup int
	// SlotStart: the exact start of the dose-1 slot; when zero, the earliest
	// slot at or after Earliest with a free place and a dose is taken.
	SlotStart time.Time
	Earliest  time.Time
	Latest    time.Time // for the earliest search: do not look past this (zero: no limit)
	// Second dose, for two-dose products: product and window in days after dose 1.
	NextProduct              domain.ProductID
	NextMinDays, NextMaxDays int
	// WaitlistEntryID, when set, is marked served in the same transaction.
	WaitlistEntryID string
	BookedAt        time.Time
}

// Bookings reserves places and doses. Every method that changes state runs
// in one transaction together with the events it is given.
type Bookings interface {
	// Book reserves both doses or nothing. events builds the outbox events
	// from the final appointment.
	Book(ctx context.Context, req BookRequest, events func(*domain.Appointment) []domain.Event) (*domain.Appointment, error)
	// Move replaces the open doses of the series ref atomically; check vets
	// the locked current state first.
	Move(ctx context.Context, ref string, req BookRequest, check func(*domain.Appointment) error, events func(old, moved *domain.Appointment) []domain.Event) (*domain.Appointment, error)
	// Cancel releases every open dose of ref; check vets the locked state.
	Cancel(ctx context.Context, ref string, check func(*domain.Appointment) error, events func(*domain.Appointment) []domain.Event) (*domain.Appointment, error)
	// Update locks ref, lets fn change it (check-in, check-out) and saves the
	// doses' states with fn's events.
	Update(ctx context.Context, ref string, fn func(*domain.Appointment) ([]domain.Event, error)) (*domain.Appointment, error)
	Appointment(ctx context.Context, ref string) (*domain.Appointment, error)
	OpenAppointmentOf(ctx context.Context, residentID string) (*domain.Appointment, error)
	Slots(ctx context.Context, centreID string, from, to time.Time, product domain.ProductID) ([]SlotView, error)
	// EachOpenAppointment calls fn for every booked series.
	EachOpenAppointment(ctx context.Context, fn func(*domain.Appointment) error) error
	// MarkNoShows ends every dose still booked whose slot ended before
	// before, at centre (all centres when empty), and releases its reservations.
	MarkNoShows(ctx context.Context, centreID string, before time.Time, events func(a *domain.Appointment, d domain.Dose) []domain.Event) (int, error)
	// EnsureSlots creates the slots of a centre for the given days when missing.
	EnsureSlots(ctx context.Context, centreID string, slots []domain.SlotSpec) (int, error)
}

// SlotView is a slot as residents see it.
type SlotView struct {
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Places    int       `json:"places"`
	Free      int       `json:"free"`
	DosesFree int       `json:"doses_free"`
}

// Delivery is an announced or received delivery of doses to a centre.
type Delivery struct {
	ID       string           `json:"id"`
	CentreID string           `json:"centre_id"`
	Product  domain.ProductID `json:"product"`
	Doses    int              `json:"doses"`
	Arrives  domain.Date      `json:"arrives_on"`
	Expires  domain.Date      `json:"expires_on"`
	Batch    string           `json:"batch,omitempty"`
	// Announced: not yet received (counts as stock for booking).
	Announced bool `json:"announced"`
}

// Stock records deliveries.
type Stock interface {
	// RecordDelivery stores d; recording the same ID twice changes nothing
	// and returns false.
	RecordDelivery(ctx context.Context, d Delivery, events []domain.Event) (bool, error)
}

// Waitlist stores residents waiting for a place.
type Waitlist interface {
	JoinWaitlist(ctx context.Context, e *domain.WaitlistEntry, events []domain.Event) error
	// Waiting returns waiting entries for a centre (its own and its district's),
	// in serving order: priority group, then time of joining.
	Waiting(ctx context.Context, centreID, districtAGS string, limit int) ([]domain.WaitlistEntry, error)
}

// Reports reads statewide figures.
type Reports interface {
	Progress(ctx context.Context) (*Progress, error)
	RKIRows(ctx context.Context) ([]RKIRow, error)
}

// Progress is the statewide progress report.
type Progress struct {
	GeneratedAt  time.Time        `json:"generated_at"`
	Doses        []DoseCount      `json:"doses"`
	Centres      []CentreStock    `json:"centres"`
	WaitlistOpen int              `json:"waitlist_waiting"`
	Totals       map[string]int64 `json:"totals"`
}

// DoseCount counts given doses by day, centre, product, dose number and age group.
type DoseCount struct {
	Day        string `json:"day"`
	CentreID   string `json:"centre_id"`
	Product    string `json:"product"`
	DoseNumber int    `json:"dose_number"`
	AgeGroup   string `json:"age_group"`
	Count      int64  `json:"count"`
}

// CentreStock compares booked with stock for a centre and product.
type CentreStock struct {
	CentreID     string `json:"centre_id"`
	Product      string `json:"product"`
	Delivered    int64  `json:"doses_delivered"`
	Reserved     int64  `json:"doses_reserved"`
	Administered int64  `json:"doses_administered"`
	Free         int64  `json:"doses_free"`
	BookedDoses  int64  `json:"booked_doses"`
}

// RKIRow is one line of the RKI-style CSV.
type RKIRow struct {
	Day         string
	DistrictAGS string
	AgeGroup    string
	Protection  int // 1 first dose, 2 complete series
	Count       int64
}
