// Package postgres is the PostgreSQL implementation of store.Store, on a
// pgx/v5 connection pool. It is what production runs.
//
// Operations that must be atomic are single statements (UseTOTPStep,
// LinkTelegram, a reservation that sets no lock, an event with its webhook
// outbox) or read-committed transactions that lock the rows they decide on
// (AddFailure, a reservation that locks, UnlinkBankCards, the downgrade
// steps), always in the same order; a transaction the server aborts as a
// deadlock or serialization failure is retried.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/internal/sqlstore"
	"github.com/authflow/authflow/store/migrations"
)

// Store is the PostgreSQL store. Its data methods come from the shared
// implementation in store/internal/sqlstore.
type Store struct {
	*sqlstore.Store
	pool *pgxpool.Pool
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://… or postgresql://…;
// pgxpool parameters such as pool_max_conns, and run-time parameters such as
// search_path, may be given in the query). Open does not migrate: call
// Migrate (store/opener does both).
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("postgres: open: invalid database URL")
	}
	return OpenConfig(ctx, cfg)
}

// OpenConfig connects with a pool configuration, for callers that set it up
// themselves (tests set ConnConfig.RuntimeParams["search_path"] to a schema
// of their own).
func OpenConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return New(pool), nil
}

// New returns a store on an open pool; Close closes the pool.
func New(pool *pgxpool.Pool) *Store {
	return &Store{
		Store: sqlstore.New(db{pool}, sqlstore.Dialect{Name: "postgres", ForUpdate: " FOR UPDATE", WritableCTE: true}),
		pool:  pool,
	}
}

// Migrate applies the pending PostgreSQL migrations to the current schema
// (the first of the search_path), under an advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	sqlDB := stdlib.OpenDBFromPool(s.pool)
	defer sqlDB.Close() // leaves the pool open
	if err := migrations.Up(ctx, sqlDB, migrations.Postgres); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// db adapts the pool to sqlstore.DB.
type db struct{ pool *pgxpool.Pool }

func (d db) Reader() sqlstore.Querier { return querier{d.pool} }
func (d db) Writer() sqlstore.Querier { return querier{d.pool} }

// maxTxAttempts bounds the retries of a transaction PostgreSQL aborted as a
// deadlock or serialization failure.
const maxTxAttempts = 3

// Tx runs fn in a read-committed transaction, retrying it when PostgreSQL
// aborts it as a deadlock or a serialization failure.
func (d db) Tx(ctx context.Context, fn func(sqlstore.Querier) error) error {
	var err error
	for range maxTxAttempts {
		err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error { return fn(querier{tx}) })
		if !retryable(err) {
			break
		}
	}
	return mapErr(err)
}

func retryable(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && (e.Code == "40001" || e.Code == "40P01")
}

// pgxQuerier is what *pgxpool.Pool and pgx.Tx share.
type pgxQuerier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type querier struct{ q pgxQuerier }

func (q querier) Exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := q.q.Exec(ctx, query, args...)
	if err != nil {
		return 0, mapErr(err)
	}
	return tag.RowsAffected(), nil
}

func (q querier) Query(ctx context.Context, query string, args ...any) (sqlstore.Rows, error) {
	rows, err := q.q.Query(ctx, query, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	return pgRows{rows}, nil
}

func (q querier) QueryRow(ctx context.Context, query string, args ...any) sqlstore.Row {
	return pgRow{q.q.QueryRow(ctx, query, args...)}
}

type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }

type pgRows struct{ r pgx.Rows }

func (r pgRows) Next() bool             { return r.r.Next() }
func (r pgRows) Scan(dest ...any) error { return mapErr(r.r.Scan(dest...)) }
func (r pgRows) Err() error             { return mapErr(r.r.Err()) }
func (r pgRows) Close()                 { r.r.Close() }

// mapErr marks the errors sqlstore tells apart.
func mapErr(err error) error {
	if err == nil || sqlstore.Classified(err) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return sqlstore.ErrNoRows
	}
	var e *pgconn.PgError
	if errors.As(err, &e) {
		switch e.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", sqlstore.ErrUniqueViolation, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: %w", sqlstore.ErrForeignKeyViolation, err)
		}
	}
	return err
}
