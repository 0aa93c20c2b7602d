package sap

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/store/storetest"
	"github.com/vaxhub/vaxhub/internal/hubtest"
)

// The connector owns sap_cursor and sap_goods_issues through its own
// migrations: on a fresh database the core no longer creates them and New
// does; on a database made before issue 16 (the core's 0008_sap.sql made
// them) New keeps them and their rows. stock_withdrawals stays the core's.
// The poller then reads SAP and moves its cursor on both.
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
			tables := `SELECT count(*) FROM pg_tables WHERE tablename IN ('sap_cursor', 'sap_goods_issues')`
			if n := e.h.Count(t, tables); (n == 2) != tc.older || (n != 0 && n != 2) {
				t.Fatalf("%d of the connector's tables exist before its migrations (made by the core: %v)", n, tc.older)
			}
			if n := e.h.Count(t, `SELECT count(*) FROM pg_tables WHERE tablename = 'stock_withdrawals'`); n != 1 {
				t.Fatal("stock_withdrawals is missing: the core must still create it")
			}
			if tc.older {
				if _, err := e.h.Pool.Exec(ctx, `INSERT INTO sap_cursor (name, document_year, document) VALUES ('sap-before', '2021', '4900000001');
					INSERT INTO sap_goods_issues (event_id, header_text, reference, centre_id, product, batch, day, state)
					VALUES ('ev-before', 'VAXHUB-before', 'REF-BEFORE', 'dresden', 'janssen', 'XD1', '2021-04-11', 'posted')`); err != nil {
					t.Fatal(err)
				}
			}
			c := e.connector(e.config())
			e.connector(e.config()) // a second start (or replica) applies nothing
			if n := e.h.Count(t, `SELECT count(*) FROM component_migrations WHERE namespace = 'sap' AND version = 1`); n != 1 {
				t.Fatalf("%d rows of namespace sap, version 1, want 1", n)
			}
			today := e.h.Today()
			e.sapPost(c, receipt("SN05", "VAC-JANSSEN", "XD100", 50, today, today.AddDays(60)))
			if st, err := c.PollOnce(ctx); err != nil || st.Applied != 1 {
				t.Fatalf("poll: %+v, %v; want one applied", st, err)
			}
			if n := e.h.Count(t, `SELECT count(*) FROM sap_cursor WHERE name = 'sap' AND document <> '0'`); n != 1 {
				t.Fatal("the poller kept no cursor")
			}
			want := 0
			if tc.older {
				want = 1
			}
			if n := e.h.Count(t, `SELECT count(*) FROM sap_cursor WHERE name = 'sap-before'`) + e.h.Count(t, `SELECT count(*) FROM sap_goods_issues WHERE event_id = 'ev-before'`); n != 2*want {
				t.Fatalf("%d of the rows from before the upgrade are left, want %d", n, 2*want)
			}
		})
	}
}
