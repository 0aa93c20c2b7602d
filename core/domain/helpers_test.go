package domain

import (
	"encoding/json"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without depending on the host's zoneinfo
)

// testdata/saxony-2021.json is a JSON copy of deploy/campaign/saxony-2021
// (products, centres and the twelve rule sets). The domain must not import
// deploy, so its tests read this copy instead of the YAML.

type saxonyCampaign struct {
	Products []Product `json:"products"`
	Centres  []Centre  `json:"centres"`
	RuleSets []RuleSet `json:"rulesets"`
}

var (
	saxonyOnce sync.Once
	saxonyData saxonyCampaign
	saxonyErr  error
)

func loadSaxony(t testing.TB) saxonyCampaign {
	t.Helper()
	saxonyOnce.Do(func() {
		b, err := os.ReadFile("testdata/saxony-2021.json")
		if err != nil {
			saxonyErr = err
			return
		}
		saxonyErr = json.Unmarshal(b, &saxonyData)
	})
	if saxonyErr != nil {
		t.Fatalf("load testdata/saxony-2021.json: %v", saxonyErr)
	}
	return saxonyData
}

// ruleSet returns a fresh copy of the Saxon rule set of the given version.
func ruleSet(t testing.TB, version string) *RuleSet {
	t.Helper()
	for _, rs := range loadSaxony(t).RuleSets {
		if rs.Version == version {
			// Deep copy through JSON so that a test may change it freely.
			b, err := json.Marshal(rs)
			if err != nil {
				t.Fatal(err)
			}
			var cp RuleSet
			if err := json.Unmarshal(b, &cp); err != nil {
				t.Fatal(err)
			}
			return &cp
		}
	}
	t.Fatalf("no rule set %q in testdata", version)
	return nil
}

func centre(t testing.TB, id string) Centre {
	t.Helper()
	for _, c := range loadSaxony(t).Centres {
		if c.ID == id {
			c.Shifts = append([]Shift(nil), c.Shifts...)
			return c
		}
	}
	t.Fatalf("no centre %q in testdata", id)
	return Centre{}
}

func berlin(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	return loc
}

func d(t testing.TB, s string) Date {
	t.Helper()
	v, err := ParseDate(s)
	if err != nil {
		t.Fatalf("ParseDate(%q): %v", s, err)
	}
	return v
}

// at returns the wall-clock time hh:mm of day s in Berlin.
func at(t testing.TB, s string, hh, mm int) time.Time {
	t.Helper()
	day := d(t, s)
	return time.Date(day.Year, day.Month, day.Day, hh, mm, 0, 0, berlin(t))
}

// resident returns a valid Saxon resident born on birth (YYYY-MM-DD) with
// the given indications.
func resident(t testing.TB, birth string, inds ...Indication) *Resident {
	t.Helper()
	r := &Resident{
		ID:         "r-" + birth,
		GivenNames: "Erika",
		FamilyName: "Mustermann",
		BirthDate:  d(t, birth),
		Sex:        SexFemale,
		Address: Address{
			Street:          "Prager Straße 1",
			PostalCode:      "01069",
			City:            "Dresden",
			MunicipalityKey: "14612000",
		},
		Indications:  inds,
		Intolerances: []Intolerance{},
		Channel:      "web",
	}
	if r.Indications == nil {
		r.Indications = []Indication{}
	}
	return r
}

// refusalCode returns the Code of a *Refusal in err's chain, or "" (and the
// error text) when err is nil or not a refusal.
func refusalCode(err error) string {
	var r *Refusal
	if errors.As(err, &r) {
		if r == nil { // a nil *Refusal passed as error: no refusal
			return ""
		}
		return r.Code
	}
	if err == nil {
		return ""
	}
	return "not-a-refusal: " + err.Error()
}
