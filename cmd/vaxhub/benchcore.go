package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/vaxhub/vaxhub/core/domain"
	"github.com/vaxhub/vaxhub/deploy/campaign"
)

// benchCore is what every benchmark starts from: a fresh database named
// vaxhub_bench_<name>_<random> on the configured server, migrated, with the
// Saxony campaign (slotDays of slots from today; adjust may change the
// campaign first, e.g. its supply). done drops the database unless keep.
func benchCore(ctx context.Context, cfg *config, name string, slotDays int, keep bool, adjust func(*campaign.Campaign),
	log *slog.Logger) (parts *hubParts, dbName string, done func(), err error) {
	dbName = fmt.Sprintf("vaxhub_bench_%s_%d_%s", name, os.Getpid(), randHex(2))
	if cfg.DatabaseURL, err = withDatabase(cfg.DatabaseURL, dbName); err != nil {
		return nil, "", nil, err
	}
	drop := func() {
		if !keep {
			dropDatabase(context.WithoutCancel(ctx), cfg.DatabaseURL, dbName)
		}
	}
	if parts, err = openCore(ctx, cfg, log); err != nil {
		drop()
		return nil, "", nil, err
	}
	done = func() { parts.pool.Close(); drop() }
	if slotDays > 0 {
		c, err := campaign.Load(campaign.Embedded(), "saxony-2021")
		if err != nil {
			done()
			return nil, "", nil, err
		}
		if adjust != nil {
			adjust(c)
		}
		today := domain.DateOf(parts.app.Now().In(cfg.loc))
		if _, err := campaign.Apply(ctx, c, parts.store, parts.app, today, slotDays); err != nil {
			done()
			return nil, "", nil, err
		}
	}
	return parts, dbName, done, nil
}
