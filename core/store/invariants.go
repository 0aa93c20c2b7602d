package store

import (
	"context"
	"fmt"
)

// invariantChecks are SQL counts of rows that break an invariant; each must be 0.
var invariantChecks = []struct{ name, sql string }{
	{"slot counters match doses (a no-show keeps its place: the time has passed)", `SELECT count(*) FROM slots s WHERE s.booked <> (SELECT count(*) FROM doses d WHERE d.slot_id = s.id AND d.status IN ('booked','checked-in','administered','no-show'))`},
	{"no slot over capacity", `SELECT count(*) FROM slots WHERE booked > places`},
	{"delivery counters match doses", `SELECT count(*) FROM deliveries v WHERE v.reserved <> (SELECT count(*) FROM doses d WHERE d.delivery_id = v.id AND d.status IN ('booked','checked-in','administered'))`},
	{"no delivery over-reserved", `SELECT count(*) FROM deliveries WHERE reserved > doses`},
	{"doses only from deliveries that have arrived and not expired", `SELECT count(*) FROM doses d JOIN deliveries v ON v.id = d.delivery_id JOIN slots s ON s.id = d.slot_id WHERE v.arrives_on > s.day OR v.expires_on < s.day`},
	{"one open series per resident", `SELECT count(*) FROM (SELECT resident_id FROM appointments WHERE status = 'booked' GROUP BY 1 HAVING count(*) > 1) x`},
}

// CheckInvariants counts the rows that break the booking invariants and
// returns one line per broken invariant (none when all hold). Tests and
// `vaxhub bench` run it after parallel load.
func (s *Store) CheckInvariants(ctx context.Context) ([]string, error) {
	var broken []string
	for _, c := range invariantChecks {
		var n int
		if err := s.pool.QueryRow(ctx, c.sql).Scan(&n); err != nil {
			return nil, fmt.Errorf("invariant %q: %w", c.name, err)
		}
		if n != 0 {
			broken = append(broken, fmt.Sprintf("%s: broken in %d rows", c.name, n))
		}
	}
	return broken, nil
}
