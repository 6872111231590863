package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authflow/authflow/store"
)

// Store implements every data method of store.Store (all but Ping and
// Close, which the dialect packages add) on a DB.
type Store struct {
	db DB
	d  Dialect
	// now stamps rows whose method takes no time (CreateUser, AddPhone...).
	now func() time.Time
}

// New returns the shared implementation running on db.
func New(db DB, d Dialect) *Store {
	return &Store{db: db, d: d, now: time.Now}
}

// NewID returns an opaque random id: 26 base32 characters carrying 128 bits
// from crypto/rand.
func NewID() string {
	return rand.Text()
}

// NormalizeEmail trims and lower-cases an email, the form stored and looked
// up.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// ts is how every time is stored: UTC, truncated to the microsecond both
// databases keep, so what a method returns equals what is read back later.
func ts(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// stamp returns t as stored, or the current time when t is zero.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return ts(s.now())
	}
	return ts(t)
}

// timeDest scans a time column: time.Time from PostgreSQL, int64 unix
// microseconds from SQLite; NULL leaves the zero time.
type timeDest struct{ t *time.Time }

// Scan implements sql.Scanner.
func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*d.t = time.Time{}
	case time.Time:
		*d.t = v.UTC()
	case int64:
		*d.t = time.UnixMicro(v).UTC()
	default:
		return fmt.Errorf("cannot scan %T into a time", src)
	}
	return nil
}

// nullTimeDest scans a nullable time column into a pointer (nil for NULL).
type nullTimeDest struct{ t **time.Time }

// Scan implements sql.Scanner.
func (d nullTimeDest) Scan(src any) error {
	if src == nil {
		*d.t = nil
		return nil
	}
	var t time.Time
	if err := (timeDest{&t}).Scan(src); err != nil {
		return err
	}
	*d.t = &t
	return nil
}

var (
	_ sql.Scanner = timeDest{}
	_ sql.Scanner = nullTimeDest{}
)

// nullTime is a nullable time argument.
func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return ts(*t)
}

// nullBytes is a nullable blob argument: empty is NULL (a driver may bind an
// empty slice as a zero-length blob, which is not NULL).
func nullBytes(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// nullString is a nullable text argument: "" is NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// wrap gives err the context of op and maps the adapters' errors to the
// store's sentinels: no row and a missing referenced user are
// store.ErrNotFound, a unique violation is store.ErrConflict.
func (s *Store) wrap(op string, err error) error {
	switch {
	case errors.Is(err, ErrNoRows):
		return fmt.Errorf("%s: %s: %w", s.d.Name, op, store.ErrNotFound)
	case errors.Is(err, ErrForeignKeyViolation):
		return fmt.Errorf("%s: %s: no such user: %w", s.d.Name, op, store.ErrNotFound)
	case errors.Is(err, ErrUniqueViolation):
		return fmt.Errorf("%s: %s: %w (%v)", s.d.Name, op, store.ErrConflict, err)
	default:
		return fmt.Errorf("%s: %s: %w", s.d.Name, op, err)
	}
}

// invalid reports an argument the store refuses.
func (s *Store) invalid(op, why string) error {
	return fmt.Errorf("%s: %s: %s", s.d.Name, op, why)
}

// notFoundIfNone turns "no row affected" into store.ErrNotFound.
func (s *Store) notFoundIfNone(op string, n int64, err error) error {
	if err != nil {
		return s.wrap(op, err)
	}
	if n == 0 {
		return s.wrap(op, ErrNoRows)
	}
	return nil
}

// scanner is a Row or the current row of Rows.
type scanner interface {
	Scan(dest ...any) error
}

// list runs query and scans every row with scan. It never returns a nil
// slice, so an empty list encodes as [] rather than null.
func list[T any](ctx context.Context, q Querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// isNoRows reports whether err is the adapters' ErrNoRows.
func isNoRows(err error) bool {
	return errors.Is(err, ErrNoRows)
}
