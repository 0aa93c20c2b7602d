package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// MobileStore stores mobile campaigns, doses issued to teams and doses given
// in the field. Every method that changes state writes its events in the
// same transaction.
type MobileStore interface {
	CreateMobileCampaign(ctx context.Context, c *domain.MobileCampaign, events []domain.Event) error
	// UpdateMobileCampaign locks the campaign, lets fn change it and saves
	// it with fn's events.
	UpdateMobileCampaign(ctx context.Context, id string, fn func(*domain.MobileCampaign) ([]domain.Event, error)) (*domain.MobileCampaign, error)
	MobileCampaign(ctx context.Context, id string) (*domain.MobileCampaign, error)
	// SetVisitProgress records the planner's state and team of a visit
	// (the planner owns them: no event, no version).
	SetVisitProgress(ctx context.Context, id, status, team string, at time.Time) error
	// RecordFieldDose stores d once per RecordID. In one transaction
	// (serialised per resident) it reads the facts for [dayFrom, dayTo),
	// asks decide and stores its outcome and events. A record seen before
	// is returned as stored, and decide is not called.
	RecordFieldDose(ctx context.Context, d domain.FieldDose, dayFrom, dayTo time.Time,
		decide func(domain.FieldDoseFacts) (FieldDoseOutcome, error)) (*FieldDoseResult, error)
	// DecideHeldFieldDose locks a held dose and stores decide's outcome.
	DecideHeldFieldDose(ctx context.Context, recordID string, decide func(d domain.FieldDose) (FieldDoseOutcome, error)) (*FieldDoseResult, error)
	HeldFieldDoses(ctx context.Context) ([]domain.HeldFieldDose, error)
	// FieldDose returns a field dose as recorded.
	FieldDose(ctx context.Context, recordID string) (*domain.FieldDose, error)
	// RecordFieldDoseEdit stores a later revision of a counted field record
	// for review; the same revision twice changes nothing.
	RecordFieldDoseEdit(ctx context.Context, e FieldDoseEdit) (bool, error)
	FieldDoseEdits(ctx context.Context) ([]FieldDoseEdit, error)
	RecordTeamIssue(ctx context.Context, i TeamIssue) (bool, error)
	RecordTeamReturn(ctx context.Context, r TeamReturn) (bool, error)
	MobileReconciliation(ctx context.Context, from, to domain.Date) ([]MobileReconRow, error)
}

// FieldDoseOutcome is the decision on a field dose.
type FieldDoseOutcome struct {
	Status    string // accepted, held, rejected
	Reason    string
	Detail    string
	CentreID  string
	Reference string
	EventID   string
	Events    []domain.Event
	DecidedBy string
}

// FieldDoseResult is a field dose as stored.
type FieldDoseResult struct {
	RecordID  string `json:"record_id"`
	Status    string `json:"status"`
	Reason    string `json:"reason,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Reference string `json:"reference,omitempty"`
	// Fresh is false when the record had been stored before.
	Fresh bool `json:"fresh"`
}

// FieldDoseEdit is a change of a field record that arrived after the dose
// was recorded.
type FieldDoseEdit struct {
	RecordID   string         `json:"record_id"`
	Revision   int            `json:"revision"`
	Changes    map[string]any `json:"changes"`
	Reason     string         `json:"reason"`
	Status     string         `json:"status"`
	RecordedAt time.Time      `json:"recorded_at"`
}

// TeamIssue is a batch issued to a team (confirmed 311 transfer).
type TeamIssue struct {
	ID      string
	Team    string
	Day     domain.Date
	Product domain.ProductID
	Batch   string
	Doses   int
}

// TeamReturn is what a team brought back or wasted (open vials) on a day.
type TeamReturn struct {
	ID       string
	Team     string
	Day      domain.Date
	Product  domain.ProductID
	Batch    string
	Returned int
	Wasted   int
}

// MobileReconRow compares, for one team, day and product, the doses
// requested, transferred, administered, held, returned and wasted.
type MobileReconRow struct {
	Team         string `json:"team"`
	Day          string `json:"day"`
	Product      string `json:"product"`
	Requested    int    `json:"requested"`
	Transferred  int    `json:"transferred"`
	Administered int    `json:"administered"`
	Held         int    `json:"held"`
	Returned     int    `json:"returned"`
	Wasted       int    `json:"wasted"`
	// OpenVialRest is what the vials opened for the administered doses
	// left over (vials × doses per vial − administered), the expected waste.
	OpenVialRest int `json:"open_vial_rest"`
	// Difference is transferred − administered − held − returned − wasted:
	// doses nobody accounted for (0 when everything matches).
	Difference int `json:"difference"`
}

// Mobile holds the use cases of mobile teams for care homes (issue 7).
type Mobile struct {
	a *App
	s MobileStore
}

// NewMobile returns the mobile use cases over the app and a store.
func NewMobile(a *App, s MobileStore) (*Mobile, error) {
	if a == nil || s == nil {
		return nil, errors.New("app: mobile needs the app and a store")
	}
	return &Mobile{a: a, s: s}, nil
}

// App is the app the mobile use cases run in.
func (m *Mobile) App() *App { return m.a }

// MobileCampaignInput plans a visit.
type MobileCampaignInput struct {
	CareHome     string
	Day          domain.Date
	Team         string
	CentreID     string
	PlannedStart time.Time // zero: 09:00 on Day
	Roster       []domain.RosterEntry
	Doses        map[domain.ProductID]int
}

// PlanMobileCampaign stores a new campaign; every person on the roster must
// be registered. It emits mobile.campaign-planned and
// mobile.transfer-requested (the doses for the team).
func (m *Mobile) PlanMobileCampaign(ctx context.Context, in MobileCampaignInput) (*domain.MobileCampaign, error) {
	now := m.a.Now()
	c := &domain.MobileCampaign{ID: domain.NewID(), CareHome: in.CareHome, Day: in.Day, Team: in.Team, CentreID: in.CentreID,
		PlannedStart: in.PlannedStart, Roster: in.Roster, Doses: in.Doses, Version: 1, Status: "planned", Created: now.UTC(), Updated: now.UTC()}
	if c.PlannedStart.IsZero() && !c.Day.IsZero() {
		c.PlannedStart = c.Day.In(m.a.cfg.Location).Add(9 * time.Hour)
	}
	if c.Doses == nil {
		c.Doses = map[domain.ProductID]int{}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if _, err := m.a.p.Campaign.Centre(ctx, c.CentreID); err != nil {
		return nil, fmt.Errorf("centre %s: %w", c.CentreID, err)
	}
	if err := m.checkRoster(ctx, c.Roster); err != nil {
		return nil, err
	}
	if err := m.s.CreateMobileCampaign(ctx, c, c.PlannedEvents(CorrelationID(ctx), now)); err != nil {
		return nil, fmt.Errorf("plan mobile campaign: %w", err)
	}
	return c, nil
}

func (m *Mobile) checkRoster(ctx context.Context, roster []domain.RosterEntry) error {
	for _, r := range roster {
		if _, err := m.a.p.Residents.Resident(ctx, r.ResidentID); err != nil {
			if errors.Is(err, domain.ErrNotFound) {
				return domain.Invalid("roster", "resident %s is not registered", r.ResidentID)
			}
			return err
		}
	}
	return nil
}

// MobileCampaignChange changes a planned campaign: people join the roster,
// the date moves, more doses are needed. Zero fields stay as they are.
type MobileCampaignChange struct {
	AddToRoster  []domain.RosterEntry
	Day          domain.Date
	PlannedStart time.Time
	Doses        map[domain.ProductID]int // new totals per product
}

// ChangeMobileCampaign applies ch; when anything changed the version grows
// and the planner and the transfer are told again.
func (m *Mobile) ChangeMobileCampaign(ctx context.Context, id string, ch MobileCampaignChange) (*domain.MobileCampaign, error) {
	if err := m.checkRoster(ctx, ch.AddToRoster); err != nil {
		return nil, err
	}
	now := m.a.Now()
	corr := CorrelationID(ctx)
	return m.s.UpdateMobileCampaign(ctx, id, func(c *domain.MobileCampaign) ([]domain.Event, error) {
		changed := false
		for _, r := range ch.AddToRoster {
			if !c.OnRoster(r.ResidentID) {
				c.Roster = append(c.Roster, r)
				changed = true
			}
		}
		if !ch.Day.IsZero() && ch.Day != c.Day {
			shift := ch.Day.In(time.UTC).Sub(c.Day.In(time.UTC))
			c.Day = ch.Day
			if ch.PlannedStart.IsZero() {
				c.PlannedStart = c.PlannedStart.Add(shift)
			}
			changed = true
		}
		if !ch.PlannedStart.IsZero() && !ch.PlannedStart.Equal(c.PlannedStart) {
			c.PlannedStart = ch.PlannedStart
			changed = true
		}
		for p, n := range ch.Doses {
			if c.Doses[p] != n {
				c.Doses[p] = n
				changed = true
			}
		}
		if !changed {
			return nil, nil
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		c.Version++
		c.Updated = now.UTC()
		return c.PlannedEvents(corr, now), nil
	})
}

// MobileCampaign returns a campaign by ID.
func (m *Mobile) MobileCampaign(ctx context.Context, id string) (*domain.MobileCampaign, error) {
	return m.s.MobileCampaign(ctx, id)
}

// RecordVisitProgress records the planner's state (assigned, in-progress,
// completed, cancelled, ...) and team of a visit.
func (m *Mobile) RecordVisitProgress(ctx context.Context, id, status, team string) error {
	return m.s.SetVisitProgress(ctx, id, status, team, m.a.Now())
}

// RecordFieldDose counts a dose given on a visit once per field record, or
// holds it for review with a reason (already vaccinated that day, unknown
// batch, batch not issued to the team, not on the roster, ...). A counted
// dose emits appointment.dose-administered exactly as a check-out does:
// reference is a new reference for this field dose, centre_id the
// campaign's centre, so stock, SAP goods issues and reporting treat it like
// any other dose.
func (m *Mobile) RecordFieldDose(ctx context.Context, d domain.FieldDose) (*FieldDoseResult, error) {
	if d.RecordID == "" {
		return nil, domain.Invalid("record_id", "is required")
	}
	var res *domain.Resident
	if d.ResidentID != "" {
		r, err := m.a.p.Residents.Resident(ctx, d.ResidentID)
		switch {
		case err == nil:
			res = r
		case !errors.Is(err, domain.ErrNotFound):
			return nil, err
		}
	}
	loc := m.a.cfg.Location
	day := domain.DateOf(d.AdministeredAt.In(loc))
	corr := CorrelationID(ctx)
	return m.s.RecordFieldDose(ctx, d, day.In(loc), day.AddDays(1).In(loc), func(f domain.FieldDoseFacts) (FieldDoseOutcome, error) {
		f.ResidentKnown = res != nil
		if reason, detail := d.HoldReason(f); reason != "" {
			out := FieldDoseOutcome{Status: "held", Reason: reason, Detail: detail}
			if f.Campaign != nil {
				out.CentreID = f.Campaign.CentreID
			}
			return out, nil
		}
		return m.accept(d, f.Campaign.CentreID, res, corr), nil
	})
}

func (m *Mobile) accept(d domain.FieldDose, centreID string, r *domain.Resident, corr string) FieldDoseOutcome {
	ref := domain.NewReference()
	day := domain.DateOf(d.AdministeredAt.In(m.a.cfg.Location))
	ev := domain.NewEvent("appointment.dose-administered", ref, corr, d.AdministeredAt, domain.DoseGiven{
		Reference: ref, ResidentID: d.ResidentID, CentreID: centreID, Product: d.Product, Batch: d.Batch,
		DoseNumber: d.DoseNumber, VaccinatorID: d.VaccinatorID, AdministeredAt: domain.Time(d.AdministeredAt),
		AgeGroup: domain.AgeGroup(r.AgeOn(day)), SeriesComplete: d.DoseNumber >= 2 || d.Product == domain.Janssen})
	return FieldDoseOutcome{Status: "accepted", CentreID: centreID, Reference: ref, EventID: ev.ID, Events: []domain.Event{ev}}
}

// DecideHeldFieldDose lets staff count a held dose (accept) or record that it
// was not given (reject). Accepting emits the dose-administered event.
func (m *Mobile) DecideHeldFieldDose(ctx context.Context, recordID string, accept bool, staffID string) (*FieldDoseResult, error) {
	corr := CorrelationID(ctx)
	return m.s.DecideHeldFieldDose(ctx, recordID, func(d domain.FieldDose) (FieldDoseOutcome, error) {
		if !accept {
			return FieldDoseOutcome{Status: "rejected", DecidedBy: staffID}, nil
		}
		r, err := m.a.p.Residents.Resident(ctx, d.ResidentID)
		if err != nil {
			return FieldDoseOutcome{}, fmt.Errorf("accept held dose: %w", err)
		}
		c, err := m.s.MobileCampaign(ctx, d.CampaignID)
		if err != nil {
			return FieldDoseOutcome{}, fmt.Errorf("accept held dose: %w", err)
		}
		out := m.accept(d, c.CentreID, r, corr)
		out.DecidedBy = staffID
		return out, nil
	})
}

// HeldFieldDoses lists the field doses waiting for review, oldest first.
func (m *Mobile) HeldFieldDoses(ctx context.Context) ([]domain.HeldFieldDose, error) {
	return m.s.HeldFieldDoses(ctx)
}

// RecordFieldDoseEdit compares a later revision of a field record with the
// dose recorded from it. When the dose's facts changed (resident, product,
// batch, dose number, time: an offline edit that crossed the sync, a
// correction), the change is held for review with what was and what is; it
// is never applied by itself. It reports whether a new edit was held.
func (m *Mobile) RecordFieldDoseEdit(ctx context.Context, revision int, now domain.FieldDose) (bool, error) {
	was, err := m.s.FieldDose(ctx, now.RecordID)
	if err != nil {
		return false, err
	}
	changes := map[string]any{}
	diff := func(field string, a, b any) {
		if a != b {
			changes[field] = map[string]any{"was": a, "now": b}
		}
	}
	diff("resident_id", was.ResidentID, now.ResidentID)
	diff("product", string(was.Product), string(now.Product))
	diff("batch", was.Batch, now.Batch)
	diff("dose_number", was.DoseNumber, now.DoseNumber)
	diff("administered_at", domain.Time(was.AdministeredAt), domain.Time(now.AdministeredAt))
	if len(changes) == 0 {
		return false, nil
	}
	return m.s.RecordFieldDoseEdit(ctx, FieldDoseEdit{RecordID: now.RecordID, Revision: revision, Changes: changes,
		Reason: domain.HoldEditedAfterRecording, Status: "held", RecordedAt: m.a.Now().UTC()})
}

// FieldDoseEdits lists the edits held for review.
func (m *Mobile) FieldDoseEdits(ctx context.Context) ([]FieldDoseEdit, error) {
	return m.s.FieldDoseEdits(ctx)
}

// RecordTeamIssue records a batch issued to a team; the same ID twice
// changes nothing.
func (m *Mobile) RecordTeamIssue(ctx context.Context, i TeamIssue) (bool, error) {
	if i.ID == "" || i.Team == "" || i.Batch == "" || i.Doses <= 0 || i.Day.IsZero() {
		return false, domain.Invalid("issue", "id, team, day, batch and a positive number of doses are required")
	}
	return m.s.RecordTeamIssue(ctx, i)
}

// RecordTeamReturn records doses brought back or wasted by a team.
func (m *Mobile) RecordTeamReturn(ctx context.Context, r TeamReturn) (bool, error) {
	if r.ID == "" || r.Team == "" || r.Batch == "" || r.Day.IsZero() || r.Returned < 0 || r.Wasted < 0 {
		return false, domain.Invalid("return", "id, team, day, batch and non-negative numbers are required")
	}
	return m.s.RecordTeamReturn(ctx, r)
}

// MobileReconciliation compares, per team, day and product in [from, to],
// doses requested, transferred, administered, held, returned and wasted.
func (m *Mobile) MobileReconciliation(ctx context.Context, from, to domain.Date) ([]MobileReconRow, error) {
	return m.s.MobileReconciliation(ctx, from, to)
}

// MobileDoseReader is the optional part of a MobileStore that the SAP
// connector reads (core/store implements it): which field dose a reference
// belongs to, and field doses per batch for stock reconciliation.
type MobileDoseReader interface {
	FieldDoseByReference(ctx context.Context, reference string) (*domain.FieldDose, error)
	MobileDosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]DosesGiven, error)
}

// MobileOf returns the mobile use cases over the app's own store, when its
// Stock port also stores mobile campaigns (core/store does); else an error.
func MobileOf(a *App) (*Mobile, error) {
	if a == nil {
		return nil, errors.New("app: no app")
	}
	s, ok := a.p.Stock.(MobileStore)
	if !ok {
		return nil, errors.New("app: the store does not keep mobile campaigns")
	}
	return NewMobile(a, s)
}

// FieldDoseByReference returns the accepted field dose behind the reference
// of a dose-administered event, or domain.ErrNotFound when the dose was
// given at a centre.
func (m *Mobile) FieldDoseByReference(ctx context.Context, reference string) (*domain.FieldDose, error) {
	r, ok := m.s.(MobileDoseReader)
	if !ok {
		return nil, errors.New("app: the mobile store cannot look up field doses by reference")
	}
	return r.FieldDoseByReference(ctx, reference)
}

// MobileDosesGivenByBatch counts accepted field doses per centre, product,
// batch and day on days [from, to].
func (m *Mobile) MobileDosesGivenByBatch(ctx context.Context, from, to domain.Date) ([]DosesGiven, error) {
	r, ok := m.s.(MobileDoseReader)
	if !ok {
		return nil, errors.New("app: the mobile store cannot count field doses by batch")
	}
	return r.MobileDosesGivenByBatch(ctx, from, to)
}
