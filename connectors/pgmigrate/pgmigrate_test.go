package pgmigrate_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/pgmigrate"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

var ctx = context.Background()

func pool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func count(t *testing.T, p *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := p.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// files: 0002 depends on 0001, and 0003 is not idempotent (it would insert a
// second row if it ran twice).
var files = fstest.MapFS{
	"0001_tickets.sql": {Data: []byte(`CREATE TABLE tickets (id int PRIMARY KEY, note text)`)},
	"0002_seed.sql":    {Data: []byte(`INSERT INTO tickets VALUES (1, 'first')`)},
	"0003_counter.sql": {Data: []byte(`CREATE TABLE runs (n int); INSERT INTO runs VALUES (1)`)},
	"README.md":        {Data: []byte("ignored")},
	"0010_later.sql":   {Data: []byte(`INSERT INTO tickets VALUES (10, 'after 0003, not after 0001')`)},
}

func TestReplicasStartingTogetherApplyEachMigrationOnce(t *testing.T) {
	dsn := storetest.NewDatabase(t)
	pools := []*pgxpool.Pool{pool(t, dsn), pool(t, dsn)}
	const starters = 8
	var wg sync.WaitGroup
	applied := make([][]int, starters)
	errs := make([]error, starters)
	for i := range starters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			applied[i], errs[i] = pgmigrate.Apply(ctx, pools[i%2], "tickets", files)
		}()
	}
	wg.Wait()
	total := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("starter %d: %v", i, err)
		}
		total += len(applied[i])
	}
	if total != 4 {
		t.Errorf("%d migrations applied over %d starters, want 4 in all: %v", total, starters, applied)
	}
	if n := count(t, pools[0], `SELECT count(*) FROM runs`); n != 1 {
		t.Errorf("0003 ran %d times", n)
	}
	if n := count(t, pools[0], `SELECT count(*) FROM tickets`); n != 2 {
		t.Errorf("%d tickets, want 2", n)
	}
	if n := count(t, pools[1], `SELECT count(*) FROM component_migrations WHERE namespace = 'tickets'`); n != 4 {
		t.Errorf("%d recorded migrations, want 4", n)
	}
	// Started again later: nothing to do.
	again, err := pgmigrate.Apply(ctx, pools[1], "tickets", files)
	if err != nil || len(again) != 0 {
		t.Errorf("second start applied %v, %v", again, err)
	}
}

func TestNamespacesAreIndependent(t *testing.T) {
	p := pool(t, storetest.NewDatabase(t))
	a := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (x int)`)}}
	b := fstest.MapFS{"0001_b.sql": {Data: []byte(`CREATE TABLE b (x int)`)}}
	if _, err := pgmigrate.Apply(ctx, p, "alpha", a); err != nil {
		t.Fatal(err)
	}
	got, err := pgmigrate.Apply(ctx, p, "beta", b)
	if err != nil || len(got) != 1 || got[0] != 1 {
		t.Fatalf("beta's version 1 after alpha's: %v, %v", got, err)
	}
	if n := count(t, p, `SELECT count(*) FROM component_migrations`); n != 2 {
		t.Errorf("%d records, want 2", n)
	}
}

func TestFailedMigrationLeavesNoTraceAndLaterOnesWait(t *testing.T) {
	p := pool(t, storetest.NewDatabase(t))
	bad := fstest.MapFS{
		"0001_ok.sql":     {Data: []byte(`CREATE TABLE ok (x int)`)},
		"0002_broken.sql": {Data: []byte(`CREATE TABLE half (x int); SELECT no_such_function()`)},
		"0003_after.sql":  {Data: []byte(`CREATE TABLE after (x int)`)},
	}
	applied, err := pgmigrate.Apply(ctx, p, "n", bad)
	if err == nil || len(applied) != 1 {
		t.Fatalf("applied %v, err %v; want 0001 only and an error", applied, err)
	}
	if n := count(t, p, `SELECT count(*) FROM pg_tables WHERE tablename IN ('half', 'after')`); n != 0 {
		t.Errorf("%d tables of the failed and later migrations exist", n)
	}
	bad["0002_broken.sql"] = &fstest.MapFile{Data: []byte(`CREATE TABLE half (x int)`)}
	applied, err = pgmigrate.Apply(ctx, p, "n", bad)
	if err != nil || len(applied) != 2 {
		t.Fatalf("after the fix: applied %v, %v; want 0002 and 0003", applied, err)
	}
}

func TestBadFileSetsAreRefused(t *testing.T) {
	p := pool(t, storetest.NewDatabase(t))
	if _, err := pgmigrate.Apply(ctx, p, "r", fstest.MapFS{"0001_first.sql": {Data: []byte(`SELECT 1`)}}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		files fstest.MapFS
	}{
		{"no number", fstest.MapFS{"first.sql": {Data: []byte(`SELECT 1`)}}},
		{"three digits", fstest.MapFS{"001_first.sql": {Data: []byte(`SELECT 1`)}}},
		{"upper case", fstest.MapFS{"0001_First.sql": {Data: []byte(`SELECT 1`)}}},
		{"version zero", fstest.MapFS{"0000_zero.sql": {Data: []byte(`SELECT 1`)}}},
		{"duplicate version", fstest.MapFS{"0001_first.sql": {Data: []byte(`SELECT 1`)}, "0001_again.sql": {Data: []byte(`SELECT 1`)}}},
		{"renamed after it was applied", fstest.MapFS{"0001_renamed.sql": {Data: []byte(`SELECT 1`)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := pgmigrate.Apply(ctx, p, "r", c.files); !errors.Is(err, pgmigrate.ErrBadMigrations) {
				t.Errorf("err %v, want ErrBadMigrations", err)
			}
		})
	}
}
