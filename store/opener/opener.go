// Package opener opens the store a database URL names and brings its schema
// up to date: the one place that knows both implementations.
package opener

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/postgres"
	"github.com/authflow/authflow/store/sqlite"
)

// Open opens and migrates the store at databaseURL:
//
//   - postgres://… or postgresql://… — PostgreSQL (pgx connection string);
//   - sqlite://PATH — a SQLite file, relative (sqlite://./data/authflow.db)
//     or absolute (sqlite:///var/lib/authflow/authflow.db); its parent
//     directory is created;
//   - sqlite://:memory: — a private SQLite database that Close removes.
//
// Any other scheme is an error.
func Open(ctx context.Context, databaseURL string) (store.Store, error) {
	scheme, rest, ok := strings.Cut(databaseURL, "://")
	if !ok {
		return nil, fmt.Errorf("opener: database URL must look like postgres://… or sqlite://PATH")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		s, err := postgres.Open(ctx, databaseURL)
		if err != nil {
			return nil, err
		}
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	case "sqlite":
		path := rest
		if path == "" {
			return nil, fmt.Errorf("opener: sqlite URL without a path (want sqlite://PATH or sqlite://%s)", sqlite.Memory)
		}
		if path != sqlite.Memory {
			// The data directory holds account data: owner only.
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return nil, fmt.Errorf("opener: create the directory of %s: %w", path, err)
			}
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, err
		}
		if err := s.Migrate(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
		return s, nil
	default:
		// The scheme only: the rest of the URL may hold a password.
		return nil, fmt.Errorf("opener: unsupported database URL scheme %q (want postgres://, postgresql:// or sqlite://)", scheme)
	}
}
