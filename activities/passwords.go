package activities

import (
	"context"
	"time"

	"github.com/authflow/authflow/store"
)

// PasswordGuard counts wrong passwords per account (by normalized email, so
// unknown emails lock too) and per client IP, and locks each with a
// back-off (SECURITY.md, "Password attempts"). The login's password step
// and the API's re-authentication (current_password) share it, so a stolen
// session cannot guess the password where the login would refuse.
type PasswordGuard struct {
	Store  store.Store
	Limits Limits
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// passwords is the guard the activities use (a method the worker would
// register as an activity if it were exported).
func (a *Activities) passwords() PasswordGuard {
	return PasswordGuard{Store: a.Store, Limits: a.Limits, Now: a.now}
}

func (g PasswordGuard) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

// Check reports how many seconds the IP or the account must still wait
// (0: go ahead), and whether the account's counter has anything a right
// password should reset. An empty email or IP is not counted.
func (g PasswordGuard) Check(ctx context.Context, email, ip string) (retryAfter int, counted bool, err error) {
	now := g.now()
	for _, c := range []struct{ scope, key string }{{scopePasswordIP, ip}, {scopePassword, NormalizeEmail(email)}} {
		if c.key == "" {
			continue
		}
		st, err := g.Store.GetAttempts(ctx, c.scope, c.key)
		if err != nil {
			return 0, false, storeErr("password attempts", err)
		}
		if st.LockedUntil.After(now) {
			return ceilSeconds(st.LockedUntil.Sub(now)), false, nil
		}
		if c.scope == scopePassword {
			counted = st.Failures > 0 || !st.LockedUntil.IsZero()
		}
	}
	return 0, counted, nil
}

// Failed counts a wrong password against the IP and the account.
func (g PasswordGuard) Failed(ctx context.Context, email, ip string) error {
	now := g.now()
	for _, c := range []struct {
		scope, key string
		lock       func(int) time.Duration
	}{{scopePasswordIP, ip, g.Limits.lockIPFor}, {scopePassword, NormalizeEmail(email), g.Limits.lockFor}} {
		if c.key == "" {
			continue
		}
		if _, err := g.Store.AddFailure(ctx, c.scope, c.key, now, c.lock); err != nil {
			return storeErr("count failure", err)
		}
	}
	return nil
}

// Succeeded resets the account's counter after a right password.
func (g PasswordGuard) Succeeded(ctx context.Context, email string) error {
	return storeErr("reset attempts", g.Store.ResetAttempts(ctx, scopePassword, NormalizeEmail(email)))
}
