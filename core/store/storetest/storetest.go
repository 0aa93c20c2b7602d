// Package storetest gives each test its own fresh, migrated PostgreSQL
// database on the server named by VAXHUB_TEST_DATABASE_URL (default
// postgres://postgres@127.0.0.1:5432/postgres), and drops it afterwards.
package storetest

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vaxhub/vaxhub/core/store"
)

// AdminURL is the server the test databases are created on.
func AdminURL() string {
	if u := os.Getenv("VAXHUB_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres"
}

// NewDatabase creates an empty database for t and returns its URL. The
// database is dropped when the test ends. A test that cannot reach the server
// fails: integration tests are part of the default suite.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("storetest: PostgreSQL at %s is not reachable (start it, or set VAXHUB_TEST_DATABASE_URL): %v", AdminURL(), err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "vaxhub_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, AdminURL())
		if err != nil {
			t.Errorf("storetest: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("storetest: drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminURL())
	if err != nil {
		t.Fatalf("storetest: parse admin URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool creates a fresh database, applies every migration and returns a pool
// on it that is closed when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("storetest: %v", fmt.Errorf("migrate: %w", err))
	}
	return pool
}

// before16 holds what the core's migrations made at commit 7076939, the
// last state before the connectors' tables left them (issue 16), beyond what
// today's core migrations make: 0004_audit whole, and the SAP and ServiceNow
// tables of 0008 and 0011. Every other old file is byte for byte today's, and
// today's 0008 and 0011 are the old ones less these tables.
//
//go:embed before16/*.sql
var before16 embed.FS

// NewUpgradedPool is NewPool for a database made by an older hub: the core's
// schema as of commit 7076939 with that migrator's bookkeeping
// (schema_migrations by file name, 0004_audit.sql included), then today's
// store.Migrate, as a hub upgraded from then does when it starts. The
// connectors' tables that the core created then (audit_events, sap_cursor,
// sap_goods_issues, servicenow_*) exist, without a row in
// component_migrations.
func NewUpgradedPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := NewDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatalf("storetest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	// The old files that are today's, recorded by name as the old migrator did.
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("storetest: %v", fmt.Errorf("migrate: %w", err))
	}
	names, err := fs.Glob(before16, "before16/*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("storetest: the old migrations: %v (%d files)", err, len(names))
	}
	sort.Strings(names)
	for _, name := range names {
		sql, err := before16.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		short := path.Base(name)
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name) VALUES ($1) ON CONFLICT DO NOTHING`, short)
			return err
		})
		if err != nil {
			t.Fatalf("storetest: old migration %s: %v", short, err)
		}
	}
	if err := store.Migrate(ctx, pool); err != nil {
		t.Fatalf("storetest: %v", fmt.Errorf("migrate after the old migrations: %w", err))
	}
	return pool
}
