package notify

import (
	"fmt"
	"strings"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// Hotline is the number messages give for changes.
const Hotline = "0800 0899 089"

// texts are the German messages about one appointment. They name the time,
// the centre and the booking reference, never the vaccine, the dose's
// number or anything else about the person's health.
type texts struct {
	loc    *time.Location
	ref    string
	centre string
	ap     *domain.Appointment
}

var weekdays = [...]string{"So", "Mo", "Di", "Mi", "Do", "Fr", "Sa"}

func (t texts) when(d time.Time) string {
	d = d.In(t.loc)
	return fmt.Sprintf("%s %s, %s Uhr", weekdays[d.Weekday()], d.Format("02.01."), d.Format("15:04"))
}

func (t texts) whenLong(d time.Time) string {
	d = d.In(t.loc)
	return fmt.Sprintf("%s, %s um %s Uhr", weekdays[d.Weekday()], d.Format("02.01.2006"), d.Format("15:04"))
}

func (t texts) open() []domain.Dose {
	var out []domain.Dose
	for _, d := range t.ap.Doses {
		if d.Status == domain.DoseBooked || d.Status == domain.DoseCheckedIn {
			out = append(out, d)
		}
	}
	return out
}

func (t texts) dose(n []int) (domain.Dose, bool) {
	for _, d := range t.ap.Doses {
		if len(n) > 0 && d.Number == n[0] {
			return d, true
		}
	}
	return domain.Dose{}, false
}

// sms is the SMS of kind: at most 160 GSM characters where the centre's
// name allows (one segment); longer ones are sent in two.
func (t texts) sms(kind string, dose ...int) string {
	var times []string
	for _, d := range t.open() {
		times = append(times, t.when(d.Start))
	}
	var s string
	switch kind {
	case kindConfirmation:
		s = fmt.Sprintf("Impftermin gebucht: %s. %s. Buchungsnr. %s.", strings.Join(times, " und "), t.centre, t.ref)
	case kindMoved:
		s = fmt.Sprintf("Impftermin verlegt, neu: %s. %s. Buchungsnr. %s.", strings.Join(times, " und "), t.centre, t.ref)
	case kindCancelled:
		s = fmt.Sprintf("Ihr Impftermin (Buchungsnr. %s) ist abgesagt. Neu buchen: Impfportal oder Hotline %s.", t.ref, Hotline)
	case kindReminderMsg:
		d, _ := t.dose(dose)
		s = fmt.Sprintf("Erinnerung: Ihr Impftermin ist morgen, %s. %s. Buchungsnr. %s.", t.when(d.Start), t.centre, t.ref)
	}
	if tail := " Bitte Ausweis mitbringen."; kind != kindCancelled && len([]rune(s+tail)) <= 160 {
		s += tail
	}
	return s
}

// email is the subject and plain-text body of kind.
func (t texts) email(kind string, dose ...int) (subject, body string) {
	var b strings.Builder
	b.WriteString("Guten Tag,\n\n")
	list := func() {
		for _, d := range t.open() {
			fmt.Fprintf(&b, "  - %s\n", t.whenLong(d.Start))
		}
	}
	switch kind {
	case kindConfirmation:
		subject = "Ihr Impftermin ist gebucht (Buchungsnr. " + t.ref + ")"
		fmt.Fprintf(&b, "Ihr Impftermin im %s ist gebucht:\n\n", t.centre)
		list()
	case kindMoved:
		subject = "Ihr Impftermin wurde verlegt (Buchungsnr. " + t.ref + ")"
		fmt.Fprintf(&b, "Ihr Impftermin wurde verlegt. Neu gilt, im %s:\n\n", t.centre)
		list()
	case kindCancelled:
		subject = "Ihr Impftermin ist abgesagt (Buchungsnr. " + t.ref + ")"
		b.WriteString("Ihr Impftermin ist abgesagt. Einen neuen Termin buchen Sie im Impfportal oder über die Hotline " + Hotline + ".\n")
	case kindReminderMsg:
		d, _ := t.dose(dose)
		subject = "Erinnerung: Ihr Impftermin morgen (Buchungsnr. " + t.ref + ")"
		fmt.Fprintf(&b, "wir erinnern Sie an Ihren Impftermin morgen, %s, im %s.\n", t.whenLong(d.Start), t.centre)
	}
	fmt.Fprintf(&b, "\nIhre Buchungsnummer: %s\n", t.ref)
	if kind != kindCancelled {
		b.WriteString("Bitte bringen Sie Ihren Ausweis und diese Buchungsnummer mit.\n")
		b.WriteString("Verlegen oder absagen können Sie im Impfportal oder über die Hotline " + Hotline + ".\n")
	}
	b.WriteString("\nMit freundlichen Grüßen\nIhr Impfzentrum\n\n-- \nDiese Nachricht wurde automatisch erstellt; Antworten werden nicht gelesen.\n")
	return subject, b.String()
}
