package sqlstore

import (
	"context"
	"time"

	"github.com/authflow/authflow/store"
)

// AcquireLease takes, renews or refuses name in one statement: the upsert
// changes the row only when it is holder's or expired, so two processes
// racing for a free or expired lease cannot both get it (PostgreSQL locks
// the row for the conflict's update; SQLite serializes writers).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (store.Lease, bool, error) {
	const op = "acquire lease"
	switch {
	case name == "" || holder == "":
		return store.Lease{}, false, s.invalid(op, "empty name or holder")
	case ttl <= 0:
		return store.Lease{}, false, s.invalid(op, "ttl must be positive")
	}
	now = s.stamp(now)
	l := store.Lease{Name: name}
	err := s.db.Writer().QueryRow(ctx,
		`INSERT INTO leases (name, holder, acquired_at, expires_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at,
		   acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END
		 WHERE leases.holder = excluded.holder OR leases.expires_at <= excluded.acquired_at
		 RETURNING holder, acquired_at, expires_at`,
		name, holder, now, ts(now.Add(ttl))).Scan(&l.Holder, timeDest{&l.AcquiredAt}, timeDest{&l.ExpiresAt})
	if err == nil {
		return l, true, nil
	}
	if !isNoRows(err) {
		return store.Lease{}, false, s.wrap(op, err)
	}
	// Held by another: say who, until when. (Released between the two
	// statements, it is free now: the caller's next try takes it.)
	err = s.db.Reader().QueryRow(ctx, `SELECT holder, acquired_at, expires_at FROM leases WHERE name = $1`, name).
		Scan(&l.Holder, timeDest{&l.AcquiredAt}, timeDest{&l.ExpiresAt})
	if err != nil && !isNoRows(err) {
		return store.Lease{}, false, s.wrap(op, err)
	}
	return l, false, nil
}

// ReleaseLease deletes holder's row; another holder's stays.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.db.Writer().Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return s.wrap("release lease", err)
	}
	return nil
}
