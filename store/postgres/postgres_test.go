package postgres_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/migrations"
	"github.com/authflow/authflow/store/postgres"
	"github.com/authflow/authflow/store/storetest"
)

const envURL = "AUTHFLOW_TEST_DATABASE_URL"

// databaseURL returns the test database URL or skips the test.
func databaseURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(envURL)
	if url == "" {
		t.Skip("AUTHFLOW_TEST_DATABASE_URL is unset: PostgreSQL store tests skipped (set it to e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	return url
}

// newSchema creates a schema with a random name, dropped when the test
// ends, and returns its name.
func newSchema(t testing.TB, url string) string {
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

// open returns a migrated store in a fresh schema of its own.
func open(t testing.TB) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	url := databaseURL(t)
	schema := newSchema(t, url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
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

func TestStore(t *testing.T) {
	databaseURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

func TestConcurrentMixedWrites(t *testing.T) {
	storetest.MixedWrites(t, open(t), 64, 20)
}

func TestMigrateIsIdempotent(t *testing.T) {
	s := open(t)
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrating an up-to-date schema: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://user:secret@[::1/db")
	if err == nil {
		t.Fatal("Open with a malformed URL succeeded")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error %q reveals the password", got)
	}
}

// BenchmarkCreateSessionParallel measures session creation from parallel
// goroutines.
func BenchmarkCreateSessionParallel(b *testing.B) {
	storetest.CreateSessionsParallel(b, open(b))
}

// BenchmarkLoginQueries measures the store work of one TOTP login (pgx
// caches prepared statements itself).
func BenchmarkLoginQueries(b *testing.B) {
	storetest.LoginQueries(b, open(b))
}

func TestMigrationsDownUp(t *testing.T) {
	ctx := context.Background()
	url := databaseURL(t)
	schema := newSchema(t, url)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatal(err)
	}
	p, err := migrations.NewProvider(ctx, db, migrations.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename NOT LIKE 'goose%'`, schema).
		Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after migrating down", tables)
	}
	if err := migrations.Up(ctx, db, migrations.Postgres); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
