package store

import (
	"fmt"
	"time"

	"github.com/vaxhub/vaxhub/core/domain"
)

// pgDate scans a PostgreSQL date into a domain.Date.
type pgDate domain.Date

// ScanDate implements pgtype's date scanning through time.Time.
func (d *pgDate) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d = pgDate(domain.DateOf(v.UTC()))
		return nil
	case nil:
		*d = pgDate{}
		return nil
	}
	return fmt.Errorf("cannot scan %T into a date", src)
}

func dayArg(d domain.Date) time.Time { return d.In(time.UTC) }
