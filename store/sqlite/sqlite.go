// Package sqlite is the SQLite implementation of store.Store, on the pure-Go
// driver modernc.org/sqlite (no cgo). It is authflow's embedded default.
//
// It holds up under concurrent use without SQLITE_BUSY: the database runs
// in WAL mode, so readers never block the writer nor each other; every write
// goes through one connection (a database/sql pool of size one, which queues
// writers in Go), and transactions start with BEGIN IMMEDIATE; reads use a
// separate pool of read-only connections; busy_timeout covers other
// processes opening the same file.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/internal/sqlstore"
	"github.com/authflow/authflow/store/migrations"
)

// Memory is the path Open takes for a private, throwaway database.
const Memory = ":memory:"

// Store is the SQLite store. Its data methods come from the shared
// implementation in store/internal/sqlstore.
type Store struct {
	*sqlstore.Store
	w, r *sql.DB
	// tmpDir holds the file of a Memory database; Close removes it.
	tmpDir string
}

var _ store.Store = (*Store)(nil)

// Open opens (creating it when missing) the database file at path; its
// parent directory must exist. Open(ctx, Memory) gives a private database in
// a temporary file that Close removes: it behaves like a file database (WAL,
// concurrent readers), which a shared-cache in-memory database does not.
// Open does not migrate: call Migrate (store/opener does both).
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: open %s: path must not contain ? or #", path)
	}
	s := &Store{}
	if path == Memory {
		dir, err := os.MkdirTemp("", "authflow-sqlite-")
		if err != nil {
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		s.tmpDir, path = dir, filepath.Join(dir, "authflow.db")
	}
	params := url.Values{}
	// Times are bound as INTEGER unix microseconds (sqlstore reads them back).
	params.Set("_time_integer_format", "unix_micro")
	params.Add("_pragma", "busy_timeout(10000)")
	params.Add("_pragma", "foreign_keys(1)")
	writeParams := cloneValues(params)
	// A transaction takes the write lock when it begins, so it never fails
	// to upgrade from reading to writing halfway through.
	writeParams.Set("_txlock", "immediate")
	writeParams.Add("_pragma", "journal_mode(WAL)")
	// NORMAL is durable in WAL mode except for the last commits on power loss.
	writeParams.Add("_pragma", "synchronous(NORMAL)")
	readParams := cloneValues(params)
	// Reads go to their own pool; query_only makes a write sent there by
	// mistake fail loudly instead of contending with the writer.
	readParams.Set("_query_only", "1")

	var err error
	if s.w, err = sql.Open("sqlite", path+"?"+writeParams.Encode()); err != nil {
		return nil, s.openFailed(path, err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	// The writer connects first: it switches the file to WAL before any
	// reader opens it.
	if err := s.w.PingContext(ctx); err != nil {
		return nil, s.openFailed(path, err)
	}
	if s.r, err = sql.Open("sqlite", path+"?"+readParams.Encode()); err != nil {
		return nil, s.openFailed(path, err)
	}
	readers := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(readers)
	s.r.SetMaxIdleConns(readers)
	if err := s.r.PingContext(ctx); err != nil {
		return nil, s.openFailed(path, err)
	}
	s.Store = sqlstore.New(db{w: s.w, r: s.r}, sqlstore.Dialect{Name: "sqlite"})
	return s, nil
}

func cloneValues(v url.Values) url.Values {
	c := url.Values{}
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func (s *Store) openFailed(path string, err error) error {
	_ = s.Close()
	return fmt.Errorf("sqlite: open %s: %w", path, err)
}

// Migrate applies the pending SQLite migrations.
func (s *Store) Migrate(ctx context.Context) error {
	if err := migrations.Up(ctx, s.w, migrations.SQLite); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// Ping checks both the write connection and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the connections and removes a Memory database.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	if s.w != nil {
		errs = append(errs, s.w.Close())
	}
	if s.tmpDir != "" {
		errs = append(errs, os.RemoveAll(s.tmpDir))
		s.tmpDir = ""
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// db adapts the two pools to sqlstore.DB.
type db struct{ w, r *sql.DB }

func (d db) Reader() sqlstore.Querier { return querier{d.r} }
func (d db) Writer() sqlstore.Querier { return querier{d.w} }

// Tx runs fn in a BEGIN IMMEDIATE transaction on the write connection.
func (d db) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	committed := false
	defer func() {
		// Also on a panic in fn: the write connection must not stay taken.
		if !committed {
			_ = tx.Rollback()
		}
	}()
	if err := fn(querier{tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr(err)
	}
	committed = true
	return nil
}

// sqlQuerier is what *sql.DB and *sql.Tx share.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type querier struct{ q sqlQuerier }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := q.q.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return sqlRow{q.q.QueryRowContext(ctx, query, args...)}
}

type sqlRow struct{ r *sql.Row }

func (r sqlRow) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type sqlRows struct{ r *sql.Rows }

func (r sqlRows) Next() bool             { return r.r.Next() }
func (r sqlRows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r sqlRows) Err() error             { return mapErr(r.r.Err()) }
func (r sqlRows) Close()                 { _ = r.r.Close() }

// mapErr marks the errors sqlstore tells apart.
func mapErr(err error) error {
	if err == nil || sqlstore.Classified(err) {
		return err
	}
	if errors.Is(err, sql.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	var e *sqlite.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", sqlstore.ErrUniqueViolation, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: %w", sqlstore.ErrForeignKeyViolation, err)
		}
	}
	return err
}
