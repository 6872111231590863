package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/sqlite"
	"github.com/authflow/authflow/store/storetest"
)

// open returns a migrated store at path, closed when the test ends.
func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, sqlite.Memory) })
}

func TestConcurrentMixedWrites(t *testing.T) {
	// A file in a directory of its own, as in production.
	s := open(t, filepath.Join(t.TempDir(), "authflow.db"))
	storetest.MixedWrites(t, s, 64, 20)
}

func TestReopenKeepsDataAndMigratesOnce(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "authflow.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "dora@example.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating an up-to-date database: %v", err)
	}
	got, err := s.UserByEmail(ctx, "dora@example.com")
	if err != nil || got.ID != u.ID {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
}

func TestMemoryStoresAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := open(t, sqlite.Memory), open(t, sqlite.Memory)
	if _, err := a.CreateUser(ctx, "erin@example.com", "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateUser(ctx, "erin@example.com", "h"); err != nil {
		t.Fatalf("second in-memory store shares data with the first: %v", err)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, path := range []string{"", "x.db?mode=ro", filepath.Join(t.TempDir(), "missing", "dir", "x.db")} {
		if s, err := sqlite.Open(context.Background(), path); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// BenchmarkCreateSessionParallel measures session creation (the write every
// login ends with) from parallel goroutines on a file database.
func BenchmarkCreateSessionParallel(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "authflow.db"))
	storetest.CreateSessionsParallel(b, s)
}

// BenchmarkLoginQueries measures the store calls of one TOTP login
// (storetest.LoginQueries) on a file database.
func BenchmarkLoginQueries(b *testing.B) {
	s := open(b, filepath.Join(b.TempDir(), "authflow.db"))
	storetest.LoginQueries(b, s)
}

// BenchmarkSecondFactors compares the password step's read of the second
// factors in one statement with the five calls it replaced.
func BenchmarkSecondFactors(b *testing.B) {
	storetest.SecondFactorsRead(b, open(b, filepath.Join(b.TempDir(), "authflow.db")))
}
