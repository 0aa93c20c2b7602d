// Package pgmigrate applies a component's own embedded SQL migrations to
// PostgreSQL: each connector owns its tables through files named
// NNNN_name.sql, applied in order under its namespace and recorded in
// component_migrations. It never touches the core's schema_migrations or
// another namespace's files.
package pgmigrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockClass is the first key of the advisory locks this package takes
// (pg_advisory_lock(int, int)); the second is the namespace's hash. The core's
// own migrator uses the one-key lock 7_261_001, which does not collide.
const lockClass = 7_261_002

// ErrBadMigrations reports a set of files that cannot be applied as given:
// a name that is not NNNN_name.sql, two files with one version, or a
// recorded version whose file is now named differently.
var ErrBadMigrations = errors.New("pgmigrate: bad migrations")

var namePattern = regexp.MustCompile(`^([0-9]{4})_([a-z0-9_]+)\.sql$`)

// Migration is one file of a namespace.
type Migration struct {
	Version int
	Name    string // the file name
	SQL     string
}

// Load reads and orders the *.sql files at the root of files (use fs.Sub for
// an embedded folder). Files with other extensions are ignored.
func Load(files fs.FS) ([]Migration, error) {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("pgmigrate: list: %w", err)
	}
	var ms []Migration
	seen := map[int]string{}
	for _, name := range names {
		m := namePattern.FindStringSubmatch(name)
		if m == nil {
			return nil, fmt.Errorf("%w: %q is not named NNNN_name.sql (lower case, digits, underscores)", ErrBadMigrations, name)
		}
		v, _ := strconv.Atoi(m[1])
		if v == 0 {
			return nil, fmt.Errorf("%w: %q: versions start at 0001", ErrBadMigrations, name)
		}
		if other, ok := seen[v]; ok {
			return nil, fmt.Errorf("%w: %q and %q share version %d", ErrBadMigrations, other, name, v)
		}
		seen[v] = name
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("pgmigrate: read %s: %w", name, err)
		}
		ms = append(ms, Migration{Version: v, Name: name, SQL: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	return ms, nil
}

// Apply applies every migration of namespace in files that is not recorded
// yet, in version order, each in its own transaction together with its
// record. Several processes may call it at once (hub replicas starting
// together): an advisory lock per namespace makes each migration run exactly
// once. It returns the versions it applied.
func Apply(ctx context.Context, pool *pgxpool.Pool, namespace string, files fs.FS) ([]int, error) {
	if namespace == "" {
		return nil, fmt.Errorf("%w: empty namespace", ErrBadMigrations)
	}
	ms, err := Load(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", namespace, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("pgmigrate %s: acquire: %w", namespace, err)
	}
	defer conn.Release()
	// The bookkeeping table is created under the lock of namespace "" so
	// that two first starts do not race on CREATE TABLE.
	if err := locked(ctx, conn, "", func() error {
		_, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS component_migrations (
			namespace  text        NOT NULL,
			version    int         NOT NULL,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (namespace, version))`)
		return err
	}); err != nil {
		return nil, fmt.Errorf("pgmigrate %s: bookkeeping table: %w", namespace, err)
	}
	var applied []int
	err = locked(ctx, conn, namespace, func() error {
		rows, err := conn.Query(ctx, `SELECT version, name FROM component_migrations WHERE namespace = $1`, namespace)
		if err != nil {
			return err
		}
		done := map[int]string{}
		var v int
		var n string
		if _, err := pgx.ForEachRow(rows, []any{&v, &n}, func() error { done[v] = n; return nil }); err != nil {
			return err
		}
		for _, m := range ms {
			if name, ok := done[m.Version]; ok {
				if name != m.Name {
					return fmt.Errorf("%w: version %d was applied as %q, the file is now %q", ErrBadMigrations, m.Version, name, m.Name)
				}
				continue
			}
			err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.SQL); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO component_migrations (namespace, version, name) VALUES ($1, $2, $3)`, namespace, m.Version, m.Name)
				return err
			})
			if err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			applied = append(applied, m.Version)
		}
		return nil
	})
	if err != nil {
		return applied, fmt.Errorf("pgmigrate %s: %w", namespace, err)
	}
	return applied, nil
}

// locked runs fn holding the session advisory lock of namespace on conn.
func locked(ctx context.Context, conn *pgxpool.Conn, namespace string, fn func() error) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, hashtext($2))`, lockClass, namespace); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, hashtext($2))`, lockClass, namespace) //nolint:errcheck
	return fn()
}
