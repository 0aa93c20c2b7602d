package web

import (
	"fmt"
	"net/http"
	"time"
)

// lang is the page language: German first, English second.
type lang string

const (
	langDE lang = "de"
	langEN lang = "en"
)

// langOf picks the language: ?lang=, then the cookie, then German.
func langOf(r *http.Request) lang {
	if q := r.URL.Query().Get("lang"); q == "en" || q == "de" {
		return lang(q)
	}
	if c, err := r.Cookie(cookieLang); err == nil && c.Value == "en" {
		return langEN
	}
	return langDE
}

// language remembers an explicit ?lang= choice in a cookie.
func (p *portal) language(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if q := r.URL.Query().Get("lang"); q == "en" || q == "de" {
			http.SetCookie(w, &http.Cookie{Name: cookieLang, Value: q, Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: p.cfg.SecureCookies || r.TLS != nil})
		}
		next.ServeHTTP(w, r)
	})
}

// T returns the text for key in l (German when English is missing).
func (l lang) T(key string) string {
	m, ok := catalog[key]
	if !ok {
		return key
	}
	if l == langEN && m[1] != "" {
		return m[1]
	}
	return m[0]
}

// Tf formats the text for key.
func (l lang) Tf(key string, args ...any) string { return fmt.Sprintf(l.T(key), args...) }

// OtherCode is the other language's code, for the switch link.
func (l lang) OtherCode() string {
	if l == langEN {
		return "de"
	}
	return "en"
}

// OtherName is the other language's name in that language.
func (l lang) OtherName() string {
	if l == langEN {
		return "Deutsch"
	}
	return "English"
}

var weekdaysDE = [...]string{"So.", "Mo.", "Di.", "Mi.", "Do.", "Fr.", "Sa."}

// Day formats a day: "Mo., 14.06.2021" or "Mon 14 Jun 2021".
func (l lang) Day(t time.Time) string {
	t = t.In(berlin)
	if l == langEN {
		return t.Format("Mon 2 Jan 2006")
	}
	return weekdaysDE[t.Weekday()] + " " + t.Format("02.01.2006")
}

// When formats a slot time: "Mo., 14.06.2021, 09:15 Uhr".
func (l lang) When(t time.Time) string {
	t = t.In(berlin)
	if l == langEN {
		return l.Day(t) + ", " + t.Format("15:04")
	}
	return l.Day(t) + ", " + t.Format("15:04") + " Uhr"
}

// Clock formats a time of day.
func (l lang) Clock(t time.Time) string { return t.In(berlin).Format("15:04") }

var berlin = func() *time.Location {
	if loc, err := time.LoadLocation("Europe/Berlin"); err == nil {
		return loc
	}
	return time.UTC
}()

// catalog holds every text of the portal: {German, English}.
var catalog = map[string][2]string{
	"site":                                 {"Impfportal Sachsen", "Saxony vaccination portal"},
	"skip":                                 {"Zum Inhalt springen", "Skip to content"},
	"nav.home":                             {"Start", "Home"},
	"nav.register":                         {"Registrieren", "Register"},
	"nav.account":                          {"Mein Konto", "My account"},
	"nav.centres":                          {"Impfzentren", "Vaccination centres"},
	"nav.find":                             {"Termin verwalten", "Manage appointment"},
	"nav.signout":                          {"Abmelden", "Sign out"},
	"home.title":                           {"Corona-Schutzimpfung in Sachsen", "COVID-19 vaccination in Saxony"},
	"home.intro":                           {"Hier registrieren Sie sich für die Impfung, sehen, ob Sie schon an der Reihe sind, und buchen Ihre Termine für die erste und zweite Impfung.", "Register for your vaccination here, see whether it is your turn, and book your appointments for the first and second dose."},
	"home.hotline":                         {"Ohne Internet: Die Hotline 0800 0899 089 bucht für Sie, ohne Warteraum.", "Without the internet: the hotline 0800 0899 089 books for you, without a waiting room."},
	"home.start":                           {"Jetzt registrieren", "Register now"},
	"home.book":                            {"Termin buchen", "Book an appointment"},
	"reg.title":                            {"Registrieren", "Register"},
	"reg.intro":                            {"Alle Felder mit * sind Pflichtfelder. Ihre Angaben werden mit dem Melderegister abgeglichen.", "Fields marked * are required. Your details are checked against the population register."},
	"reg.person":                           {"Angaben zur Person", "About you"},
	"reg.given":                            {"Vorname(n) *", "Given name(s) *"},
	"reg.family":                           {"Familienname *", "Family name *"},
	"reg.birth":                            {"Geburtsdatum * (TT.MM.JJJJ oder JJJJ-MM-TT)", "Date of birth * (DD.MM.YYYY or YYYY-MM-DD)"},
	"reg.sex":                              {"Geschlecht *", "Sex *"},
	"sex.f":                                {"weiblich", "female"},
	"sex.m":                                {"männlich", "male"},
	"sex.d":                                {"divers", "diverse"},
	"sex.x":                                {"keine Angabe", "not stated"},
	"reg.address":                          {"Anschrift", "Address"},
	"reg.street":                           {"Straße und Hausnummer *", "Street and number *"},
	"reg.postal":                           {"Postleitzahl *", "Postal code *"},
	"reg.city":                             {"Ort *", "Town *"},
	"reg.contact":                          {"Kontakt (freiwillig)", "Contact (optional)"},
	"reg.phone":                            {"Telefon", "Phone"},
	"reg.email":                            {"E-Mail", "E-mail"},
	"reg.notify":                           {"Benachrichtigung über Ihre Termine", "Notifications about your appointments"},
	"reg.notify.post":                      {"Benachrichtigung per Post", "Notify me by post"},
	"reg.notify.sms":                       {"Benachrichtigung per SMS (Telefonnummer oben angeben)", "Notify me by SMS (give your phone number above)"},
	"reg.notify.email":                     {"Benachrichtigung per E-Mail (E-Mail-Adresse oben angeben)", "Notify me by e-mail (give your e-mail address above)"},
	"reg.consent":                          {"Ich bin einverstanden, dass mir Terminbestätigungen und Erinnerungen per SMS bzw. E-Mail geschickt werden. Ich kann das jederzeit widerrufen.", "I agree to receive appointment confirmations and reminders by SMS or e-mail. I can withdraw this at any time."},
	"err.consent":                          {"Für SMS oder E-Mail brauchen wir Ihr Einverständnis.", "We need your consent to notify you by SMS or e-mail."},
	"err.needphone":                        {"Für SMS brauchen wir Ihre Telefonnummer.", "Please give your phone number for SMS."},
	"err.needemail":                        {"Für E-Mails brauchen wir Ihre E-Mail-Adresse.", "Please give your e-mail address for e-mail."},
	"err.phone":                            {"Bitte geben Sie eine Telefonnummer wie 0351 1234567 oder +49 351 1234567 an.", "Please give a phone number such as 0351 1234567 or +49 351 1234567."},
	"reg.indications":                      {"Besondere Gründe für eine frühere Impfung (freiwillig)", "Reasons for an earlier vaccination (optional)"},
	"reg.submit":                           {"Registrieren", "Register"},
	"reg.fix":                              {"Bitte prüfen Sie die markierten Angaben.", "Please check the marked fields."},
	"reg.proxy":                            {"Angehörige/r", "Relative"},
	"reg.asproxy":                          {"Ich registriere eine andere Person (Angehörige/r)", "I am registering someone else (relative)"},
	"reg.proxyintro":                       {"Nur ausfüllen, wenn Sie eine andere Person registrieren. Mit Ihrem Vertretungskonto können Sie weitere Personen registrieren und für sie buchen.", "Only if you register someone else. With your proxy account you can register further people and book for them."},
	"reg.proxyname":                        {"Ihr Name (Angehörige/r) *", "Your name (relative) *"},
	"reg.proxyphone":                       {"Ihre Telefonnummer", "Your phone"},
	"reg.proxyemail":                       {"Ihre E-Mail-Adresse", "Your e-mail"},
	"reg.another":                          {"Sie registrieren eine weitere Person für Ihr Vertretungskonto.", "You are registering another person for your proxy account."},
	"acc.people":                           {"Von Ihnen vertretene Personen", "People you manage"},
	"acc.current":                          {"(ausgewählt)", "(selected)"},
	"acc.switch":                           {"Zu dieser Person wechseln", "Switch to this person"},
	"acc.addperson":                        {"Weitere Person registrieren", "Register another person"},
	"acc.hasappt":                          {"Termin gebucht", "appointment booked"},
	"appt.pdf":                             {"Terminbestätigung als PDF", "Confirmation letter (PDF)"},
	"acc.title":                            {"Mein Konto", "My account"},
	"acc.ended":                            {"Ihre Sitzung ist abgelaufen oder wurde abgemeldet. Bitte melden Sie sich erneut an.", "Your session has expired or was signed out. Please sign in again."},
	"acc.none":                             {"Sie sind nicht angemeldet. Registrieren Sie sich oder suchen Sie Ihren Termin mit Buchungsnummer und Geburtsdatum.", "You are not signed in. Register, or look up your appointment with its booking number and your date of birth."},
	"acc.registered":                       {"Sie sind registriert.", "You are registered."},
	"acc.check":                            {"Abgleich mit dem Melderegister", "Population register check"},
	"ver.pending":                          {"Der Abgleich läuft noch. Das dauert meist nur wenige Minuten.", "The check is still running. It usually takes a few minutes."},
	"ver.unverified":                       {"Der Abgleich läuft noch.", "The check is still running."},
	"ver.verified":                         {"Bestätigt.", "Confirmed."},
	"ver.rejected":                         {"Nicht bestätigt.", "Not confirmed."},
	"ver.needs-review":                     {"Wird von Mitarbeitenden geprüft.", "Being reviewed by staff."},
	"acc.entitlement":                      {"Ihre Impfberechtigung", "Your entitlement"},
	"ent.open":                             {"Sie können jetzt einen Termin buchen (Prioritätsgruppe %d).", "You can book an appointment now (priority group %d)."},
	"ent.products":                         {"Mögliche Impfstoffe:", "Vaccines you may have:"},
	"ent.closed":                           {"Sie können noch keinen Termin buchen.", "You cannot book an appointment yet."},
	"ent.reason":                           {"Grund:", "Reason:"},
	"acc.appt":                             {"Ihr Termin", "Your appointment"},
	"appt.ref":                             {"Buchungsnummer", "Booking number"},
	"appt.centre":                          {"Impfzentrum", "Vaccination centre"},
	"appt.product":                         {"Impfstoff", "Vaccine"},
	"appt.dose":                            {"%d. Impfung", "Dose %d"},
	"appt.status":                          {"Status", "Status"},
	"status.booked":                        {"gebucht", "booked"},
	"status.cancelled":                     {"storniert", "cancelled"},
	"status.completed":                     {"abgeschlossen", "completed"},
	"status.no-show":                       {"nicht erschienen", "missed"},
	"status.checked-in":                    {"eingecheckt", "checked in"},
	"status.administered":                  {"geimpft", "given"},
	"appt.move":                            {"Termin verschieben", "Move appointment"},
	"appt.cancel":                          {"Termin stornieren", "Cancel appointment"},
	"appt.cancelled":                       {"Ihr Termin wurde storniert.", "Your appointment has been cancelled."},
	"appt.book":                            {"Termin buchen", "Book an appointment"},
	"appt.booked":                          {"Ihr Termin ist gebucht.", "Your appointment is booked."},
	"appt.moved":                           {"Ihr Termin wurde verschoben.", "Your appointment has been moved."},
	"appt.keep":                            {"Bitte notieren Sie Ihre Buchungsnummer. Mit ihr und Ihrem Geburtsdatum finden Sie den Termin jederzeit wieder.", "Please note your booking number. With it and your date of birth you can find the appointment at any time."},
	"wl.joined":                            {"Sie stehen auf der Warteliste. Sobald ein Termin frei wird, buchen wir ihn für Sie und benachrichtigen Sie.", "You are on the waitlist. As soon as a place is free we book it for you and let you know."},
	"centres.title":                        {"Impfzentren in Ihrer Nähe", "Vaccination centres near you"},
	"centres.postal":                       {"Ihre Postleitzahl", "Your postal code"},
	"centres.search":                       {"Suchen", "Search"},
	"centres.km":                           {"etwa %d km entfernt", "about %d km away"},
	"centres.unknown":                      {"Diese Postleitzahl liegt nicht in Sachsen; die Zentren sind alphabetisch sortiert.", "This postal code is not in Saxony; centres are listed alphabetically."},
	"centres.note":                         {"Die Entfernung ist eine grobe Schätzung nach den ersten drei Ziffern der Postleitzahl.", "Distances are rough estimates from the first three digits of the postal code."},
	"book.title":                           {"Impfzentrum wählen", "Choose a centre"},
	"book.choose":                          {"Termine ansehen", "See appointments"},
	"book.signin":                          {"Bitte registrieren Sie sich zuerst.", "Please register first."},
	"book.has":                             {"Sie haben bereits einen Termin. Sie können ihn verschieben.", "You already have an appointment. You can move it."},
	"slots.title":                          {"Termin wählen", "Choose an appointment"},
	"slots.product":                        {"Impfstoff", "Vaccine"},
	"slots.show":                           {"Anzeigen", "Show"},
	"slots.days":                           {"Tage mit freien Terminen", "Days with free appointments"},
	"slots.legend":                         {"Freie Termine am %s", "Free appointments on %s"},
	"slots.free":                           {"%d frei", "%d free"},
	"slots.book":                           {"Diesen Termin buchen", "Book this appointment"},
	"slots.move":                           {"Auf diesen Termin verschieben", "Move to this appointment"},
	"slots.dose2":                          {"Der Termin für die zweite Impfung wird im vorgeschriebenen Abstand im selben Zentrum mitgebucht.", "The second dose is booked with it, at the same centre within the prescribed interval."},
	"slots.none":                           {"In den nächsten %d Tagen ist in diesem Zentrum kein Termin frei.", "There is no free appointment at this centre in the next %d days."},
	"slots.waitlist":                       {"Auf die Warteliste setzen", "Join the waitlist"},
	"slots.wlintro":                        {"Auf der Warteliste bekommen Sie automatisch einen Termin, sobald einer frei wird.", "On the waitlist you get an appointment automatically as soon as one is free."},
	"slots.pick":                           {"Bitte wählen Sie einen Termin.", "Please choose an appointment."},
	"slots.leave":                          {"Buchung beenden und Platz freigeben", "Leave booking and free my place"},
	"find.title":                           {"Termin verwalten", "Manage your appointment"},
	"find.ref":                             {"Buchungsnummer (10 Ziffern)", "Booking number (10 digits)"},
	"find.birth":                           {"Geburtsdatum (TT.MM.JJJJ)", "Date of birth (DD.MM.YYYY)"},
	"find.submit":                          {"Termin suchen", "Find appointment"},
	"find.locked":                          {"Zu viele falsche Versuche: Aus Sicherheitsgründen ist diese Buchungsnummer bis %s gesperrt, auch mit dem richtigen Geburtsdatum. Die Hotline 0800 0899 089 hilft Ihnen weiter.", "Too many wrong attempts: for your security this booking number is locked until %s, even with the right date of birth. The hotline 0800 0899 089 can help you."},
	"find.nomatch":                         {"Buchungsnummer und Geburtsdatum passen nicht zusammen.", "Booking number and date of birth do not match."},
	"nf.title":                             {"Seite nicht gefunden", "Page not found"},
	"blocked.title":                        {"Anfrage nicht angenommen", "Request not accepted"},
	"blocked.rate-ip":                      {"Von Ihrem Anschluss kommen gerade sehr viele Anfragen. Bitte warten Sie einige Sekunden und versuchen Sie es dann erneut.", "Too many requests are coming from your connection. Please wait a few seconds and try again."},
	"blocked.rate-session":                 {"Sie haben in kurzer Zeit sehr viele Seiten aufgerufen. Bitte warten Sie einige Sekunden.", "You opened very many pages in a short time. Please wait a few seconds."},
	"blocked.csrf":                         {"Das Formular ist abgelaufen oder stammt nicht von dieser Seite. Bitte laden Sie die Seite neu und senden Sie es noch einmal.", "The form has expired or did not come from this site. Please reload the page and send it again."},
	"blocked.unavailable":                  {"Ihre Anmeldung kann gerade nicht geprüft werden. Bitte versuchen Sie es in einigen Sekunden noch einmal.", "Your sign-in cannot be checked right now. Please try again in a few seconds."},
	"blocked.waf":                          {"Die Anfrage enthielt Zeichen oder Muster, die wie ein Angriff aussehen, und wurde abgewiesen. Wenn Sie das für einen Fehler halten, rufen Sie bitte die Hotline an.", "The request contained characters or patterns that look like an attack and was refused. If you think this is wrong, please call the hotline."},
	"back":                                 {"Zurück zur Startseite", "Back to the home page"},
	"err.internal":                         {"Das hat leider nicht geklappt. Bitte versuchen Sie es gleich noch einmal.", "Sorry, that did not work. Please try again shortly."},
	"err.invalid":                          {"Diese Angabe ist ungültig.", "This entry is not valid."},
	"err.required":                         {"Bitte ausfüllen.", "Please fill this in."},
	"err.date":                             {"Bitte ein Datum wie 31.12.1950 eingeben.", "Please enter a date such as 31.12.1950."},
	"err.full":                             {"Dieser Termin ist inzwischen leider ausgebucht. Bitte wählen Sie einen anderen.", "Sorry, this appointment has just been taken. Please choose another one."},
	"err.stock":                            {"Für diesen Tag ist kein Impfstoff mehr verfügbar. Bitte wählen Sie einen anderen Tag.", "No vaccine is left for this day. Please choose another day."},
	"err.no-second-slot":                   {"Für die zweite Impfung ist im vorgeschriebenen Abstand kein Termin frei. Bitte wählen Sie einen anderen Termin oder ein anderes Zentrum.", "There is no free place for the second dose within the prescribed interval. Please choose another appointment or centre."},
	"err.already":                          {"Sie haben bereits einen Termin.", "You already have an appointment."},
	"err.notfound":                         {"Nicht gefunden.", "Not found."},
	"err.forbidden":                        {"Dazu sind Sie nicht berechtigt. Bitte melden Sie sich erneut an.", "You are not allowed to do this. Please sign in again."},
	"ind.care-home-resident":               {"Ich lebe in einem Pflegeheim", "I live in a care home"},
	"ind.care-home-staff":                  {"Ich arbeite in einem Pflegeheim", "I work in a care home"},
	"ind.medical-staff-very-high-exposure": {"Medizinisches Personal mit sehr hohem Ansteckungsrisiko", "Medical staff with very high exposure"},
	"ind.medical-staff-high-exposure":      {"Medizinisches Personal mit hohem Ansteckungsrisiko", "Medical staff with high exposure"},
	"ind.trisomy-21":                       {"Trisomie 21", "Trisomy 21"},
	"ind.dementia":                         {"Demenz oder geistige Behinderung", "Dementia or intellectual disability"},
	"ind.transplant":                       {"Organtransplantation", "Organ transplant"},
	"ind.close-contact-of-care-dependent":  {"Kontaktperson einer pflegebedürftigen Person", "Close contact of a person in need of care"},
	"ind.police-public-order":              {"Polizei oder Ordnungskräfte", "Police or public order"},
	"ind.primary-school-or-daycare-staff":  {"Grundschule oder Kita", "Primary school or day care"},
	"ind.chronic-condition":                {"Chronische Vorerkrankung", "Chronic condition"},
	"ind.critical-infrastructure":          {"Kritische Infrastruktur", "Critical infrastructure"},
	"ind.retail-staff":                     {"Einzelhandel", "Retail"},
}

// refusalEN gives English texts for the core's German refusal messages.
var refusalEN = map[string]string{
	"group-not-open":      "Your priority group is not open yet.",
	"not-resident":        "You are not registered as living in Saxony.",
	"not-verified":        "The population register has not confirmed your details yet.",
	"too-young":           "You are too young for a vaccination under the current rules.",
	"no-product":          "No vaccine is currently approved for you.",
	"product-age":         "This vaccine is not approved for your age.",
	"product-intolerance": "This vaccine is not suitable because of a known intolerance.",
	"product-unavailable": "This vaccine is not available.",
	"slot-full":           "Sorry, this appointment has just been taken. Please choose another one.",
	"no-slot":             "No appointment is free in the requested period.",
	"no-stock":            "No vaccine is left for this day. Please choose another day.",
	"no-second-slot":      "There is no free place for the second dose within the prescribed interval.",
	"already-booked":      "You already have an appointment.",
	"not-open":            "This appointment is no longer open.",
	"dose-given":          "The first dose has already been given; please contact the centre.",
}
