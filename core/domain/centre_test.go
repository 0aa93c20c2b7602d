package domain

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func clock(t testing.TB, s string) Clock {
	t.Helper()
	c, err := ParseClock(s)
	if err != nil {
		t.Fatalf("ParseClock(%q): %v", s, err)
	}
	return c
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"00:00", 0, true},
		{"08:00", 480, true},
		{"8:00", 480, true},
		{"14:15", 855, true},
		{"23:59", 1439, true},
		{"24:00", 0, false},
		{"12:60", 0, false},
		{"12", 0, false},
		{"12:5", 0, false},
		{"8 Uhr", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseClock(tc.in)
		if tc.ok != (err == nil) || got.Minutes != tc.want {
			t.Errorf("ParseClock(%q) = %d, %v; want %d ok=%v", tc.in, got.Minutes, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseClock(%q) error %v does not wrap ErrInvalid", tc.in, err)
		}
	}
	if s := (Clock{Minutes: 8*60 + 5}).String(); s != "08:05" {
		t.Errorf("String() = %q, want 08:05", s)
	}
	var sh Shift
	if err := json.Unmarshal([]byte(`{"weekdays":[1,2],"from":"08:00","to":"14:30","vaccinators":6}`), &sh); err != nil {
		t.Fatal(err)
	}
	if sh.From.Minutes != 480 || sh.To.Minutes != 870 || sh.Vaccinators != 6 || len(sh.Weekdays) != 2 || sh.Weekdays[1] != time.Tuesday {
		t.Fatalf("Shift = %+v", sh)
	}
	b, err := json.Marshal(sh)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"weekdays":[1,2],"from":"08:00","to":"14:30","vaccinators":6}` {
		t.Fatalf("Marshal = %s", b)
	}
	if err := json.Unmarshal([]byte(`{"from":"25:00"}`), &sh); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Unmarshal bad clock: %v", err)
	}
}

func TestCentreValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *Centre)
		field string
	}{
		{"valid", func(c *Centre) {}, ""},
		{"no id", func(c *Centre) { c.ID = "" }, "id"},
		{"district key of 8 digits", func(c *Centre) { c.DistrictAGS = "14612000" }, "district_ags"},
		{"no booths", func(c *Centre) { c.Booths = 0 }, "booths"},
		{"no minutes per vaccination", func(c *Centre) { c.MinutesPerVaccination = 0 }, "minutes_per_vaccination"},
		{"closes at opening", func(c *Centre) { c.Closes = c.Opens }, "closes"},
		{"closes before opening", func(c *Centre) { c.Opens, c.Closes = Clock{20 * 60}, Clock{8 * 60} }, "closes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := centre(t, "dresden")
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field {
				t.Fatalf("Validate() = %v, want a FieldError for %s", err, tc.field)
			}
		})
	}
	c := centre(t, "dresden")
	c.SlotMinutes = 0
	if err := c.Validate(); err != nil || c.SlotMinutes != 15 {
		t.Fatalf("Validate() = %v, slot minutes %d; want the 15-minute default", err, c.SlotMinutes)
	}
}

func TestSaxonCentresAreValid(t *testing.T) {
	cs := loadSaxony(t).Centres
	if len(cs) != 13 {
		t.Fatalf("%d centres, want 13", len(cs))
	}
	for i := range cs {
		c := cs[i]
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
		if c.DistrictAGS[:2] != "14" || c.MunicipalityKey[:5] != c.DistrictAGS {
			t.Errorf("%s: district %s, municipality %s", c.ID, c.DistrictAGS, c.MunicipalityKey)
		}
		if c.Opens.String() != "08:00" || c.Closes.String() != "20:00" {
			t.Errorf("%s opens %s to %s, want 08:00 to 20:00", c.ID, c.Opens, c.Closes)
		}
	}
}

// places returns the places of each slot and the total.
func places(specs []SlotSpec) ([]int, int) {
	var ps []int
	total := 0
	for _, s := range specs {
		ps = append(ps, s.Places)
		total += s.Places
	}
	return ps, total
}

func TestSlotPlacesFollowBoothsAndStaff(t *testing.T) {
	loc := berlin(t)
	monday, saturday := Date{2021, 4, 12}, Date{2021, 4, 17}
	weekdays := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
	base := func() Centre {
		return Centre{ID: "test", DistrictAGS: "14612", Opens: clock(t, "08:00"), Closes: clock(t, "10:00"),
			Booths: 6, MinutesPerVaccination: 5, SlotMinutes: 15}
	}
	tests := []struct {
		name       string
		centre     func() Centre
		day        Date
		wantStarts []string // local HH:MM of every slot
		wantPlaces []int
	}{
		{"staff below booths: staff limits", func() Centre {
			c := base()
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 4}}
			return c
		}, monday, []string{"08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45"}, []int{12, 12, 12, 12, 12, 12, 12, 12}},
		{"staff above booths: booths limit", func() Centre {
			c := base()
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 10}}
			return c
		}, monday, []string{"08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45"}, []int{18, 18, 18, 18, 18, 18, 18, 18}},
		{"overlapping shifts add up", func() Centre {
			c := base()
			c.Shifts = []Shift{
				{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 2},
				{From: clock(t, "08:30"), To: clock(t, "09:00"), Vaccinators: 3},
			}
			return c
		}, monday, []string{"08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45"}, []int{6, 6, 15, 15, 6, 6, 6, 6}},
		{"no staff, no slot; a shift must cover the whole slot", func() Centre {
			c := base()
			c.Shifts = []Shift{
				{From: clock(t, "08:00"), To: clock(t, "08:40"), Vaccinators: 3},
				{From: clock(t, "09:15"), To: clock(t, "10:00"), Vaccinators: 3},
			}
			return c
		}, monday, []string{"08:00", "08:15", "09:15", "09:30", "09:45"}, []int{9, 9, 9, 9, 9}},
		{"integer places: 10 minutes per vaccination", func() Centre {
			c := base()
			c.MinutesPerVaccination = 10
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "08:30"), Vaccinators: 3}}
			return c
		}, monday, []string{"08:00", "08:15"}, []int{4, 4}}, // 3 x 15 / 10 = 4.5
		{"too slow for one slot: left out", func() Centre {
			c := base()
			c.Booths, c.MinutesPerVaccination = 1, 20
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 1}}
			return c
		}, monday, nil, nil},
		{"30-minute slots, last slot must end by closing", func() Centre {
			c := base()
			c.SlotMinutes = 30
			c.Closes = clock(t, "09:45")
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 2}}
			return c
		}, monday, []string{"08:00", "08:30", "09:00"}, []int{12, 12, 12}},
		{"slot minutes 0 means 15", func() Centre {
			c := base()
			c.SlotMinutes = 0
			c.Closes = clock(t, "08:30")
			c.Shifts = []Shift{{From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 1}}
			return c
		}, monday, []string{"08:00", "08:15"}, []int{3, 3}},
		{"weekday shift on a Monday", func() Centre {
			c := base()
			c.Closes = clock(t, "08:30")
			c.Shifts = []Shift{
				{Weekdays: weekdays, From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 4},
				{Weekdays: []time.Weekday{time.Saturday, time.Sunday}, From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 2},
			}
			return c
		}, monday, []string{"08:00", "08:15"}, []int{12, 12}},
		{"weekend shift on a Saturday", func() Centre {
			c := base()
			c.Closes = clock(t, "08:30")
			c.Shifts = []Shift{
				{Weekdays: weekdays, From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 4},
				{Weekdays: []time.Weekday{time.Saturday, time.Sunday}, From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 2},
			}
			return c
		}, saturday, []string{"08:00", "08:15"}, []int{6, 6}},
		{"no shift on Saturdays: closed", func() Centre {
			c := base()
			c.Shifts = []Shift{{Weekdays: weekdays, From: clock(t, "08:00"), To: clock(t, "10:00"), Vaccinators: 4}}
			return c
		}, saturday, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.centre()
			specs := c.SlotsOn(tc.day, loc)
			var starts []string
			for _, s := range specs {
				starts = append(starts, s.Start.In(loc).Format("15:04"))
				if s.Start.Location() != loc {
					t.Errorf("slot %s not in %s", s.Start, loc)
				}
				if DateOf(s.Start) != tc.day {
					t.Errorf("slot %s not on %s", s.Start, tc.day)
				}
				slotLen := c.SlotMinutes
				if slotLen == 0 {
					slotLen = 15
				}
				if s.End.Sub(s.Start) != time.Duration(slotLen)*time.Minute {
					t.Errorf("slot %s lasts %s", s.Start, s.End.Sub(s.Start))
				}
			}
			ps, _ := places(specs)
			if !slices.Equal(starts, tc.wantStarts) {
				t.Errorf("starts %v, want %v", starts, tc.wantStarts)
			}
			if !slices.Equal(ps, tc.wantPlaces) {
				t.Errorf("places %v, want %v", ps, tc.wantPlaces)
			}
		})
	}
}

func TestSaxonCentreDailyCapacity(t *testing.T) {
	loc := berlin(t)
	day := Date{2021, 4, 12}
	tests := []struct {
		id               string
		morning, evening int // places per slot before and after 14:00
	}{
		{"dresden", 60, 45},           // 20 booths, 5 minutes: 20x15/5; 15x15/5
		{"annaberg-buchholz", 15, 11}, // 8 booths, 8 minutes: 8x15/8; 6x15/8 = 11.25
		{"belgern", 9, 6},             // 6 booths, 10 minutes
		{"chemnitz", 40, 30},          // 16 booths, 6 minutes
	}
	for _, tc := range tests {
		c := centre(t, tc.id)
		specs := c.SlotsOn(day, loc)
		if len(specs) != 48 {
			t.Errorf("%s: %d slots, want 48 (08:00 to 20:00 in 15 minutes)", tc.id, len(specs))
			continue
		}
		ps, total := places(specs)
		if ps[0] != tc.morning || ps[23] != tc.morning || ps[24] != tc.evening || ps[47] != tc.evening {
			t.Errorf("%s: places %v, want %d then %d", tc.id, ps, tc.morning, tc.evening)
		}
		if want := 24*tc.morning + 24*tc.evening; total != want {
			t.Errorf("%s: %d places a day, want %d", tc.id, total, want)
		}
		if got := specs[0].Start.Format(time.RFC3339); got != "2021-04-12T08:00:00+02:00" {
			t.Errorf("%s: first slot %s", tc.id, got)
		}
		if got := specs[47].End.Format(time.RFC3339); got != "2021-04-12T20:00:00+02:00" {
			t.Errorf("%s: last slot ends %s", tc.id, got)
		}
	}
}

// On the days the clocks change a day-time centre keeps its wall-clock hours:
// 48 slots of 15 real minutes from 08:00 local, one hour earlier in UTC after
// the spring change.
func TestSlotsOnDSTDaysKeepLocalOpeningHours(t *testing.T) {
	loc := berlin(t)
	c := centre(t, "dresden")
	tests := []struct {
		day        string
		firstUTC   string
		lastEndUTC string
	}{
		{"2021-03-27", "2021-03-27T07:00:00Z", "2021-03-27T19:00:00Z"},
		{"2021-03-28", "2021-03-28T06:00:00Z", "2021-03-28T18:00:00Z"}, // CET -> CEST at 02:00
		{"2021-03-29", "2021-03-29T06:00:00Z", "2021-03-29T18:00:00Z"},
		{"2021-10-31", "2021-10-31T07:00:00Z", "2021-10-31T19:00:00Z"}, // CEST -> CET at 03:00
	}
	for _, tc := range tests {
		specs := c.SlotsOn(d(t, tc.day), loc)
		if len(specs) != 48 {
			t.Fatalf("%s: %d slots, want 48", tc.day, len(specs))
		}
		if got := specs[0].Start.UTC().Format(time.RFC3339); got != tc.firstUTC {
			t.Errorf("%s: first slot %s, want %s", tc.day, got, tc.firstUTC)
		}
		if got := specs[47].End.UTC().Format(time.RFC3339); got != tc.lastEndUTC {
			t.Errorf("%s: last slot ends %s, want %s", tc.day, got, tc.lastEndUTC)
		}
		if got := specs[0].Start.In(loc).Format("15:04"); got != "08:00" {
			t.Errorf("%s: first slot at %s local", tc.day, got)
		}
		for i := 1; i < len(specs); i++ {
			if !specs[i].Start.Equal(specs[i-1].End) {
				t.Errorf("%s: slot %d starts %s, previous ends %s", tc.day, i, specs[i].Start, specs[i-1].End)
			}
		}
		if _, total := places(specs); total != 2520 {
			t.Errorf("%s: %d places, want 2520", tc.day, total)
		}
	}
}

// A centre open through the night (a mobile team's night shift, a 24-hour
// site) must not get a slot for the hour the clock skips in spring: time.Date
// would move 02:00 onto 03:00 and offer that quarter twice.
func TestSlotsOnSpringDSTSkipsTheMissingHour(t *testing.T) {
	loc := berlin(t)
	c := Centre{ID: "night", DistrictAGS: "14612", Opens: clock(t, "00:00"), Closes: clock(t, "06:00"),
		Booths: 2, MinutesPerVaccination: 5, SlotMinutes: 15,
		Shifts: []Shift{{From: clock(t, "00:00"), To: clock(t, "06:00"), Vaccinators: 2}}}

	spring := c.SlotsOn(Date{2021, 3, 28}, loc)
	// 00:00-02:00 CET (8 slots) and 03:00-06:00 CEST (12 slots): 5 real hours.
	if len(spring) != 20 {
		t.Fatalf("28 Mar: %d slots, want 20", len(spring))
	}
	if got := spring[7].Start.Format("15:04 MST"); got != "01:45 CET" {
		t.Errorf("28 Mar slot 8 at %s, want 01:45 CET", got)
	}
	if got := spring[8].Start.Format("15:04 MST"); got != "03:00 CEST" {
		t.Errorf("28 Mar slot 9 at %s, want 03:00 CEST", got)
	}
	seen := map[int64]bool{}
	for i, s := range spring {
		if seen[s.Start.Unix()] {
			t.Fatalf("28 Mar: two slots start at %s", s.Start)
		}
		seen[s.Start.Unix()] = true
		if i > 0 && !s.Start.Equal(spring[i-1].End) {
			t.Errorf("28 Mar: slot %d starts %s, previous ends %s", i, s.Start, spring[i-1].End)
		}
	}
	if _, total := places(spring); total != 20*6 {
		t.Errorf("28 Mar: %d places, want %d", total, 20*6)
	}

	// In autumn 02:00-03:00 happens twice; the slots may not overlap.
	autumn := c.SlotsOn(Date{2021, 10, 31}, loc)
	if len(autumn) != 24 {
		t.Fatalf("31 Oct: %d slots, want 24", len(autumn))
	}
	for i := 1; i < len(autumn); i++ {
		if autumn[i].Start.Before(autumn[i-1].End) {
			t.Errorf("31 Oct: slot %d (%s) overlaps the previous one (ends %s)", i, autumn[i].Start, autumn[i-1].End)
		}
	}
}
