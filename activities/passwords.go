package activities

import (
	"context"
	"time"

	"github.com/authflow/authflow/store"
)

// PasswordGuard counts wrong passwords per account (by normalized email, so
// unknown emails lock too) and per client IP, and locks each with a
// back-off (docs/security.md "Password attempts"). The login's password
// step and the API's re-authentication (current_password) share it, so a
// stolen session cannot guess the password where the login would refuse.
//
// An attempt is reserved on both counters before the hash runs and given
// back when the password was right: 40 parallel wrong passwords for one
// account run exactly FailuresBeforeLock hashes, the rest are refused.
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

// PasswordAttempt is a reserved password attempt: until Succeeded is
// called it counts as a wrong password on the IP and the account.
type PasswordAttempt struct {
	g            PasswordGuard
	email, ip    string
	ipReserved   store.Reservation
	acctReserved store.Reservation
}

// Reserve counts an attempt on the IP and the account before the password
// is checked. retryAfter > 0 means one of them is locked: nothing is
// counted and the password must not be checked. An empty email or IP is
// not counted.
func (g PasswordGuard) Reserve(ctx context.Context, email, ip string) (att PasswordAttempt, retryAfter int, err error) {
	now := g.now()
	att = PasswordAttempt{g: g, email: NormalizeEmail(email), ip: ip}
	if ip != "" {
		if att.ipReserved, err = g.Store.ReserveAttempt(ctx, scopePasswordIP, ip, now, g.Limits.lockIPFor); err != nil {
			return att, 0, storeErr("reserve password attempt", err)
		}
		if !att.ipReserved.Granted {
			return att, ceilSeconds(att.ipReserved.State.LockedUntil.Sub(now)), nil
		}
	}
	if att.email != "" {
		if att.acctReserved, err = g.Store.ReserveAttempt(ctx, scopePassword, att.email, now, g.Limits.lockPasswordFor); err != nil {
			return att, 0, storeErr("reserve password attempt", err)
		}
		if !att.acctReserved.Granted {
			// The attempt will not run: it must not count on the IP either.
			if err := g.Store.ReleaseAttempt(ctx, scopePasswordIP, ip, att.ipReserved); err != nil {
				return att, 0, storeErr("release password attempt", err)
			}
			return att, ceilSeconds(att.acctReserved.State.LockedUntil.Sub(now)), nil
		}
	}
	return att, 0, nil
}

// Succeeded gives the attempt back: a right password resets the account's
// counter and does not count on the IP.
func (p PasswordAttempt) Succeeded(ctx context.Context) error {
	if p.email != "" {
		if err := p.g.Store.ResetAttempts(ctx, scopePassword, p.email); err != nil {
			return storeErr("reset attempts", err)
		}
	}
	if p.ip != "" {
		return storeErr("release password attempt", p.g.Store.ReleaseAttempt(ctx, scopePasswordIP, p.ip, p.ipReserved))
	}
	return nil
}

// Unlock ends the account's lockouts: the second step's (the hard cap
// included) and the password's. A password change and an admin's unlock
// call it (docs/security.md "Hard cap").
func Unlock(ctx context.Context, st store.Store, userID, email string) error {
	if err := st.ResetAttempts(ctx, scopeSecond, userID); err != nil {
		return err
	}
	return st.ResetAttempts(ctx, scopePassword, NormalizeEmail(email))
}
