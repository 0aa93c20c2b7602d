package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/connectors/hotline"
	"github.com/vaxhub/vaxhub/core/app"
	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/simulators/caller"
)

// hotlineEnv clears what the environment could add to `vaxhub hotline`'s
// configuration and sets a data key (the command requires one, as `vaxhub hub`).
func hotlineEnv(t *testing.T) {
	for _, k := range []string{"VAXHUB_CONFIG", "VAXHUB_REQUIRE_VERIFICATION", "VAXHUB_HOTLINE_ADDR", "VAXHUB_HOTLINE_AGENTS", "VAXHUB_DEV_TOKEN", "VAXHUB_TIME_ZONE"} {
		t.Setenv(k, "")
	}
	t.Setenv("VAXHUB_DATA_KEY", strings.Repeat("ab", 32))
}

// TestHotlineAloneRefusesAnUnverifiedCallersBooking: `vaxhub hotline`
// (buildHotline, what cmdHotline serves) builds its core as `vaxhub hub`
// does, so a caller whom the register has not verified hears the refusal
// (step book, refused, not-verified) and books nothing; once verified, the
// same call books. Call events reach the outbox through the core. Before,
// hotline.Main built a core without the verification store and booked.
func TestHotlineAloneRefusesAnUnverifiedCallersBooking(t *testing.T) {
	hotlineEnv(t)
	port, err := freeUDPTCPPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h, err := buildHotline(ctx, []string{"-database-url", storetest.NewDatabase(t), "-addr", addr, "-transports", "udp",
		"-first-digit-timeout", "3s", "-inter-digit-timeout", "2s"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer h.parts.pool.Close()
	if !h.cfg.requireVerification() {
		t.Fatal("verification is not required by default")
	}
	h.cfg.SlotDays = 60 // dose 2 of a two-dose product must fit
	if _, err := loadCampaign(ctx, h.cfg, h.parts, log); err != nil {
		t.Fatal(err)
	}
	stop, err := h.ivr.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	a := h.parts.app
	r, err := a.RegisterResident(ctx, app.Registration{Resident: domain.Resident{GivenNames: "Zoë", FamilyName: "Nguyễn",
		BirthDate: domain.Date{Year: 1940, Month: 5, Day: 1}, Sex: domain.SexFemale,
		Address: domain.Address{Street: "Hauptstraße 1", PostalCode: "01587", City: "Riesa", MunicipalityKey: "14627230"}}})
	if err != nil {
		t.Fatal(err)
	}
	num, ok := hotline.RegistrationNumber(r.Resident.ID)
	if !ok {
		t.Fatalf("no registration number for %s", r.Resident.ID)
	}
	seen := map[string]bool{} // call IDs of earlier calls
	call := func() (string, []map[string]any) {
		t.Helper()
		steps, err := caller.ParseScript("wait 500ms, press 1, wait 300ms, enter " + num + "#, wait 300ms, enter 01051940#, wait 1500ms, press 1, wait 2s, hangup")
		if err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithTimeout(ctx, 60*time.Second)
		defer ccancel()
		res, err := caller.Call(cctx, caller.Config{Target: "sip:116117@" + addr, DTMF: caller.DTMFInfo, KeyGap: 20 * time.Millisecond, WaitEnd: 10 * time.Second}, steps)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Answered {
			t.Fatalf("call not answered: %+v", res)
		}
		return lastCallSteps(t, h, seen)
	}
	booked := func() int {
		var n int
		if err := h.parts.pool.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE event_type = 'appointment.booked' AND payload->'data'->>'resident_id' = $1`, r.Resident.ID).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	outcome, steps := call()
	if !hasStep(steps, "book", "refused", "not-verified") {
		t.Fatalf("unverified caller: outcome %q, steps %v; want step book refused not-verified", outcome, steps)
	}
	if n := booked(); n != 0 {
		t.Fatalf("unverified caller booked %d times", n)
	}

	if _, err := a.VerifyByHand(ctx, r.Resident.ID, "test", "ID card seen"); err != nil {
		t.Fatal(err)
	}
	outcome, steps = call()
	if !hasStep(steps, "book", "booked", "") {
		t.Fatalf("verified caller: outcome %q, steps %v; want step book booked", outcome, steps)
	}
	if n := booked(); n != 1 {
		t.Fatalf("verified caller: %d appointment.booked events, want 1", n)
	}
}

// lastCallSteps waits for the call.ended of a call not in seen, adds it to
// seen and returns its outcome and its call.step data.
func lastCallSteps(t *testing.T, h *standaloneHotline, seen map[string]bool) (string, []map[string]any) {
	t.Helper()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var callID, outcome string
		err := h.parts.pool.QueryRow(ctx, `SELECT key, payload->'data'->>'outcome' FROM outbox WHERE event_type = 'call.ended' ORDER BY id DESC LIMIT 1`).Scan(&callID, &outcome)
		if err != nil || seen[callID] {
			continue // not ended yet
		}
		seen[callID] = true
		rows, err := h.parts.pool.Query(ctx, `SELECT payload->'data' FROM outbox WHERE event_type = 'call.step' AND key = $1 ORDER BY id`, callID)
		if err != nil {
			t.Fatal(err)
		}
		var steps []map[string]any
		for rows.Next() {
			var b []byte
			if err := rows.Scan(&b); err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			steps = append(steps, m)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return outcome, steps
	}
	t.Fatal("no call.ended event in the outbox")
	return "", nil
}

func hasStep(steps []map[string]any, step, result, refusal string) bool {
	for _, s := range steps {
		code, _ := s["refusal_code"].(string)
		if s["step"] == step && s["result"] == result && code == refusal {
			return true
		}
	}
	return false
}

// TestHotlineAloneRefusesAMissingDataKey: like `vaxhub hub`, the hotline
// alone needs the data key, and names it.
func TestHotlineAloneRefusesAMissingDataKey(t *testing.T) {
	hotlineEnv(t)
	t.Setenv("VAXHUB_DATA_KEY", "")
	err := dispatch(context.Background(), []string{"hotline", "-database-url", "postgres://nobody@127.0.0.1:1/none"})
	if err == nil || !strings.Contains(err.Error(), "VAXHUB_DATA_KEY") {
		t.Fatalf("got %v, want a refusal naming VAXHUB_DATA_KEY", err)
	}
}
