package audit_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/connectors/bus"
	"github.com/vaxhub/vaxhub/core/store/storetest"
)

// The trail owns audit_events through its own migrations: on a fresh
// database the core no longer creates it and New does; on a database made
// before issue 16 (the core's 0004_audit.sql made it) New keeps the table
// and its rows. Both record their namespace once, however often the trail
// starts, and the trail writes into the table.
func TestTrailTableOnFreshAndUpgradedDatabases(t *testing.T) {
	cases := []struct {
		name  string
		pool  func(testing.TB) *pgxpool.Pool
		older bool // the core made the table
	}{
		{"fresh", storetest.NewPool, false},
		{"made before issue 16", storetest.NewUpgradedPool, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pool := tc.pool(t)
			if got := count(t, pool, `SELECT count(*) FROM pg_tables WHERE tablename = 'audit_events'`) == 1; got != tc.older {
				t.Fatalf("audit_events exists before the trail's migrations: %v, want %v", got, tc.older)
			}
			want := 1
			if tc.older {
				old := bookedEvent("req-before-upgrade")
				if _, err := pool.Exec(ctx, `INSERT INTO audit_events (event_id, type, subject, topic, "partition", "offset")
					VALUES ($1, $2, $3, $4, 0, 7)`, old.ID, old.Type, old.Subject, old.Topic()); err != nil {
					t.Fatal(err)
				}
				want = 2
			}
			trail := newTrail(t, pool, testLogger())
			newTrail(t, pool, testLogger()) // a second start (or replica) applies nothing
			if n := count(t, pool, `SELECT count(*) FROM component_migrations WHERE namespace = 'audit' AND version = 1`); n != 1 {
				t.Fatalf("%d rows of namespace audit, version 1, want 1", n)
			}
			e := bookedEvent("req-after-upgrade")
			if err := trail.Handle(ctx, bus.Message{Topic: e.Topic(), Key: e.Subject, Value: e.JSON(), Offset: 8}); err != nil {
				t.Fatal(err)
			}
			if n := count(t, pool, `SELECT count(*) FROM audit_events`); n != want {
				t.Fatalf("%d audit rows, want %d (the old ones kept, the new one recorded)", n, want)
			}
			if n := count(t, pool, `SELECT count(*) FROM pg_indexes WHERE tablename = 'audit_events'`); n != 4 {
				t.Fatalf("audit_events has %d indexes, want 4 (key, subject, correlation, received)", n)
			}
		})
	}
}
