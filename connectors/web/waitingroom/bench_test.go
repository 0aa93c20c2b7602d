package waitingroom

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vaxhub/vaxhub/core/store/storetest"
)

func TestBenchPrintsItsFigures(t *testing.T) {
	t.Parallel()
	pool := storetest.NewPool(t)
	var out strings.Builder
	err := Bench(context.Background(), pool, &out, BenchOptions{
		Tickets: 500, Clients: 4, CheckDuration: 300 * time.Millisecond, Capacity: 50, RateDuration: time.Second,
	})
	if err != nil {
		t.Fatalf("Bench: %v\n%s", err, out.String())
	}
	for _, want := range []string{"tickets issued over HTTP: 500", "position checks (JSON status endpoint)", "position checks (waiting page", "admission rate:"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	var rooms int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM waiting_room_state`).Scan(&rooms); err != nil || rooms != 0 {
		t.Errorf("the benchmark's room must be removed: %d %v", rooms, err)
	}
	t.Log(out.String())
}

// TestBenchFull runs the full benchmark (100,000 tickets) when
// VAXHUB_BENCH_FULL=1; `vaxhub bench portal` is the usual way.
func TestBenchFull(t *testing.T) {
	if os.Getenv("VAXHUB_BENCH_FULL") != "1" {
		t.Skip("set VAXHUB_BENCH_FULL=1")
	}
	pool := storetest.NewPool(t)
	if err := Bench(context.Background(), pool, os.Stdout, BenchOptions{}); err != nil {
		t.Fatal(err)
	}
}
