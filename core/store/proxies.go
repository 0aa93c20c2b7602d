package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/vaxhub/vaxhub/core/domain"
)

// ResidentsOfProxy returns the hash of the proxy's access token and the
// residents the proxy manages, in the order they registered. The caller
// compares the hash with the presented token.
func (s *Store) ResidentsOfProxy(ctx context.Context, proxyID string) ([]byte, []domain.Resident, error) {
	if !isUUID(proxyID) {
		return nil, nil, notFound("proxy", proxyID)
	}
	var hash []byte
	err := s.pool.QueryRow(ctx, `SELECT token_hash FROM proxies WHERE id = $1`, proxyID).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, notFound("proxy", proxyID)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load proxy: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+residentColumns+` FROM residents r WHERE r.proxy_id = $1 ORDER BY r.registered_at, r.id`, proxyID)
	if err != nil {
		return nil, nil, fmt.Errorf("list residents of proxy: %w", err)
	}
	defer rows.Close()
	var out []domain.Resident
	for rows.Next() {
		r, err := s.scanResident(rows)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list residents of proxy: %w", err)
	}
	return hash, out, nil
}
