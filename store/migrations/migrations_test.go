package migrations_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/authflow/authflow/store/migrations"
)

func TestSetsMatch(t *testing.T) {
	names := func(d migrations.Dialect) []string {
		fsys, err := migrations.FS(d)
		if err != nil {
			t.Fatal(err)
		}
		m, err := fs.Glob(fsys, "*.sql")
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	pg, lite := names(migrations.Postgres), names(migrations.SQLite)
	if len(pg) == 0 || len(pg) != len(lite) {
		t.Fatalf("postgres migrations %v, sqlite migrations %v: want the same versions", pg, lite)
	}
	for i := range pg {
		if pg[i] != lite[i] {
			t.Errorf("migration %d: postgres %s, sqlite %s", i, pg[i], lite[i])
		}
	}
	if _, err := migrations.FS("mysql"); err == nil {
		t.Error("FS(mysql) succeeded")
	}
}

func TestSQLiteUpDownUp(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatal(err)
	}
	p, err := migrations.NewProvider(ctx, db, migrations.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		t.Fatalf("down: %v", err)
	}
	var tables int
	if err := db.QueryRowContext(ctx,
		`SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'goose%' AND name NOT LIKE 'sqlite%'`).
		Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Errorf("%d tables left after migrating down", tables)
	}
	if err := migrations.Up(ctx, db, migrations.SQLite); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
