package rules

import (
	"context"
	"errors"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// Why sessions end, as their sessions_ended events say.
const (
	EndedByUser            = "user"
	EndedByPasswordChange  = "password_changed"
	EndedByTwoFactorTurnOn = "two_factor_enabled"
)

// ChangePassword stores a new password hash (the caller checked the
// current password and hashed the new one). A new password ends the
// account's lockouts — the second step's hard cap too: whoever guessed at
// it no longer has the password — re-authenticates the session that made
// the change and ends every other one.
func (a *Account) ChangePassword(ctx context.Context, c Change, email, hash string) (Result, error) {
	if err := a.Store.SetPasswordHash(ctx, c.UserID, hash); err != nil {
		return Result{}, err
	}
	if err := Unlock(ctx, a.Store, c.UserID, email); err != nil {
		return Result{}, err
	}
	if c.SessionID != "" {
		if err := a.Store.MarkAuthenticated(ctx, c.SessionID, a.now()); err != nil {
			return Result{}, err
		}
	}
	if err := a.record(ctx, c, Event{Type: "password_changed"}); err != nil {
		return Result{}, err
	}
	n, err := a.EndOtherSessions(ctx, c, EndedByPasswordChange)
	return Result{Changed: true, SessionsEnded: n}, err
}

// EndOtherSessions ends every session of the account but the one making
// the change, and records it (nothing when there was none).
func (a *Account) EndOtherSessions(ctx context.Context, c Change, reason string) (int, error) {
	n, err := a.Store.DeleteOtherSessions(ctx, c.UserID, c.SessionID)
	if err != nil || n == 0 {
		return n, err
	}
	return n, a.record(ctx, Change{UserID: c.UserID, IP: c.IP},
		Event{"sessions_ended", map[string]any{"count": n, "reason": reason}})
}

// EndSession ends one session of the account (NotFound for another's) and
// records it.
func (a *Account) EndSession(ctx context.Context, c Change, sessionID string) error {
	if err := a.Store.DeleteSession(ctx, c.UserID, sessionID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errkind.Wrap(errkind.NotFound, "no such session", err)
		}
		return err
	}
	return a.record(ctx, Change{UserID: c.UserID, IP: c.IP},
		Event{"sessions_ended", map[string]any{"count": 1, "reason": EndedByUser}})
}
