package domain

import (
	"errors"
	"slices"
	"testing"
	"time"
)

var saxonyVersions = []string{"2020-12-27", "2021-01-06", "2021-02-08", "2021-02-24", "2021-03-04", "2021-03-15",
	"2021-03-19", "2021-03-30", "2021-05-06", "2021-05-10", "2021-06-07", "2021-07-01"}

func TestSaxonRuleSetsAreValid(t *testing.T) {
	rs := loadSaxony(t).RuleSets
	var got []string
	for i := range rs {
		got = append(got, rs[i].Version)
		if err := rs[i].Validate(); err != nil {
			t.Errorf("rule set %s: %v", rs[i].Version, err)
		}
		// Each takes effect at local midnight of the day it is named after.
		want := d(t, rs[i].Version).In(berlin(t))
		if !rs[i].EffectiveFrom.Equal(want) {
			t.Errorf("rule set %s takes effect %s, want %s", rs[i].Version, rs[i].EffectiveFrom, want)
		}
		if rs[i].ResidencePrefix != "14" {
			t.Errorf("rule set %s residence prefix %q, want 14 (Saxony)", rs[i].Version, rs[i].ResidencePrefix)
		}
	}
	if !slices.Equal(got, saxonyVersions) {
		t.Fatalf("rule sets %v, want %v", got, saxonyVersions)
	}
}

func TestRuleSetValidateRefusesInconsistentRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(rs *RuleSet)
		field string
	}{
		{"no version", func(rs *RuleSet) { rs.Version = "  " }, "version"},
		{"no effective time", func(rs *RuleSet) { rs.EffectiveFrom = time.Time{} }, "effective_from"},
		{"no groups", func(rs *RuleSet) { rs.Groups = nil; rs.OpenGroups = nil }, "groups"},
		{"group number 0", func(rs *RuleSet) { rs.Groups[0].Number = 0 }, "groups[0].number"},
		{"group defined twice", func(rs *RuleSet) { rs.Groups[1].Number = 1 }, "groups[1].number"},
		{"unknown indication in group", func(rs *RuleSet) { rs.Groups[2].Indications = append(rs.Groups[2].Indications, "astronaut") }, "groups[2].indications"},
		{"open group not defined", func(rs *RuleSet) { rs.OpenGroups = []int{1, 5} }, "open_groups"},
		{"unknown product", func(rs *RuleSet) { rs.Vaccines[0].Product = "sputnik-v" }, "vaccines[0].product"},
		{"product twice", func(rs *RuleSet) { rs.Vaccines[1].Product = Comirnaty }, "vaccines[1].product"},
		{"three doses", func(rs *RuleSet) { rs.Vaccines[0].Doses = 3 }, "vaccines[0].doses"},
		{"zero doses", func(rs *RuleSet) { rs.Vaccines[3].Doses = 0 }, "vaccines[3].doses"},
		{"two doses without a next dose", func(rs *RuleSet) { rs.Vaccines[0].Next = nil }, "vaccines[0].next"},
		{"max age below min age", func(rs *RuleSet) { rs.Vaccines[2].MaxAge = 17 }, "vaccines[2].max_age"},
		{"next dose of unknown product", func(rs *RuleSet) { rs.Vaccines[0].Next[0].Product = "sputnik-v" }, "vaccines[0].next[0].product"},
		{"next dose min days 0", func(rs *RuleSet) { rs.Vaccines[0].Next[0].MinDays = 0 }, "vaccines[0].next[0]"},
		{"next dose max before min", func(rs *RuleSet) { rs.Vaccines[1].Next[0].MaxDays = 27 }, "vaccines[1].next[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rs := ruleSet(t, "2020-12-27")
			if err := rs.Validate(); err != nil {
				t.Fatalf("fixture invalid: %v", err)
			}
			tc.edit(rs)
			err := rs.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v, want a FieldError for %s", err, tc.field)
			}
			if fe.Field != tc.field {
				t.Fatalf("Validate() refused %q (%s), want %q", fe.Field, fe.Reason, tc.field)
			}
		})
	}
}

func TestKnownProduct(t *testing.T) {
	for _, p := range []ProductID{Comirnaty, Spikevax, Vaxzevria, Janssen} {
		if !KnownProduct(p) {
			t.Errorf("KnownProduct(%s) = false", p)
		}
	}
	for _, p := range []ProductID{"", "sputnik-v", "Comirnaty", "novavax"} {
		if KnownProduct(p) {
			t.Errorf("KnownProduct(%q) = true", p)
		}
	}
}

func TestGroupIsLowestMatchingGroup(t *testing.T) {
	day := Date{2021, 2, 24}
	tests := []struct {
		name  string
		birth string
		inds  []Indication
		want  int
	}{
		{"85 years", "1935-07-01", nil, 1},
		{"80th birthday today", "1941-02-24", nil, 1},
		{"80th birthday tomorrow", "1941-02-25", nil, 2},
		{"72, care home resident: indication of group 1 beats age of group 2", "1948-05-01", []Indication{IndCareHomeResident}, 1},
		{"72", "1948-05-01", nil, 2},
		{"85 with a chronic condition: age of group 1 beats indication of group 3", "1935-07-01", []Indication{IndChronicCondition}, 1},
		{"65 primary-school teacher: indication of group 2 beats age of group 3", "1955-09-09", []Indication{IndTeacherPrimary}, 2},
		{"35 primary-school teacher", "1985-09-09", []Indication{IndTeacherPrimary}, 2},
		{"35 teacher and care-home staff", "1985-09-09", []Indication{IndTeacherPrimary, IndCareHomeStaff}, 1},
		{"45 retail staff", "1975-09-09", []Indication{IndRetail}, 3},
		{"45 chronic condition and police", "1975-09-09", []Indication{IndChronicCondition, IndPolice}, 2},
		{"60th birthday today", "1961-02-24", nil, 3},
		{"59", "1961-02-25", nil, 4},
		{"16 today", "2005-02-24", nil, 4},
		{"15", "2005-02-25", nil, 0},
		{"15 with a chronic condition", "2005-02-25", []Indication{IndChronicCondition}, 3},
	}
	rs := ruleSet(t, "2021-02-24")
	reversed := ruleSet(t, "2021-02-24")
	slices.Reverse(reversed.Groups) // the order of the list must not matter
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resident(t, tc.birth, tc.inds...)
			if got := rs.GroupOf(r, day); got != tc.want {
				t.Errorf("GroupOf = %d, want %d", got, tc.want)
			}
			if got := reversed.GroupOf(r, day); got != tc.want {
				t.Errorf("GroupOf with groups listed 4..1 = %d, want %d", got, tc.want)
			}
		})
	}
	if slices.IndexFunc(reversed.Groups, func(g PriorityGroup) bool { return g.Number == 4 }) != 0 {
		t.Fatal("GroupOf must not reorder the rule set's own groups")
	}
}

func TestPrimarySchoolStaffMoveToGroup2On24February(t *testing.T) {
	teacher := resident(t, "1985-09-09", IndTeacherPrimary)
	if got := ruleSet(t, "2021-02-08").GroupOf(teacher, Date{2021, 2, 23}); got != 4 {
		t.Errorf("group before 24 Feb = %d, want 4", got)
	}
	e := ruleSet(t, "2021-02-24").Entitle(teacher, Date{2021, 2, 24})
	if e.Group != 2 || !e.Open {
		t.Errorf("from 24 Feb: group %d open %v, want group 2 open", e.Group, e.Open)
	}
}

func TestGroupAgeCountsOnReferenceDate(t *testing.T) {
	rs := ruleSet(t, "2021-02-24")
	r := resident(t, "1941-06-01") // 79 on 1 March 2021, 80 by the end of the year
	day := Date{2021, 3, 1}
	if got := rs.GroupOf(r, day); got != 2 {
		t.Fatalf("GroupOf without reference date = %d, want 2", got)
	}
	rs.AgeReferenceDate = Date{2021, 12, 31}
	if got := rs.GroupOf(r, day); got != 1 {
		t.Fatalf("GroupOf with ages counted on 2021-12-31 = %d, want 1", got)
	}
	// The reference date is for the groups only: a product's age limit is
	// checked on the day itself.
	rs.Vaccines[0].MinAge = 80
	if ref := rs.AllowsProduct(Comirnaty, r, day); refusalCode(ref) != "product-age" {
		t.Fatalf("AllowsProduct = %v, want product-age", ref)
	}
}

func TestEntitlementFollowsTheRuleChanges(t *testing.T) {
	c, s, v, j := Comirnaty, Spikevax, Vaxzevria, Janssen
	tests := []struct {
		version  string
		birth    string
		inds     []Indication
		intol    []Intolerance
		group    int
		open     bool
		products []ProductID
		code     string
		kind     error
	}{
		{"2020-12-27", "1935-07-01", nil, nil, 1, true, []ProductID{c}, "", nil},
		{"2020-12-27", "1948-05-01", nil, nil, 2, false, nil, "group-not-open", ErrNotEntitled},
		{"2021-01-06", "1935-07-01", nil, nil, 1, true, []ProductID{c, s}, "", nil},
		{"2021-02-08", "1980-01-01", []Indication{IndCareHomeStaff}, nil, 1, true, []ProductID{c, s, v}, "", nil},
		{"2021-02-08", "1935-07-01", nil, nil, 1, true, []ProductID{c, s}, "", nil},                               // Vaxzevria 18 to 64 only
		{"2021-02-08", "1956-02-09", []Indication{IndCareHomeStaff}, nil, 1, true, []ProductID{c, s, v}, "", nil}, // 64: the last year for Vaxzevria
		{"2021-02-08", "1956-02-08", []Indication{IndCareHomeStaff}, nil, 1, true, []ProductID{c, s}, "", nil},    // 65 today
		{"2021-02-24", "1985-09-09", []Indication{IndTeacherPrimary}, nil, 2, true, []ProductID{c, s, v}, "", nil},
		{"2021-03-04", "1935-07-01", nil, nil, 1, true, []ProductID{c, s, v}, "", nil}, // Vaxzevria at 65+ too
		{"2021-03-15", "1980-01-01", []Indication{IndCareHomeStaff}, nil, 1, true, []ProductID{c, s}, "", nil},
		{"2021-03-15", "1980-01-01", []Indication{IndCareHomeStaff}, []Intolerance{IntolerancePEG}, 1, true, nil, "product-unavailable", ErrProductNotAllowed},
		{"2021-03-19", "1980-01-01", []Indication{IndCareHomeStaff}, []Intolerance{IntolerancePEG}, 1, true, []ProductID{v}, "", nil},
		{"2021-03-30", "1976-05-01", []Indication{IndTeacherPrimary}, nil, 2, true, []ProductID{c, s}, "", nil},
		// The reason is the last product's refusal (Janssen not yet in use),
		// not the more telling ones (mRNA: intolerance, Vaxzevria: age).
		{"2021-03-30", "1976-05-01", []Indication{IndTeacherPrimary}, []Intolerance{IntolerancePEG}, 2, true, nil, "product-unavailable", ErrProductNotAllowed},
		{"2021-03-30", "1955-05-01", nil, nil, 3, true, []ProductID{c, s, v}, "", nil},
		{"2021-03-30", "1976-05-01", nil, nil, 4, false, nil, "group-not-open", ErrNotEntitled},
		{"2021-05-06", "1976-05-01", nil, nil, 4, false, []ProductID{v}, "", nil},
		{"2021-05-06", "2003-06-01", nil, nil, 4, false, nil, "group-not-open", ErrNotEntitled}, // 17: not an adult
		{"2021-05-10", "1976-05-01", nil, nil, 4, false, []ProductID{v, j}, "", nil},
		{"2021-05-10", "1976-05-01", nil, []Intolerance{IntolerancePolysorbate}, 4, false, nil, "group-not-open", ErrNotEntitled},
		{"2021-05-10", "2005-06-01", []Indication{IndChronicCondition}, nil, 3, false, nil, "too-young", ErrNotEntitled},
		{"2021-06-07", "1976-05-01", nil, nil, 4, true, []ProductID{c, s, v, j}, "", nil},
		{"2021-06-07", "2009-06-07", nil, nil, 4, true, []ProductID{c}, "", nil}, // 12 today
		{"2021-06-07", "2009-06-08", nil, nil, 0, false, nil, "too-young", ErrNotEntitled},
		{"2021-06-07", "1976-05-01", nil, []Intolerance{IntolerancePEG, IntolerancePolysorbate}, 4, true, nil, "product-intolerance", ErrProductNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.version+"/"+tc.birth, func(t *testing.T) {
			rs := ruleSet(t, tc.version)
			r := resident(t, tc.birth, tc.inds...)
			r.Intolerances = tc.intol
			e := rs.Entitle(r, d(t, tc.version))
			if e.RuleSet != tc.version {
				t.Errorf("RuleSet = %q", e.RuleSet)
			}
			if e.Group != tc.group || e.Open != tc.open {
				t.Errorf("group %d open %v, want group %d open %v", e.Group, e.Open, tc.group, tc.open)
			}
			want := tc.products
			if want == nil {
				want = []ProductID{}
			}
			if e.Products == nil || !slices.Equal(e.Products, want) {
				t.Errorf("products %#v, want %v", e.Products, want)
			}
			if tc.code == "" {
				if e.Reason != nil {
					t.Errorf("Reason = %v, want none", e.Reason)
				}
				return
			}
			if e.Reason == nil || e.Reason.Code != tc.code || !errors.Is(e.Reason, tc.kind) || e.Reason.Message == "" {
				t.Errorf("Reason = %v, want %s (%v)", e.Reason, tc.code, tc.kind)
			}
		})
	}
}

func TestResidenceOutsideSaxonyIsRefused(t *testing.T) {
	rs := ruleSet(t, "2021-06-07")
	day := Date{2021, 6, 7}
	tests := []struct {
		key  string
		want string
	}{
		{"14612000", ""},             // Dresden
		{"14713000", ""},             // Leipzig
		{"14521010", ""},             // Annaberg-Buchholz, Erzgebirgskreis
		{"09162000", "not-resident"}, // München
		{"11000000", "not-resident"}, // Berlin
		{"16051000", "not-resident"}, // Erfurt
		{"01400000", "not-resident"}, // "14" in the middle is not enough
		{"41400000", "not-resident"}, // nor a 1 and a 4 elsewhere
		{"", "not-resident"},         // unknown residence
	}
	for _, tc := range tests {
		r := resident(t, "1935-07-01")
		r.Address.MunicipalityKey = tc.key
		e := rs.Entitle(r, day)
		if tc.want == "" {
			if e.Reason != nil || !slices.Equal(e.Products, []ProductID{Comirnaty, Spikevax, Vaxzevria, Janssen}) || !e.Open {
				t.Errorf("%s: %+v, want entitled to all four", tc.key, e)
			}
			continue
		}
		if e.Reason == nil || e.Reason.Code != tc.want || !errors.Is(e.Reason, ErrNotEntitled) {
			t.Errorf("%s: Reason = %v, want %s", tc.key, e.Reason, tc.want)
			continue
		}
		if e.Reason.Message != "Sie sind nicht in diesem Bundesland gemeldet." {
			t.Errorf("%s: message %q", tc.key, e.Reason.Message)
		}
		if e.Open || len(e.Products) != 0 || e.Products == nil {
			t.Errorf("%s: open %v products %#v, want closed and none", tc.key, e.Open, e.Products)
		}
		if _, err := rs.PlanSeries(r, Comirnaty, day); refusalCode(err) != "not-resident" {
			t.Errorf("%s: PlanSeries error %v, want not-resident", tc.key, err)
		}
	}
	// Without a residence prefix anybody may book.
	rs.ResidencePrefix = ""
	r := resident(t, "1935-07-01")
	r.Address.MunicipalityKey = "09162000"
	if e := rs.Entitle(r, day); e.Reason != nil || len(e.Products) != 4 {
		t.Errorf("without residence prefix: %+v", e)
	}
}

func TestPEGAllergyExcludesMRNA(t *testing.T) {
	rs := ruleSet(t, "2021-06-07")
	day := Date{2021, 6, 14}
	r := resident(t, "1976-05-01")
	r.Intolerances = []Intolerance{IntolerancePEG}
	e := rs.Entitle(r, day)
	if !slices.Equal(e.Products, []ProductID{Vaxzevria, Janssen}) {
		t.Fatalf("products %v, want [vaxzevria janssen]", e.Products)
	}
	for _, p := range []ProductID{Comirnaty, Spikevax} {
		ref := rs.AllowsProduct(p, r, day)
		if ref == nil || ref.Code != "product-intolerance" || !errors.Is(ref, ErrProductNotAllowed) {
			t.Errorf("AllowsProduct(%s) = %v, want product-intolerance", p, ref)
		}
		if _, err := rs.PlanSeries(r, p, day); refusalCode(err) != "product-intolerance" {
			t.Errorf("PlanSeries(%s) error %v, want product-intolerance", p, err)
		}
	}
	for _, p := range []ProductID{Vaxzevria, Janssen} {
		if ref := rs.AllowsProduct(p, r, day); ref != nil {
			t.Errorf("AllowsProduct(%s) = %v, want allowed", p, ref)
		}
	}
	// At the start only Comirnaty was given: nothing for a PEG allergy.
	old := resident(t, "1935-07-01")
	old.Intolerances = []Intolerance{IntolerancePEG}
	start := ruleSet(t, "2020-12-27")
	e = start.Entitle(old, Date{2020, 12, 27})
	if len(e.Products) != 0 || e.Reason == nil || !errors.Is(e.Reason, ErrProductNotAllowed) {
		t.Fatalf("27 Dec 2020 with PEG allergy: %v %v, want no product", e.Products, e.Reason)
	}
	if ref := start.AllowsProduct(Comirnaty, old, Date{2020, 12, 27}); refusalCode(ref) != "product-intolerance" {
		t.Fatalf("27 Dec 2020 Comirnaty with PEG allergy: %v, want product-intolerance", ref)
	}
}

func TestPolysorbateAllergyExcludesVectorVaccines(t *testing.T) {
	rs := ruleSet(t, "2021-06-07")
	day := Date{2021, 6, 14}
	r := resident(t, "1976-05-01")
	r.Intolerances = []Intolerance{IntolerancePolysorbate}
	e := rs.Entitle(r, day)
	if !slices.Equal(e.Products, []ProductID{Comirnaty, Spikevax}) {
		t.Fatalf("products %v, want [comirnaty spikevax]", e.Products)
	}
	for _, p := range []ProductID{Vaxzevria, Janssen} {
		ref := rs.AllowsProduct(p, r, day)
		if ref == nil || ref.Code != "product-intolerance" || !errors.Is(ref, ErrProductNotAllowed) {
			t.Errorf("AllowsProduct(%s) = %v, want product-intolerance", p, ref)
		}
		if _, err := rs.PlanSeries(r, p, day); refusalCode(err) != "product-intolerance" {
			t.Errorf("PlanSeries(%s) error %v, want product-intolerance", p, err)
		}
	}
	// Open to all does not override an intolerance: a group-4 adult with a
	// polysorbate allergy on 10 May has nothing to book.
	e = ruleSet(t, "2021-05-10").Entitle(r, Date{2021, 5, 10})
	if len(e.Products) != 0 {
		t.Fatalf("10 May with polysorbate allergy: %v, want none", e.Products)
	}
}

func TestSecondDoseWindowPerProduct(t *testing.T) {
	rs := ruleSet(t, "2021-06-07")
	day1 := Date{2021, 6, 14}
	tests := []struct {
		product  ProductID
		doses    int
		next     ProductID
		from, to string
	}{
		{Comirnaty, 2, Comirnaty, "2021-07-05", "2021-07-26"}, // 21 to 42 days
		{Spikevax, 2, Spikevax, "2021-07-12", "2021-07-26"},   // 28 to 42 days
		{Vaxzevria, 2, Vaxzevria, "2021-08-16", "2021-09-06"}, // 63 to 84 days
		{Janssen, 1, "", "", ""},                              // single dose
	}
	for _, tc := range tests {
		t.Run(string(tc.product), func(t *testing.T) {
			r := resident(t, "1976-05-01")
			plan, err := rs.PlanSeries(r, tc.product, day1)
			if err != nil {
				t.Fatalf("PlanSeries: %v", err)
			}
			want := SeriesPlan{Product: tc.product, Doses: tc.doses, NextProduct: tc.next}
			if tc.from != "" {
				want.NextFrom, want.NextTo = d(t, tc.from), d(t, tc.to)
			}
			if plan != want {
				t.Fatalf("plan %+v, want %+v", plan, want)
			}
		})
	}
}

func TestHeterologousSecondDoseFrom1July(t *testing.T) {
	rs := ruleSet(t, "2021-07-01")
	r := resident(t, "1976-05-01")
	plan, err := rs.PlanSeries(r, Vaxzevria, Date{2021, 7, 5})
	if err != nil {
		t.Fatal(err)
	}
	want := SeriesPlan{Product: Vaxzevria, Doses: 2, NextProduct: Comirnaty, NextFrom: Date{2021, 8, 2}, NextTo: Date{2021, 9, 27}}
	if plan != want {
		t.Fatalf("plan %+v, want %+v", plan, want)
	}
	// With a PEG allergy the vector product follows at its own interval.
	r.Intolerances = []Intolerance{IntolerancePEG}
	plan, err = rs.PlanSeries(r, Vaxzevria, Date{2021, 7, 5})
	if err != nil {
		t.Fatal(err)
	}
	want = SeriesPlan{Product: Vaxzevria, Doses: 2, NextProduct: Vaxzevria, NextFrom: Date{2021, 9, 6}, NextTo: Date{2021, 9, 27}}
	if plan != want {
		t.Fatalf("plan with PEG allergy %+v, want %+v", plan, want)
	}
}

func TestUnder60VaxzevriaSecondDoseBecomesMRNAAfter30March(t *testing.T) {
	before, after := ruleSet(t, "2021-03-19"), ruleSet(t, "2021-03-30")
	day1 := Date{2021, 3, 22}
	teacher := resident(t, "1976-05-01", IndTeacherPrimary) // 44

	plan, err := before.PlanSeries(teacher, Vaxzevria, day1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (SeriesPlan{Product: Vaxzevria, Doses: 2, NextProduct: Vaxzevria, NextFrom: Date{2021, 5, 24}, NextTo: Date{2021, 6, 14}}); plan != want {
		t.Fatalf("plan under 19 March rules %+v, want %+v", plan, want)
	}

	next, err := after.NextDoseFor(Vaxzevria, teacher, day1)
	if err != nil {
		t.Fatal(err)
	}
	if want := (NextDose{Product: Comirnaty, MinDays: 63, MaxDays: 84}); next != want {
		t.Fatalf("second dose after 30 March: %+v, want %+v", next, want)
	}

	// A first Vaxzevria dose is no longer planned for under-60s.
	if _, err := after.PlanSeries(teacher, Vaxzevria, Date{2021, 3, 31}); refusalCode(err) != "product-age" || !errors.Is(err, ErrProductNotAllowed) {
		t.Fatalf("PlanSeries(vaxzevria) for 44-year-old after 30 March: %v, want product-age", err)
	}

	// 60 and over keep Vaxzevria.
	senior := resident(t, "1955-05-01", IndChronicCondition)
	if next, err := after.NextDoseFor(Vaxzevria, senior, day1); err != nil || next.Product != Vaxzevria || next.MinDays != 63 || next.MaxDays != 84 {
		t.Fatalf("second dose for 65-year-old: %+v %v, want vaxzevria 63-84", next, err)
	}

	// Age is judged on the earliest day of dose 2: 59 at dose 1, 60 by then.
	turning60 := resident(t, "1961-05-01")
	if next, err := after.NextDoseFor(Vaxzevria, turning60, day1); err != nil || next.Product != Vaxzevria {
		t.Fatalf("second dose for someone 60 on 24 May: %+v %v, want vaxzevria", next, err)
	}

	// With a PEG allergy no mRNA product is possible and Vaxzevria is too
	// young: no second dose, and the refusal says why.
	allergic := resident(t, "1976-05-01", IndTeacherPrimary)
	allergic.Intolerances = []Intolerance{IntolerancePEG}
	if _, err := after.NextDoseFor(Vaxzevria, allergic, day1); refusalCode(err) != "product-intolerance" {
		t.Fatalf("second dose with PEG allergy: %v, want product-intolerance", err)
	}
}

func TestNextDoseForRefusesUnknownAndSingleDoseProducts(t *testing.T) {
	rs := ruleSet(t, "2021-06-07")
	r := resident(t, "1976-05-01")
	if _, err := rs.NextDoseFor("sputnik-v", r, Date{2021, 6, 7}); refusalCode(err) != "product-unknown" {
		t.Errorf("unknown product: %v", err)
	}
	if _, err := rs.NextDoseFor(Janssen, r, Date{2021, 6, 7}); refusalCode(err) != "no-second-dose" || !errors.Is(err, ErrProductNotAllowed) {
		t.Errorf("Janssen: %v, want no-second-dose", err)
	}
}

func TestPlanSeriesRefusals(t *testing.T) {
	tests := []struct {
		name    string
		version string
		birth   string
		inds    []Indication
		product ProductID
		code    string
		kind    error
	}{
		{"group not yet open", "2021-03-30", "1976-05-01", nil, Comirnaty, "group-not-open", ErrNotEntitled},
		{"mRNA not open to all on 6 May", "2021-05-06", "1976-05-01", nil, Comirnaty, "group-not-open", ErrNotEntitled},
		{"Vaxzevria paused 15 March", "2021-03-15", "1980-01-01", []Indication{IndCareHomeStaff}, Vaxzevria, "product-unavailable", ErrProductNotAllowed},
		{"Janssen not yet used", "2021-05-06", "1935-07-01", nil, Janssen, "product-unavailable", ErrProductNotAllowed},
		{"Spikevax under 18", "2021-06-07", "2004-07-01", nil, Spikevax, "product-age", ErrProductNotAllowed},
		{"Vaxzevria at 85 before 4 March", "2021-02-08", "1935-07-01", nil, Vaxzevria, "product-age", ErrProductNotAllowed},
		{"unknown product", "2021-06-07", "1976-05-01", nil, "sputnik-v", "product-unknown", ErrProductNotAllowed},
		{"too young", "2021-06-07", "2010-01-01", nil, Comirnaty, "too-young", ErrNotEntitled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resident(t, tc.birth, tc.inds...)
			plan, err := ruleSet(t, tc.version).PlanSeries(r, tc.product, d(t, tc.version))
			if refusalCode(err) != tc.code || !errors.Is(err, tc.kind) {
				t.Fatalf("PlanSeries error %v, want %s (%v)", err, tc.code, tc.kind)
			}
			if plan != (SeriesPlan{}) {
				t.Fatalf("refused plan is not empty: %+v", plan)
			}
		})
	}
	// Open to all: a group-4 adult may start Vaxzevria on 6 May.
	plan, err := ruleSet(t, "2021-05-06").PlanSeries(resident(t, "1976-05-01"), Vaxzevria, Date{2021, 5, 6})
	if err != nil || plan.NextProduct != Vaxzevria || plan.NextFrom != (Date{2021, 7, 8}) || plan.NextTo != (Date{2021, 7, 29}) {
		t.Fatalf("6 May Vaxzevria for group 4: %+v %v", plan, err)
	}
}

func TestVaccineLookup(t *testing.T) {
	rs := ruleSet(t, "2021-03-30")
	v, ok := rs.Vaccine(Vaxzevria)
	if !ok || v.MinAge != 60 || v.Doses != 2 || len(v.Next) != 3 || v.Next[1] != (NextDose{Comirnaty, 63, 84}) {
		t.Fatalf("Vaccine(vaxzevria) = %+v %v", v, ok)
	}
	if _, ok := rs.Vaccine("sputnik-v"); ok {
		t.Fatal("Vaccine(unknown) found")
	}
}

func TestErrorsWrapTheirSentinels(t *testing.T) {
	r := refuse(ErrNoCapacity, "full", "Ausgebucht.")
	if !errors.Is(r, ErrNoCapacity) || errors.Is(r, ErrNoStock) || r.Error() != "full: Ausgebucht." {
		t.Fatalf("Refusal %v does not wrap its kind", r)
	}
	fe := Invalid("address.postal_code", "is %d digits", 4)
	if !errors.Is(fe, ErrInvalid) || fe.Error() != "address.postal_code: is 4 digits" {
		t.Fatalf("Invalid = %v", fe)
	}
}
