package domain

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// ProductID names a vaccine product.
type ProductID string

// The vaccines of 2021.
const (
	Comirnaty ProductID = "comirnaty"
	Spikevax  ProductID = "spikevax"
	Vaxzevria ProductID = "vaxzevria"
	Janssen   ProductID = "janssen"
)

// Product is a vaccine as the campaign knows it.
type Product struct {
	ID           ProductID `json:"id"`
	Name         string    `json:"name"`
	EUNumber     string    `json:"eu_number"`
	Platform     string    `json:"platform"` // mrna or vector
	DosesPerVial int       `json:"doses_per_vial"`
}

// PriorityGroup is one group of the vaccination ordinance. A resident falls
// into the group with the lowest number whose criteria they meet: an age at
// the rule set's reference date, or one of its indications.
type PriorityGroup struct {
	Number      int          `json:"number"`
	Name        string       `json:"name"`
	MinAge      int          `json:"min_age,omitempty"`
	Indications []Indication `json:"indications,omitempty"`
}

// NextDose says which product may follow a first dose, and when.
type NextDose struct {
	Product ProductID `json:"product"`
	MinDays int       `json:"min_days"`
	MaxDays int       `json:"max_days"`
}

// VaccineRule says who may receive a product and how its series runs.
type VaccineRule struct {
	Product   ProductID `json:"product"`
	Available bool      `json:"available"`
	MinAge    int       `json:"min_age,omitempty"`
	MaxAge    int       `json:"max_age,omitempty"` // 0: no upper limit
	// ExcludingIntolerances: a person with any of these must not receive it.
	ExcludingIntolerances []Intolerance `json:"excluding_intolerances,omitempty"`
	// Doses in the series: 1 or 2.
	Doses int `json:"doses"`
	// Next lists the products that may follow a first dose, in order of
	// preference, with their intervals. Empty for one-dose products.
	Next []NextDose `json:"next,omitempty"`
	// OpenToAll makes the product bookable for every adult regardless of
	// priority group (Vaxzevria from 6 May 2021).
	OpenToAll bool `json:"open_to_all,omitempty"`
}

// RuleSet is the entitlement rules in force from EffectiveFrom until the next
// rule set takes effect. Rule sets are data: they change by the week.
type RuleSet struct {
	Version       string    `json:"version"`
	Description   string    `json:"description,omitempty"`
	EffectiveFrom time.Time `json:"effective_from"`
	// AgeReferenceDate is the day on which ages are counted for groups; zero
	// means "the day of the check".
	AgeReferenceDate Date `json:"age_reference_date,omitempty"`
	// ResidencePrefix: a resident's municipality key must start with it
	// (Saxony: "14"). Empty: no residence requirement.
	ResidencePrefix string          `json:"residence_prefix,omitempty"`
	MinAge          int             `json:"min_age"` // nobody younger is vaccinated at all
	Groups          []PriorityGroup `json:"groups"`
	OpenGroups      []int           `json:"open_groups"`
	Vaccines        []VaccineRule   `json:"vaccines"`
}

// Validate checks that a rule set is consistent before it is published.
func (rs *RuleSet) Validate() error {
	if strings.TrimSpace(rs.Version) == "" {
		return Invalid("version", "is required")
	}
	if rs.EffectiveFrom.IsZero() {
		return Invalid("effective_from", "is required (RFC 3339)")
	}
	if len(rs.Groups) == 0 {
		return Invalid("groups", "at least one priority group is required")
	}
	seen := map[int]bool{}
	for i, g := range rs.Groups {
		if g.Number <= 0 {
			return Invalid(fmt.Sprintf("groups[%d].number", i), "must be positive")
		}
		if seen[g.Number] {
			return Invalid(fmt.Sprintf("groups[%d].number", i), "group %d defined twice", g.Number)
		}
		seen[g.Number] = true
		for _, ind := range g.Indications {
			if !KnownIndication(ind) {
				return Invalid(fmt.Sprintf("groups[%d].indications", i), "unknown indication %q", ind)
			}
		}
	}
	for _, n := range rs.OpenGroups {
		if !seen[n] {
			return Invalid("open_groups", "group %d is not defined", n)
		}
	}
	products := map[ProductID]bool{}
	for i, v := range rs.Vaccines {
		f := fmt.Sprintf("vaccines[%d]", i)
		if !KnownProduct(v.Product) {
			return Invalid(f+".product", "unknown product %q", v.Product)
		}
		if products[v.Product] {
			return Invalid(f+".product", "%s defined twice", v.Product)
		}
		products[v.Product] = true
		if v.Doses != 1 && v.Doses != 2 {
			return Invalid(f+".doses", "must be 1 or 2")
		}
		if v.Doses == 2 && len(v.Next) == 0 {
			return Invalid(f+".next", "a two-dose product needs at least one next dose")
		}
		if v.MaxAge != 0 && v.MaxAge < v.MinAge {
			return Invalid(f+".max_age", "is below min_age")
		}
		for j, n := range v.Next {
			if !KnownProduct(n.Product) {
				return Invalid(fmt.Sprintf("%s.next[%d].product", f, j), "unknown product %q", n.Product)
			}
			if n.MinDays <= 0 || n.MaxDays < n.MinDays {
				return Invalid(fmt.Sprintf("%s.next[%d]", f, j), "needs 0 < min_days <= max_days")
			}
		}
	}
	return nil
}

// KnownProduct reports whether p is one of the campaign's products.
func KnownProduct(p ProductID) bool {
	return p == Comirnaty || p == Spikevax || p == Vaxzevria || p == Janssen
}

// Vaccine returns the rule for product p.
func (rs *RuleSet) Vaccine(p ProductID) (VaccineRule, bool) {
	for _, v := range rs.Vaccines {
		if v.Product == p {
			return v, true
		}
	}
	return VaccineRule{}, false
}

// GroupOf returns the priority group number of r on day (0: none).
func (rs *RuleSet) GroupOf(r *Resident, day Date) int {
	ref := rs.AgeReferenceDate
	if ref.IsZero() {
		ref = day
	}
	age := r.AgeOn(ref)
	groups := slices.Clone(rs.Groups)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Number < groups[j].Number })
	for _, g := range groups {
		if g.MinAge > 0 && age >= g.MinAge {
			return g.Number
		}
		if r.HasIndication(g.Indications) {
			return g.Number
		}
	}
	return 0
}

// Entitlement is what a resident may book under a rule set on a day.
type Entitlement struct {
	RuleSet  string      `json:"ruleset"`
	Group    int         `json:"priority_group"`
	Open     bool        `json:"open"`
	Products []ProductID `json:"products"`
	// Reason is set when Products is empty: why nothing can be booked.
	Reason *Refusal `json:"-"`
}

// Entitle decides what r may book on day.
func (rs *RuleSet) Entitle(r *Resident, day Date) Entitlement {
	e := Entitlement{RuleSet: rs.Version, Group: rs.GroupOf(r, day), Products: []ProductID{}}
	e.Open = slices.Contains(rs.OpenGroups, e.Group)
	if rs.ResidencePrefix != "" && !strings.HasPrefix(r.Address.MunicipalityKey, rs.ResidencePrefix) {
		e.Open = false
		e.Reason = refuse(ErrNotEntitled, "not-resident", "Sie sind nicht in diesem Bundesland gemeldet.")
		return e
	}
	if r.AgeOn(day) < rs.MinAge {
		e.Open = false
		e.Reason = refuse(ErrNotEntitled, "too-young", fmt.Sprintf("Impfungen sind erst ab %d Jahren möglich.", rs.MinAge))
		return e
	}
	var productRefusal *Refusal
	for _, v := range rs.Vaccines {
		if !e.Open && !v.OpenToAll {
			continue
		}
		if err := rs.allows(v, r, day); err != nil {
			productRefusal = err
			continue
		}
		e.Products = append(e.Products, v.Product)
	}
	if len(e.Products) == 0 {
		switch {
		case !e.Open:
			e.Reason = refuse(ErrNotEntitled, "group-not-open", "Ihre Prioritätsgruppe ist noch nicht zur Impfung aufgerufen.")
		case productRefusal != nil:
			e.Reason = productRefusal
		default:
			e.Reason = refuse(ErrProductNotAllowed, "no-product", "Für Sie ist derzeit kein Impfstoff freigegeben.")
		}
	}
	return e
}

// allows checks a product's own limits (availability, age, intolerances) for r on day.
func (rs *RuleSet) allows(v VaccineRule, r *Resident, day Date) *Refusal {
	if !v.Available {
		return refuse(ErrProductNotAllowed, "product-unavailable", "Dieser Impfstoff wird derzeit nicht verimpft.")
	}
	age := r.AgeOn(day)
	if age < v.MinAge || (v.MaxAge != 0 && age > v.MaxAge) {
		return refuse(ErrProductNotAllowed, "product-age", fmt.Sprintf("Dieser Impfstoff ist für Ihr Alter (%d Jahre) nicht freigegeben.", age))
	}
	for _, in := range r.Intolerances {
		if slices.Contains(v.ExcludingIntolerances, in) {
			return refuse(ErrProductNotAllowed, "product-intolerance", "Wegen einer Unverträglichkeit kommt dieser Impfstoff für Sie nicht in Frage.")
		}
	}
	return nil
}

// AllowsProduct reports whether r may receive a dose of p on day: the
// product's own limits, not the priority group (a second dose is never
// refused for the group).
func (rs *RuleSet) AllowsProduct(p ProductID, r *Resident, day Date) *Refusal {
	v, ok := rs.Vaccine(p)
	if !ok {
		return refuse(ErrProductNotAllowed, "product-unknown", "Dieser Impfstoff ist nicht vorgesehen.")
	}
	return rs.allows(v, r, day)
}

// SeriesPlan is what a booking must reserve: the first dose's product and,
// for two-dose products, the allowed window and product of the second dose.
type SeriesPlan struct {
	Product     ProductID
	Doses       int
	NextProduct ProductID
	NextFrom    Date // earliest day of dose 2
	NextTo      Date // latest day of dose 2
}

// PlanSeries decides whether r may start a series of p with dose 1 on day,
// and where dose 2 must fall.
func (rs *RuleSet) PlanSeries(r *Resident, p ProductID, day Date) (SeriesPlan, error) {
	e := rs.Entitle(r, day)
	if !slices.Contains(e.Products, p) {
		if e.Reason != nil && len(e.Products) == 0 {
			return SeriesPlan{}, e.Reason
		}
		if err := rs.AllowsProduct(p, r, day); err != nil {
			return SeriesPlan{}, err
		}
		return SeriesPlan{}, refuse(ErrNotEntitled, "group-not-open", "Ihre Prioritätsgruppe ist noch nicht zur Impfung aufgerufen.")
	}
	v, _ := rs.Vaccine(p)
	plan := SeriesPlan{Product: p, Doses: v.Doses}
	if v.Doses == 1 {
		return plan, nil
	}
	next, err := rs.NextDoseFor(p, r, day)
	if err != nil {
		return SeriesPlan{}, err
	}
	plan.NextProduct = next.Product
	plan.NextFrom = day.AddDays(next.MinDays)
	plan.NextTo = day.AddDays(next.MaxDays)
	return plan, nil
}

// NextDoseFor picks the first allowed follow-up of a first dose of p given on
// day1, checking the follow-up product's own limits for r.
func (rs *RuleSet) NextDoseFor(p ProductID, r *Resident, day1 Date) (NextDose, error) {
	v, ok := rs.Vaccine(p)
	if !ok {
		return NextDose{}, refuse(ErrProductNotAllowed, "product-unknown", "Dieser Impfstoff ist nicht vorgesehen.")
	}
	var last *Refusal
	for _, n := range v.Next {
		if err := rs.AllowsProduct(n.Product, r, day1.AddDays(n.MinDays)); err != nil {
			last = err
			continue
		}
		return n, nil
	}
	if last == nil {
		last = refuse(ErrProductNotAllowed, "no-second-dose", "Für die zweite Impfung ist kein Impfstoff freigegeben.")
	}
	return NextDose{}, last
}
