package rules

import (
	"time"

	"github.com/authflow/authflow/phone"
)

// Limits are the brute-force and send limits (docs/security.md).
type Limits struct {
	// FailuresBeforeLock wrong answers in a row lock the account's second
	// step (and, separately, its password) with a back-off.
	FailuresBeforeLock int
	// IPFailuresBeforeLock is higher: one IP may be a whole office behind
	// NAT, and one attacker's IP still gets throttled.
	IPFailuresBeforeLock int
	// LockBase is the first back-off; it doubles up to LockMax.
	LockBase, LockMax time.Duration
	// HardCap wrong second-step answers in a row lock the account's second
	// step for good: no more back-off cycles until the password is changed
	// or an admin unlocks it (NIST 800-63B §5.2.2 allows at most 100).
	HardCap int
	// SendsPerAccount and SendsPerRecipient bound codes, calls and prompts
	// within SendWindow (ASVS 5.0 6.6.3/6.6.4). Notices never count.
	SendsPerAccount, SendsPerRecipient int
	SendWindow                         time.Duration
	// EnrollSendsPerAccount and EnrollSendsPerIP bound codes to numbers
	// not yet verified (phone enrollment) within SendWindow, on budgets of
	// their own: such sends never use up the budget of the account that
	// owns the number (per recipient, they count apart from its codes).
	EnrollSendsPerAccount, EnrollSendsPerIP int
	// PhoneSendsPerHour caps every SMS and call of every account together
	// in the last hour (AUTHFLOW_PHONE_SENDS_PER_HOUR): past it, phone
	// sends fail as unavailable, the worker logs an ERROR and counts the
	// refusal. 0: no cap.
	PhoneSendsPerHour int
}

// DefaultLimits are docs/api.md's numbers: 10 failures, then 60 s doubling
// to 1 h, and the hard cap at 20.
var DefaultLimits = Limits{
	FailuresBeforeLock:   10,
	IPFailuresBeforeLock: 100,
	LockBase:             time.Minute,
	LockMax:              time.Hour,
	HardCap:              20,
	SendsPerAccount:      10,
	SendsPerRecipient:    5,
	SendWindow:           time.Hour,

	EnrollSendsPerAccount: 5,
	EnrollSendsPerIP:      10,
	PhoneSendsPerHour:     phone.DefaultSendsPerHour,
}

// OrDefault is l, or DefaultLimits when l is the zero value.
func (l Limits) OrDefault() Limits {
	if l == (Limits{}) {
		return DefaultLimits
	}
	return l
}

// HardLock is how long the hard cap locks an account's second step: for
// good, in practice; only a password change or an admin unlock ends it.
const HardLock = 100 * 365 * 24 * time.Hour

// LockFor is the second step's back-off after the n-th wrong answer in a
// row, or the hard lock from the hard cap on.
func (l Limits) LockFor(n int) time.Duration {
	if l.HardCap > 0 && n >= l.HardCap {
		return HardLock
	}
	return l.backoff(n, l.FailuresBeforeLock)
}

// LockPasswordFor is the back-off after the n-th wrong password in a row
// (passwords have no hard cap: a locked-out owner could not log in).
func (l Limits) LockPasswordFor(n int) time.Duration { return l.backoff(n, l.FailuresBeforeLock) }

// LockIPFor is LockPasswordFor for client IPs.
func (l Limits) LockIPFor(n int) time.Duration { return l.backoff(n, l.IPFailuresBeforeLock) }

func (l Limits) backoff(n, threshold int) time.Duration {
	if n < threshold {
		return 0
	}
	d := l.LockBase
	for i := threshold; i < n && d < l.LockMax; i++ {
		d *= 2
	}
	return min(d, l.LockMax)
}

// HardLocked reports whether failures wrong answers in a row reached the
// hard cap.
func (l Limits) HardLocked(failures int) bool { return l.HardCap > 0 && failures >= l.HardCap }

// CeilSeconds is d in whole seconds, rounded up: a Retry-After never says
// "0" for a lock that has not ended.
func CeilSeconds(d time.Duration) int { return int((d + time.Second - 1) / time.Second) }
