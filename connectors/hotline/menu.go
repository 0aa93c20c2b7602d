package hotline

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
)

// Outcomes of a call, as recorded in call.ended.
const (
	outcomeBooked       = "booked"
	outcomeHeard        = "heard"
	outcomeCancelled    = "cancelled"
	outcomeWaitlisted   = "waitlisted"
	outcomeRefused      = "refused"
	outcomeNoOffer      = "no-offer"
	outcomeAgent        = "agent-unavailable"
	outcomeAgentHandled = "agent-handled"
	outcomeCallback     = "callback-requested"
	outcomeNoInput      = "no-input"
	outcomeCallerHangup = "caller-hangup"
	outcomeMaxDuration  = "max-duration"
	outcomeError        = "error"
)

// run plays the main menu and the chosen branch; it returns the outcome.
func (c *call) run(ctx context.Context) string {
	out, err := c.menu(ctx)
	switch {
	case errors.Is(err, errHangup):
		return outcomeCallerHangup
	case errors.Is(err, errLocked):
		// The core's attempt ledger locked the caller's number: the IVR
		// cannot continue; an agent can help (and staff can check in).
		c.keys.flush()
		out, err = c.toAgent(ctx)
		if errors.Is(err, errHangup) {
			return outcomeCallerHangup
		}
		if err != nil {
			c.ivr.cfg.Logger.Error("hotline: call failed", "call", c.id, "err", err)
			return outcomeError
		}
		if out == outcomeAgentHandled {
			return out
		}
		_ = c.play(ctx, "goodbye")
		return out
	case errors.Is(err, errGaveUp):
		// Three attempts failed: an agent takes over.
		c.keys.flush()
		out, err = c.toAgent(ctx)
		if errors.Is(err, errHangup) {
			return outcomeCallerHangup
		}
		if err != nil && !errors.Is(err, errGaveUp) {
			c.ivr.cfg.Logger.Error("hotline: call failed", "call", c.id, "err", err)
			return outcomeError
		}
		if out == outcomeAgentHandled {
			return out
		}
		_ = c.play(ctx, "goodbye")
		if out == outcomeAgent {
			out = outcomeNoInput // nobody could help a caller who gave no usable input
		}
		return out
	case err != nil:
		c.ivr.cfg.Logger.Error("hotline: call failed", "call", c.id, "err", err)
		_ = c.play(ctx, "error", "goodbye")
		return outcomeError
	}
	if out == outcomeAgentHandled {
		return out
	}
	_ = c.play(ctx, "goodbye")
	return out
}

func (c *call) menu(ctx context.Context) (string, error) {
	if err := c.play(ctx, "welcome"); err != nil {
		return "", err
	}
	choice, err := c.ask(ctx, "menu", []string{"menu"}, 1, false, func(s string) bool { return strings.ContainsAny(s, "0123") })
	if err != nil {
		return outcomeNoInput, err
	}
	c.ev.step("menu", "chosen-"+choice, "")
	switch choice {
	case "1":
		return c.book(ctx)
	case "2":
		return c.hearOrCancel(ctx)
	case "3":
		return c.waitlist(ctx)
	default:
		return c.toAgent(ctx)
	}
}

// identity is who the caller proved to be: a resident, and the appointment
// when they identified with a booking reference.
type identity struct {
	resident *domain.Resident
	appt     *domain.Appointment
}

// errLocked: the core's attempt ledger refuses the number the caller typed
// (too many failed identifications, on any channel); the call goes to an
// agent.
var errLocked = errors.New("identification locked")

// identify asks for a booking reference or registration number (refOnly: a
// reference) and the date of birth, and checks them against the core. A
// mismatch counts as a failed attempt here and in the core's attempt ledger,
// which every channel shares; while the ledger holds the number locked, the
// caller hears so and goes to an agent (errLocked).
func (c *call) identify(ctx context.Context, refOnly bool) (*identity, error) {
	prompt := "ask-id"
	if refOnly {
		prompt = "ask-ref"
	}
	validID := func(s string) bool {
		if domain.ValidReference(s) {
			return true
		}
		_, ok := ResidentIDFromRegistrationNumber(s)
		return ok && !refOnly
	}
	for attempt := 1; attempt <= c.ivr.cfg.Attempts; attempt++ {
		num, err := c.ask(ctx, "identify", []string{prompt}, 40, true, validID)
		if err != nil {
			return nil, err
		}
		dob, err := c.ask(ctx, "birth-date", []string{"ask-dob"}, 8, true, func(s string) bool { _, ok := parseDOB(s); return ok })
		if err != nil {
			return nil, err
		}
		birth, _ := parseDOB(dob)
		id, err := c.verify(ctx, num, birth)
		switch {
		case err == nil:
			c.ev.step("identify", "ok", "")
			return id, nil
		case errors.Is(err, domain.ErrLocked):
			c.ev.step("identify", "locked", "")
			if err := c.play(ctx, "locked"); err != nil {
				return nil, err
			}
			return nil, errLocked
		case errors.Is(err, domain.ErrNotFound) || errors.Is(err, domain.ErrInvalid):
			c.ev.step("identify", "no-match", "")
			if err := c.play(ctx, "no-match"); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
	}
	return nil, errGaveUp
}

func (c *call) verify(ctx context.Context, num string, birth domain.Date) (*identity, error) {
	a := c.ivr.app
	// The ledger's audit rows carry the call ID, like the call's events.
	ctx = app.WithCorrelationID(app.WithChannel(ctx, app.ChannelPhone), c.id)
	if domain.ValidReference(num) {
		ap, err := a.VerifyHolder(ctx, num, birth)
		if err != nil {
			return nil, err
		}
		r, err := a.Resident(ctx, ap.ResidentID)
		if err != nil {
			return nil, err
		}
		return &identity{resident: r, appt: ap}, nil
	}
	rid, _ := ResidentIDFromRegistrationNumber(num)
	r, err := a.VerifyResident(ctx, rid, birth)
	if err != nil {
		return nil, err
	}
	return &identity{resident: r}, nil
}

// parseDOB reads DDMMYYYY.
func parseDOB(s string) (domain.Date, bool) {
	if len(s) != 8 {
		return domain.Date{}, false
	}
	t, err := time.Parse("02012006", s)
	if err != nil || t.Year() < 1900 {
		return domain.Date{}, false
	}
	return domain.DateOf(t), true
}

// homeCentre is the centre of the resident's district (the first by ID when
// a district has several).
func (c *call) homeCentre(ctx context.Context, r *domain.Resident) (*domain.Centre, error) {
	centres, err := c.ivr.app.Centres(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(centres, func(a, b domain.Centre) int { return strings.Compare(a.ID, b.ID) })
	if len(r.Address.MunicipalityKey) >= 5 {
		district := r.Address.MunicipalityKey[:5]
		for i := range centres {
			if centres[i].DistrictAGS == district {
				return &centres[i], nil
			}
		}
	}
	return nil, nil
}

// refused reads a refusal out and records it; other errors are returned.
func (c *call) refused(ctx context.Context, step string, err error) (string, error) {
	var ref *domain.Refusal
	if !errors.As(err, &ref) {
		return "", err
	}
	c.ev.step(step, "refused", ref.Code)
	return outcomeRefused, c.play(ctx, c.ivr.prompts.sayRefusal(ref.Code)...)
}

// book offers the earliest fitting appointment at the caller's home centre,
// then the next ones on 2, and books on 1.
func (c *call) book(ctx context.Context) (string, error) {
	id, err := c.identify(ctx, false)
	if err != nil {
		return outcomeNoInput, err
	}
	a := c.ivr.app
	ent, err := a.Entitlement(ctx, id.resident.ID)
	if err != nil {
		return "", err
	}
	if len(ent.Products) == 0 {
		c.ev.step("offer", "refused", ent.Code)
		return outcomeRefused, c.play(ctx, c.ivr.prompts.sayRefusal(ent.Code)...)
	}
	centre, err := c.homeCentre(ctx, id.resident)
	if err != nil {
		return "", err
	}
	if centre == nil {
		c.ev.step("offer", "no-centre", "")
		return outcomeNoOffer, c.play(ctx, "no-centre")
	}
	product := ent.Products[0]
	after := a.Now()
	for offers := 0; offers < 10; offers++ {
		slot, err := c.nextSlot(ctx, centre.ID, product, after)
		if err != nil {
			return "", err
		}
		if slot.IsZero() {
			c.ev.step("offer", "none", "")
			return outcomeNoOffer, c.play(ctx, "no-offer")
		}
		when := slot.In(a.Location())
		prompt := append([]string{"offer"}, sayDate(when)...)
		prompt = append(prompt, "at")
		prompt = append(prompt, sayTime(when)...)
		prompt = append(prompt, "in")
		prompt = append(prompt, c.ivr.prompts.sayCentre(centre.ID)...)
		prompt = append(prompt, "offer-choice")
		choice, err := c.ask(ctx, "offer", prompt, 1, false, func(s string) bool { return s == "1" || s == "2" })
		if err != nil {
			return outcomeNoInput, err
		}
		if choice == "2" {
			c.ev.step("offer", "next", "")
			after = slot.Add(time.Minute)
			continue
		}
		ap, err := a.Book(ctx, app.BookingInput{Staff: true, ResidentID: id.resident.ID, CentreID: centre.ID, Product: product, SlotStart: slot})
		if err != nil {
			var ref *domain.Refusal
			if errors.As(err, &ref) && (errors.Is(err, domain.ErrNoCapacity) || errors.Is(err, domain.ErrNoStock)) {
				// Taken meanwhile, or no dose 2 fits: say why and offer the next one.
				c.ev.step("book", "refused", ref.Code)
				if err := c.play(ctx, c.ivr.prompts.sayRefusal(ref.Code)...); err != nil {
					return "", err
				}
				after = slot.Add(time.Minute)
				continue
			}
			return c.refused(ctx, "book", err)
		}
		c.ev.step("book", "booked", "")
		return outcomeBooked, c.readBooking(ctx, ap)
	}
	c.ev.step("offer", "none", "")
	return outcomeNoOffer, c.play(ctx, "no-offer")
}

// nextSlot finds the earliest slot after after with a free place and a free
// dose, looking up to 120 days ahead; zero when none.
func (c *call) nextSlot(ctx context.Context, centreID string, product domain.ProductID, after time.Time) (time.Time, error) {
	from := after
	for range 4 {
		to := from.Add(30 * 24 * time.Hour)
		slots, err := c.ivr.app.Slots(ctx, centreID, from, to, product)
		if err != nil {
			return time.Time{}, err
		}
		for _, s := range slots {
			if s.Start.After(after) && s.Free > 0 && s.DosesFree > 0 {
				return s.Start, nil
			}
		}
		from = to
	}
	return time.Time{}, nil
}

// readBooking confirms a booking: reference twice, then dose 2.
func (c *call) readBooking(ctx context.Context, ap *domain.Appointment) error {
	return c.play(ctx, bookingPrompts(ap, c.ivr.app.Location())...)
}

// bookingPrompts is the confirmation of a booking: the reference read twice,
// digit by digit, then the date and time of dose 2 when there is one.
func bookingPrompts(ap *domain.Appointment, loc *time.Location) []string {
	ids := []string{"booked", "your-ref"}
	ids = append(ids, sayDigits(ap.Reference)...)
	ids = append(ids, "repeat")
	ids = append(ids, sayDigits(ap.Reference)...)
	if len(ap.Doses) > 1 {
		t := ap.Doses[1].Start.In(loc)
		ids = append(ids, "second-dose")
		ids = append(ids, sayDate(t)...)
		ids = append(ids, "at")
		ids = append(ids, sayTime(t)...)
	}
	return ids
}

// hearOrCancel reads an appointment out and cancels it on 1.
func (c *call) hearOrCancel(ctx context.Context) (string, error) {
	id, err := c.identify(ctx, true)
	if err != nil {
		return outcomeNoInput, err
	}
	ap := id.appt
	d := ap.OpenDose()
	if d == nil {
		return c.refused(ctx, "hear", &domain.Refusal{Kind: domain.ErrConflict, Code: "not-open"})
	}
	t := d.Start.In(c.ivr.app.Location())
	ids := append([]string{"your-appt"}, sayDate(t)...)
	ids = append(ids, "at")
	ids = append(ids, sayTime(t)...)
	ids = append(ids, "in")
	ids = append(ids, c.ivr.prompts.sayCentre(ap.CentreID)...)
	ids = append(ids, "cancel-choice")
	c.ev.step("hear", "read", "")
	choice, err := c.ask(ctx, "cancel", ids, 1, false, func(s string) bool { return s == "1" || s == "2" })
	if err != nil {
		return outcomeHeard, err
	}
	if choice == "2" {
		return outcomeHeard, nil
	}
	if _, err := c.ivr.app.Cancel(ctx, ap.Reference, "resident"); err != nil {
		return c.refused(ctx, "cancel", err)
	}
	c.ev.step("cancel", "cancelled", "")
	return outcomeCancelled, c.play(ctx, "cancelled")
}

// waitlist puts the caller on the waiting list of their district.
func (c *call) waitlist(ctx context.Context) (string, error) {
	id, err := c.identify(ctx, false)
	if err != nil {
		return outcomeNoInput, err
	}
	mk := id.resident.Address.MunicipalityKey
	if len(mk) < 5 {
		return c.refused(ctx, "waitlist", &domain.Refusal{Kind: domain.ErrNotEntitled, Code: "not-resident"})
	}
	if _, err := c.ivr.app.JoinWaitlist(ctx, id.resident.ID, "", mk[:5], ""); err != nil {
		return c.refused(ctx, "waitlist", err)
	}
	c.ev.step("waitlist", "joined", "")
	return outcomeWaitlisted, c.play(ctx, "waitlist-joined")
}

// RegistrationNumber is the keypad form of a resident ID: the UUID's 128 bits
// as 39 decimal digits. The core has no shorter numeric identifier of a
// resident; see README.md.
func RegistrationNumber(residentID string) (string, bool) {
	hex := strings.ReplaceAll(residentID, "-", "")
	if len(hex) != 32 {
		return "", false
	}
	n, ok := new(big.Int).SetString(hex, 16)
	if !ok {
		return "", false
	}
	return fmt.Sprintf("%039s", n.String()), true
}

// ResidentIDFromRegistrationNumber reverses RegistrationNumber.
func ResidentIDFromRegistrationNumber(s string) (string, bool) {
	if len(s) != 39 {
		return "", false
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Sign() < 0 || n.BitLen() > 128 {
		return "", false
	}
	h := fmt.Sprintf("%032x", n)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], true
}
