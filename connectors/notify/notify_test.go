package notify_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/component"
	"github.com/vaxhub/vaxhub/connectors/notify"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/simulators/faults"
	smssim "github.com/vaxhub/vaxhub/simulators/sms"
	smtpsim "github.com/vaxhub/vaxhub/simulators/smtp"
)

var ctx = context.Background()

// world is the core, the broker with the relay, the SMS gateway and mail
// server simulators over real HTTP and SMTP, and the connector started by
// notify.Start as the hub's supervisor starts it.
type world struct {
	h    *hubtest.Hub
	sms  *smssim.Sim
	mail *smtpsim.Server
	bus  *bustest.Bus
	hub  string // the hub's HTTP server (the webhook)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{}
	w.h = hubtest.New(t, time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t)))
	w.h.Saxony(t, 60)
	mux := http.NewServeMux()
	hub := httptest.NewServer(mux)
	t.Cleanup(hub.Close)
	w.hub = hub.URL
	var err error
	w.sms, err = smssim.New(smssim.Config{Step: 50 * time.Millisecond, StatusCallback: hub.URL + notify.WebhookPath, Logger: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	smsSrv := httptest.NewServer(w.sms.Handler())
	t.Cleanup(func() { smsSrv.Close(); w.sms.Close() })
	w.mail, err = smtpsim.New(smtpsim.Config{RequireAuth: true, Logger: bustest.Logger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bustest.Background(t, "smtp", func(ctx context.Context) error { return w.mail.Serve(ctx, ln) })
	w.bus = bustest.Start(t, w.h.Pool)
	stop, err := notify.Start(ctx, component.Deps{
		Config: component.Values{"sms_url": smsSrv.URL, "sms_user": "sim", "sms_password": "sim", "sms_from": "Impfzentrum",
			"smtp_addr": ln.Addr().String(), "smtp_user": "sim", "smtp_password": "sim", "smtp_from": "termine@impfzentrum.example", "enabled": "true"},
		Run: true, App: w.h.App, Pool: w.h.Pool, Schemas: w.bus.Schemas, Consumer: w.bus.Consumer(),
		Handle: func(path string, h http.Handler) { mux.Handle(path, h) }, StaffName: func(*http.Request) string { return "" },
		Registerer: prometheus.NewRegistry(), Logger: bustest.Logger(), Failed: func(err error) { t.Errorf("notify failed: %v", err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := stop(sctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return w
}

// resident registers a resident and sets their contact preference through
// the core's use case.
func (w *world) resident(t *testing.T, ch domain.ContactChannel, phone, email string, consent bool) string {
	t.Helper()
	reg := w.h.Resident(t, domain.Date{Year: 1938, Month: 6, Day: 2})
	if ch != "" {
		if _, err := w.h.App.ChangeContact(ctx, reg.Resident.ID, domain.ContactChange{Channel: ch, Phone: phone, Email: email, Consent: consent}); err != nil {
			t.Fatalf("contact: %v", err)
		}
	}
	return reg.Resident.ID
}

func (w *world) book(t *testing.T, residentID string) *domain.Appointment {
	t.Helper()
	ap, err := w.h.App.Book(ctx, app.BookingInput{Staff: true, ResidentID: residentID, CentreID: "riesa", Product: domain.Comirnaty,
		Earliest: w.h.Clock.Now().Add(72 * time.Hour)}) // dose 1 a few days ahead: its reminder is still to come
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	return ap
}

func (w *world) texts(to string, prefix string) []string {
	var out []string
	for _, m := range w.sms.Messages(to) {
		if strings.HasPrefix(m.Body, prefix) {
			out = append(out, m.Body)
		}
	}
	return out
}

func (w *world) mails(to, subjectPrefix string) []smtpsim.Message {
	var out []smtpsim.Message
	for _, m := range w.mail.Messages(to) {
		if strings.HasPrefix(m.Subject, subjectPrefix) {
			out = append(out, m)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// settle waits long enough for the queue (it polls every second) to run
// whatever is due, so that a test can check that nothing more was sent.
func settle() { time.Sleep(2500 * time.Millisecond) }

const (
	smsPhone = "+493511111111"
	mailAddr = "erika@example.org"
)

func TestReminderTheDayBeforeEachDoseBySMSAndEmail(t *testing.T) {
	w := newWorld(t)
	smsRes := w.resident(t, domain.ContactSMS, "0351 1111111", "", true)
	mailRes := w.resident(t, domain.ContactEmail, "", mailAddr, true)
	apS, apM := w.book(t, smsRes), w.book(t, mailRes)
	if len(apS.Doses) != 2 || len(apM.Doses) != 2 {
		t.Fatalf("want two doses each: %d, %d", len(apS.Doses), len(apM.Doses))
	}
	waitFor(t, "both confirmations", 20*time.Second, func() bool {
		return len(w.texts(smsPhone, "Impftermin gebucht")) == 1 && len(w.mails(mailAddr, "Ihr Impftermin ist gebucht")) == 1
	})
	loc := w.h.Loc
	// Dose 1: the day before at 18:00, and not a minute earlier.
	first := notify.ReminderAt(apS.Doses[0].Start, loc)
	if m := notify.ReminderAt(apM.Doses[0].Start, loc); m.Before(first) {
		first = m
	}
	w.h.Clock.Set(first.Add(-time.Minute))
	settle()
	if n := len(w.texts(smsPhone, "Erinnerung")) + len(w.mails(mailAddr, "Erinnerung")); n != 0 {
		t.Fatalf("%d reminders before 18:00", n)
	}
	w.h.Clock.Set(notify.ReminderAt(apS.Doses[0].Start, loc).Add(time.Second))
	if m := notify.ReminderAt(apM.Doses[0].Start, loc).Add(time.Second); m.After(w.h.Clock.Now()) {
		w.h.Clock.Set(m)
	}
	waitFor(t, "the dose-1 reminders", 20*time.Second, func() bool {
		return len(w.texts(smsPhone, "Erinnerung")) == 1 && len(w.mails(mailAddr, "Erinnerung")) == 1
	})
	settle()
	sms := w.texts(smsPhone, "Erinnerung")
	mails := w.mails(mailAddr, "Erinnerung")
	if len(sms) != 1 || len(mails) != 1 {
		t.Fatalf("reminders: %d SMS, %d e-mails; want one each", len(sms), len(mails))
	}
	day := apS.Doses[0].Start.In(loc).Format("02.01.")
	if !strings.Contains(sms[0], "morgen") || !strings.Contains(sms[0], day) || !strings.Contains(sms[0], apS.Reference) || len([]rune(sms[0])) > 160 {
		t.Errorf("SMS reminder %q: want morgen, %s, the reference, at most 160 characters", sms[0], day)
	}
	for _, bad := range []string{"Comirnaty", "comirnaty", "BioNTech", "Dosis", "2. Impfung"} {
		if strings.Contains(sms[0], bad) || strings.Contains(mails[0].Text, bad) {
			t.Errorf("a reminder names %q", bad)
		}
	}
	if !strings.Contains(mails[0].Text, apM.Reference) || mails[0].Header["Content-Type"] == nil {
		t.Errorf("e-mail reminder: %q", mails[0].Text)
	}

	// Move the SMS resident's series: the dose-2 reminder follows it.
	moved, err := w.h.App.Move(ctx, app.MoveInput{Reference: apS.Reference, Earliest: apS.Doses[1].Start.Add(-20 * 24 * time.Hour)})
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	waitFor(t, "the change by SMS", 20*time.Second, func() bool { return len(w.texts(smsPhone, "Impftermin verlegt")) == 1 })
	newDay := moved.Doses[1].Start.In(loc).Format("02.01.")
	if moved.Doses[1].Start.Equal(apS.Doses[1].Start) {
		t.Fatalf("the move did not move dose 2")
	}
	// Cancel the e-mail resident's series: no reminder for her dose 2.
	if _, err := w.h.App.Cancel(ctx, apM.Reference, "resident"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation e-mail", 20*time.Second, func() bool { return len(w.mails(mailAddr, "Ihr Impftermin ist abgesagt")) == 1 })
	// Past both dose-2 reminder times (the old and the new).
	last := notify.ReminderAt(moved.Doses[1].Start, loc)
	for _, d := range []time.Time{apS.Doses[1].Start, apM.Doses[1].Start} {
		if r := notify.ReminderAt(d, loc); r.After(last) {
			last = r
		}
	}
	w.h.Clock.Set(last.Add(time.Minute))
	waitFor(t, "the moved dose-2 reminder", 20*time.Second, func() bool {
		for _, s := range w.texts(smsPhone, "Erinnerung") {
			if strings.Contains(s, newDay) {
				return true
			}
		}
		return false
	})
	settle()
	oldDay := apS.Doses[1].Start.In(loc).Format("02.01.")
	var forNew, forOld int
	for _, s := range w.texts(smsPhone, "Erinnerung") {
		if strings.Contains(s, newDay) {
			forNew++
		}
		if oldDay != newDay && strings.Contains(s, oldDay) {
			forOld++
		}
	}
	if forNew != 1 || forOld != 0 {
		t.Errorf("dose-2 reminders: %d for the new day %s, %d for the old day %s; want 1 and 0", forNew, newDay, forOld, oldDay)
	}
	if n := len(w.mails(mailAddr, "Erinnerung")); n != 1 {
		t.Errorf("the cancelled series got %d reminders in all, want only the one before cancelling", n)
	}
}

func TestConfirmationOnlyForResidentsWhoChoseAndConsented(t *testing.T) {
	w := newWorld(t)
	post := w.resident(t, "", "", "", false)
	if _, err := w.h.App.ChangeContact(ctx, post, domain.ContactChange{Channel: domain.ContactPost, Phone: "0351 2222222", Email: "post@example.org"}); err != nil {
		t.Fatal(err)
	}
	smsRes := w.resident(t, domain.ContactSMS, "0351 1111111", "", true)
	withdrew := w.resident(t, domain.ContactEmail, "", "withdrew@example.org", true)
	w.book(t, post)
	w.book(t, smsRes)
	// Consent withdrawn before the booking: back to post.
	if _, err := w.h.App.ChangeContact(ctx, withdrew, domain.ContactChange{Channel: domain.ContactPost}); err != nil {
		t.Fatal(err)
	}
	w.book(t, withdrew)
	waitFor(t, "the SMS confirmation", 20*time.Second, func() bool { return len(w.texts(smsPhone, "Impftermin gebucht")) == 1 })
	settle()
	if n := len(w.sms.Messages("+493512222222")); n != 0 {
		t.Errorf("the resident who chose post got %d SMS", n)
	}
	if n := len(w.mail.Messages("")); n != 0 {
		t.Errorf("%d e-mails, want none (post, and withdrawn consent)", n)
	}
	if n := len(w.texts(smsPhone, "")); n != 1 {
		t.Errorf("the SMS resident got %d messages, want 1", n)
	}
	if s := w.texts(smsPhone, "")[0]; len([]rune(s)) > 160 || w.sms.Messages(smsPhone)[0].Segments != 1 {
		t.Errorf("confirmation %q is not one SMS segment", s)
	}
}

func TestSMSGatewayOutageDelaysButLosesNothing(t *testing.T) {
	w := newWorld(t)
	// The sends are retried by the job queue, whose back-off runs on the
	// core's clock: let it run, as production's does.
	runClock(t, w.h.Clock)
	phones := []string{"0351 1000001", "0351 1000002", "0351 1000003"}
	var ids []string
	for _, p := range phones {
		ids = append(ids, w.resident(t, domain.ContactSMS, p, "", true))
	}
	if err := w.sms.Faults().Set(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(4 * time.Second), Mode: "503"}}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, id := range ids {
		w.book(t, id)
	}
	time.Sleep(time.Second)
	if n := len(w.sms.Messages("")); n != 0 {
		t.Fatalf("%d messages during the outage", n)
	}
	waitFor(t, "every confirmation after the outage", 60*time.Second, func() bool {
		for _, p := range []string{"+493511000001", "+493511000002", "+493511000003"} {
			if len(w.sms.Messages(p)) == 0 {
				return false
			}
		}
		return true
	})
	t.Logf("all sent %v after the outage began", time.Since(start).Round(100*time.Millisecond))
	settle()
	for _, p := range []string{"+493511000001", "+493511000002", "+493511000003"} {
		if n := len(w.sms.Messages(p)); n != 1 {
			t.Errorf("%s got %d messages, want exactly 1", p, n)
		}
	}
}

func TestForgedEventSendsNothing(t *testing.T) {
	w := newWorld(t)
	smsRes := w.resident(t, domain.ContactSMS, "0351 1111111", "", true)
	// A well-formed appointment.booked for a booking the core does not hold,
	// naming a real resident who chose SMS.
	ref := domain.NewReference()
	forged := domain.NewEvent("appointment.booked", ref, "forged", w.h.Clock.Now(), domain.AppointmentBooked{
		Reference: ref, ResidentID: smsRes, CentreID: "riesa", Product: domain.Comirnaty, PriorityGroup: 1,
		Doses: []domain.DoseTimes{{DoseNumber: 1, SlotStart: domain.Time(w.h.Clock.Now().Add(48 * time.Hour)), SlotEnd: domain.Time(w.h.Clock.Now().Add(49 * time.Hour))}}})
	b, err := json.Marshal(forged)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.bus.Publisher.Publish(ctx, bus.Message{Topic: notify.Topic, Key: ref, Value: b}); err != nil {
		t.Fatal(err)
	}
	// A real booking afterwards is confirmed: the consumer moved on.
	real := w.resident(t, domain.ContactSMS, "0351 3333333", "", true)
	w.book(t, real)
	waitFor(t, "the real confirmation", 20*time.Second, func() bool { return len(w.sms.Messages("+493513333333")) == 1 })
	settle()
	if n := len(w.sms.Messages(smsPhone)); n != 0 {
		t.Errorf("the forged event sent %d SMS", n)
	}
	if n := w.h.Count(t, `SELECT count(*) FROM jobs WHERE kind LIKE 'notify.%' AND payload->>'resident_id' = $1`, smsRes); n != 0 {
		t.Errorf("the forged event planned %d jobs", n)
	}
}

func TestDeliveryStatusWebhookIsVerified(t *testing.T) {
	w := newWorld(t)
	if err := w.sms.SetOutcome("+493514444444", smssim.OutcomeUndelivered); err != nil {
		t.Fatal(err)
	}
	res := w.resident(t, domain.ContactSMS, "0351 4444444", "", true)
	w.book(t, res)
	waitFor(t, "the SMS", 20*time.Second, func() bool { return len(w.sms.Messages("+493514444444")) == 1 })
	sid := w.sms.Messages("+493514444444")[0].SID
	status := func() (string, bool) {
		var s string
		var review bool
		_ = w.h.Pool.QueryRow(ctx, `SELECT status, contact_review FROM notify_messages WHERE provider_id = $1`, sid).Scan(&s, &review)
		return s, review
	}
	// The simulator's own signed callbacks are accepted: undelivered is flagged.
	waitFor(t, "the undelivered status", 20*time.Second, func() bool { s, r := status(); return s == "undelivered" && r })

	// A forged "delivered" with a bad signature is refused and changes nothing.
	hook := w.hub + notify.WebhookPath
	form := url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}, "AccountSid": {"sim"}}
	var calls atomic.Int32
	for _, sig := range []string{"", "bm9wZQ==", smssim.Signature("wrong-token", hook, form)} {
		calls.Add(1)
		req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("signature %q: %d %s, want 403 problem", sig, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	if s, r := status(); s != "undelivered" || !r {
		t.Errorf("after forged callbacks: status %s, review %v; want undelivered, flagged", s, r)
	}
	// The same request signed with the auth token is accepted (and a late
	// "sent" does not move the message back).
	form.Set("MessageStatus", "sent")
	req, _ := http.NewRequest(http.MethodPost, hook, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", smssim.Signature("sim", hook, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("signed callback: %d", resp.StatusCode)
	}
	if s, _ := status(); s != "undelivered" {
		t.Errorf("a late 'sent' moved the status to %s", s)
	}
}
