package domain

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// MobileCampaign is one mobile team's visit to one care home on one day: who
// is to be vaccinated (residents and staff, registered like everyone else)
// and how many doses of each product the team needs. Doses given on the
// visit count for CentreID, the centre of the team's district, whose stock
// the team draws from.
type MobileCampaign struct {
	ID           string            `json:"id"`
	CareHome     string            `json:"care_home"` // the planner's location code
	Day          Date              `json:"day"`
	Team         string            `json:"team"` // the planner's group code, MT01..MT30
	CentreID     string            `json:"centre_id"`
	PlannedStart time.Time         `json:"planned_start"`
	Roster       []RosterEntry     `json:"roster"`
	Doses        map[ProductID]int `json:"doses"`
	Version      int               `json:"version"`
	Status       string            `json:"planner_status"`
	PlannerTeam  string            `json:"planner_team,omitempty"`
	Created      time.Time         `json:"created_at"`
	Updated      time.Time         `json:"updated_at"`
}

// RosterEntry is one person to vaccinate on a visit.
type RosterEntry struct {
	ResidentID string `json:"resident_id"`
	Staff      bool   `json:"staff,omitempty"`
}

// Validate checks a campaign before it is stored.
func (c *MobileCampaign) Validate() error {
	switch {
	case strings.TrimSpace(c.CareHome) == "":
		return Invalid("care_home", "is required")
	case c.Day.IsZero():
		return Invalid("day", "is required")
	case strings.TrimSpace(c.Team) == "":
		return Invalid("team", "is required")
	case c.CentreID == "":
		return Invalid("centre_id", "is required")
	case c.PlannedStart.IsZero():
		return Invalid("planned_start", "is required")
	}
	seen := map[string]bool{}
	for _, r := range c.Roster {
		if r.ResidentID == "" {
			return Invalid("roster", "an entry has no resident ID")
		}
		if seen[r.ResidentID] {
			return Invalid("roster", "resident %s is listed twice", r.ResidentID)
		}
		seen[r.ResidentID] = true
	}
	for p, n := range c.Doses {
		if !slices.Contains(MobileProducts, p) {
			return Invalid("doses", "unknown product %q", p)
		}
		if n < 0 {
			return Invalid("doses", "negative doses of %s", p)
		}
	}
	return nil
}

// OnRoster reports whether residentID is to be vaccinated on the visit.
func (c *MobileCampaign) OnRoster(residentID string) bool {
	return slices.ContainsFunc(c.Roster, func(r RosterEntry) bool { return r.ResidentID == residentID })
}

// DosesTotal is the number of doses needed of all products.
func (c *MobileCampaign) DosesTotal() int {
	n := 0
	for _, d := range c.Doses {
		n += d
	}
	return n
}

// ProductsNeeded lists the products with doses needed, sorted.
func (c *MobileCampaign) ProductsNeeded() []ProductID {
	ps := slices.Collect(maps.Keys(c.Doses))
	slices.Sort(ps)
	return ps
}

// MobileProducts are the products a team may carry, in a fixed order.
var MobileProducts = []ProductID{Comirnaty, Spikevax, Vaxzevria, Janssen}

// Why a field dose is held for review instead of being counted.
const (
	HoldAlreadyVaccinatedToday = "already-vaccinated-today"
	HoldUnknownBatch           = "unknown-batch"
	HoldBatchNotIssuedToTeam   = "batch-not-issued-to-team"
	HoldUnknownResident        = "unknown-resident"
	HoldNotOnRoster            = "not-on-roster"
	HoldUnknownCampaign        = "unknown-campaign"
	HoldVisitCancelled         = "visit-cancelled"
	HoldBadRecord              = "bad-record"
	HoldEditedAfterRecording   = "edited-after-recording"
)

// FieldDose is a dose given on a mobile visit, as the team recorded it.
type FieldDose struct {
	// RecordID is the field record's ID in the planner: a record is
	// counted once however often it arrives.
	RecordID       string    `json:"record_id"`
	CampaignID     string    `json:"campaign_id,omitempty"`
	Team           string    `json:"team"`
	ResidentID     string    `json:"resident_id"`
	Product        ProductID `json:"product"`
	Batch          string    `json:"batch"`
	DoseNumber     int       `json:"dose_number"`
	VaccinatorID   string    `json:"vaccinator_id"`
	AdministeredAt time.Time `json:"administered_at"`
}

// FieldDoseFacts is what the store knows when a field dose arrives.
type FieldDoseFacts struct {
	Campaign          *MobileCampaign // nil: unknown campaign
	ResidentKnown     bool
	VaccinatedThatDay bool // an accepted dose (centre or mobile) the same day
	BatchKnown        bool // any delivery or team issue has this batch
	BatchIssuedToTeam bool
}

// HoldReason decides whether a field dose may be counted: "" to accept it,
// else the reason it waits for review (and a detail for staff).
func (d *FieldDose) HoldReason(f FieldDoseFacts) (reason, detail string) {
	switch {
	case d.ResidentID == "" || !slices.Contains(MobileProducts, d.Product) || d.Batch == "" || d.AdministeredAt.IsZero() || d.DoseNumber < 1 || d.DoseNumber > 3:
		return HoldBadRecord, "resident, product, batch, dose number or time missing or wrong"
	case f.Campaign == nil:
		return HoldUnknownCampaign, "the visit is not a campaign planned by the hub"
	case f.Campaign.Status == "cancelled":
		return HoldVisitCancelled, "the visit was cancelled in the planner"
	case !f.ResidentKnown:
		return HoldUnknownResident, "resident " + d.ResidentID + " is not registered"
	case !f.Campaign.OnRoster(d.ResidentID):
		return HoldNotOnRoster, "resident is not on the visit's roster"
	case f.VaccinatedThatDay:
		return HoldAlreadyVaccinatedToday, "resident already has a dose on " + DateOf(d.AdministeredAt).String()
	case !f.BatchKnown:
		return HoldUnknownBatch, "batch " + d.Batch + " is not known to the hub"
	case !f.BatchIssuedToTeam:
		return HoldBatchNotIssuedToTeam, "batch " + d.Batch + " was not issued to team " + d.Team
	}
	return "", ""
}

// HeldFieldDose is a field dose waiting for review, as staff see it.
type HeldFieldDose struct {
	FieldDose
	Reason     string    `json:"reason"`
	Detail     string    `json:"detail"`
	RecordedAt time.Time `json:"recorded_at"`
}

// MobileCampaignPlanned is the data of mobile.campaign-planned, emitted when a
// campaign is planned and whenever it changes (version grows).
type MobileCampaignPlanned struct {
	CampaignID   string        `json:"campaign_id"`
	Version      int           `json:"version"`
	CareHome     string        `json:"care_home"`
	Day          string        `json:"day"`
	Team         string        `json:"team"`
	CentreID     string        `json:"centre_id"`
	PlannedStart string        `json:"planned_start"`
	Residents    int           `json:"residents"`
	Staff        int           `json:"staff"`
	Doses        []ProductDose `json:"doses"`
}

// ProductDose is a number of doses of one product.
type ProductDose struct {
	Product ProductID `json:"product"`
	Doses   int       `json:"doses"`
}

// MobileTransferRequested is the data of mobile.transfer-requested: move
// doses from the central store to the team's storage location (SAP 311).
// Doses is the total needed now; a change of the campaign emits a new
// request with the new total (Version), not a difference.
type MobileTransferRequested struct {
	CampaignID string        `json:"campaign_id"`
	Version    int           `json:"version"`
	Team       string        `json:"team"`
	CentreID   string        `json:"centre_id"`
	Day        string        `json:"day"`
	Doses      []ProductDose `json:"doses"`
}

// PlannedEvents builds mobile.campaign-planned and mobile.transfer-requested
// for the campaign's current version.
func (c *MobileCampaign) PlannedEvents(corr string, at time.Time) []Event {
	var doses []ProductDose
	for _, p := range c.ProductsNeeded() {
		doses = append(doses, ProductDose{Product: p, Doses: c.Doses[p]})
	}
	if doses == nil {
		doses = []ProductDose{}
	}
	staff := 0
	for _, r := range c.Roster {
		if r.Staff {
			staff++
		}
	}
	return []Event{
		NewEvent("mobile.campaign-planned", c.ID, corr, at, MobileCampaignPlanned{CampaignID: c.ID, Version: c.Version,
			CareHome: c.CareHome, Day: c.Day.String(), Team: c.Team, CentreID: c.CentreID, PlannedStart: Time(c.PlannedStart),
			Residents: len(c.Roster) - staff, Staff: staff, Doses: doses}),
		NewEvent("mobile.transfer-requested", c.ID, corr, at, MobileTransferRequested{CampaignID: c.ID, Version: c.Version,
			Team: c.Team, CentreID: c.CentreID, Day: c.Day.String(), Doses: doses}),
	}
}
