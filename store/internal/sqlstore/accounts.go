package sqlstore

import (
	"context"
	"strings"
	"time"

	"github.com/authflow/authflow/store"
)

const userCols = `id, email, password_hash, created_at`

func scanUser(r scanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Email, &u.PasswordHash, timeDest{&u.CreatedAt})
	return u, err
}

// CreateUser adds an account; ErrConflict when the email is taken.
func (s *Store) CreateUser(ctx context.Context, email, passwordHash string) (store.User, error) {
	const op = "create user"
	u := store.User{
		ID:           NewID(),
		Email:        NormalizeEmail(email),
		PasswordHash: passwordHash,
		CreatedAt:    s.stamp(time.Time{}),
	}
	if u.Email == "" {
		return store.User{}, s.invalid(op, "empty email")
	}
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)`,
		u.ID, u.Email, u.PasswordHash, u.CreatedAt)
	if err != nil {
		return store.User{}, s.wrap(op, err)
	}
	return u, nil
}

// UserByID returns an account; ErrNotFound when absent.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.db.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if err != nil {
		return store.User{}, s.wrap("user by id", err)
	}
	return u, nil
}

// UserByEmail looks the email up case-insensitively (emails are stored
// trimmed and lower-cased).
func (s *Store) UserByEmail(ctx context.Context, email string) (store.User, error) {
	u, err := scanUser(s.db.Reader().QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE email = $1`, NormalizeEmail(email)))
	if err != nil {
		return store.User{}, s.wrap("user by email", err)
	}
	return u, nil
}

// ListUsers lists accounts by email (emails are stored trimmed and
// lower-cased, so the filter is lower-cased too), keyset-paged on the
// email's unique index.
func (s *Store) ListUsers(ctx context.Context, q store.UserQuery) ([]store.User, error) {
	const op = "list users"
	if q.Limit < 1 {
		return nil, s.invalid(op, "limit must be at least 1")
	}
	out, err := list(ctx, s.db.Reader(), scanUser,
		`SELECT `+userCols+` FROM users WHERE email LIKE $1 ESCAPE '\' AND email > $2 ORDER BY email LIMIT $3`,
		"%"+likeEscaper.Replace(NormalizeEmail(q.EmailContains))+"%", NormalizeEmail(q.AfterEmail), q.Limit)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	return out, nil
}

// likeEscaper makes text match itself in a LIKE pattern with ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// SetPasswordHash replaces an account's password hash; ErrNotFound when the
// account does not exist.
func (s *Store) SetPasswordHash(ctx context.Context, userID, passwordHash string) error {
	n, err := s.db.Writer().Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, passwordHash)
	return s.notFoundIfNone("set password hash", n, err)
}

const sessionCols = `id, user_id, token_hash, authenticated_at, created_at, last_seen_at, expires_at, ip, user_agent`

func scanSession(r scanner) (store.Session, error) {
	var x store.Session
	err := r.Scan(&x.ID, &x.UserID, &x.TokenHash, timeDest{&x.AuthenticatedAt}, timeDest{&x.CreatedAt},
		timeDest{&x.LastSeenAt}, timeDest{&x.ExpiresAt}, &x.IP, &x.UserAgent)
	return x, err
}

// CreateSession stores a session and returns it as stored. An empty ID is
// generated; a zero CreatedAt is now, and zero AuthenticatedAt and LastSeenAt
// are CreatedAt. UserID, TokenHash and ExpiresAt are required. A token hash
// in use is ErrConflict; an unknown user is ErrNotFound.
func (s *Store) CreateSession(ctx context.Context, x store.Session) (store.Session, error) {
	const op = "create session"
	switch {
	case x.UserID == "":
		return store.Session{}, s.invalid(op, "empty user id")
	case len(x.TokenHash) == 0:
		return store.Session{}, s.invalid(op, "empty token hash")
	case x.ExpiresAt.IsZero():
		return store.Session{}, s.invalid(op, "zero expiry")
	}
	if x.ID == "" {
		x.ID = NewID()
	}
	x.CreatedAt = s.stamp(x.CreatedAt)
	if x.AuthenticatedAt.IsZero() {
		x.AuthenticatedAt = x.CreatedAt
	}
	if x.LastSeenAt.IsZero() {
		x.LastSeenAt = x.CreatedAt
	}
	x.AuthenticatedAt, x.LastSeenAt, x.ExpiresAt = ts(x.AuthenticatedAt), ts(x.LastSeenAt), ts(x.ExpiresAt)
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO sessions (`+sessionCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		x.ID, x.UserID, x.TokenHash, x.AuthenticatedAt, x.CreatedAt, x.LastSeenAt, x.ExpiresAt, x.IP, x.UserAgent)
	if err != nil {
		return store.Session{}, s.wrap(op, err)
	}
	return x, nil
}

// SessionByTokenHash returns ErrNotFound for unknown or expired sessions.
func (s *Store) SessionByTokenHash(ctx context.Context, tokenHash []byte, now time.Time) (store.Session, error) {
	x, err := scanSession(s.db.Reader().QueryRow(ctx,
		`SELECT `+sessionCols+` FROM sessions WHERE token_hash = $1 AND expires_at > $2`, tokenHash, ts(now)))
	if err != nil {
		return store.Session{}, s.wrap("session by token hash", err)
	}
	return x, nil
}

// TouchSession records activity; last_seen_at never moves backwards.
// ErrNotFound when the session does not exist.
func (s *Store) TouchSession(ctx context.Context, id string, now time.Time) error {
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE sessions SET last_seen_at = CASE WHEN last_seen_at < $2 THEN $2 ELSE last_seen_at END WHERE id = $1`,
		id, ts(now))
	return s.notFoundIfNone("touch session", n, err)
}

// MarkAuthenticated moves AuthenticatedAt to now; ErrNotFound when the
// session does not exist.
func (s *Store) MarkAuthenticated(ctx context.Context, id string, now time.Time) error {
	n, err := s.db.Writer().Exec(ctx, `UPDATE sessions SET authenticated_at = $2 WHERE id = $1`, id, ts(now))
	return s.notFoundIfNone("mark session authenticated", n, err)
}

// ListSessions returns the user's unexpired sessions, oldest first.
func (s *Store) ListSessions(ctx context.Context, userID string, now time.Time) ([]store.Session, error) {
	out, err := list(ctx, s.db.Reader(), scanSession,
		`SELECT `+sessionCols+` FROM sessions WHERE user_id = $1 AND expires_at > $2 ORDER BY created_at, id`,
		userID, ts(now))
	if err != nil {
		return nil, s.wrap("list sessions", err)
	}
	return out, nil
}

// DeleteSession ends one session of the user; ErrNotFound when absent or
// another user's.
func (s *Store) DeleteSession(ctx context.Context, userID, id string) error {
	n, err := s.db.Writer().Exec(ctx, `DELETE FROM sessions WHERE id = $1 AND user_id = $2`, id, userID)
	return s.notFoundIfNone("delete session", n, err)
}

// DeleteOtherSessions ends every session of the user except keepID (keepID
// "" ends all) and says how many ended, expired ones included.
func (s *Store) DeleteOtherSessions(ctx context.Context, userID, keepID string) (int, error) {
	n, err := s.db.Writer().Exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
	if err != nil {
		return 0, s.wrap("delete other sessions", err)
	}
	return int(n), nil
}
