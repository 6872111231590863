package opener_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

// openOK opens url, checks the store is migrated (it can create a user) and
// closes it at the end of the test.
func openOK(t *testing.T, url string) store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := opener.Open(ctx, url)
	if err != nil {
		t.Fatalf("Open(%s): %v", url, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, "frank@example.com", "h"); err != nil {
		t.Fatalf("store not migrated: %v", err)
	}
	return s
}

func TestSQLiteMemory(t *testing.T) {
	openOK(t, "sqlite://:memory:")
}

func TestSQLiteAbsolutePathCreatesParents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "nested", "authflow.db")
	openOK(t, "sqlite://"+path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestSQLiteRelativePath(t *testing.T) {
	t.Chdir(t.TempDir())
	openOK(t, "sqlite://./.authflow/authflow.db")
	if _, err := os.Stat(filepath.Join(".authflow", "authflow.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
	openOK(t, "sqlite://relative/authflow.db")
	if _, err := os.Stat(filepath.Join("relative", "authflow.db")); err != nil {
		t.Fatalf("database file: %v", err)
	}
}

func TestSQLiteReopenMigratesOnce(t *testing.T) {
	url := "sqlite://" + filepath.Join(t.TempDir(), "authflow.db")
	s := openOK(t, url)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := opener.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("reopening: %v", err)
	}
	defer s.Close()
	if _, err := s.UserByEmail(context.Background(), "frank@example.com"); err != nil {
		t.Fatalf("data lost on reopening: %v", err)
	}
}

func TestBadURLs(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"mysql://root:hunter2@localhost/authflow", `unsupported database URL scheme "mysql"`},
		{"authflow.db", "must look like"},
		{"sqlite://", "without a path"},
	} {
		_, err := opener.Open(context.Background(), c.url)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%q) = %v, want an error containing %q", c.url, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error %q reveals the password", err)
		}
	}
}

func TestPostgres(t *testing.T) {
	url := os.Getenv("AUTHFLOW_TEST_DATABASE_URL")
	if url == "" {
		t.Skip("AUTHFLOW_TEST_DATABASE_URL is unset: PostgreSQL store tests skipped (set it to e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)")
	}
	ctx := context.Background()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := fmt.Sprintf("authflow_test_%x", b)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	// Registered before openOK's cleanup, so it runs after the store closed.
	t.Cleanup(func() {
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		_ = conn.Close(ctx)
	})
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	// The postgresql:// spelling, with the schema as a run-time parameter.
	openOK(t, strings.Replace(url, "postgres://", "postgresql://", 1)+sep+"search_path="+schema)
}
