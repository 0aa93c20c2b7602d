package register_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/connectors/register"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

func TestVerifiedResidentBooks(t *testing.T) {
	w := newWorld(t)
	p := w.sample(t, 1, "")[0]
	reg := w.register(t, residentOf(t, p))

	// Before the register has answered, booking is refused.
	_, err := w.book(reg.Resident.ID)
	var ref *domain.Refusal
	if !errors.As(err, &ref) || ref.Code != "not-verified" || !errors.Is(err, domain.ErrNotEntitled) {
		t.Fatalf("booking before the verdict: %v, want refusal not-verified", err)
	}

	w.startBus(t)
	w.startConnector(t)
	v := w.verdict(t, reg.Resident.ID, 20*time.Second)
	if v.Status != domain.RegisterVerified || v.RegisterID != p.ID || v.Score < 0.99 || v.DecidedBy != domain.DecidedByRegister {
		t.Fatalf("verdict %+v, want verified as register person %s", v, p.ID)
	}
	if _, err := w.book(reg.Resident.ID); err != nil {
		t.Fatalf("verified resident cannot book: %v", err)
	}
	if n := w.events(t, "resident.verified", reg.Resident.ID); n != 1 {
		t.Errorf("%d resident.verified events, want 1", n)
	}
}

func TestDeceasedResidentIsRefusedWithTheReason(t *testing.T) {
	w := newWorld(t)
	p := w.sample(t, 1, "kind=deceased")[0]
	reg := w.register(t, residentOf(t, p))
	w.startBus(t)
	w.startConnector(t)
	v := w.verdict(t, reg.Resident.ID, 20*time.Second)
	if v.Status != domain.RegisterRejected || v.Reason != domain.RejectDeceased {
		t.Fatalf("verdict %+v, want rejected: deceased", v)
	}
	_, err := w.book(reg.Resident.ID)
	var ref *domain.Refusal
	if !errors.As(err, &ref) || ref.Code != "not-verified" || !strings.Contains(ref.Message, "verstorben") {
		t.Fatalf("booking: %v, want refusal not-verified saying the register records a death", err)
	}
	var reason string
	if err := w.Pool.QueryRow(ctx, `SELECT payload->'data'->>'reason' FROM outbox WHERE event_type = 'resident.rejected' AND key = $1`,
		reg.Resident.ID).Scan(&reason); err != nil || reason != domain.RejectDeceased {
		t.Fatalf("resident.rejected reason %q (%v), want deceased", reason, err)
	}
}

// TestVerdictsForTheAwkwardRegisterPersons covers the other outcomes: moved
// out of the state, unknown to the register, an address outside Saxony.
func TestVerdictsForTheAwkwardRegisterPersons(t *testing.T) {
	w := newWorld(t)
	moved := w.sample(t, 1, "kind=moved")[0]
	blocked := w.sample(t, 1, "kind=blocked")[0]
	known := w.sample(t, 2, "")
	cases := []struct {
		name   string
		r      domain.Resident
		status domain.RegisterStatus
		reason string
	}{
		{"moved out of the state", residentOf(t, moved), domain.RegisterRejected, domain.RejectNotResident},
		{"information block: never found", residentOf(t, blocked), domain.RegisterRejected, domain.RejectNotFound},
		{"invented person", func() domain.Resident {
			r := residentOf(t, known[0])
			r.FamilyName, r.GivenNames = "Xylofonowski", "Quirin"
			return r
		}(), domain.RegisterRejected, domain.RejectNotFound},
		{"umlauts typed as ae and oe still verify", func() domain.Resident {
			r := residentOf(t, known[1])
			r.FamilyName = strings.NewReplacer("ä", "ae", "ö", "oe", "ü", "ue", "ß", "ss").Replace(r.FamilyName)
			return r
		}(), domain.RegisterVerified, ""},
		{"address outside Saxony", func() domain.Resident {
			r := residentOf(t, known[0])
			r.Address = domain.Address{Street: "Marienplatz 8", PostalCode: "80331", City: "München", MunicipalityKey: "09162000"}
			return r
		}(), domain.RegisterRejected, domain.RejectOutsideState},
	}
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = w.register(t, c.r).Resident.ID
	}
	w.startBus(t)
	w.startConnector(t)
	for i, c := range cases {
		v := w.verdict(t, ids[i], 20*time.Second)
		if v.Status != c.status || v.Reason != c.reason {
			t.Errorf("%s: verdict %+v, want %s %s", c.name, v, c.status, c.reason)
		}
	}
}

func TestDuplicateRegistrationOfOneRegisterPersonIsRefusedAndFlagged(t *testing.T) {
	w := newWorld(t)
	p := w.sample(t, 1, "")[0]
	first := w.register(t, residentOf(t, p))
	w.startBus(t)
	w.startConnector(t)
	if v := w.verdict(t, first.Resident.ID, 20*time.Second); v.Status != domain.RegisterVerified {
		t.Fatalf("first registration: %+v", v)
	}
	// The same person registers again, typing the name in capitals and
	// only the first given name.
	again := residentOf(t, p)
	again.FamilyName = strings.ToUpper(again.FamilyName)
	again.GivenNames = p.Given[0]
	second := w.register(t, again)
	v := w.verdict(t, second.Resident.ID, 20*time.Second)
	if v.Status != domain.RegisterRejected || v.Reason != domain.RejectDuplicate || v.DuplicateOf != first.Resident.ID ||
		!slices.Contains(v.Flags, domain.FlagDuplicateRegisterPerson) {
		t.Fatalf("second registration: %+v, want rejected duplicate of %s, flagged", v, first.Resident.ID)
	}
	if _, err := w.book(second.Resident.ID); err == nil {
		t.Fatal("the duplicate registration could book")
	}
	if _, err := w.book(first.Resident.ID); err != nil {
		t.Fatalf("the first registration cannot book: %v", err)
	}
	var flags []string
	if err := w.Pool.QueryRow(ctx, `SELECT ARRAY(SELECT json_array_elements_text(payload->'data'->'flags')) FROM outbox
		WHERE event_type = 'resident.rejected' AND key = $1`, second.Resident.ID).Scan(&flags); err != nil ||
		!slices.Contains(flags, domain.FlagDuplicateRegisterPerson) {
		t.Fatalf("resident.rejected flags %v (%v)", flags, err)
	}
}

// TestDuplicatesRacingEachOtherLeaveOneVerified: many registrations of one
// register person decided at once; the unique index lets exactly one win.
func TestDuplicatesRacingEachOtherLeaveOneVerified(t *testing.T) {
	w := newWorld(t)
	p := w.sample(t, 1, "")[0]
	var ids []string
	for range 6 {
		ids = append(ids, w.register(t, residentOf(t, p)).Resident.ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Go(func() {
			if _, _, err := w.App.ApplyVerdict(ctx, id, domain.Verdict{Status: domain.RegisterVerified, RegisterID: p.ID, Score: 1}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := w.Count(t, `SELECT count(*) FROM resident_verifications WHERE status = 'verified'`); n != 1 {
		t.Fatalf("%d verified, want 1", n)
	}
	if n := w.Count(t, `SELECT count(*) FROM resident_verifications WHERE reason = 'duplicate'`); n != 5 {
		t.Fatalf("%d duplicates, want 5", n)
	}
}

func TestBurstOfRegistrationsFromOnePhoneIsFlagged(t *testing.T) {
	w := newWorld(t, func(c *app.Config) { c.BurstLimit = 2 })
	people := w.sample(t, 3, "")
	var ids []string
	for _, p := range people {
		r := residentOf(t, p)
		r.Phone = "+49 351 4000000"
		ids = append(ids, w.register(t, r).Resident.ID)
	}
	w.startBus(t)
	w.startConnector(t)
	var verified, review int
	for _, id := range ids {
		v := w.verdict(t, id, 20*time.Second)
		switch {
		case v.Status == domain.RegisterVerified:
			verified++
		case v.Status == domain.RegisterNeedsReview && v.Reason == domain.ReviewBurst && slices.Contains(v.Flags, domain.FlagBurstPhone):
			review++
		default:
			t.Errorf("verdict %+v", v)
		}
	}
	// Counting is by registration time: the third registration is over the limit.
	if verified != 2 || review != 1 {
		t.Fatalf("%d verified, %d sent to review; want 2 and 1", verified, review)
	}
}

func TestStaffVerifiesByHandAndItIsAudited(t *testing.T) {
	w := newWorld(t)
	r := residentOf(t, w.sample(t, 1, "")[0])
	r.FamilyName = "Xylofonowski" // the register does not know this spelling
	reg := w.register(t, r)
	w.startBus(t)
	w.startConnector(t)
	if v := w.verdict(t, reg.Resident.ID, 20*time.Second); v.Status != domain.RegisterRejected {
		t.Fatalf("verdict %+v, want rejected", v)
	}
	staffOf := func(r *http.Request) (string, bool) {
		if r.Header.Get("Authorization") == "Bearer staff-token" {
			return "Schwester Erika", true
		}
		return "", false
	}
	mux := http.NewServeMux()
	mux.Handle(register.VerificationPath, register.StaffHandler(w.App, staffOf, testLogger()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	post := func(token, body string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/residents/"+reg.Resident.ID+"/verification", bytes.NewBufferString(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := post("", `{"note":"Personalausweis geprüft"}`); s != http.StatusForbidden {
		t.Fatalf("without staff token: %d", s)
	}
	if s := post("staff-token", `{"note":""}`); s != http.StatusBadRequest {
		t.Fatalf("without note: %d", s)
	}
	if s := post("staff-token", `{"note":"Personalausweis geprüft, Name im Register anders geschrieben"}`); s != http.StatusOK {
		t.Fatalf("staff verification: %d", s)
	}
	v, err := w.App.Verification(ctx, reg.Resident.ID)
	if err != nil || v.Status != domain.RegisterVerified || v.DecidedBy != "Schwester Erika" {
		t.Fatalf("after staff verification: %+v %v", v, err)
	}
	log, err := w.Store.VerificationLog(ctx, reg.Resident.ID)
	if err != nil || len(log) != 2 || log[1].DecidedBy != "Schwester Erika" || !strings.Contains(log[1].Note, "Personalausweis") || log[1].At.IsZero() {
		t.Fatalf("audit log %+v %v", log, err)
	}
	var method string
	if err := w.Pool.QueryRow(ctx, `SELECT payload->'data'->>'method' FROM outbox WHERE event_type = 'resident.verified' AND key = $1`,
		reg.Resident.ID).Scan(&method); err != nil || method != "staff" {
		t.Fatalf("resident.verified method %q %v", method, err)
	}
	if _, err := w.book(reg.Resident.ID); err != nil {
		t.Fatalf("verified by hand, cannot book: %v", err)
	}
}

func TestRegisterOutageDelaysVerdictsAndLosesNone(t *testing.T) {
	w := newWorld(t)
	people := w.sample(t, 20, "")
	w.startBus(t)
	w.startConnector(t)
	// Warm up: the register answers.
	first := w.register(t, residentOf(t, people[0]))
	if v := w.verdict(t, first.Resident.ID, 20*time.Second); v.Status != domain.RegisterVerified {
		t.Fatalf("warm-up: %+v", v)
	}
	const outage = 4 * time.Second
	if err := w.sim.Faults().Set(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(outage)}}); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	var ids []string
	for _, p := range people[1:] {
		ids = append(ids, w.register(t, residentOf(t, p)).Resident.ID)
	}
	time.Sleep(outage / 2)
	if n := w.Count(t, `SELECT count(*) FROM resident_verifications`); n != 1 {
		t.Fatalf("%d verdicts during the outage, want only the warm-up's", n)
	}
	for _, id := range ids {
		v := w.verdict(t, id, 60*time.Second)
		if v.Status != domain.RegisterVerified {
			t.Errorf("after the outage: %+v", v)
		}
	}
	took := time.Since(began)
	if took < outage {
		t.Errorf("verdicts within %v, before the outage ended", took)
	}
	if n := w.Count(t, `SELECT count(*) FROM outbox WHERE event_type = 'resident.verified'`); n != len(people) {
		t.Errorf("%d resident.verified events, want %d (one each)", n, len(people))
	}
	dls, err := bus.ListDLQ(ctx, w.kafka, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 0 {
		t.Errorf("dead letters during the outage: %+v", dls)
	}
	st := w.sim.Faults().Stats()
	t.Logf("all %d verdicts %v after the outage began (outage %v); register saw %d requests, %d cut by the outage",
		len(ids), took.Round(time.Millisecond), outage, st.Requests, st.Outage)
}

// TestRoundTripRegistrationToVerdict measures registration → verdict at a
// modest rate over the whole path (outbox, relay, broker, consumer, HTTP
// to the simulator, verdict transaction). It reports p50/p99; it asserts
// only that every registration got a verdict.
func TestRoundTripRegistrationToVerdict(t *testing.T) {
	if testing.Short() {
		t.Skip("measurement")
	}
	rate, seconds := 50, 4
	if r, err := strconv.Atoi(os.Getenv("REGISTER_RATE")); err == nil && r > 0 {
		rate = r // REGISTER_RATE=200: the target rate
	}
	w := newWorld(t)
	people := w.sample(t, rate*seconds, "")
	w.startBus(t)
	w.startConnector(t)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	ids := make([]string, 0, len(people))
	for _, p := range people {
		<-tick.C
		ids = append(ids, w.register(t, residentOf(t, p)).Resident.ID)
	}
	for _, id := range ids {
		w.verdict(t, id, 30*time.Second)
	}
	rows, err := w.Pool.Query(ctx, `SELECT extract(epoch FROM v.decided_at - r.registered_at) FROM resident_verifications v
		JOIN residents r ON r.id = v.resident_id`)
	if err != nil {
		t.Fatal(err)
	}
	var lat []float64
	for rows.Next() {
		var s float64
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		lat = append(lat, s*1000)
	}
	rows.Close()
	sort.Float64s(lat)
	pct := func(p float64) float64 { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("registration → verdict at %d/s for %d s (%d registrations): p50 %.1f ms, p99 %.1f ms, max %.1f ms",
		rate, seconds, len(lat), pct(0.5), pct(0.99), lat[len(lat)-1])
	if len(lat) != len(people) {
		t.Fatalf("%d verdicts, want %d", len(lat), len(people))
	}
}
