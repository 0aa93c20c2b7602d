package jobs

import (
	"context"
	"fmt"

	"github.com/google/uuid"
)

// Schedule sets the trigger of kind with key to fire at j.RunAt on the
// queue's clock: it adds the job, or moves an existing one (pending, done or
// dead) to the new time with the new payload and its attempts reset. A moved
// appointment thus moves its reminder. A run of the old trigger under way
// loses its lease: its outcome is not recorded. Given a transaction, the
// trigger changes when it commits.
func (q *Queue) Schedule(ctx context.Context, db DB, j Job) error {
	j, err := q.prepare(j)
	if err != nil {
		return err
	}
	_, err = db.Exec(ctx, `INSERT INTO jobs (id, kind, key, payload, run_at) VALUES ($1, $2, $3, $4::jsonb, $5)
		ON CONFLICT (kind, key) DO UPDATE SET payload = EXCLUDED.payload, run_at = EXCLUDED.run_at, status = 'pending',
			attempts = 0, lease = NULL, last_error = NULL, finished_at = NULL, updated_at = now()`,
		uuid.New(), j.Kind, j.Key, string(j.Payload), j.RunAt)
	if err != nil {
		return fmt.Errorf("jobs: schedule %s %s: %w", j.Kind, j.Key, err)
	}
	q.metrics.enqueued.WithLabelValues(j.Kind).Inc()
	return q.announce(ctx, db, j)
}

// Cancel removes the pending trigger of kind with key and reports whether
// there was one; a trigger that already fired stays as it is.
func (q *Queue) Cancel(ctx context.Context, db DB, kind, key string) (bool, error) {
	tag, err := db.Exec(ctx, `DELETE FROM jobs WHERE kind = $1 AND key = $2 AND status = 'pending'`, kind, key)
	if err != nil {
		return false, fmt.Errorf("jobs: cancel %s %s: %w", kind, key, err)
	}
	return tag.RowsAffected() == 1, nil
}
