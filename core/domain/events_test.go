package domain

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEventTopicAndJSON(t *testing.T) {
	topics := []struct {
		typ     string
		version int
		want    string
	}{
		{"appointment.booked", 1, "vaxhub.appointment.v1"},
		{"appointment.dose-administered", 1, "vaxhub.appointment.v1"},
		{"resident.registered", 1, "vaxhub.resident.v1"},
		{"waitlist.served", 1, "vaxhub.waitlist.v1"},
		{"stock.changed", 1, "vaxhub.stock.v1"},
		{"ruleset.published", 1, "vaxhub.ruleset.v1"},
		{"appointment.booked", 2, "vaxhub.appointment.v2"},
		{"appointment.booked", 12, "vaxhub.appointment.v12"},
		{"appointment.booked", 0, "vaxhub.appointment.v1"}, // unset version counts as 1
		{"heartbeat", 1, "vaxhub.heartbeat.v1"},
	}
	for _, tc := range topics {
		e := Event{Type: tc.typ, Schema: EventSchema{Name: tc.typ, Version: tc.version}}
		if got := e.Topic(); got != tc.want {
			t.Errorf("Topic(%s v%d) = %q, want %q", tc.typ, tc.version, got, tc.want)
		}
	}

	e := Event{
		ID: "01890a5d-ac96-774b-bcce-b302099a8057", Type: "appointment.checked-in", Source: "vaxhub/core",
		Time: "2021-04-12T06:55:00Z", Subject: "1234567890", CorrelationID: "req-42",
		Schema: EventSchema{Name: "appointment.checked-in", Version: 1},
		Data:   AppointmentCheckedIn{Reference: "1234567890", CentreID: "dresden", DoseNumber: 1, CheckedInAt: "2021-04-12T06:55:00Z"},
	}
	want := `{"id":"01890a5d-ac96-774b-bcce-b302099a8057","type":"appointment.checked-in","source":"vaxhub/core",` +
		`"time":"2021-04-12T06:55:00Z","subject":"1234567890","correlation_id":"req-42",` +
		`"schema":{"name":"appointment.checked-in","version":1},` +
		`"data":{"reference":"1234567890","centre_id":"dresden","dose_number":1,"checked_in_at":"2021-04-12T06:55:00Z"}}`
	if got := string(e.JSON()); got != want {
		t.Fatalf("JSON() =\n%s\nwant\n%s", got, want)
	}
}

func TestNewEventEnvelope(t *testing.T) {
	loc := berlin(t)
	when := time.Date(2021, 4, 12, 8, 55, 0, 123_000_000, loc)
	e := NewEvent("resident.registered", "res-1", "req-7", when, ResidentRegistered{ResidentID: "res-1", MunicipalityKey: "14612000", AgeGroup: "60+", Channel: "phone"})
	if !reUUIDv7.MatchString(e.ID) {
		t.Errorf("ID %q is not a UUIDv7", e.ID)
	}
	if e.Type != "resident.registered" || e.Source != "vaxhub/core" || e.Subject != "res-1" || e.CorrelationID != "req-7" {
		t.Errorf("envelope %+v", e)
	}
	if e.Schema != (EventSchema{Name: "resident.registered", Version: 1}) {
		t.Errorf("schema %+v", e.Schema)
	}
	if e.Time != "2021-04-12T06:55:00.123Z" {
		t.Errorf("time %q, want UTC 2021-04-12T06:55:00.123Z", e.Time)
	}
	if e.Topic() != "vaxhub.resident.v1" {
		t.Errorf("topic %q", e.Topic())
	}
	var back map[string]any
	if err := json.Unmarshal(e.JSON(), &back); err != nil {
		t.Fatal(err)
	}
	data := back["data"].(map[string]any)
	if data["age_group"] != "60+" || data["municipality_key"] != "14612000" || data["channel"] != "phone" {
		t.Errorf("data %v", data)
	}
	if _, ok := data["proxy_id"]; ok {
		t.Errorf("empty proxy_id is written: %v", data)
	}

	// Without a correlation ID the event starts its own.
	e2 := NewEvent("resident.registered", "res-1", "", when, nil)
	if !reUUIDv7.MatchString(e2.CorrelationID) || e2.CorrelationID == e2.ID || e2.ID == e.ID {
		t.Errorf("correlation %q, id %q", e2.CorrelationID, e2.ID)
	}
	if Time(when) != "2021-04-12T06:55:00.123Z" || Time(time.Date(2021, 4, 12, 7, 0, 0, 0, time.UTC)) != "2021-04-12T07:00:00Z" {
		t.Errorf("Time() = %q", Time(when))
	}
}

func TestAppointmentEventsCarryIDsAndDoseTimes(t *testing.T) {
	a := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
	when := at(t, "2021-03-30", 10, 0)

	booked := BookedEvent(a, "req-1", when)
	if booked.Type != "appointment.booked" || booked.Subject != "1234567890" || booked.Topic() != "vaxhub.appointment.v1" {
		t.Fatalf("booked envelope %+v", booked)
	}
	wantData := `{"reference":"1234567890","resident_id":"res-1","centre_id":"dresden","product":"comirnaty","priority_group":2,` +
		`"doses":[{"dose_number":1,"slot_start":"2021-04-12T07:00:00Z","slot_end":"2021-04-12T07:15:00Z"},` +
		`{"dose_number":2,"slot_start":"2021-05-10T07:00:00Z","slot_end":"2021-05-10T07:15:00Z"}]}`
	if got := dataJSON(t, booked); got != wantData {
		t.Fatalf("booked data\n%s\nwant\n%s", got, wantData)
	}

	cancelled := CancelledEvent(a, "resident", "req-2", when)
	if got := dataJSON(t, cancelled); got != `{"reference":"1234567890","resident_id":"res-1","centre_id":"dresden","reason":"resident"}` {
		t.Fatalf("cancelled data %s", got)
	}
	if cancelled.Type != "appointment.cancelled" || cancelled.CorrelationID != "req-2" {
		t.Fatalf("cancelled envelope %+v", cancelled)
	}

	// Moved: cancelled doses are left out of the dose lists.
	to := series("1234567890", Comirnaty, at(t, "2021-04-14", 15, 30), at(t, "2021-05-12", 15, 30))
	to.CentreID = "riesa"
	from := series("1234567890", Comirnaty, at(t, "2021-04-12", 9, 0), at(t, "2021-05-10", 9, 0))
	from.Doses[1].Status = DoseCancelled
	moved := MovedEvent(from, to, "req-3", when)
	wantMoved := `{"reference":"1234567890","resident_id":"res-1","centre_id":"riesa","product":"comirnaty",` +
		`"from":[{"dose_number":1,"slot_start":"2021-04-12T07:00:00Z","slot_end":"2021-04-12T07:15:00Z"}],` +
		`"to":[{"dose_number":1,"slot_start":"2021-04-14T13:30:00Z","slot_end":"2021-04-14T13:45:00Z"},` +
		`{"dose_number":2,"slot_start":"2021-05-12T13:30:00Z","slot_end":"2021-05-12T13:45:00Z"}]}`
	if got := dataJSON(t, moved); got != wantMoved {
		t.Fatalf("moved data\n%s\nwant\n%s", got, wantMoved)
	}

	// No personal data in any of them.
	for _, e := range []Event{booked, cancelled, moved} {
		s := string(e.JSON())
		for _, pii := range []string{"Mustermann", "birth", "phone", "email", "indication", "intolerance", "street"} {
			if strings.Contains(s, pii) {
				t.Errorf("%s carries %q: %s", e.Type, pii, s)
			}
		}
	}
}

func dataJSON(t *testing.T, e Event) string {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(e.JSON(), &env); err != nil {
		t.Fatal(err)
	}
	return string(env.Data)
}

func TestEventJSONPanicsOnUnserialisableData(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("JSON() of a channel did not panic")
		}
	}()
	Event{Type: "x.y", Data: make(chan int)}.JSON()
}
