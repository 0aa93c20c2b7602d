package hotline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/simulators/caller"
)

// steps returns the (step, result) pairs of the call's call.step events.
func steps(evs []map[string]any) [][2]string {
	var out [][2]string
	for _, e := range evs {
		if e["type"] == EventCallStep {
			d := e["data"].(map[string]any)
			out = append(out, [2]string{d["step"].(string), d["result"].(string)})
		}
	}
	return out
}

func hasStep(evs []map[string]any, step, result string) bool {
	for _, s := range steps(evs) {
		if s == [2]string{step, result} {
			return true
		}
	}
	return false
}

// A caller whose registration number the attempt ledger locked (after
// failures on another channel) hears that the IVR cannot continue, even
// with the right date of birth, and is offered an agent; two wrong dates by
// registration number lock the resident for the portal's reference too.
func TestLockedCallerIsRefusedAndOfferedAnAgent(t *testing.T) {
	t.Parallel()
	full, err := LoadPrompts()
	if err != nil {
		t.Fatal(err)
	}
	l := startIVR(t, nil, func(c *Config) { c.prompts = full.shortened(300 * time.Millisecond) }) // the path, not the audio, is under test
	l.hub.Saxony(t, 60)
	birth := domain.Date{Year: 1940, Month: 5, Day: 1}
	reg := l.hub.Resident(t, birth)
	ap, err := l.hub.App.Book(context.Background(), app.BookingInput{Staff: true, ResidentID: reg.Resident.ID, CentreID: "riesa"})
	if err != nil {
		t.Fatal(err)
	}
	num, _ := RegistrationNumber(reg.Resident.ID)
	web := app.WithChannel(context.Background(), app.ChannelWeb)
	for i := range 3 {
		_, _ = l.hub.App.VerifyHolder(web, ap.Reference, domain.Date{Year: 1940, Month: 6, Day: 1 + i})
	}
	// Two wrong dates by registration number: the 5th failure on the resident.
	res := dial(t, l, caller.Config{KeyGap: 60 * time.Millisecond},
		"wait 500ms, press 3, wait 300ms, enter "+num+"#, wait 300ms, enter 02051940, wait 1500ms, enter "+num+"#, wait 300ms, enter 03051940")
	if !res.RemoteHangup {
		t.Fatalf("call: %+v, want the IVR to hang up", res)
	}
	out, evs := l.outcome(t)
	if out != outcomeAgent || !hasStep(evs, "identify", "no-match") || !hasStep(evs, "identify", "locked") || !hasStep(evs, "agent", "unavailable") {
		t.Fatalf("outcome %q, steps %v; want no-match, locked, then the agent (none configured)", out, steps(evs))
	}
	if _, err := l.hub.App.VerifyHolder(web, ap.Reference, birth); !errors.Is(err, domain.ErrLocked) {
		t.Fatalf("portal after the phone's failures: %v, want locked", err)
	}
	var callID string
	if err := l.hub.Pool.QueryRow(context.Background(), `SELECT correlation_id FROM attempt_log WHERE channel = 'phone' AND outcome = 'locked'`).Scan(&callID); err != nil || callID != evs[0]["subject"] {
		t.Errorf("audited lock by phone: call %q (%v), want the call's ID %v", callID, err, evs[0]["subject"])
	}
}
