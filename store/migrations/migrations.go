// Package migrations holds authflow's database schema as goose migrations
// embedded in the binary, one set per dialect (postgres/, sqlite/), and
// applies them.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names a migration set.
type Dialect string

// The migration sets.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// FS returns the migrations of dialect, named NNNNN_name.sql.
func FS(dialect Dialect) (fs.FS, error) {
	switch dialect {
	case Postgres, SQLite:
		return fs.Sub(files, string(dialect))
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
}

// NewProvider returns a goose provider for dialect's migrations on db, for
// status, up and down. On PostgreSQL it holds a session advisory lock while
// migrating, so processes starting together migrate one at a time; the lock
// id is derived from the current schema, so separate schemas (parallel
// tests) do not wait for each other.
func NewProvider(ctx context.Context, db *sql.DB, dialect Dialect) (*goose.Provider, error) {
	fsys, err := FS(dialect)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	var gooseDialect goose.Dialect
	switch dialect {
	case Postgres:
		gooseDialect = goose.DialectPostgres
		var schema sql.NullString
		if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
			return nil, fmt.Errorf("migrations: current schema: %w", err)
		}
		if !schema.Valid {
			return nil, fmt.Errorf("migrations: no schema of the search_path exists")
		}
		h := fnv.New64a()
		h.Write([]byte("authflow/migrations/" + schema.String))
		// Poll every second for up to 5 minutes: a long migration elsewhere
		// should delay a start-up, not fail it.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64())), lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	case SQLite:
		gooseDialect = goose.DialectSQLite3
	}
	p, err := goose.NewProvider(gooseDialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration of dialect to db. Applying an
// up-to-date database is a no-op.
func Up(ctx context.Context, db *sql.DB, dialect Dialect) error {
	p, err := NewProvider(ctx, db, dialect)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}
