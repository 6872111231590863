// Package sqlstore implements store.Store once, over the small DB interface
// that store/postgres (pgx) and store/sqlite (modernc.org/sqlite) adapt their
// drivers to. The SQL here is written for both dialects: $n placeholders
// (SQLite accepts them as ordinals), ON CONFLICT, RETURNING, TRUE/FALSE.
// What differs is named in Dialect; the schemas themselves live in
// store/migrations, one set per dialect.
//
// Times are passed to the driver as time.Time and read back through
// timeDest, which accepts time.Time (PostgreSQL timestamptz) and int64 unix
// microseconds (SQLite, whose connections are opened with
// _time_integer_format=unix_micro).
package sqlstore

import (
	"context"
	"errors"
)

// Querier runs SQL statements. Adapters translate driver errors so that
// errors.Is finds ErrNoRows, ErrUniqueViolation and ErrForeignKeyViolation.
type Querier interface {
	// Exec runs a statement and returns the number of rows it affected.
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	// Query runs a statement that returns rows; the caller closes them.
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// QueryRow runs a statement expected to return at most one row; Scan
	// reports ErrNoRows when it returned none.
	QueryRow(ctx context.Context, query string, args ...any) Row
}

// Rows is a result set being read.
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Row is a single-row result.
type Row interface {
	Scan(dest ...any) error
}

// DB is a database as the shared implementation uses it: where to read, where
// to write one statement, and how to run a transaction.
type DB interface {
	// Reader runs statements that only read.
	Reader() Querier
	// Writer runs single statements that write, each atomic on its own.
	Writer() Querier
	// Tx runs fn in one read-write transaction and commits when fn returns
	// nil. fn must use only the Querier it is given, and may be run again if
	// the database asks for a retry (a deadlock), so it must reset whatever
	// it reports.
	Tx(ctx context.Context, fn func(q Querier) error) error
}

// Errors the adapters report, wrapping the driver's own error.
var (
	// ErrNoRows means QueryRow found no row.
	ErrNoRows = errors.New("no rows in result set")
	// ErrUniqueViolation means a unique or primary key constraint failed.
	ErrUniqueViolation = errors.New("unique constraint violated")
	// ErrForeignKeyViolation means a referenced row (a user) does not exist.
	ErrForeignKeyViolation = errors.New("foreign key constraint violated")
)

// Dialect holds what differs between the databases in the shared SQL.
type Dialect struct {
	// Name prefixes every error ("postgres", "sqlite").
	Name string
	// ForUpdate ends a SELECT whose rows must stay locked until the
	// transaction ends (" FOR UPDATE" on PostgreSQL). SQLite leaves it empty:
	// its write transactions are serialized whole (BEGIN IMMEDIATE on one
	// write connection).
	ForUpdate string
	// WritableCTE says a WITH may hold an INSERT whose RETURNING rows the
	// statement reads (PostgreSQL): two dependent writes are then one
	// statement, one round trip, where SQLite (which has none, and no round
	// trips to save) runs a transaction.
	WritableCTE bool
}

// Classified reports whether err carries one of the errors above already, so
// an adapter does not mark it twice.
func Classified(err error) bool {
	return errors.Is(err, ErrNoRows) || errors.Is(err, ErrUniqueViolation) || errors.Is(err, ErrForeignKeyViolation)
}
