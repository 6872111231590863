// Package pgtest gives tests a migrated PostgreSQL store in a schema of its
// own, or skips them where no test database is configured
// (AUTHFLOW_TEST_DATABASE_URL). The store's conformance suite and the tests
// that must hold on both stores (the attempt counters) use it.
package pgtest

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authflow/authflow/store/postgres"
)

// EnvURL names the test database's URL.
const EnvURL = "AUTHFLOW_TEST_DATABASE_URL"

// DatabaseURL returns the test database URL or skips the test.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		t.Skip("AUTHFLOW_TEST_DATABASE_URL is unset: PostgreSQL tests skipped (set it to e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return url
}

// NewSchema creates a schema with a random name, dropped when the test
// ends, and returns its name.
func NewSchema(t testing.TB, url string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := fmt.Sprintf("authflow_test_%x", b)
	exec := func(sql string) error {
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(`CREATE SCHEMA ` + pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := exec(`DROP SCHEMA ` + pgx.Identifier{schema}.Sanitize() + ` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Open returns a migrated store in a fresh schema of its own.
func Open(t testing.TB) *postgres.Store {
	t.Helper()
	return OpenWith(t, nil)
}

// OpenWith is Open with the pool's configuration changed by tweak first (a
// test adds a tracer).
func OpenWith(t testing.TB, tweak func(*pgxpool.Config)) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	url := DatabaseURL(t)
	schema := NewSchema(t, url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	if tweak != nil {
		tweak(cfg)
	}
	s, err := postgres.OpenConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() }) // runs before the schema is dropped
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}
