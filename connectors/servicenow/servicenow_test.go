package servicenow

import (
	"bytes"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/simulators/faults"
)

// vacc is a vaccination as a team's device records it.
func vacc(resident, b, task string, at time.Time, local string) map[string]any {
	return map[string]any{"resident": resident, "product": "comirnaty", "batch": b, "dose_number": 1,
		"vaccinator": "Dr. Anke Winkler", "task": task, "administered_at": snTimeOf(at), "local_id": local}
}

func TestPlannedCampaignBecomesAWorkOrderWithTasksAndFollowsChanges(t *testing.T) {
	e := newEnv(t)
	e.startConnector(e.config())
	roster := e.residents(6)
	c := e.plan(roster[:4], 4)

	taskID := e.taskOf(c)
	orders := e.snGet("wm_order", "descriptionSTARTSWITH"+OrderKey(c.ID))
	if len(orders) != 1 {
		t.Fatalf("work orders for the campaign: %d, want 1", len(orders))
	}
	o := orders[0]
	groups := e.snGet("sys_user_group", "u_code="+team)
	teamID := groups[0]["sys_id"].(string)
	if o["u_care_home"] != careHome || o["u_campaign_date"] != "2021-01-07" || o["u_doses"] != "4" || o["u_residents"] != "4" ||
		ref(o["assignment_group"]) != teamID {
		t.Errorf("work order: %v", o)
	}
	tasks := e.snGet("wm_task", "parent="+o["sys_id"].(string))
	if len(tasks) != 1 || tasks[0]["sys_id"] != taskID {
		t.Fatalf("tasks of the order: %v", tasks)
	}
	if tasks[0]["u_planned_start"] != "2021-01-07 08:00:00" || tasks[0]["u_doses"] != "4" || ref(tasks[0]["assignment_group"]) != teamID {
		t.Errorf("visit task: %v", tasks[0])
	}

	// The roster grows and the date moves: the same order and task change.
	next := domain.Date{Year: 2021, Month: time.January, Day: 8}
	c2, err := e.mobile.ChangeMobileCampaign(ctx, c.ID, app.MobileCampaignChange{AddToRoster: roster[4:], Day: next,
		Doses: map[domain.ProductID]int{domain.Comirnaty: 6}})
	if err != nil || c2.Version != 2 {
		t.Fatalf("change: %+v, %v", c2, err)
	}
	waitFor(t, "the moved visit in the planner", 20*time.Second, func() bool {
		ts := e.snGet("wm_task", "sys_id="+taskID)
		os := e.snGet("wm_order", "sys_id="+o["sys_id"].(string))
		return len(ts) == 1 && ts[0]["u_planned_start"] == "2021-01-08 08:00:00" && ts[0]["u_doses"] == "6" &&
			len(os) == 1 && os[0]["u_campaign_date"] == "2021-01-08" && os[0]["u_residents"] == "6" && os[0]["u_staff"] == "0" && os[0]["u_doses"] == "6"
	})
	if n := len(e.snGet("wm_order", "descriptionSTARTSWITH"+OrderKey(c.ID))); n != 1 {
		t.Errorf("work orders after the change: %d, want 1", n)
	}
	if n := len(e.snGet("wm_task", "descriptionSTARTSWITH"+TaskKey(c.ID))); n != 1 {
		t.Errorf("tasks after the change: %d, want 1", n)
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE event_type = 'mobile.transfer-requested' AND key = $1`, c.ID); n != 2 {
		t.Errorf("transfer requests: %d, want 2 (one per version)", n)
	}

	// The dispatcher moves the task; the poller brings the state home.
	e.admin(http.MethodPost, "/_sim/dispatch", map[string]any{}, nil)
	waitFor(t, "the planner's state in the core", 20*time.Second, func() bool {
		got, err := e.mobile.MobileCampaign(ctx, c.ID)
		return err == nil && got.Status == "scheduled"
	})
}

func ref(v any) string {
	if m, ok := v.(map[string]any); ok {
		s, _ := m["value"].(string)
		return s
	}
	s, _ := v.(string)
	return s
}

func TestOfflineBurstOf60VaccinationsReachesReportingExactlyOnce(t *testing.T) {
	e := newEnv(t)
	watch := e.watchDoseEvents()
	e.startConnector(e.config())
	roster := e.residents(60)
	c := e.plan(roster, 60)
	e.issue("311-4900000001-1", batch, 60)
	taskID := e.taskOf(c)

	e.admin(http.MethodPost, "/_sim/devices/"+team+"/offline", nil, nil)
	// Recorded over the visit; the device sends them in the order they were
	// typed, which is not the order they were given.
	start := time.Date(2021, 1, 7, 8, 0, 0, 0, time.UTC)
	var batchOf []map[string]any
	for i, r := range roster {
		at := start.Add(time.Duration((i*37)%60) * 3 * time.Minute)
		batchOf = append(batchOf, vacc(r.ResidentID, batch, taskID, at, fmt.Sprintf("%s-%06d", team, i+1)))
	}
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/vaccinations", batchOf, nil)
	e.sim.Advance(6 * time.Hour)
	if n := len(e.snGet("u_vaccination", "u_task="+taskID)); n != 0 {
		t.Fatalf("an offline device's doses are in the planner before the sync: %d", n)
	}
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/sync", map[string]any{}, nil)

	waitFor(t, "60 counted doses", 30*time.Second, func() bool {
		return e.count(`SELECT count(*) FROM mobile_doses WHERE status = 'accepted'`) == 60
	})
	if got := e.progressDoses(); got != 60 {
		t.Errorf("Progress doses: %d, want 60", got)
	}
	// Counted in the order they were given.
	var order []time.Time
	rows, err := e.h.Pool.Query(ctx, `SELECT administered_at FROM mobile_doses ORDER BY recorded_at, record_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var at time.Time
		if err := rows.Scan(&at); err != nil {
			t.Fatal(err)
		}
		order = append(order, at)
	}
	if !slices.IsSortedFunc(order, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Errorf("doses were not counted in the order they were given")
	}
	waitFor(t, "60 dose events on the bus", 30*time.Second, func() bool { return watch.distinct() == 60 })

	// Redelivery: the poller forgets where it was and reads the burst again.
	if _, err := e.h.Pool.Exec(ctx, `DELETE FROM servicenow_cursor; DELETE FROM servicenow_seen`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the burst read again", 20*time.Second, func() bool {
		return e.count(`SELECT count(*) FROM servicenow_seen WHERE tbl = 'u_vaccination'`) == 60
	})
	time.Sleep(300 * time.Millisecond)
	if n := e.count(`SELECT count(*) FROM outbox WHERE event_type = 'appointment.dose-administered'`); n != 60 {
		t.Errorf("dose-administered events: %d, want 60", n)
	}
	if got := e.progressDoses(); got != 60 {
		t.Errorf("Progress doses after redelivery: %d, want 60", got)
	}
	if watch.distinct() != 60 {
		t.Errorf("distinct dose events on the bus: %d, want 60", watch.distinct())
	}
	watch.mu.Lock()
	for ref, n := range watch.refs {
		if n != 1 && !domain.ValidReference(ref) {
			t.Errorf("reference %s: %d events", ref, n)
		}
	}
	watch.mu.Unlock()
	if n := e.count(`SELECT count(*) FROM mobile_doses WHERE status <> 'accepted'`); n != 0 {
		t.Errorf("held or rejected: %d", n)
	}
}

func TestConflictsAreHeldForReviewWithAReason(t *testing.T) {
	e := newEnv(t)
	cn := e.connector(e.config())
	if err := cn.CheckStates(ctx); err != nil {
		t.Fatalf("the planner's task states: %v", err)
	}
	roster := e.residents(4)
	c := e.plan(roster[:3], 3)
	e.issue("issue-mt19", batch, 10)
	if _, err := e.mobile.RecordTeamIssue(ctx, app.TeamIssue{ID: "issue-mt20", Team: "MT20", Day: visitDay, Product: domain.Comirnaty, Batch: "EK1234", Doses: 10}); err != nil {
		t.Fatal(err)
	}
	if err := cn.SyncCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	taskID := e.taskOf(c)
	at := time.Date(2021, 1, 7, 9, 0, 0, 0, time.UTC)
	r := func(i int) string { return roster[i].ResidentID }
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/vaccinations", []map[string]any{
		vacc(r(0), batch, taskID, at, "MT19-000001"),
		vacc(r(0), batch, taskID, at.Add(time.Hour), "MT19-000002"),         // the same person again that day
		vacc(r(1), "XX9999", taskID, at.Add(10*time.Minute), "MT19-000003"), // a batch nobody knows
		vacc(r(2), "EK1234", taskID, at.Add(20*time.Minute), "MT19-000004"), // another team's batch
		vacc(r(3), batch, taskID, at.Add(30*time.Minute), "MT19-000005"),    // not on the roster
	}, nil)
	st, err := cn.PollOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Held != 4 {
		t.Errorf("poll: %+v, want 4 held", st)
	}
	if n := e.count(`SELECT count(*) FROM mobile_doses WHERE status = 'accepted'`); n != 1 {
		t.Errorf("counted doses: %d, want 1", n)
	}
	held, err := e.mobile.HeldFieldDoses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, h := range held {
		reasons[h.ResidentID+"/"+h.Batch] = h.Reason
		if h.Detail == "" {
			t.Errorf("held dose %s without a detail", h.RecordID)
		}
	}
	want := map[string]string{r(0) + "/" + batch: domain.HoldAlreadyVaccinatedToday, r(1) + "/XX9999": domain.HoldUnknownBatch,
		r(2) + "/EK1234": domain.HoldBatchNotIssuedToTeam, r(3) + "/" + batch: domain.HoldNotOnRoster}
	for k, w := range want {
		if reasons[k] != w {
			t.Errorf("%s: held as %q, want %q (all: %v)", k, reasons[k], w, reasons)
		}
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE event_type = 'appointment.dose-administered'`); n != 1 {
		t.Errorf("dose events: %d, want 1 (held doses emit nothing)", n)
	}

	// A conflicting edit: offline, the team corrects the batch of the dose
	// already counted; it arrives with the sync and is held, not applied.
	first := e.snGet("u_vaccination", "u_local_id=MT19-000001")[0]
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/offline", nil, nil)
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/edits", map[string]any{"table": "u_vaccination", "sys_id": first["sys_id"],
		"fields": map[string]any{"u_batch": "EJ6796"}}, nil)
	e.sim.Advance(time.Hour)
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/sync", map[string]any{}, nil)
	if _, err := cn.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	edits, err := e.mobile.FieldDoseEdits(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(edits) != 1 || edits[0].RecordID != first["sys_id"] || edits[0].Reason != domain.HoldEditedAfterRecording || fmt.Sprint(edits[0].Changes["batch"]) != "map[now:EJ6796 was:EJ6701]" {
		t.Fatalf("held edits: %+v", edits)
	}
	var stored string
	if err := e.h.Pool.QueryRow(ctx, `SELECT batch FROM mobile_doses WHERE record_id = $1`, first["sys_id"]).Scan(&stored); err != nil || stored != batch {
		t.Errorf("counted dose's batch: %q, %v; the edit must not be applied by itself", stored, err)
	}

	// Staff decide: the other team's batch was handed over on the spot.
	var held2 string
	for _, h := range held {
		if h.Reason == domain.HoldBatchNotIssuedToTeam {
			held2 = h.RecordID
		}
	}
	res, err := e.mobile.DecideHeldFieldDose(ctx, held2, true, "staff-7")
	if err != nil || res.Status != "accepted" || !domain.ValidReference(res.Reference) {
		t.Fatalf("accept held dose: %+v, %v", res, err)
	}
	if got := e.progressDoses(); got != 2 {
		t.Errorf("Progress doses: %d, want 2", got)
	}

	// Reconciliation shows what was transferred, given and held.
	var out bytes.Buffer
	if err := ReconcileMobileMain(ctx, Deps{Mobile: e.mobile}, []string{"--from", "2021-01-07", "--to", "2021-01-07", "--all"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "MT19") || !strings.Contains(out.String(), "MT20") {
		t.Errorf("reconcile output:\n%s", out.String())
	}
}

func TestPlannerOutageWith429And5xxLosesNothing(t *testing.T) {
	e := newEnv(t)
	watch := e.watchDoseEvents()
	roster := e.residents(20)
	e.issue("issue-1", batch, 40)
	// The planner's own rate limit (X-RateLimit-*, Retry-After) and injected
	// 5xx, 429 and a short outage.
	e.admin(http.MethodPost, "/_sim/rate-limit", map[string]any{"limit": 3, "users": map[string]int{"sim": 0}, "window": "1s"}, nil)
	if err := e.sim.Faults().Set(faults.Faults{Errors: &faults.Errors{Rate: 0.2, Status: 503},
		RateLimit: &faults.RateLimit{Every: 7, RetryAfter: 1}}); err != nil {
		t.Fatal(err)
	}
	cfg := e.config()
	e.startConnector(cfg)
	var camps []*domain.MobileCampaign
	for i := range 3 {
		camps = append(camps, e.plan(roster[i*5:(i+1)*5], 5))
	}
	if err := e.sim.Faults().Merge(faults.Faults{Outage: &faults.Outage{Duration: faults.Duration(1500 * time.Millisecond)}}); err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for _, c := range camps {
		tasks = append(tasks, e.taskOf(c))
	}
	var vs []map[string]any
	at := time.Date(2021, 1, 7, 8, 0, 0, 0, time.UTC)
	for i := range 15 {
		vs = append(vs, vacc(roster[i].ResidentID, batch, tasks[i/5], at.Add(time.Duration(i)*time.Minute), fmt.Sprintf("MT19-%06d", i+1)))
	}
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/vaccinations", vs, nil)
	waitFor(t, "15 counted doses through the faults", 40*time.Second, func() bool {
		return e.count(`SELECT count(*) FROM mobile_doses WHERE status = 'accepted'`) == 15
	})
	e.sim.Faults().Clear()
	waitFor(t, "15 dose events", 20*time.Second, func() bool { return watch.distinct() == 15 })
	for _, c := range camps {
		if n := len(e.snGet("wm_order", "descriptionSTARTSWITH"+OrderKey(c.ID))); n != 1 {
			t.Errorf("campaign %s: %d work orders, want 1", c.ID, n)
		}
		if n := len(e.snGet("wm_task", "descriptionSTARTSWITH"+TaskKey(c.ID))); n != 1 {
			t.Errorf("campaign %s: %d tasks, want 1", c.ID, n)
		}
	}
	if n := e.count(`SELECT count(*) FROM outbox WHERE event_type = 'appointment.dose-administered'`); n != 15 {
		t.Errorf("dose events: %d, want 15", n)
	}
	if got := e.progressDoses(); got != 15 {
		t.Errorf("Progress doses: %d, want 15", got)
	}
	if e.answers.rateLimited.Load() == 0 || e.answers.errors.Load() == 0 {
		t.Errorf("the planner answered %d rate-limit 429s and %d 5xx: the faults did not bite", e.answers.rateLimited.Load(), e.answers.errors.Load())
	}
	t.Logf("planner answered %d 429s with X-RateLimit-*, %d 5xx; injected: %+v", e.answers.rateLimited.Load(), e.answers.errors.Load(), e.sim.Faults().Stats())
}

func TestOfflineBurstIsCountedInTheOrderTheDosesWereGiven(t *testing.T) {
	e := newEnv(t)
	cn := e.connector(e.config())
	roster := e.residents(1)
	c := e.plan(roster, 1)
	e.issue("issue-1", batch, 6)
	if err := cn.SyncCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	taskID := e.taskOf(c)
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/offline", nil, nil)
	// Typed first: a dose at 11:00 by mistake for the same person; typed
	// second: the dose really given at 09:00.
	r := roster[0].ResidentID
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/vaccinations", []map[string]any{
		vacc(r, batch, taskID, time.Date(2021, 1, 7, 10, 0, 0, 0, time.UTC), "MT19-000001"),
		vacc(r, batch, taskID, time.Date(2021, 1, 7, 8, 0, 0, 0, time.UTC), "MT19-000002"),
	}, nil)
	e.sim.Advance(5 * time.Hour)
	e.admin(http.MethodPost, "/_sim/devices/"+team+"/sync", map[string]any{}, nil)
	if _, err := cn.PollOnce(ctx); err != nil {
		t.Fatal(err)
	}
	var accepted, held time.Time
	if err := e.h.Pool.QueryRow(ctx, `SELECT (SELECT administered_at FROM mobile_doses WHERE status = 'accepted'),
		(SELECT administered_at FROM mobile_doses WHERE status = 'held' AND reason = $1)`, domain.HoldAlreadyVaccinatedToday).Scan(&accepted, &held); err != nil {
		t.Fatal(err)
	}
	if accepted.UTC().Hour() != 8 || held.UTC().Hour() != 10 {
		t.Errorf("counted the dose of %v and held %v; want the earlier one counted", accepted.UTC(), held.UTC())
	}
}
