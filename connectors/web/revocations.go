package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// revocations is the server-side list of signed-out portal sessions, shared
// by every replica (table web_session_revocations). It holds the SHA-256 of
// each session ID, never the ID itself, and an entry only until the
// session's absolute expiry: after that its cookie is refused anyway.
type revocations struct {
	pool *pgxpool.Pool
}

// pruneBatch bounds the expired entries one sign-out deletes, so that a
// sign-out stays one short statement however many have piled up.
const pruneBatch = 100

func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

// revoked reports whether the session ID was signed out: one primary-key look-up.
func (rv *revocations) revoked(ctx context.Context, id string) (bool, error) {
	var found bool
	err := rv.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM web_session_revocations WHERE id_hash = $1)`,
		sessionHash(id)).Scan(&found)
	if err != nil {
		return false, fmt.Errorf("web: session revocation look-up: %w", err)
	}
	return found, nil
}

// revoke puts the session ID on the list until keepUntil (its absolute
// expiry) and, in the same statement, deletes up to pruneBatch entries whose
// time has passed at now.
func (rv *revocations) revoke(ctx context.Context, id string, keepUntil, now time.Time) error {
	_, err := rv.pool.Exec(ctx, `WITH pruned AS (
			DELETE FROM web_session_revocations WHERE id_hash IN (
				SELECT id_hash FROM web_session_revocations WHERE keep_until < $3 LIMIT `+fmt.Sprint(pruneBatch)+`))
		INSERT INTO web_session_revocations (id_hash, revoked_at, keep_until) VALUES ($1, $3, $2)
		ON CONFLICT (id_hash) DO UPDATE SET keep_until = greatest(web_session_revocations.keep_until, excluded.keep_until)`,
		sessionHash(id), keepUntil, now)
	if err != nil {
		return fmt.Errorf("web: revoke session: %w", err)
	}
	return nil
}
