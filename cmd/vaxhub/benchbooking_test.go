package main

import (
	"context"
	"testing"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// TestBenchBookingBooksAndKeepsTheInvariants runs the booking benchmark
// briefly (without pgbench): it must book, refuse nothing it should not and
// end with every invariant intact; it fails on request errors.
func TestBenchBookingBooksAndKeepsTheInvariants(t *testing.T) {
	t.Setenv("DATABASE_URL", storetest.AdminURL())
	if err := benchBooking(context.Background(), []string{"-clients", "4", "-duration", "1s", "-residents", "500", "-skip-pgbench"}); err != nil {
		t.Fatal(err)
	}
}
