package domain

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestResidentValidation(t *testing.T) {
	today := Date{2021, 3, 30}
	tests := []struct {
		name      string
		edit      func(r *Resident)
		wantField string // "" means valid
	}{
		{"valid", func(r *Resident) {}, ""},
		{"umlauts", func(r *Resident) { r.GivenNames, r.FamilyName = "Jürgen Özgür", "Müller-Lüdenscheidt" }, ""},
		{"sharp s", func(r *Resident) { r.FamilyName = "Straßburger" }, ""},
		{"Vietnamese precomposed", func(r *Resident) { r.GivenNames, r.FamilyName = "Thị Minh", "Nguyễn" }, ""},
		{"Vietnamese decomposed (NFD)", func(r *Resident) { r.FamilyName = "Nguye\u0302\u0303n" }, ""},
		{"Croatian", func(r *Resident) { r.FamilyName = "Ćosić" }, ""},
		{"Danish O slash", func(r *Resident) { r.FamilyName = "Øzdemir" }, ""},
		{"apostrophe and dot", func(r *Resident) { r.GivenNames, r.FamilyName = "J. R.", "O'Connor" }, ""},
		{"Greek and Cyrillic", func(r *Resident) { r.GivenNames, r.FamilyName = "Δημήτρης", "Иванова" }, ""},
		{"200 runes", func(r *Resident) { r.FamilyName = strings.Repeat("ä", 200) }, ""},
		{"optional phone and email", func(r *Resident) { r.Phone, r.Email = "+49 351 123456", "erika.mustermann@example.de" }, ""},
		{"phone with slash and brackets", func(r *Resident) { r.Phone = "0351 (0) 123/456-7" }, ""},
		{"born 1890-01-01", func(r *Resident) { r.BirthDate = Date{1890, 1, 1} }, ""},
		{"born today", func(r *Resident) { r.BirthDate = today }, ""},
		{"all sexes: m", func(r *Resident) { r.Sex = SexMale }, ""},
		{"all sexes: d", func(r *Resident) { r.Sex = SexDiverse }, ""},
		{"all sexes: x", func(r *Resident) { r.Sex = SexUnspecified }, ""},
		{"postal code 01001", func(r *Resident) { r.Address.PostalCode = "01001" }, ""},
		{"postal code 99998", func(r *Resident) { r.Address.PostalCode = "99998" }, ""},
		{"known indications and intolerances", func(r *Resident) {
			r.Indications = []Indication{IndTeacherPrimary, IndChronicCondition}
			r.Intolerances = []Intolerance{IntolerancePEG, IntolerancePolysorbate}
		}, ""},
		{"residence outside Saxony is still a valid resident", func(r *Resident) { r.Address.MunicipalityKey = "09162000" }, ""},

		{"digit in given names", func(r *Resident) { r.GivenNames = "Erika2" }, "given_names"},
		{"digit in family name", func(r *Resident) { r.FamilyName = "Mustermann 3" }, "family_name"},
		{"empty given names", func(r *Resident) { r.GivenNames = "" }, "given_names"},
		{"empty family name", func(r *Resident) { r.FamilyName = "" }, "family_name"},
		{"at sign in name", func(r *Resident) { r.FamilyName = "Muster@mann" }, "family_name"},
		{"control character in name", func(r *Resident) { r.FamilyName = "Muster\u0000mann" }, "family_name"},
		{"invalid UTF-8 in name", func(r *Resident) { r.FamilyName = "Muster\xffmann" }, "family_name"},
		{"201 runes", func(r *Resident) { r.FamilyName = strings.Repeat("ä", 201) }, "family_name"},
		{"no date of birth", func(r *Resident) { r.BirthDate = Date{} }, "birth_date"},
		{"date of birth tomorrow", func(r *Resident) { r.BirthDate = Date{2021, 3, 31} }, "birth_date"},
		{"date of birth next year", func(r *Resident) { r.BirthDate = Date{2022, 1, 1} }, "birth_date"},
		{"date of birth before 1890", func(r *Resident) { r.BirthDate = Date{1889, 12, 31} }, "birth_date"},
		{"unknown sex", func(r *Resident) { r.Sex = "w" }, "sex"},
		{"no sex", func(r *Resident) { r.Sex = "" }, "sex"},
		{"postal code 1234", func(r *Resident) { r.Address.PostalCode = "1234" }, "address.postal_code"},
		{"postal code 00999", func(r *Resident) { r.Address.PostalCode = "00999" }, "address.postal_code"},
		{"postal code 01000", func(r *Resident) { r.Address.PostalCode = "01000" }, "address.postal_code"},
		{"postal code 99999", func(r *Resident) { r.Address.PostalCode = "99999" }, "address.postal_code"},
		{"postal code 123456", func(r *Resident) { r.Address.PostalCode = "123456" }, "address.postal_code"},
		{"postal code with letter", func(r *Resident) { r.Address.PostalCode = "O1069" }, "address.postal_code"},
		{"postal code empty", func(r *Resident) { r.Address.PostalCode = "" }, "address.postal_code"},
		{"AGS 7 digits", func(r *Resident) { r.Address.MunicipalityKey = "1461200" }, "address.municipality_key"},
		{"AGS 9 digits", func(r *Resident) { r.Address.MunicipalityKey = "146120000" }, "address.municipality_key"},
		{"AGS 5-digit district key", func(r *Resident) { r.Address.MunicipalityKey = "14612" }, "address.municipality_key"},
		{"AGS with letter", func(r *Resident) { r.Address.MunicipalityKey = "14612OOO" }, "address.municipality_key"},
		{"AGS empty", func(r *Resident) { r.Address.MunicipalityKey = "" }, "address.municipality_key"},
		{"street too long", func(r *Resident) { r.Address.Street = strings.Repeat("x", 201) }, "address.street"},
		{"street with control character", func(r *Resident) { r.Address.Street = "Prager\tStraße 1" }, "address.street"},
		{"city empty", func(r *Resident) { r.Address.City = "" }, "address.city"},
		{"city too long", func(r *Resident) { r.Address.City = strings.Repeat("x", 101) }, "address.city"},
		{"phone too short", func(r *Resident) { r.Phone = "0351" }, "phone"},
		{"phone with letters", func(r *Resident) { r.Phone = "0351-CALLME" }, "phone"},
		{"email without at", func(r *Resident) { r.Email = "erika.example.de" }, "email"},
		{"email without dot in domain", func(r *Resident) { r.Email = "erika@localhost" }, "email"},
		{"email with two at signs", func(r *Resident) { r.Email = "erika@@example.de" }, "email"},
		{"email with space", func(r *Resident) { r.Email = "erika muster@example.de" }, "email"},
		{"email too long", func(r *Resident) { r.Email = strings.Repeat("a", 250) + "@x.de" }, "email"},
		{"unknown indication", func(r *Resident) { r.Indications = []Indication{IndChronicCondition, "astronaut"} }, "indications"},
		{"unknown intolerance", func(r *Resident) { r.Intolerances = []Intolerance{"lactose"} }, "intolerances"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := resident(t, "1950-06-15")
			tc.edit(r)
			err := r.Validate(today)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError for %s", err, tc.wantField)
			}
			if fe.Field != tc.wantField {
				t.Fatalf("Validate() refused field %q (%s), want %q", fe.Field, fe.Reason, tc.wantField)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("FieldError does not wrap ErrInvalid")
			}
			if err.Error() != fe.Field+": "+fe.Reason || fe.Reason == "" {
				t.Fatalf("Error() = %q", err.Error())
			}
		})
	}
}

func TestResidentNormalize(t *testing.T) {
	r := Resident{
		GivenNames:   "  Anna \t Lena ",
		FamilyName:   "von  der\nHeide",
		Address:      Address{Street: " Prager   Straße  1 ", City: "  Dresden "},
		Phone:        " +49 351 123456 ",
		Email:        "  Anna.Heide@Example.DE ",
		Indications:  []Indication{IndTeacherPrimary, IndChronicCondition, IndTeacherPrimary},
		Intolerances: []Intolerance{IntolerancePolysorbate, IntolerancePEG, IntolerancePolysorbate},
	}
	r.Normalize()
	if r.GivenNames != "Anna Lena" || r.FamilyName != "von der Heide" {
		t.Errorf("names = %q / %q", r.GivenNames, r.FamilyName)
	}
	if r.Address.Street != "Prager Straße 1" || r.Address.City != "Dresden" {
		t.Errorf("address = %q / %q", r.Address.Street, r.Address.City)
	}
	if r.Phone != "+49351123456" { // E.164
		t.Errorf("phone = %q", r.Phone)
	}
	if r.Email != "anna.heide@example.de" {
		t.Errorf("email = %q", r.Email)
	}
	if want := []Indication{IndChronicCondition, IndTeacherPrimary}; !slices.Equal(r.Indications, want) {
		t.Errorf("indications = %v, want %v", r.Indications, want)
	}
	if want := []Intolerance{IntolerancePEG, IntolerancePolysorbate}; !slices.Equal(r.Intolerances, want) {
		t.Errorf("intolerances = %v, want %v", r.Intolerances, want)
	}

	var empty Resident
	empty.Normalize()
	if empty.Indications == nil || len(empty.Indications) != 0 || empty.Intolerances == nil || len(empty.Intolerances) != 0 {
		t.Errorf("Normalize leaves nil lists: %#v / %#v (JSON would say null)", empty.Indications, empty.Intolerances)
	}
}

func TestKnownIndication(t *testing.T) {
	for _, ind := range []Indication{IndCareHomeResident, IndCareHomeStaff, IndMedicalHighRisk, IndMedicalHigh,
		IndTrisomy21, IndDementia, IndTransplant, IndCloseContact, IndPolice, IndTeacherPrimary,
		IndChronicCondition, IndCriticalInfra, IndRetail} {
		if !KnownIndication(ind) {
			t.Errorf("KnownIndication(%q) = false", ind)
		}
	}
	for _, ind := range []Indication{"", "astronaut", "Chronic-Condition", "chronic-condition "} {
		if KnownIndication(ind) {
			t.Errorf("KnownIndication(%q) = true", ind)
		}
	}
}

func TestHasIndication(t *testing.T) {
	r := resident(t, "1980-01-01", IndTeacherPrimary)
	if !r.HasIndication([]Indication{IndPolice, IndTeacherPrimary}) {
		t.Error("HasIndication misses a listed indication")
	}
	if r.HasIndication([]Indication{IndPolice}) || r.HasIndication(nil) {
		t.Error("HasIndication matches an indication the resident does not have")
	}
}

func TestAgeGroup(t *testing.T) {
	tests := []struct {
		age  int
		want string
	}{
		{5, "05-11"}, {11, "05-11"}, {12, "12-17"}, {17, "12-17"}, {18, "18-59"},
		{59, "18-59"}, {60, "60+"}, {80, "60+"}, {104, "60+"},
	}
	for _, tc := range tests {
		if got := AgeGroup(tc.age); got != tc.want {
			t.Errorf("AgeGroup(%d) = %q, want %q", tc.age, got, tc.want)
		}
	}
}
