package api_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// TestContactPreferenceAtRegistrationAndAfter: a resident chooses SMS with
// consent at registration (the German number is stored in E.164 form and
// the consent time recorded), changes to e-mail with their token, staff set
// post (consent withdrawn); garbage is a 400 naming the field, and another
// resident's token gets the same 404 as an unknown resident.
func TestContactPreferenceAtRegistrationAndAfter(t *testing.T) {
	now := time.Date(2021, 6, 14, 8, 0, 0, 0, hubtest.Berlin(t))
	h := hubtest.New(t, now)
	h.Saxony(t, 10)
	base := serve(t, h)
	c := http.DefaultClient
	register := func(body string) (domain.Resident, string) {
		t.Helper()
		r := call(t, c, "POST", base+"/api/v1/residents", "", body)
		if r.status != 201 {
			t.Fatalf("register: %d %s", r.status, r.body)
		}
		var reg struct {
			Resident    domain.Resident
			AccessToken string `json:"access_token"`
		}
		r.json(t, &reg)
		return reg.Resident, reg.AccessToken
	}
	const person = `"given_names":"Erika","family_name":"Mustermann","birth_date":"1950-01-02","sex":"f",
		"address":{"street":"Hauptstraße 1","postal_code":"01587","city":"Riesa","municipality_key":"14627230"}`
	res, token := register(`{` + person + `,"contact":{"channel":"sms","phone":"0351 1234567","consent":true}}`)
	if res.Contact.Channel != domain.ContactSMS || res.Contact.Phone != "+493511234567" || res.Phone != "+493511234567" ||
		res.Contact.ConsentAt == nil || !res.Contact.ConsentAt.Equal(now) {
		t.Fatalf("contact at registration: %+v", res.Contact)
	}
	var got domain.Resident
	call(t, c, "GET", base+"/api/v1/residents/"+res.ID, token, nil).json(t, &got)
	if got.Contact.Channel != domain.ContactSMS || got.Contact.Phone != "+493511234567" || got.Contact.ConsentAt == nil {
		t.Errorf("contact as read back: %+v", got.Contact)
	}
	plain, plainToken := register(`{` + person + `}`)
	if plain.Contact.Channel != domain.ContactPost || plain.Contact.ConsentAt != nil {
		t.Errorf("default contact: %+v", plain.Contact)
	}

	url := base + "/api/v1/residents/" + res.ID + "/contact"
	for _, tc := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"sms without consent", token, `{"channel":"sms","phone":"0351 1234567"}`, 400, "contact.consent"},
		{"garbage phone", token, `{"channel":"sms","phone":"ruf mich an","consent":true}`, 400, "phone"},
		{"no channel", token, `{"phone":"0351 1234567"}`, 400, "channel"},
		{"unknown channel", token, `{"channel":"fax","consent":true}`, 400, "contact.channel"},
		{"another resident's token", plainToken, `{"channel":"post"}`, 404, ""},
		{"no token", "", `{"channel":"post"}`, 401, ""},
	} {
		r := call(t, c, "PUT", url, tc.token, tc.body)
		var p problem
		if len(r.body) > 0 {
			r.json(t, &p)
		}
		if r.status != tc.status || p.Field != tc.field {
			t.Errorf("%s: %d %s, want %d field %q", tc.name, r.status, r.body, tc.status, tc.field)
		}
	}
	var ct domain.Contact
	if r := call(t, c, "PUT", url, token, `{"channel":"email","email":"Erika@Example.org","consent":true}`); r.status != 200 {
		t.Fatalf("to e-mail: %d %s", r.status, r.body)
	} else {
		r.json(t, &ct)
	}
	if ct.Channel != domain.ContactEmail || ct.Email != "erika@example.org" || ct.Phone != "+493511234567" || ct.ConsentAt == nil {
		t.Errorf("after the change to e-mail: %+v", ct)
	}
	if r := call(t, c, "PUT", url, staffToken, `{"channel":"post"}`); r.status != 200 {
		t.Fatalf("staff to post: %d %s", r.status, r.body)
	}
	call(t, c, "GET", base+"/api/v1/residents/"+res.ID, token, nil).json(t, &got)
	if got.Contact.Channel != domain.ContactPost || got.Contact.ConsentAt != nil {
		t.Errorf("after staff set post: %+v", got.Contact)
	}
}
