package servicenow

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// The connector owns servicenow_records, servicenow_cursor and
// servicenow_seen through its own migrations: on a fresh database the core
// no longer creates them and New does; on a database made before issue 16
// (the core's 0011_mobile.sql made them) New keeps them and their rows. The
// mobile campaign tables stay the core's. A planned campaign then becomes a
// work order (servicenow_records) and the poller moves its cursor, on both.
func TestConnectorTablesOnFreshAndUpgradedDatabases(t *testing.T) {
	cases := []struct {
		name  string
		pool  func(testing.TB) *pgxpool.Pool
		older bool // the core made the tables
	}{
		{"fresh", storetest.NewPool, false},
		{"made before issue 16", storetest.NewUpgradedPool, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvOn(t, hubtest.NewOn(t, tc.pool(t), testNow(t)))
			tables := `SELECT count(*) FROM pg_tables WHERE tablename IN ('servicenow_records', 'servicenow_cursor', 'servicenow_seen')`
			if n := e.count(tables); (n == 3) != tc.older || (n != 0 && n != 3) {
				t.Fatalf("%d of the connector's tables exist before its migrations (made by the core: %v)", n, tc.older)
			}
			if n := e.count(`SELECT count(*) FROM pg_tables WHERE tablename LIKE 'mobile\_%'`); n != 5 {
				t.Fatalf("%d mobile tables, want the core's 5", n)
			}
			if tc.older {
				if _, err := e.h.Pool.Exec(ctx, `INSERT INTO servicenow_records (tbl, hub_key, sys_id) VALUES ('wm_order', 'before', 'sys-before');
					INSERT INTO servicenow_seen (tbl, sys_id, mod_count) VALUES ('u_vaccination', 'sys-before', 0)`); err != nil {
					t.Fatal(err)
				}
			}
			e.connector(e.config()) // New alone applies them; Start below again, and applies nothing
			e.startConnector(e.config())
			if n := e.count(`SELECT count(*) FROM component_migrations WHERE namespace = 'servicenow' AND version = 1`); n != 1 {
				t.Fatalf("%d rows of namespace servicenow, version 1, want 1", n)
			}
			c := e.plan(e.residents(2), 2)
			e.taskOf(c)
			waitFor(t, "the work order and its task in servicenow_records", 20*time.Second, func() bool {
				return e.count(`SELECT count(*) FROM servicenow_records WHERE campaign_id = $1`, c.ID) >= 2
			})
			waitFor(t, "the poller's cursors", 20*time.Second, func() bool {
				return e.count(`SELECT count(*) FROM servicenow_cursor`) > 0
			})
			want := 0
			if tc.older {
				want = 2
			}
			if n := e.count(`SELECT count(*) FROM servicenow_records WHERE hub_key = 'before'`) + e.count(`SELECT count(*) FROM servicenow_seen WHERE sys_id = 'sys-before'`); n != want {
				t.Fatalf("%d of the rows from before the upgrade are left, want %d", n, want)
			}
		})
	}
}
