package domain

import (
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sex as recorded by German registers: female, male, diverse, unspecified.
type Sex string

// The recorded sexes.
const (
	SexFemale      Sex = "f"
	SexMale        Sex = "m"
	SexDiverse     Sex = "d"
	SexUnspecified Sex = "x"
)

// Indication is a reason for earlier vaccination besides age: an occupation,
// a medical condition, or living or working in a care home.
type Indication string

// Indications named by the German vaccination ordinance (a selection).
const (
	IndCareHomeResident Indication = "care-home-resident"
	IndCareHomeStaff    Indication = "care-home-staff"
	IndMedicalHighRisk  Indication = "medical-staff-very-high-exposure"
	IndMedicalHigh      Indication = "medical-staff-high-exposure"
	IndTrisomy21        Indication = "trisomy-21"
	IndDementia         Indication = "dementia"
	IndTransplant       Indication = "transplant"
	IndCloseContact     Indication = "close-contact-of-care-dependent"
	IndPolice           Indication = "police-public-order"
	IndTeacherPrimary   Indication = "primary-school-or-daycare-staff"
	IndChronicCondition Indication = "chronic-condition"
	IndCriticalInfra    Indication = "critical-infrastructure"
	IndRetail           Indication = "retail-staff"
)

// Intolerance is a known allergy that excludes some vaccines.
type Intolerance string

// Intolerances that matter for the vaccines of 2021.
const (
	IntolerancePEG         Intolerance = "peg"
	IntolerancePolysorbate Intolerance = "polysorbate"
)

// Address is a postal address in Germany with its municipality key (AGS).
type Address struct {
	Street          string `json:"street"`
	PostalCode      string `json:"postal_code"`
	City            string `json:"city"`
	MunicipalityKey string `json:"municipality_key"`
}

// Resident is a person who may be vaccinated. Indications and intolerances are
// health data: they never leave the core except to the person themselves.
type Resident struct {
	ID           string        `json:"id"`
	GivenNames   string        `json:"given_names"`
	FamilyName   string        `json:"family_name"`
	BirthDate    Date          `json:"birth_date"`
	Sex          Sex           `json:"sex"`
	Address      Address       `json:"address"`
	Phone        string        `json:"phone,omitempty"`
	Email        string        `json:"email,omitempty"`
	Indications  []Indication  `json:"indications"`
	Intolerances []Intolerance `json:"intolerances"`
	ProxyID      string        `json:"proxy_id,omitempty"`
	Channel      string        `json:"channel"`
	// Contact is how the resident wants to be notified (post, SMS, e-mail).
	Contact      Contact   `json:"contact"`
	RegisteredAt time.Time `json:"registered_at"`
}

// Proxy is a relative or carer who registers and manages several residents.
type Proxy struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Phone string `json:"phone,omitempty"`
	Email string `json:"email,omitempty"`
}

var (
	reAGS      = regexp.MustCompile(`^[0-9]{8}$`)
	rePostcode = regexp.MustCompile(`^[0-9]{5}$`)
	reEmail    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// KnownIndications lists every indication code a resident may carry.
var knownIndications = []Indication{IndCareHomeResident, IndCareHomeStaff, IndMedicalHighRisk, IndMedicalHigh,
	IndTrisomy21, IndDementia, IndTransplant, IndCloseContact, IndPolice, IndTeacherPrimary,
	IndChronicCondition, IndCriticalInfra, IndRetail}

// KnownIndication reports whether code is an indication the ordinance names.
func KnownIndication(code Indication) bool { return slices.Contains(knownIndications, code) }

// Normalize puts the resident's text fields into Unicode NFC-equivalent trimmed
// form. Full NFC normalisation needs golang.org/x/text, which the domain does
// not import: the caller (connectors/api) normalises before calling, and
// Validate rejects text that is not valid UTF-8 or has control characters.
func (r *Resident) Normalize() {
	r.GivenNames = collapseSpaces(r.GivenNames)
	r.FamilyName = collapseSpaces(r.FamilyName)
	r.Address.Street = collapseSpaces(r.Address.Street)
	r.Address.City = collapseSpaces(r.Address.City)
	r.Phone = strings.TrimSpace(r.Phone)
	r.Email = strings.ToLower(strings.TrimSpace(r.Email))
	r.normalizeContact()
	slices.Sort(r.Indications)
	r.Indications = slices.Compact(r.Indications)
	slices.Sort(r.Intolerances)
	r.Intolerances = slices.Compact(r.Intolerances)
	if r.Indications == nil {
		r.Indications = []Indication{}
	}
	if r.Intolerances == nil {
		r.Intolerances = []Intolerance{}
	}
}

func collapseSpaces(s string) string { return strings.Join(strings.Fields(s), " ") }

// Validate checks a resident at registration time. today is the local date.
func (r *Resident) Validate(today Date) error {
	if err := validName("given_names", r.GivenNames); err != nil {
		return err
	}
	if err := validName("family_name", r.FamilyName); err != nil {
		return err
	}
	if r.BirthDate.IsZero() {
		return Invalid("birth_date", "is required (YYYY-MM-DD)")
	}
	if r.BirthDate.After(today) {
		return Invalid("birth_date", "lies in the future")
	}
	if r.BirthDate.Before(Date{1890, 1, 1}) {
		return Invalid("birth_date", "lies before 1890")
	}
	switch r.Sex {
	case SexFemale, SexMale, SexDiverse, SexUnspecified:
	default:
		return Invalid("sex", "must be one of f, m, d, x")
	}
	if !rePostcode.MatchString(r.Address.PostalCode) || r.Address.PostalCode < "01001" || r.Address.PostalCode > "99998" {
		return Invalid("address.postal_code", "is not a German postal code (five digits, 01001 to 99998)")
	}
	if !reAGS.MatchString(r.Address.MunicipalityKey) {
		return Invalid("address.municipality_key", "must be the 8-digit municipality key (AGS)")
	}
	if err := validText("address.street", r.Address.Street, 200); err != nil {
		return err
	}
	if err := validText("address.city", r.Address.City, 100); err != nil || r.Address.City == "" {
		if err == nil {
			err = Invalid("address.city", "is required")
		}
		return err
	}
	if err := r.validateContact(); err != nil {
		return err
	}
	for _, ind := range r.Indications {
		if !KnownIndication(ind) {
			return Invalid("indications", "unknown indication %q", ind)
		}
	}
	for _, in := range r.Intolerances {
		if in != IntolerancePEG && in != IntolerancePolysorbate {
			return Invalid("intolerances", "unknown intolerance %q (known: peg, polysorbate)", in)
		}
	}
	return nil
}

func validName(field, s string) error {
	if s == "" {
		return Invalid(field, "is required")
	}
	if err := validText(field, s, 200); err != nil {
		return err
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.Is(unicode.Mn, r) && !strings.ContainsRune(" -'.", r) {
			return Invalid(field, "contains %q, which is not part of a name", r)
		}
	}
	return nil
}

func validText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return Invalid(field, "is not valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return Invalid(field, "is longer than %d characters", max)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return Invalid(field, "contains a control character")
		}
	}
	return nil
}

// AgeOn returns the resident's age in whole years on day d.
func (r *Resident) AgeOn(d Date) int { return r.BirthDate.YearsUntil(d) }

// HasIndication reports whether the resident carries any of the given indications.
func (r *Resident) HasIndication(any []Indication) bool {
	for _, ind := range r.Indications {
		if slices.Contains(any, ind) {
			return true
		}
	}
	return false
}

// AgeGroup is the RKI reporting age band of a person of the given age.
func AgeGroup(age int) string {
	switch {
	case age < 12:
		return "05-11"
	case age < 18:
		return "12-17"
	case age < 60:
		return "18-59"
	default:
		return "60+"
	}
}
