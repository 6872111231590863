package rules

import (
	"context"
	"fmt"
	"time"

	"github.com/authflow/authflow/store"
)

// Attempt counter scopes in the store.
const (
	// ScopePassword counts wrong passwords per normalized email, so unknown
	// emails lock too.
	ScopePassword = "password"
	// ScopePasswordIP counts wrong passwords per client IP.
	ScopePasswordIP = "password_ip"
	// ScopeSecondFactor counts wrong second-step answers per user id.
	ScopeSecondFactor = "2fa"
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
	Store  store.Attempts
	Limits Limits
	// Now is the clock (nil: time.Now).
	Now func() time.Time
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
		if att.ipReserved, err = g.Store.ReserveAttempt(ctx, ScopePasswordIP, ip, now, g.Limits.LockIPFor); err != nil {
			return att, 0, fmt.Errorf("reserve password attempt: %w", err)
		}
		if !att.ipReserved.Granted {
			return att, CeilSeconds(att.ipReserved.State.LockedUntil.Sub(now)), nil
		}
	}
	if att.email != "" {
		if att.acctReserved, err = g.Store.ReserveAttempt(ctx, ScopePassword, att.email, now, g.Limits.LockPasswordFor); err != nil {
			return att, 0, fmt.Errorf("reserve password attempt: %w", err)
		}
		if !att.acctReserved.Granted {
			// The attempt will not run: it must not count on the IP either.
			if err := g.Store.ReleaseAttempt(ctx, ScopePasswordIP, ip, att.ipReserved); err != nil {
				return att, 0, fmt.Errorf("release password attempt: %w", err)
			}
			return att, CeilSeconds(att.acctReserved.State.LockedUntil.Sub(now)), nil
		}
	}
	return att, 0, nil
}

// Succeeded gives the attempt back: a right password resets the account's
// counter and does not count on the IP.
func (p PasswordAttempt) Succeeded(ctx context.Context) error {
	if p.email != "" {
		if err := p.g.Store.ResetAttempts(ctx, ScopePassword, p.email); err != nil {
			return fmt.Errorf("reset attempts: %w", err)
		}
	}
	if p.ip != "" {
		if err := p.g.Store.ReleaseAttempt(ctx, ScopePasswordIP, p.ip, p.ipReserved); err != nil {
			return fmt.Errorf("release password attempt: %w", err)
		}
	}
	return nil
}

// Unlock ends the account's lockouts: the second step's (the hard cap
// included) and the password's. A password change and an admin's unlock
// call it (docs/security.md "Hard cap").
func Unlock(ctx context.Context, st store.Attempts, userID, email string) error {
	if err := st.ResetAttempts(ctx, ScopeSecondFactor, userID); err != nil {
		return err
	}
	return st.ResetAttempts(ctx, ScopePassword, NormalizeEmail(email))
}
