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
	"sync"

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
	// ws and rs keep the statements prepared on w and r.
	ws, rs *stmtCache
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
	s.ws, s.rs = newStmtCache(s.w), newStmtCache(s.r)
	s.Store = sqlstore.New(db{w: s.ws, r: s.rs}, sqlstore.Dialect{Name: "sqlite"})
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
	for _, c := range []*stmtCache{s.rs, s.ws} {
		if c != nil {
			errs = append(errs, c.close())
		}
	}
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
type db struct{ w, r *stmtCache }

func (d db) Reader() sqlstore.Querier { return querier{c: d.r} }
func (d db) Writer() sqlstore.Querier { return querier{c: d.w} }

// Tx runs fn in a BEGIN IMMEDIATE transaction on the write connection.
func (d db) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	tx, err := d.w.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	q := querier{c: d.w, tx: tx, missed: new([]string)}
	committed := false
	defer func() {
		// Also on a panic in fn: the write connection must not stay taken.
		if !committed {
			_ = tx.Rollback()
		}
		// The connection is free again: prepare what the transaction could
		// not (preparing needs the connection the transaction held).
		for _, query := range *q.missed {
			_, _ = d.w.stmt(ctx, query)
		}
	}()
	if err := fn(q); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr(err)
	}
	committed = true
	return nil
}

// stmtCache keeps one prepared statement per query text. SQLite compiles a
// statement anew on every unprepared call, and compiling costs about as
// much as running the store's small queries (BenchmarkLoginQueries: half
// the time goes). database/sql prepares a cached statement once on each
// connection of the pool that runs it; SQLite prepares it again by itself
// after a schema change.
type stmtCache struct {
	db    *sql.DB
	limit int
	mu    sync.RWMutex
	m     map[string]*sql.Stmt
}

// maxCachedStmts bounds the cache. The store's SQL is a fixed set of about
// sixty texts; past the bound, statements run unprepared.
const maxCachedStmts = 256

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, limit: maxCachedStmts, m: map[string]*sql.Stmt{}}
}

// cached returns the statement prepared for query, if any, and whether the
// cache has room for another.
func (c *stmtCache) cached(query string) (st *sql.Stmt, room bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[query], len(c.m) < c.limit
}

// stmt returns the prepared statement for query, preparing it on a miss; nil
// when the cache is full. The lock is never held while preparing, which
// waits for a connection: a transaction holding the write connection must
// still be able to look statements up.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	st, room := c.cached(query)
	if st != nil || !room {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok {
		_ = st.Close() // prepared twice at once: keep the first
		return prev, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for q, st := range c.m {
		errs = append(errs, st.Close())
		delete(c.m, q)
	}
	return errors.Join(errs...)
}

// querier runs statements from the cache c, inside tx when it is set.
type querier struct {
	c  *stmtCache
	tx *sql.Tx
	// missed collects what tx ran unprepared, for Tx to prepare after it.
	missed *[]string
}

// stmt returns the prepared statement for query, bound to the transaction
// if there is one, or nil: run the query unprepared.
func (q querier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if q.tx == nil {
		return q.c.stmt(ctx, query)
	}
	st, room := q.c.cached(query)
	if st == nil {
		if room {
			*q.missed = append(*q.missed, query)
		}
		return nil, nil
	}
	// Uses the statement as prepared on the write connection; closed with
	// the transaction.
	return q.tx.StmtContext(ctx, st), nil
}

// direct is the unprepared path: the transaction or the pool itself.
func (q querier) direct() sqlQuerier {
	if q.tx != nil {
		return q.tx
	}
	return q.c.db
}

// sqlQuerier is what *sql.DB, *sql.Tx and *sql.Stmt share, the statement
// without its query text.
type sqlQuerier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return 0, mapErr(err)
	}
	var res sql.Result
	if st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.direct().ExecContext(ctx, query, args...)
	}
	if err != nil {
		return 0, mapErr(err)
	}
	n, err := res.RowsAffected()
	return n, mapErr(err)
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return nil, mapErr(err)
	}
	var rows *sql.Rows
	if st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.direct().QueryContext(ctx, query, args...)
	}
	if err != nil {
		return nil, mapErr(err)
	}
	return sqlRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	st, err := q.stmt(ctx, query)
	if err != nil {
		return errRow{mapErr(err)}
	}
	if st != nil {
		return sqlRow{st.QueryRowContext(ctx, args...)}
	}
	return sqlRow{q.direct().QueryRowContext(ctx, query, args...)}
}

// errRow is a row whose statement could not be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

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
