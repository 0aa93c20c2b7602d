package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestBenchHotlinePrintsTheSummary runs `vaxhub bench hotline` tiny: 20
// SIPp calls, 10 at once, with RTP and DTMF, against a fresh database.
func TestBenchHotlinePrintsTheSummary(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not on PATH (Debian package sip-tester); `vaxhub bench hotline` needs it")
	}
	if _, err := os.Stat(filepath.Join(sippShare, "g711a.pcap")); err != nil {
		t.Skipf("SIPp's captures are not in %s", sippShare)
	}
	t.Setenv("DATABASE_URL", storetest.AdminURL()) // the bench creates and drops its own database there
	t.Setenv("VAXHUB_CONFIG", "")
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_DATA_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := runBenchHotline(ctx, []string{"-calls", "20", "-concurrent", "10", "-rate", "10", "-hold", "2"}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"== bench hotline: summary ==",
		"calls:             20 made, 20 successful, 0 failed (SIPp exit: 0)",
		"calls/s:",
		"peak held at once: 10 in the IVR",
		"failed share:      0.00 %",
		"set-up time:       INVITE -> 200 OK p50 ",
		"(20 calls; SIPp rtd",
		"keypad + core:     20 of 20 calls keyed menu 2, reference, #, birth date and heard the appointment",
		"cpu per call:",
		"memory per call:",
		"KiB RSS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
