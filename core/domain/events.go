package domain

import (
	"encoding/json"
	"strings"
	"time"
)

// Event is a domain event ready for the outbox: the envelope of
// docs/events.md with its data. Personal data never goes in: IDs only.
type Event struct {
	ID            string      `json:"id"`
	Type          string      `json:"type"`
	Source        string      `json:"source"`
	Time          string      `json:"time"`
	Subject       string      `json:"subject"`
	CorrelationID string      `json:"correlation_id"`
	Schema        EventSchema `json:"schema"`
	Data          any         `json:"data"`
}

// EventSchema names the schema and major version of an event's data.
type EventSchema struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// NewEvent builds an envelope for data of type typ about subject.
func NewEvent(typ, subject, correlationID string, at time.Time, data any) Event {
	if correlationID == "" {
		correlationID = NewID()
	}
	return Event{ID: NewID(), Type: typ, Source: "vaxhub/core", Time: rfc3339(at), Subject: subject,
		CorrelationID: correlationID, Schema: EventSchema{Name: typ, Version: 1}, Data: data}
}

// Topic is the Kafka topic of the event: vaxhub.<aggregate>.v1.
func (e Event) Topic() string {
	agg, _, _ := strings.Cut(e.Type, ".")
	return "vaxhub." + agg + ".v" + itoa(e.Schema.Version)
}

// JSON returns the envelope as JSON.
func (e Event) JSON() []byte {
	b, err := json.Marshal(e)
	if err != nil { // data types are all plain structs: cannot happen
		panic("domain: event not serialisable: " + err.Error())
	}
	return b
}

func itoa(n int) string {
	if n <= 0 {
		return "1"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// DoseTimes is a dose as events carry it.
type DoseTimes struct {
	DoseNumber int    `json:"dose_number"`
	SlotStart  string `json:"slot_start"`
	SlotEnd    string `json:"slot_end"`
}

func doseTimes(ds []Dose) []DoseTimes {
	out := make([]DoseTimes, 0, len(ds))
	for _, d := range ds {
		if d.Status == DoseCancelled {
			continue
		}
		out = append(out, DoseTimes{DoseNumber: d.Number, SlotStart: rfc3339(d.Start), SlotEnd: rfc3339(d.End)})
	}
	return out
}

// ResidentRegistered is the data of resident.registered.
type ResidentRegistered struct {
	ResidentID      string `json:"resident_id"`
	MunicipalityKey string `json:"municipality_key"`
	AgeGroup        string `json:"age_group"`
	Channel         string `json:"channel"`
	ProxyID         string `json:"proxy_id,omitempty"`
}

// AppointmentBooked is the data of appointment.booked.
type AppointmentBooked struct {
	Reference     string      `json:"reference"`
	ResidentID    string      `json:"resident_id"`
	CentreID      string      `json:"centre_id"`
	Product       ProductID   `json:"product"`
	PriorityGroup int         `json:"priority_group"`
	Doses         []DoseTimes `json:"doses"`
}

// AppointmentCancelled is the data of appointment.cancelled.
type AppointmentCancelled struct {
	Reference  string `json:"reference"`
	ResidentID string `json:"resident_id"`
	CentreID   string `json:"centre_id"`
	Reason     string `json:"reason"`
}

// AppointmentMoved is the data of appointment.moved.
type AppointmentMoved struct {
	Reference  string      `json:"reference"`
	ResidentID string      `json:"resident_id"`
	CentreID   string      `json:"centre_id"`
	Product    ProductID   `json:"product"`
	From       []DoseTimes `json:"from"`
	To         []DoseTimes `json:"to"`
}

// AppointmentCheckedIn is the data of appointment.checked-in.
type AppointmentCheckedIn struct {
	Reference   string `json:"reference"`
	CentreID    string `json:"centre_id"`
	DoseNumber  int    `json:"dose_number"`
	CheckedInAt string `json:"checked_in_at"`
}

// DoseGiven is the data of appointment.dose-administered.
type DoseGiven struct {
	Reference      string    `json:"reference"`
	ResidentID     string    `json:"resident_id"`
	CentreID       string    `json:"centre_id"`
	Product        ProductID `json:"product"`
	Batch          string    `json:"batch"`
	DoseNumber     int       `json:"dose_number"`
	VaccinatorID   string    `json:"vaccinator_id"`
	AdministeredAt string    `json:"administered_at"`
	AgeGroup       string    `json:"age_group"`
	SeriesComplete bool      `json:"series_complete"`
}

// NoShow is the data of appointment.no-show.
type NoShow struct {
	Reference  string `json:"reference"`
	CentreID   string `json:"centre_id"`
	DoseNumber int    `json:"dose_number"`
	SlotStart  string `json:"slot_start"`
}

// WaitlistJoined is the data of waitlist.joined.
type WaitlistJoined struct {
	EntryID       string `json:"entry_id"`
	ResidentID    string `json:"resident_id"`
	CentreID      string `json:"centre_id,omitempty"`
	DistrictAGS   string `json:"district_ags,omitempty"`
	PriorityGroup int    `json:"priority_group"`
}

// WaitlistServed is the data of waitlist.served.
type WaitlistServed struct {
	EntryID    string `json:"entry_id"`
	ResidentID string `json:"resident_id"`
	Reference  string `json:"reference"`
	CentreID   string `json:"centre_id"`
}

// ResidentLockout is the data of resident.lockout: failed identifications
// locked a reference or a resident (issue 12). IDs only: never the date of
// birth typed, never a name.
type ResidentLockout struct {
	// ResidentID is empty when the reference belongs to nobody.
	ResidentID string `json:"resident_id,omitempty"`
	// Reference is empty when the caller identified by registration number.
	Reference string `json:"reference,omitempty"`
	// Channel is where the failure that locked happened: web, api, phone,
	// staff or other.
	Channel     string `json:"channel"`
	LockedUntil string `json:"locked_until"`
	// Failures is how many failures led to the lock.
	Failures int `json:"failures"`
	// Lockout is the back-off level: 1 for the first lock in a row.
	Lockout int `json:"lockout"`
}

// StockChanged is the data of stock.changed.
type StockChanged struct {
	CentreID   string    `json:"centre_id"`
	Product    ProductID `json:"product"`
	Day        string    `json:"day"`
	Delta      int       `json:"delta"`
	Reason     string    `json:"reason"`
	Batch      string    `json:"batch,omitempty"`
	Expires    string    `json:"expires,omitempty"`
	DeliveryID string    `json:"delivery_id,omitempty"`
}

// RuleSetPublished is the data of ruleset.published.
type RuleSetPublished struct {
	Version       string      `json:"version"`
	EffectiveFrom string      `json:"effective_from"`
	OpenGroups    []int       `json:"open_groups"`
	Products      []ProductID `json:"products"`
}

// BookedEvent builds appointment.booked for a.
func BookedEvent(a *Appointment, corr string, at time.Time) Event {
	return NewEvent("appointment.booked", a.Reference, corr, at, AppointmentBooked{
		Reference: a.Reference, ResidentID: a.ResidentID, CentreID: a.CentreID, Product: a.Product,
		PriorityGroup: a.PriorityGroup, Doses: doseTimes(a.Doses)})
}

// CancelledEvent builds appointment.cancelled for a.
func CancelledEvent(a *Appointment, reason, corr string, at time.Time) Event {
	return NewEvent("appointment.cancelled", a.Reference, corr, at, AppointmentCancelled{
		Reference: a.Reference, ResidentID: a.ResidentID, CentreID: a.CentreID, Reason: reason})
}

// MovedEvent builds appointment.moved from the old to the new series.
func MovedEvent(from, to *Appointment, corr string, at time.Time) Event {
	return NewEvent("appointment.moved", to.Reference, corr, at, AppointmentMoved{
		Reference: to.Reference, ResidentID: to.ResidentID, CentreID: to.CentreID, Product: to.Product,
		From: doseTimes(from.Doses), To: doseTimes(to.Doses)})
}

// Time formats t as events carry it.
func Time(t time.Time) string { return rfc3339(t) }
