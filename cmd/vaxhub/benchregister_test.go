package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestBenchRegisterPrintsTheSummary runs `vaxhub bench register` with tiny
// figures: a small population, a short load and a short search run.
func TestBenchRegisterPrintsTheSummary(t *testing.T) {
	t.Setenv("DATABASE_URL", storetest.AdminURL()) // the bench creates and drops its own database there
	t.Setenv("VAXHUB_CONFIG", "")
	t.Setenv("KAFKA_BROKERS", "")
	t.Setenv("VAXHUB_DATA_DIR", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := runBenchRegister(ctx, []string{"-size", "20000", "-rate", "50", "-duration", "2s", "-search-duration", "1s"}, &out)
	t.Logf("output:\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"== bench register: summary ==",
		"population:        20000 residents",
		"registrations:     100 via core/app App.RegisterResident",
		"verdicts:          100 of 100: verified ",
		"verdicts/s:",
		"latency:           registered_at -> decided_at (database): p50 ",
		"simulator search:",
		"searches/s",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
