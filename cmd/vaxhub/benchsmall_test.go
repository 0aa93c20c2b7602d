package main

import (
	"context"
	"testing"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// The remaining benchmarks run briefly so that a change that breaks them is
// caught by the test suite, not by the next person who measures.

func TestBenchBusRunsBriefly(t *testing.T) {
	t.Setenv("DATABASE_URL", storetest.AdminURL())
	if err := benchBus(context.Background(), []string{"-n", "500", "-rate", "100", "-duration", "1s"}); err != nil {
		t.Fatal(err)
	}
}

func TestBenchPortalRunsBriefly(t *testing.T) {
	t.Setenv("DATABASE_URL", storetest.AdminURL())
	if err := benchPortal(context.Background(), []string{"-tickets", "300", "-clients", "4", "-checks", "300ms", "-capacity", "50", "-rate-duration", "1s",
		"-page-clients", "2", "-page-duration", "300ms"}); err != nil {
		t.Fatal(err)
	}
}
