package print_test

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/vaxhub/vaxhub/internal/bustest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/httpclient"
	lettersvc "github.com/vaxhub/vaxhub/connectors/print"
	"github.com/vaxhub/vaxhub/connectors/print/letter"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/internal/hubtest"
	"github.com/vaxhub/vaxhub/simulators/faults"
	printsim "github.com/vaxhub/vaxhub/simulators/print"
)

var ctx = context.Background()

func testLogger() *slog.Logger { return bustest.Logger() }

func runInBackground(t *testing.T, name string, fn func(context.Context) error) {
	t.Helper()
	bustest.Background(t, name, fn)
}

// world is the hub's core, the broker, the print simulator and the connector,
// all real, over real HTTP and Kafka.
type world struct {
	h      *hubtest.Hub
	sim    *printsim.Sim
	simURL string
	conn   *lettersvc.Connector
	staff  *httptest.Server
	bus    *bustest.Bus
	// creates counts POSTs that reached the letters endpoint.
	creates atomic.Int32
	// dropFirstAnswer, when set, makes the proxy in front of the simulator
	// lose the answer to the first letter creation (the letter is made).
	dropFirstAnswer atomic.Bool
}

type options struct {
	maxPages  int
	tokenTTL  time.Duration
	noSenders bool // the test calls SendOne itself
}

func newWorld(t *testing.T, o options) *world {
	t.Helper()
	w := &world{}
	now := time.Date(2021, 4, 12, 8, 0, 0, 0, hubtest.Berlin(t))
	w.h = hubtest.New(t, now)
	w.h.Saxony(t, 50)

	// The connector's webhook endpoint, wired once the connector exists.
	var hook atomic.Pointer[http.Handler]
	hooks := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if h := hook.Load(); h != nil {
			(*h).ServeHTTP(rw, r)
			return
		}
		http.Error(rw, "not ready", http.StatusServiceUnavailable)
	}))
	t.Cleanup(hooks.Close)

	sim, err := printsim.New(printsim.Config{Step: 30 * time.Millisecond, MaxPages: o.maxPages, TokenTTL: o.tokenTTL, WebhookURL: hooks.URL, WebhookSecret: "whsec", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	w.sim = sim
	simSrv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { simSrv.Close(); sim.Close() })
	target, _ := url.Parse(simSrv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/letters") {
			w.creates.Add(1)
			if w.dropFirstAnswer.CompareAndSwap(true, false) {
				rec := httptest.NewRecorder()
				proxy.ServeHTTP(rec, r)                              // the service makes the letter ...
				http.Error(rw, "bad gateway", http.StatusBadGateway) // ... and the answer is lost
				return
			}
		}
		r.Host = target.Host // presigned URLs point at the simulator itself
		proxy.ServeHTTP(rw, r)
	}))
	t.Cleanup(front.Close)
	w.simURL = simSrv.URL

	conn, err := lettersvc.New(lettersvc.Config{
		Pool: w.h.Pool, App: w.h.App, Logger: testLogger(),
		Pingen: lettersvc.PingenConfig{BaseURL: front.URL, ClientID: "sim", ClientSecret: "sim", Organisation: sim.Organisation(), WebhookSecret: "whsec",
			HTTP: httpclient.Config{Timeout: 2 * time.Second, BackoffBase: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
				Breaker: httpclient.BreakerConfig{Timeout: 200 * time.Millisecond}, Logger: testLogger()}},
		Workers: 2, Idle: 50 * time.Millisecond, RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond,
		PollInterval: 100 * time.Millisecond, PollAfter: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.conn = conn
	wh := conn.WebhookHandler()
	hook.Store(&wh)
	w.staff = httptest.NewServer(conn.StaffHandler(nil))
	t.Cleanup(w.staff.Close)

	w.bus = bustest.Start(t, w.h.Pool)
	r := bus.NewRouter(w.bus.Consumer())
	if err := conn.Register(r); err != nil {
		t.Fatal(err)
	}
	runInBackground(t, "print consumers", r.Run)
	if !o.noSenders {
		runInBackground(t, "print senders", conn.Run)
	}
	return w
}

// book registers a resident reached by phone (no e-mail unless given) and
// books Comirnaty at Riesa by staff.
func (w *world) book(t *testing.T, name string, opts ...func(*domain.Resident)) *domain.Appointment {
	t.Helper()
	given, family, _ := strings.Cut(name, " ")
	reg := w.h.Resident(t, domain.Date{Year: 1938, Month: 6, Day: 2}, append([]func(*domain.Resident){func(r *domain.Resident) {
		r.GivenNames, r.FamilyName, r.Channel = given, family, "phone"
	}}, opts...)...)
	ap, err := w.h.App.Book(app.WithCorrelationID(ctx, "call-"+reg.Resident.ID), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa", Product: domain.Comirnaty})
	if err != nil {
		t.Fatalf("book: %v", err)
	}
	return ap
}

func (w *world) letters(t *testing.T, ref string) []lettersvc.LetterView {
	t.Helper()
	ls, err := w.conn.Letters(ctx, ref, false, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *world) waitStatus(t *testing.T, ref, status string, d time.Duration) lettersvc.LetterView {
	t.Helper()
	var got []lettersvc.LetterView
	waitFor(t, "the letter of "+ref+" to be "+status, d, func() bool {
		got = w.letters(t, ref)
		return len(got) > 0 && got[0].Status == status
	})
	return got[0]
}

func pdfText(t *testing.T, pdf []byte) string {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext is not on PATH: install the Debian package poppler-utils; .ci/run installs it")
	}
	p := filepath.Join(t.TempDir(), "l.pdf")
	if err := os.WriteFile(p, pdf, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", p, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(string(out)), " ")
}

func TestPhoneBookingProducesExactlyOneConfirmationLetterThatIsSent(t *testing.T) {
	w := newWorld(t, options{})
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	withMail := w.book(t, "Erika Mustermann", func(r *domain.Resident) { r.Email = "erika@example.org" })

	l := w.waitStatus(t, ap.Reference, lettersvc.StatusSent, 20*time.Second)
	if l.Kind != string(letter.Confirmation) || l.Pages != 3 || l.Trigger != "appointment.booked" || l.ContactReview {
		t.Errorf("letter %+v: want a 3-page confirmation triggered by the booking", l)
	}
	// The e-mail resident's booking was consumed and produced no letter.
	waitFor(t, "both bookings to be consumed", 10*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM processed_events WHERE consumer = 'print'`) >= 2
	})
	if ls := w.letters(t, withMail.Reference); len(ls) != 0 {
		t.Errorf("a resident with e-mail got letters: %+v", ls)
	}
	if n := len(w.letters(t, "")); n != 1 {
		t.Errorf("%d letters in the table, want 1", n)
	}
	sent := w.sim.Letters()
	if len(sent) != 1 || sent[0].ID != l.PingenID || sent[0].Status != printsim.StatusSent {
		t.Fatalf("the print service holds %+v, want exactly the one letter, sent", sent)
	}
	// What was printed: the name, both appointments, the reference.
	pdf, _ := w.sim.LetterPDF(l.PingenID)
	text := pdfText(t, pdf)
	for _, want := range []string{"Zoë Nguyễn-Ćosić Weiß", "Hauptstraße 1", "01587 Riesa", letter.GermanDate(ap.Doses[0].Start.In(w.h.Loc)),
		letter.GermanDate(ap.Doses[1].Start.In(w.h.Loc)), ap.Reference[:4] + " " + ap.Reference[4:8], "Merkblatt", "Einwilligungsbogen"} {
		if !strings.Contains(text, want) {
			t.Errorf("the printed letter lacks %q:\n%s", want, text)
		}
	}
}

func TestOutageDelaysButDoublesNothing(t *testing.T) {
	w := newWorld(t, options{tokenTTL: 300 * time.Millisecond}) // tokens also expire on the way
	if err := w.sim.Faults().Set(faultsOutage(1500 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	w.dropFirstAnswer.Store(true) // and the first answer after it is lost on the way back
	start := time.Now()
	var refs []string
	for _, n := range []string{"Anna Schmidt", "Jürgen Groß", "Łukasz Wójcik"} {
		refs = append(refs, w.book(t, n).Reference)
	}
	waitFor(t, "a failed attempt during the outage", 10*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM letters WHERE status = 'pending' AND last_error IS NOT NULL`) > 0
	})
	for _, ref := range refs {
		w.waitStatus(t, ref, lettersvc.StatusSent, 30*time.Second)
	}
	if time.Since(start) < 1500*time.Millisecond {
		t.Errorf("letters were sent during the outage")
	}
	if got := w.sim.Letters(); len(got) != len(refs) {
		t.Fatalf("the print service made %d letters for %d bookings", len(got), len(refs))
	}
	if w.creates.Load() <= int32(len(refs)) {
		t.Errorf("only %d create calls: the lost answer was not retried", w.creates.Load())
	}
	if n := w.h.Count(t, `SELECT count(*) FROM letters`); n != len(refs) {
		t.Errorf("%d letters recorded, want %d", n, len(refs))
	}
}

func faultsOutage(d time.Duration) faults.Faults {
	return faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(d)}}
}

func TestUnprintableLetterIsReportedToStaff(t *testing.T) {
	w := newWorld(t, options{maxPages: 2}) // the confirmation with its enclosures has 3
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	l := w.waitStatus(t, ap.Reference, lettersvc.StatusUnprintable, 20*time.Second)
	if !strings.Contains(l.Reason, "3 pages; at most 2") || !l.ContactReview {
		t.Errorf("letter %+v: want the reason and the contact flagged for review", l)
	}
	resp, err := http.Get(w.staff.URL + "/api/v1/letters?problems=true")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Letters []lettersvc.LetterView }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Letters) != 1 || body.Letters[0].Reason != l.Reason {
		t.Fatalf("staff problems list: %+v %v", body, err)
	}
}

func TestLostWebhooksArePolledAndUndeliverableIsFlagged(t *testing.T) {
	w := newWorld(t, options{})
	_ = w.sim.Faults().SetFlag(printsim.FaultLoseWebhooks, true)
	_ = w.sim.Faults().SetFlag(printsim.FaultUndeliverable, true)
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	l := w.waitStatus(t, ap.Reference, lettersvc.StatusUndeliverable, 20*time.Second)
	if !l.ContactReview || !strings.Contains(l.Reason, "nicht zu ermitteln") {
		t.Errorf("letter %+v: want the reason and the contact flagged for review", l)
	}
}

func TestStaffAsksForALetter(t *testing.T) {
	w := newWorld(t, options{})
	ap := w.book(t, "Erika Mustermann", func(r *domain.Resident) { r.Email = "erika@example.org" })
	post := func(body, key string) (int, lettersvc.LetterView) {
		req, _ := http.NewRequest(http.MethodPost, w.staff.URL+"/api/v1/letters", strings.NewReader(body))
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v lettersvc.LetterView
		_ = json.NewDecoder(resp.Body).Decode(&v)
		return resp.StatusCode, v
	}
	status, first := post(`{"kind":"reminder","reference":"`+ap.Reference+`"}`, "agent-7-call-1")
	if status != http.StatusAccepted || first.Kind != "reminder" || first.Trigger != "staff" {
		t.Fatalf("POST: %d %+v", status, first)
	}
	status, again := post(`{"kind":"reminder","reference":"`+ap.Reference+`"}`, "agent-7-call-1")
	if status != http.StatusOK || again.ID != first.ID {
		t.Errorf("repeated POST: %d %+v, want the first letter", status, again)
	}
	if status, _ := post(`{"kind":"changed","reference":"`+ap.Reference+`"}`, ""); status != http.StatusUnprocessableEntity {
		t.Errorf("changed on demand: %d, want 422", status)
	}
	if status, _ := post(`{"kind":"reminder","reference":"0000000000"}`, ""); status != http.StatusNotFound && status != http.StatusUnprocessableEntity {
		t.Errorf("unknown reference: %d", status)
	}
	l := w.waitStatus(t, ap.Reference, lettersvc.StatusSent, 20*time.Second)
	if l.ID != first.ID || l.Pages != 2 {
		t.Errorf("sent %+v, want the reminder with its form (2 pages)", l)
	}
	resp, err := http.Get(w.staff.URL + "/api/v1/letters/" + first.ID)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Contains(b, []byte(`"status":"sent"`)) {
		t.Errorf("GET letter: %d %s", resp.StatusCode, b)
	}
}

// TestCancellationAndMoveSendTheirLetters: a move sends a changed-appointment
// letter with the old and the new times, a cancellation a cancellation letter.
func TestCancellationAndMoveSendTheirLetters(t *testing.T) {
	w := newWorld(t, options{})
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	w.waitStatus(t, ap.Reference, lettersvc.StatusSent, 20*time.Second)
	moved, err := w.h.App.Move(ctx, app.MoveInput{Reference: ap.Reference, Earliest: ap.Doses[0].Start.Add(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the changed letter", 20*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM letters WHERE kind = 'changed' AND status = 'sent'`) == 1
	})
	if _, err := w.h.App.Cancel(ctx, ap.Reference, "resident"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cancellation letter", 20*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM letters WHERE kind = 'cancellation' AND status = 'sent'`) == 1
	})
	var changedID string
	for _, l := range w.letters(t, ap.Reference) {
		if l.Kind == "changed" {
			changedID = l.PingenID
		}
	}
	pdf, _ := w.sim.LetterPDF(changedID)
	text := pdfText(t, pdf)
	for _, want := range []string{letter.GermanDate(ap.Doses[0].Start.In(w.h.Loc)), letter.GermanDate(moved.Doses[0].Start.In(w.h.Loc)), "Ihre neuen Termine"} {
		if !strings.Contains(text, want) {
			t.Errorf("the changed letter lacks %q:\n%s", want, text)
		}
	}
	if n := len(w.sim.Letters()); n != 3 {
		t.Errorf("%d letters printed, want 3 (confirmation, change, cancellation)", n)
	}
}

// TestForgedCancellationSendsNoLetter: an appointment.cancelled for an
// appointment that is still booked, written straight to the topic by the
// tester, makes the print service receive nothing: the sender re-reads the
// appointment from the core before it sends, finds it booked, and skips the
// letter. A real cancellation afterwards is still sent.
func TestForgedCancellationSendsNoLetter(t *testing.T) {
	w := newWorld(t, options{})
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	w.waitStatus(t, ap.Reference, lettersvc.StatusSent, 20*time.Second)
	printed := len(w.sim.Letters())

	forged := domain.CancelledEvent(ap, "resident", "forged", w.h.Clock.Now())
	if err := w.bus.Schemas.ValidateMessage(forged.JSON()); err != nil {
		t.Fatalf("the forged event is not schema-valid, so it proves nothing: %v", err)
	}
	if err := w.bus.Publisher.Publish(ctx, bus.Message{Topic: forged.Topic(), Key: forged.Subject, Value: forged.JSON()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forged cancellation to be handled", 20*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM letters WHERE kind = 'cancellation' AND status IN ('skipped', 'sent', 'failed')`) == 1
	})
	if n := w.h.Count(t, `SELECT count(*) FROM letters WHERE kind = 'cancellation' AND status = 'skipped'`); n != 1 {
		t.Fatalf("the forged cancellation's letter was not skipped: %+v", w.letters(t, ap.Reference))
	}
	if n := len(w.sim.Letters()); n != printed {
		t.Fatalf("%d letters reached the print service after a forged cancellation, want %d", n, printed)
	}
	still, err := w.h.App.Appointment(ctx, ap.Reference)
	if err != nil || still.Status != domain.SeriesBooked {
		t.Fatalf("appointment after the forged event: %+v, %v; want still booked", still, err)
	}
}

// TestRedeliveredEventChangesNothing hands the same event to the handler
// twice, as Kafka may after a rebalance: one letter.
func TestRedeliveredEventChangesNothing(t *testing.T) {
	w := newWorld(t, options{noSenders: true})
	ap := w.book(t, "Zoë Nguyễn-Ćosić Weiß")
	ev := domain.BookedEvent(ap, "corr", w.h.Clock.Now())
	msg := bus.Message{Topic: ev.Topic(), Key: ev.Subject, Value: ev.JSON()}
	for range 3 {
		if err := w.conn.Handle(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the relayed booking to be consumed too", 10*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM processed_events WHERE consumer = 'print'`) == 2
	})
	if n := w.h.Count(t, `SELECT count(*) FROM letters`); n != 1 {
		t.Fatalf("%d letters for one booking delivered four times, want 1", n)
	}
}

// TestThroughput books many residents, then renders and submits their
// letters with four senders, and reports how fast that goes.
func TestThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("throughput measurement")
	}
	w := newWorld(t, options{noSenders: true})
	const n = 40
	for i := range n {
		w.book(t, "Zoë Nguyễn-Ćosić"+strings.Repeat("a", i%5)+" Weiß")
	}
	waitFor(t, "all letters queued", 30*time.Second, func() bool {
		return w.h.Count(t, `SELECT count(*) FROM letters`) == n
	})
	start := time.Now()
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				sent, err := w.conn.SendOne(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if !sent {
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	rendered, mean := w.conn.RenderStats()
	t.Logf("%d letters (3 pages each) rendered and submitted over HTTP in %v: %.1f letters/s with 4 senders on %d CPUs; mean render time %v over %d renders",
		n, el.Round(time.Millisecond), float64(n)/el.Seconds(), runtime.NumCPU(), mean.Round(100*time.Microsecond), rendered)
	if got := w.h.Count(t, `SELECT count(*) FROM letters WHERE pingen_letter_id IS NOT NULL`); got != n || len(w.sim.Letters()) != n {
		t.Errorf("%d letters submitted, %d at the print service, want %d", got, len(w.sim.Letters()), n)
	}
}

// TestLetterQueuedBeforeTheJobQueueIsSent: a pending letter written by the
// connector before sending moved to the job queue (a row without a job) is
// given its job when the connector is built, and sent.
func TestLetterQueuedBeforeTheJobQueueIsSent(t *testing.T) {
	w := newWorld(t, options{noSenders: true})
	ap := w.book(t, "Erika Mustermann", func(r *domain.Resident) { r.Email = "erika@example.org" }) // no letter of its own
	if _, err := w.h.Pool.Exec(ctx, `INSERT INTO letters (id, kind, reference, resident_id, idempotency_key, trigger)
		VALUES (gen_random_uuid(), 'confirmation', $1, $2, 'booked:'||$1, 'appointment.booked')`, ap.Reference, ap.ResidentID); err != nil {
		t.Fatal(err)
	}
	if sent, err := w.conn.SendOne(ctx); err != nil || sent {
		t.Fatalf("a letter without a job was sent (%v, %v): the test proves nothing", sent, err)
	}
	again, err := lettersvc.New(lettersvc.Config{Pool: w.h.Pool, App: w.h.App, Logger: testLogger(),
		Pingen: lettersvc.PingenConfig{BaseURL: w.simURL, ClientID: "sim", ClientSecret: "sim", Organisation: w.sim.Organisation(), WebhookSecret: "whsec"}})
	if err != nil {
		t.Fatal(err)
	}
	if sent, err := again.SendOne(ctx); err != nil || !sent {
		t.Fatalf("after New: sent=%v, %v; want the old letter sent", sent, err)
	}
	if l := w.letters(t, ap.Reference); len(l) != 1 || l[0].PingenID == "" || l[0].Attempts != 1 {
		t.Fatalf("letters %+v, want the one letter submitted on its first attempt", l)
	}
	if _, err := lettersvc.New(lettersvc.Config{Pool: w.h.Pool, App: w.h.App, Logger: testLogger(),
		Pingen: lettersvc.PingenConfig{BaseURL: w.simURL, ClientID: "sim", ClientSecret: "sim", Organisation: w.sim.Organisation(), WebhookSecret: "whsec"}}); err != nil {
		t.Fatal(err)
	}
	if n := w.h.Count(t, `SELECT count(*) FROM jobs WHERE kind = 'print.letter'`); n != 1 {
		t.Errorf("%d jobs for one letter after a second start, want 1", n)
	}
}
