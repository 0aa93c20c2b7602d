package domain

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestParseDate(t *testing.T) {
	tests := []struct {
		in   string
		want Date
		ok   bool
	}{
		{"2021-03-30", Date{2021, time.March, 30}, true},
		{"2020-02-29", Date{2020, time.February, 29}, true}, // leap year
		{"2000-02-29", Date{2000, time.February, 29}, true}, // divisible by 400
		{"1890-01-01", Date{1890, time.January, 1}, true},
		{"2021-12-31", Date{2021, time.December, 31}, true},
		{"2021-02-29", Date{}, false}, // not a leap year
		{"1900-02-29", Date{}, false}, // divisible by 100, not by 400
		{"2021-04-31", Date{}, false},
		{"2021-13-01", Date{}, false},
		{"2021-00-10", Date{}, false},
		{"2021-01-00", Date{}, false},
		{"2021-1-5", Date{}, false},
		{"21-01-05", Date{}, false},
		{"2021/01/05", Date{}, false},
		{"05.01.2021", Date{}, false},
		{" 2021-01-05", Date{}, false},
		{"2021-01-05 ", Date{}, false},
		{"2021-01-05T00:00:00Z", Date{}, false},
		{"", Date{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDate(tc.in)
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseDate(%q) error %v", tc.in, err)
				}
				if got != tc.want {
					t.Fatalf("ParseDate(%q) = %+v, want %+v", tc.in, got, tc.want)
				}
				if got.String() != tc.in {
					t.Fatalf("String() = %q, want %q", got.String(), tc.in)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseDate(%q) = %+v, %v; want an error wrapping ErrInvalid", tc.in, got, err)
			}
			if got != (Date{}) {
				t.Fatalf("ParseDate(%q) returned %+v with its error, want the zero Date", tc.in, got)
			}
		})
	}
}

func TestDateStringPadsYearMonthAndDay(t *testing.T) {
	if got := (Date{987, time.May, 7}).String(); got != "0987-05-07" {
		t.Fatalf("String() = %q, want 0987-05-07", got)
	}
	if !(Date{}).IsZero() || (Date{2021, 1, 1}).IsZero() {
		t.Fatal("IsZero: only the zero Date is zero")
	}
}

func TestYearsUntil(t *testing.T) {
	tests := []struct {
		name      string
		birth, on string
		want      int
	}{
		{"day before birthday", "1941-03-30", "2021-03-29", 79},
		{"on birthday", "1941-03-30", "2021-03-30", 80},
		{"day after birthday", "1941-03-30", "2021-03-31", 80},
		{"earlier month", "1941-03-30", "2021-02-28", 79},
		{"later month, earlier day", "1941-03-30", "2021-04-01", 80},
		{"day of birth", "2021-01-05", "2021-01-05", 0},
		{"one day old", "2021-01-05", "2021-01-06", 0},
		{"new year's eve to new year", "1960-12-31", "2021-01-01", 60},
		{"new year's day", "1961-01-01", "2020-12-31", 59},
		// A person born on 29 February completes a year at the end of
		// 28 February in a common year (BGB §188(3)): one year older on 1 March.
		{"leap birthday, 28 Feb common year", "1960-02-29", "2021-02-28", 60},
		{"leap birthday, 1 Mar common year", "1960-02-29", "2021-03-01", 61},
		{"leap birthday, 28 Feb leap year", "1960-02-29", "2020-02-28", 59},
		{"leap birthday, 29 Feb leap year", "1960-02-29", "2020-02-29", 60},
		{"born 28 Feb, on 29 Feb", "1961-02-28", "2020-02-29", 59},
		{"born 1 Mar, on 29 Feb", "1960-03-01", "2020-02-29", 59},
		{"born 1 Mar, on 1 Mar", "1960-03-01", "2020-03-01", 60},
		{"aged 16 exactly", "2005-06-07", "2021-06-07", 16},
		{"a day short of 16", "2005-06-08", "2021-06-07", 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := d(t, tc.birth).YearsUntil(d(t, tc.on)); got != tc.want {
				t.Fatalf("%s.YearsUntil(%s) = %d, want %d", tc.birth, tc.on, got, tc.want)
			}
			r := Resident{BirthDate: d(t, tc.birth)}
			if got := r.AgeOn(d(t, tc.on)); got != tc.want {
				t.Fatalf("AgeOn = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestDateArithmetic(t *testing.T) {
	tests := []struct {
		from string
		n    int
		to   string
	}{
		{"2021-03-22", 63, "2021-05-24"},
		{"2021-03-22", 84, "2021-06-14"},
		{"2021-01-11", 21, "2021-02-01"},
		{"2021-01-11", 42, "2021-02-22"},
		{"2020-02-28", 1, "2020-02-29"},
		{"2021-02-28", 1, "2021-03-01"},
		{"2020-12-31", 1, "2021-01-01"},
		{"2021-03-27", 1, "2021-03-28"}, // DST does not matter to a Date
		{"2021-03-28", 1, "2021-03-29"},
		{"2021-10-31", 1, "2021-11-01"},
		{"2021-03-01", -1, "2021-02-28"},
		{"2021-05-06", 0, "2021-05-06"},
		{"2020-12-27", 365, "2021-12-27"},
		{"2020-01-01", 366, "2021-01-01"},
	}
	for _, tc := range tests {
		from, to := d(t, tc.from), d(t, tc.to)
		if got := from.AddDays(tc.n); got != to {
			t.Errorf("%s.AddDays(%d) = %s, want %s", tc.from, tc.n, got, tc.to)
		}
		if got := from.DaysUntil(to); got != tc.n {
			t.Errorf("%s.DaysUntil(%s) = %d, want %d", tc.from, tc.to, got, tc.n)
		}
		if got := to.DaysUntil(from); got != -tc.n {
			t.Errorf("%s.DaysUntil(%s) = %d, want %d", tc.to, tc.from, got, -tc.n)
		}
		wantCmp := 0
		switch {
		case tc.n > 0:
			wantCmp = -1
		case tc.n < 0:
			wantCmp = 1
		}
		if got := from.Compare(to); got != wantCmp {
			t.Errorf("%s.Compare(%s) = %d, want %d", tc.from, tc.to, got, wantCmp)
		}
		if from.Before(to) != (wantCmp < 0) || from.After(to) != (wantCmp > 0) {
			t.Errorf("%s Before/After %s disagree with Compare %d", tc.from, tc.to, wantCmp)
		}
	}
}

func TestDateOfUsesTheTimesLocation(t *testing.T) {
	loc := berlin(t)
	// 23:30 UTC on 29 March is already 30 March in Berlin (CEST, +02:00).
	u := time.Date(2021, time.March, 29, 23, 30, 0, 0, time.UTC)
	if got := DateOf(u); got != (Date{2021, time.March, 29}) {
		t.Fatalf("DateOf(UTC) = %s, want 2021-03-29", got)
	}
	if got := DateOf(u.In(loc)); got != (Date{2021, time.March, 30}) {
		t.Fatalf("DateOf(Berlin) = %s, want 2021-03-30", got)
	}
	mid := (Date{2021, time.March, 28}).In(loc)
	if got := mid.Format(time.RFC3339); got != "2021-03-28T00:00:00+01:00" {
		t.Fatalf("In(Berlin) = %s, want 2021-03-28T00:00:00+01:00", got)
	}
	if got := (Date{2021, time.March, 29}).In(loc).Format(time.RFC3339); got != "2021-03-29T00:00:00+02:00" {
		t.Fatalf("In(Berlin) = %s, want 2021-03-29T00:00:00+02:00", got)
	}
}

func TestDateJSON(t *testing.T) {
	type doc struct {
		Birth Date `json:"birth"`
	}
	b, err := json.Marshal(doc{Birth: Date{1941, time.March, 30}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"birth":"1941-03-30"}` {
		t.Fatalf("Marshal = %s", b)
	}
	b, err = json.Marshal(doc{})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"birth":null}` {
		t.Fatalf("Marshal(zero) = %s, want null", b)
	}

	var got doc
	if err := json.Unmarshal([]byte(`{"birth":"2020-02-29"}`), &got); err != nil {
		t.Fatal(err)
	}
	if got.Birth != (Date{2020, time.February, 29}) {
		t.Fatalf("Unmarshal = %+v", got.Birth)
	}
	got.Birth = Date{2000, 1, 1}
	if err := json.Unmarshal([]byte(`{"birth":null}`), &got); err != nil {
		t.Fatal(err)
	}
	if !got.Birth.IsZero() {
		t.Fatalf("Unmarshal(null) = %+v, want zero", got.Birth)
	}
	for _, bad := range []string{`{"birth":"2021-02-29"}`, `{"birth":20210101}`, `{"birth":"30.03.1941"}`, `{"birth":true}`} {
		var v doc
		err := json.Unmarshal([]byte(bad), &v)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("Unmarshal(%s) error = %v, want ErrInvalid", bad, err)
		}
	}
}

// FuzzParseDate: whatever ParseDate accepts prints back to exactly the same
// text, lies within its month, and survives a JSON round trip.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2021-03-30", "2020-02-29", "2021-02-29", "1900-02-29", "2000-02-29",
		"0000-01-01", "9999-12-31", "2021-13-01", "2021-1-5", "", "2021-03-30T12:00:00Z", "١٩٤١-٠٣-٣٠"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDate(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseDate(%q) error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		if v.String() != s {
			t.Fatalf("ParseDate(%q).String() = %q", s, v.String())
		}
		if v.Month < time.January || v.Month > time.December || v.Day < 1 || v.Day > 31 {
			t.Fatalf("ParseDate(%q) = %+v out of range", s, v)
		}
		if DateOf(v.In(time.UTC)) != v {
			t.Fatalf("ParseDate(%q) = %+v is not a real day", s, v)
		}
		if v.AddDays(1).AddDays(-1) != v || v.DaysUntil(v.AddDays(1)) != 1 {
			t.Fatalf("AddDays/DaysUntil inconsistent for %s", v)
		}
		if v.IsZero() {
			return // the zero Date marshals as null
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var back Date
		if err := json.Unmarshal(b, &back); err != nil || back != v {
			t.Fatalf("JSON round trip of %s: %s -> %+v, %v", v, b, back, err)
		}
	})
}
