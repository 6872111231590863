package rules

import (
	"context"
	"time"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// RecentLogin is how fresh a session's last full login must be to change
// factors without current_password (ASVS 5.0 7.5.1).
const RecentLogin = 15 * time.Minute

// Reauthenticate enforces the recent-login rule for a change made by the
// session c.SessionID, last fully authenticated at authenticatedAt:
// without currentPassword the login must be under RecentLogin old
// (ReauthRequired otherwise); with it, the password is checked
// (CheckPassword), whatever the session's age, and a right one
// re-authenticates the session.
func (a *Account) Reauthenticate(ctx context.Context, c Change, authenticatedAt time.Time, currentPassword *string) error {
	if currentPassword == nil || *currentPassword == "" {
		if a.now().Sub(authenticatedAt) <= RecentLogin {
			return nil
		}
		return errkind.New(errkind.ReauthRequired, "the last sign-in is older than 15 minutes: send current_password")
	}
	u, err := a.Store.UserByID(ctx, c.UserID)
	if err != nil {
		return err
	}
	if err := a.CheckPassword(ctx, c, u, *currentPassword); err != nil {
		return err
	}
	return a.Store.MarkAuthenticated(ctx, c.SessionID, a.now())
}

// CheckPassword checks a signed-in user's password under the login's
// guard: RateLimited while the account or the IP is locked, and a wrong
// one (WrongCurrentPassword) counts like a wrong password at login.
// Without it, a stolen session could guess the password at the speed of
// the server.
func (a *Account) CheckPassword(ctx context.Context, c Change, u store.User, password string) error {
	g := PasswordGuard{Store: a.Store, Limits: a.Limits.OrDefault(), Now: a.Now}
	attempt, retryAfter, err := g.Reserve(ctx, u.Email, c.IP)
	if err != nil {
		return err
	}
	if retryAfter > 0 {
		return errkind.New(errkind.RateLimited, "too many attempts; try again later", errkind.RateLimitDetails{RetryAfterSeconds: retryAfter})
	}
	if !a.Hasher.Verify(u.PasswordHash, password) {
		// The reservation stands: it is the wrong password's count.
		_ = a.record(ctx, Change{UserID: u.ID, IP: c.IP}, Event{"login_failed", map[string]any{"reason": "wrong_current_password"}})
		return errkind.New(errkind.WrongCurrentPassword, "the current password is wrong")
	}
	return attempt.Succeeded(ctx)
}

// AdminUnlock ends the account's lockouts, the second step's hard cap
// included (docs/security.md "Hard cap"), for an administrator, and
// records it.
func (a *Account) AdminUnlock(ctx context.Context, c Change, email string) error {
	if err := Unlock(ctx, a.Store, c.UserID, email); err != nil {
		return err
	}
	return a.record(ctx, c, Event{"account_unlocked", map[string]any{"by": "admin"}})
}
