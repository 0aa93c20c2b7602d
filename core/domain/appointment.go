package domain

import "time"

// SeriesStatus is the state of an appointment series.
type SeriesStatus string

// Series states. Only "booked" is open: a resident holds at most one.
const (
	SeriesBooked    SeriesStatus = "booked"
	SeriesCompleted SeriesStatus = "completed"
	SeriesCancelled SeriesStatus = "cancelled"
	SeriesNoShow    SeriesStatus = "no-show"
)

// DoseStatus is the state of one dose of a series.
type DoseStatus string

// Dose states.
const (
	DoseBooked       DoseStatus = "booked"
	DoseCheckedIn    DoseStatus = "checked-in"
	DoseAdministered DoseStatus = "administered"
	DoseNoShow       DoseStatus = "no-show"
	DoseCancelled    DoseStatus = "cancelled"
)

// Dose is one appointment of a series: a place in a slot and a reserved dose.
type Dose struct {
	Number         int        `json:"dose_number"`
	Product        ProductID  `json:"product"`
	SlotID         int64      `json:"-"`
	Start          time.Time  `json:"slot_start"`
	End            time.Time  `json:"slot_end"`
	Status         DoseStatus `json:"status"`
	Batch          string     `json:"batch,omitempty"`
	VaccinatorID   string     `json:"vaccinator_id,omitempty"`
	AdministeredAt *time.Time `json:"administered_at,omitempty"`
	CheckedInAt    *time.Time `json:"checked_in_at,omitempty"`
}

// Appointment is a booked series (one or two doses) at one centre, known by
// its reference.
type Appointment struct {
	Reference     string       `json:"reference"`
	ResidentID    string       `json:"resident_id"`
	CentreID      string       `json:"centre_id"`
	Product       ProductID    `json:"product"`
	PriorityGroup int          `json:"priority_group"`
	Status        SeriesStatus `json:"status"`
	Doses         []Dose       `json:"doses"`
	BookedAt      time.Time    `json:"booked_at"`
}

// OpenDose returns the first dose that is neither given nor ended, or nil.
func (a *Appointment) OpenDose() *Dose {
	for i := range a.Doses {
		if a.Doses[i].Status == DoseBooked || a.Doses[i].Status == DoseCheckedIn {
			return &a.Doses[i]
		}
	}
	return nil
}

// CanCancel tells whether the series may still be cancelled or moved: only
// while it is open and no dose has been given.
func (a *Appointment) CanCancel() error {
	if a.Status != SeriesBooked {
		return refuse(ErrConflict, "not-open", "Dieser Termin ist nicht mehr offen.")
	}
	for _, d := range a.Doses {
		if d.Status == DoseAdministered {
			return refuse(ErrConflict, "dose-given", "Die erste Impfung ist bereits erfolgt; bitte wenden Sie sich an das Impfzentrum.")
		}
	}
	return nil
}

// CheckIn marks the open dose checked in at t. Only a dose whose slot is on
// the same local day may be checked in.
func (a *Appointment) CheckIn(t time.Time, loc *time.Location) (*Dose, error) {
	if a.Status != SeriesBooked {
		return nil, refuse(ErrConflict, "not-open", "Dieser Termin ist nicht mehr offen.")
	}
	d := a.OpenDose()
	if d == nil {
		return nil, refuse(ErrConflict, "no-open-dose", "Es gibt keinen offenen Impftermin.")
	}
	if d.Status == DoseCheckedIn {
		return nil, refuse(ErrConflict, "already-checked-in", "Sie sind bereits angemeldet.")
	}
	if DateOf(d.Start.In(loc)) != DateOf(t.In(loc)) {
		return nil, refuse(ErrConflict, "wrong-day", "Ihr Termin ist an einem anderen Tag.")
	}
	d.Status = DoseCheckedIn
	tt := t
	d.CheckedInAt = &tt
	return d, nil
}

// Administer records the dose given at check-out. The product must be the
// planned one unless the rules allow another follow-up (the caller checks).
func (a *Appointment) Administer(product ProductID, batch, vaccinator string, t time.Time) (*Dose, error) {
	d := a.OpenDose()
	if d == nil || d.Status != DoseCheckedIn {
		return nil, refuse(ErrConflict, "not-checked-in", "Die Person ist nicht angemeldet.")
	}
	if batch == "" {
		return nil, Invalid("batch", "is required")
	}
	if vaccinator == "" {
		return nil, Invalid("vaccinator_id", "is required")
	}
	if product != d.Product {
		return nil, refuse(ErrProductNotAllowed, "wrong-product", "Der Impfstoff entspricht nicht dem geplanten Impfstoff.")
	}
	d.Status = DoseAdministered
	d.Batch = batch
	d.VaccinatorID = vaccinator
	tt := t
	d.AdministeredAt = &tt
	if a.OpenDose() == nil {
		a.Status = SeriesCompleted
	}
	return d, nil
}

// WaitlistEntry is a resident waiting for a place at a centre or anywhere in
// a district.
type WaitlistEntry struct {
	ID            string    `json:"id"`
	ResidentID    string    `json:"resident_id"`
	CentreID      string    `json:"centre_id,omitempty"`
	DistrictAGS   string    `json:"district_ags,omitempty"`
	Product       ProductID `json:"product,omitempty"`
	PriorityGroup int       `json:"priority_group"`
	JoinedAt      time.Time `json:"joined_at"`
	Status        string    `json:"status"` // waiting, served, withdrawn
	Reference     string    `json:"reference,omitempty"`
}
