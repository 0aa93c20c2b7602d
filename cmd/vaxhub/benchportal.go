package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/vaxhub/vaxhub/connectors/web/waitingroom"
)

// benchPortal measures the digital waiting room on a fresh database:
// tickets issued, position checks per second, and how closely admissions
// follow the booking capacity.
func benchPortal(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench portal", flag.ContinueOnError)
	tickets := fs.Int("tickets", 100_000, "tickets issued before the position checks")
	clients := fs.Int("clients", 32, "concurrent HTTP clients")
	checks := fs.Duration("checks", 5*time.Second, "how long each kind of position check runs")
	capacity := fs.Float64("capacity", 200, "booking capacity (bookings/s) the admission rate must follow")
	rate := fs.Duration("rate-duration", 10*time.Second, "how long the admission rate is measured")
	if err := fs.Parse(args); err != nil {
		return &usageError{err.Error()}
	}
	cfg, err := loadConfig(nil, modeRun)
	if err != nil {
		return err
	}
	dbName := fmt.Sprintf("vaxhub_bench_portal_%d", os.Getpid())
	if cfg.DatabaseURL, err = withDatabase(cfg.DatabaseURL, dbName); err != nil {
		return err
	}
	defer dropDatabase(context.WithoutCancel(ctx), cfg.DatabaseURL, dbName)
	parts, err := openCore(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	defer parts.pool.Close()
	fmt.Printf("bench portal: fresh database %s\n", dbName)
	return waitingroom.Bench(ctx, parts.pool, os.Stdout, waitingroom.BenchOptions{Tickets: *tickets, Clients: *clients,
		CheckDuration: *checks, Capacity: *capacity, RateDuration: *rate})
}
