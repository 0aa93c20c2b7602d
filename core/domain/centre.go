package domain

import (
	"fmt"
	"time"
)

// Clock is a time of day, "HH:MM".
type Clock struct{ Minutes int }

// ParseClock parses "HH:MM".
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Clock{}, fmt.Errorf("%q is not a time of day (HH:MM): %w", s, ErrInvalid)
	}
	return Clock{t.Hour()*60 + t.Minute()}, nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Minutes/60, c.Minutes%60) }

// MarshalText writes "HH:MM".
func (c Clock) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads "HH:MM".
func (c *Clock) UnmarshalText(b []byte) error {
	v, err := ParseClock(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Shift is a block of staff time on given weekdays (0 Sunday .. 6 Saturday).
type Shift struct {
	Weekdays    []time.Weekday `json:"weekdays"`
	From        Clock          `json:"from"`
	To          Clock          `json:"to"`
	Vaccinators int            `json:"vaccinators"`
}

// Centre is a vaccination centre with its rooms, staff and hours.
type Centre struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	DistrictAGS     string `json:"district_ags"` // 5 digits, for the RKI report
	MunicipalityKey string `json:"municipality_key"`
	Street          string `json:"street"`
	PostalCode      string `json:"postal_code"`
	City            string `json:"city"`
	Opens           Clock  `json:"opens"`
	Closes          Clock  `json:"closes"`
	Booths          int    `json:"booths"`
	// MinutesPerVaccination is how long one booth needs per person.
	MinutesPerVaccination int     `json:"minutes_per_vaccination"`
	SlotMinutes           int     `json:"slot_minutes"`
	Shifts                []Shift `json:"shifts"`
}

// Validate checks a centre definition.
func (c *Centre) Validate() error {
	switch {
	case c.ID == "":
		return Invalid("id", "is required")
	case len(c.DistrictAGS) != 5:
		return Invalid("district_ags", "must have 5 digits")
	case c.Booths <= 0:
		return Invalid("booths", "must be positive")
	case c.MinutesPerVaccination <= 0:
		return Invalid("minutes_per_vaccination", "must be positive")
	case c.Closes.Minutes <= c.Opens.Minutes:
		return Invalid("closes", "must be after opens")
	}
	if c.SlotMinutes == 0 {
		c.SlotMinutes = 15
	}
	return nil
}

// SlotSpec is one bookable time window of a centre with its number of places.
type SlotSpec struct {
	Start  time.Time
	End    time.Time
	Places int
}

// SlotsOn returns the slots of day d in loc: within opening hours, places =
// min(booths, vaccinators on shift) x slot length / minutes per vaccination.
// Windows without staff are left out.
func (c *Centre) SlotsOn(d Date, loc *time.Location) []SlotSpec {
	slotLen := c.SlotMinutes
	if slotLen <= 0 {
		slotLen = 15
	}
	midnight := d.In(loc)
	wd := midnight.Weekday()
	var out []SlotSpec
	for m := c.Opens.Minutes; m+slotLen <= c.Closes.Minutes; m += slotLen {
		staff := 0
		for _, s := range c.Shifts {
			if s.From.Minutes <= m && m+slotLen <= s.To.Minutes && containsWeekday(s.Weekdays, wd) {
				staff += s.Vaccinators
			}
		}
		lanes := min(staff, c.Booths)
		places := lanes * slotLen / c.MinutesPerVaccination
		if places <= 0 {
			continue
		}
		start := time.Date(d.Year, d.Month, d.Day, m/60, m%60, 0, 0, loc)
		if start.Hour()*60+start.Minute() != m {
			continue // the clock skips this time (spring DST gap): time.Date would move it onto a later slot
		}
		out = append(out, SlotSpec{Start: start, End: start.Add(time.Duration(slotLen) * time.Minute), Places: places})
	}
	return out
}

func containsWeekday(ws []time.Weekday, w time.Weekday) bool {
	if len(ws) == 0 {
		return true
	}
	for _, x := range ws {
		if x == w {
			return true
		}
	}
	return false
}
