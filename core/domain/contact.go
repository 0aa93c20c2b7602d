package domain

import (
	"strings"
	"time"
)

// ContactChannel is how a resident wants to hear about their appointments
// besides the letter every booking gets: by post only, by SMS or by e-mail.
type ContactChannel string

// The contact channels. Post is the default: SMS and e-mail need the
// resident's consent.
const (
	ContactPost  ContactChannel = "post"
	ContactSMS   ContactChannel = "sms"
	ContactEmail ContactChannel = "email"
)

// Contact is a resident's contact preference. Phone and Email mirror the
// resident's own fields; ConsentAt is when the resident agreed to be
// notified by SMS or e-mail (nil for post, or when consent was withdrawn).
type Contact struct {
	Channel   ContactChannel `json:"channel"`
	Phone     string         `json:"phone,omitempty"`
	Email     string         `json:"email,omitempty"`
	ConsentAt *time.Time     `json:"consent_at"`
}

// Notifies reports whether the resident is to be notified on channel: they
// chose it, consented, and gave the address it needs.
func (c Contact) Notifies(channel ContactChannel) bool {
	if c.Channel != channel || c.ConsentAt == nil {
		return false
	}
	switch channel {
	case ContactSMS:
		return c.Phone != ""
	case ContactEmail:
		return c.Email != ""
	}
	return false
}

// ContactChange is a new contact preference: the channel, the phone number
// or e-mail address it needs, and whether the resident consents (required
// for SMS and e-mail).
type ContactChange struct {
	Channel ContactChannel
	Phone   string
	Email   string
	Consent bool
}

// Apply checks the change and returns the resident's new contact (with
// phone and email set on r) as of now. Empty Phone or Email keep the
// resident's current ones.
func (ch ContactChange) Apply(r *Resident, now time.Time) error {
	phone, email := r.Phone, r.Email
	if ch.Phone != "" {
		phone = ch.Phone
	}
	if ch.Email != "" {
		email = strings.ToLower(strings.TrimSpace(ch.Email))
	}
	c := Contact{Channel: ch.Channel, Phone: phone, Email: email}
	if ch.Consent && c.Channel != ContactPost && c.Channel != "" {
		t := now.UTC()
		c.ConsentAt = &t
	}
	next := *r
	next.Phone, next.Email, next.Contact = phone, email, c
	next.normalizeContact()
	if err := next.validateContact(); err != nil {
		return err
	}
	*r = next
	return nil
}

// normalizeContact fills the contact from the resident's fields (or the
// other way round, for a registration that gave them only in the contact)
// and puts the phone number into E.164 form when it is one.
func (r *Resident) normalizeContact() {
	if r.Phone == "" {
		r.Phone = strings.TrimSpace(r.Contact.Phone)
	}
	if r.Email == "" {
		r.Email = strings.ToLower(strings.TrimSpace(r.Contact.Email))
	}
	if p, err := NormalizePhone(r.Phone); err == nil {
		r.Phone = p
	}
	if r.Contact.Channel == "" {
		r.Contact.Channel = ContactPost
	}
	if r.Contact.Channel == ContactPost {
		r.Contact.ConsentAt = nil
	}
	r.Contact.Phone, r.Contact.Email = r.Phone, r.Email
}

// validateContact checks the phone number, the e-mail address and the
// channel with what it needs.
func (r *Resident) validateContact() error {
	if r.Phone != "" {
		if _, err := NormalizePhone(r.Phone); err != nil {
			return err
		}
	}
	if r.Email != "" && (!reEmail.MatchString(r.Email) || len(r.Email) > 254) {
		return Invalid("email", "is not an e-mail address")
	}
	switch r.Contact.Channel {
	case ContactPost, "":
	case ContactSMS:
		if r.Phone == "" {
			return Invalid("contact.phone", "is required for notifications by SMS")
		}
	case ContactEmail:
		if r.Email == "" {
			return Invalid("contact.email", "is required for notifications by e-mail")
		}
	default:
		return Invalid("contact.channel", "must be post, sms or email")
	}
	if r.Contact.Channel != ContactPost && r.Contact.Channel != "" && r.Contact.ConsentAt == nil {
		return Invalid("contact.consent", "notifications by %s need the resident's consent", r.Contact.Channel)
	}
	return nil
}

// NormalizePhone puts a phone number into E.164 form (+ country code and
// number, digits only). German national numbers (0351 1234567) get +49;
// 0049 and +49 are kept; a trunk zero written after the country code
// ("+49 (0)351 ...") is dropped. Spaces, slashes, dots, hyphens and brackets
// are separators. Anything else is a FieldError on "phone".
func NormalizePhone(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Invalid("phone", "is empty")
	}
	var b strings.Builder
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0:
			b.WriteRune(c)
		case strings.ContainsRune(" /.-()\u00a0", c):
		default:
			return "", Invalid("phone", "contains %q; give a phone number such as 0351 1234567 or +49 351 1234567", c)
		}
	}
	n := b.String()
	switch {
	case strings.HasPrefix(n, "+"):
		n = n[1:]
	case strings.HasPrefix(n, "00"):
		n = n[2:]
	case strings.HasPrefix(n, "0"):
		n = "49" + n[1:]
	default:
		return "", Invalid("phone", "must start with 0 (a German number), 00 or + (an international number)")
	}
	// A trunk zero written after Germany's country code: +49 (0)351 ...
	if strings.HasPrefix(n, "490") {
		n = "49" + n[3:]
	}
	if n == "" || n[0] == '0' || strings.HasPrefix(n, "490") {
		return "", Invalid("phone", "has no country code after the international prefix")
	}
	if len(n) < 8 || len(n) > 15 {
		return "", Invalid("phone", "must have 8 to 15 digits with the country code (E.164), has %d", len(n))
	}
	if strings.HasPrefix(n, "49") && len(n) < 9 {
		return "", Invalid("phone", "is too short for a German number")
	}
	return "+" + n, nil
}
