package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/connectors/jobs"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestTriggersFollowTheCoreClock: a reminder for the day before a dose at
// 18:00 does not fire today, fires once when the clock passes it; moving the
// appointment moves it; cancelling removes it.
func TestTriggersFollowTheCoreClock(t *testing.T) {
	pool := newPool(t, storetest.NewDatabase(t))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2021, 4, 12, 9, 0, 0, 0, berlin)}
	sched := newQueue(t, pool, jobs.Config{Clock: clk, PollInterval: 20 * time.Millisecond})
	var seen runs
	payloads := map[string]string{}
	sched.Handle("reminder", func(_ context.Context, a jobs.Attempt) error {
		seen.add(a.Key)
		seen.mu.Lock()
		payloads[a.Key] = string(a.Payload)
		seen.mu.Unlock()
		return nil
	})
	run(t, sched)
	dayBefore := func(dose time.Time) time.Time {
		d := dose.In(berlin).AddDate(0, 0, -1)
		return time.Date(d.Year(), d.Month(), d.Day(), 18, 0, 0, 0, berlin)
	}
	remind := func(key string, dose time.Time) {
		t.Helper()
		p, _ := json.Marshal(map[string]string{"dose": dose.Format(time.RFC3339)})
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { // with the booking's own change
			return sched.Schedule(ctx, tx, jobs.Job{Kind: "reminder", Key: key, RunAt: dayBefore(dose), Payload: p})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	settle := func() { sched.Wake(); time.Sleep(250 * time.Millisecond) }
	doseA := time.Date(2021, 4, 14, 10, 30, 0, 0, berlin) // reminder 13 April 18:00
	doseB := time.Date(2021, 4, 14, 11, 0, 0, 0, berlin)  // moved to 16 April: reminder 15 April 18:00
	doseC := time.Date(2021, 4, 14, 12, 0, 0, 0, berlin)  // cancelled
	remind("A", doseA)
	remind("B", doseB)
	remind("C", doseC)
	remind("B", doseB.AddDate(0, 0, 2)) // the appointment moved
	if ok, err := sched.Cancel(ctx, pool, "reminder", "C"); err != nil || !ok {
		t.Fatalf("cancel C: %v, %v", ok, err)
	}
	if ok, _ := sched.Cancel(ctx, pool, "reminder", "C"); ok {
		t.Error("cancelling twice found a trigger")
	}

	settle()
	clk.Advance(24*time.Hour + 8*time.Hour + 59*time.Minute) // 13 April 17:59
	settle()
	if n := seen.get("A"); n != 0 {
		t.Fatal("the reminder fired before 18:00 the day before")
	}
	clk.Advance(time.Minute) // 18:00
	waitFor(t, "A's reminder", 5*time.Second, func() bool { return seen.get("A") == 1 })
	settle()
	if seen.get("B") != 0 || seen.get("C") != 0 {
		t.Errorf("B (moved) or C (cancelled) fired at A's time: B %d, C %d", seen.get("B"), seen.get("C"))
	}
	clk.Advance(2 * 24 * time.Hour) // 15 April 18:00
	waitFor(t, "B's moved reminder", 5*time.Second, func() bool { return seen.get("B") == 1 })
	settle()
	if seen.get("A") != 1 || seen.get("B") != 1 || seen.get("C") != 0 {
		t.Errorf("fired A %d, B %d, C %d times; want 1, 1, 0", seen.get("A"), seen.get("B"), seen.get("C"))
	}
	seen.mu.Lock()
	if want := `"2021-04-16T11:00:00+02:00"`; !strings.Contains(payloads["B"], want) {
		t.Errorf("B fired with %s, want the moved dose %s", payloads["B"], want)
	}
	seen.mu.Unlock()
	// Moved again after its reminder went out: it fires again for the new time.
	remind("A", clk.Now().AddDate(0, 0, 3))
	clk.Advance(2 * 24 * time.Hour)
	waitFor(t, "A's reminder after A moved again", 5*time.Second, func() bool { return seen.get("A") == 2 })
}
