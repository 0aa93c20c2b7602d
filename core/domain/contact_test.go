package domain

import (
	"errors"
	"testing"
	"time"
)

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" means refused
	}{
		{"0351 1234567", "+493511234567"},
		{"0351/1234567", "+493511234567"},
		{"(0351) 123 45-67", "+493511234567"},
		{"+49 351 1234567", "+493511234567"},
		{"+49 (0)351 1234567", "+493511234567"},
		{"+490351 1234567", "+493511234567"},
		{"0049 351 1234567", "+493511234567"},
		{"0049 (0) 351 1234567", "+493511234567"},
		{"0171 2345678", "+491712345678"},
		{" +491701234567 ", "+491701234567"},
		{"0371 / 123-456", "+49371123456"},
		{"+33 1 23 45 67 89", "+33123456789"},
		{"0043 1 234567", "+431234567"},
		{"+1 (555) 010-0199", "+15550100199"},

		{"", ""},
		{"hallo", ""},
		{"0351 123456a", ""},
		{"1234567", ""},             // no prefix
		{"+49", ""},                 // country code only
		{"0351", ""},                // too short
		{"00", ""},                  // prefix only
		{"+0351 1234567", ""},       // no country code
		{"+49 12345678901234", ""},  // over 15 digits
		{"0351+1234567", ""},        // + in the middle
		{"0351 1234567 ext. 5", ""}, // letters
		{"+49 00351 1234567", ""},   // two trunk zeros
	} {
		got, err := NormalizePhone(tc.in)
		if tc.want == "" {
			var fe *FieldError
			if err == nil || !errors.As(err, &fe) || fe.Field != "phone" {
				t.Errorf("NormalizePhone(%q) = %q, %v; want a field error on phone", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestContactPreference(t *testing.T) {
	now := time.Date(2021, 4, 12, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		phone     string
		email     string
		change    ContactChange
		wantField string
		want      Contact
	}{
		{"post by default", "", "", ContactChange{}, "", Contact{Channel: ContactPost}},
		{"post ignores consent", "", "", ContactChange{Channel: ContactPost, Consent: true}, "", Contact{Channel: ContactPost}},
		{"sms with consent, German number", "", "", ContactChange{Channel: ContactSMS, Phone: "0351 1234567", Consent: true}, "",
			Contact{Channel: ContactSMS, Phone: "+493511234567", ConsentAt: &now}},
		{"sms with the number on file", "+49 171 2345678", "", ContactChange{Channel: ContactSMS, Consent: true}, "",
			Contact{Channel: ContactSMS, Phone: "+491712345678", ConsentAt: &now}},
		{"email with consent", "", "", ContactChange{Channel: ContactEmail, Email: " Erika@Example.DE ", Consent: true}, "",
			Contact{Channel: ContactEmail, Email: "erika@example.de", ConsentAt: &now}},
		{"back to post drops consent", "0351 1234567", "", ContactChange{Channel: ContactPost}, "",
			Contact{Channel: ContactPost, Phone: "+493511234567"}},

		{"sms without consent", "", "", ContactChange{Channel: ContactSMS, Phone: "0351 1234567"}, "contact.consent", Contact{}},
		{"sms without a number", "", "", ContactChange{Channel: ContactSMS, Consent: true}, "contact.phone", Contact{}},
		{"sms with garbage", "", "", ContactChange{Channel: ContactSMS, Phone: "call me", Consent: true}, "phone", Contact{}},
		{"email without an address", "", "", ContactChange{Channel: ContactEmail, Consent: true}, "contact.email", Contact{}},
		{"email with a bad address", "", "", ContactChange{Channel: ContactEmail, Email: "erika", Consent: true}, "email", Contact{}},
		{"unknown channel", "", "", ContactChange{Channel: "pigeon", Consent: true}, "contact.channel", Contact{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Resident{ID: "r1", Phone: tc.phone, Email: tc.email}
			r.Normalize()
			before := r
			err := tc.change.Apply(&r, now)
			if tc.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || fe.Field != tc.wantField {
					t.Fatalf("err = %v, want a field error on %s", err, tc.wantField)
				}
				if r.Contact != before.Contact || r.Phone != before.Phone {
					t.Errorf("a refused change changed the resident: %+v", r.Contact)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := r.Contact
			if got.Channel != tc.want.Channel || got.Phone != tc.want.Phone || got.Email != tc.want.Email ||
				(got.ConsentAt == nil) != (tc.want.ConsentAt == nil) || (got.ConsentAt != nil && !got.ConsentAt.Equal(*tc.want.ConsentAt)) {
				t.Errorf("contact = %+v, want %+v", got, tc.want)
			}
			if r.Phone != got.Phone || r.Email != got.Email {
				t.Errorf("resident phone/email %q/%q differ from the contact's", r.Phone, r.Email)
			}
		})
	}
}

func TestContactNotifies(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		c    Contact
		ch   ContactChannel
		want bool
	}{
		{Contact{Channel: ContactSMS, Phone: "+493511234567", ConsentAt: &now}, ContactSMS, true},
		{Contact{Channel: ContactSMS, Phone: "+493511234567"}, ContactSMS, false},
		{Contact{Channel: ContactSMS, Phone: "+493511234567", Email: "a@b.de", ConsentAt: &now}, ContactEmail, false},
		{Contact{Channel: ContactEmail, Email: "a@b.de", ConsentAt: &now}, ContactEmail, true},
		{Contact{Channel: ContactEmail, ConsentAt: &now}, ContactEmail, false},
		{Contact{Channel: ContactPost, Phone: "+493511234567", ConsentAt: &now}, ContactSMS, false},
	} {
		if got := tc.c.Notifies(tc.ch); got != tc.want {
			t.Errorf("%+v.Notifies(%s) = %v, want %v", tc.c, tc.ch, got, tc.want)
		}
	}
}
