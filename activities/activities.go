// Package activities holds every side effect of authflow's workflows: the
// store, the channels (email, SMS, calls, Telegram), WebAuthn ceremonies and
// the billing webhook. Workflows call them through `var a *Activities`;
// activities never import workflows.
package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"go.temporal.io/sdk/activity"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Activities is registered once with the worker; its fields are its
// dependencies.
type Activities struct {
	Store     store.Store
	Hasher    *security.Hasher
	Sealer    *security.Sealer
	SecretKey []byte
	WebAuthn  *webauthn.WebAuthn

	Email    channels.EmailSender
	SMS      channels.SMSSender
	Voice    channels.Caller
	Telegram channels.TelegramSender
	Billing  BillingNotifier

	// FlashCalls is the pool a flash call's caller is drawn from; empty:
	// every number's call dictates its code.
	FlashCalls phone.FlashPool
	// PhonePolicy says which numbers get codes (type, region:
	// AUTHFLOW_PHONE_REGIONS); the zero value allows mobiles of every region.
	PhonePolicy phone.Policy
	// SessionTTL is how long a login session lives.
	SessionTTL time.Duration
	// Limits bound failures and sends.
	Limits Limits
	// Now is the clock (tests move it).
	Now func() time.Time
	Log *slog.Logger
	// Metrics counts logins and sagas; nil counts nothing.
	Metrics Metrics
}

// Limits are the brute-force and send limits of SECURITY.md.
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

// DefaultLimits are API.md's numbers: 10 failures, then 60 s doubling to 1 h.
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

// HardLock is how long the hard cap locks an account's second step: for
// good, in practice; only a password change or an admin unlock ends it.
const HardLock = 100 * 365 * 24 * time.Hour

// lockFor is the second step's back-off after the n-th wrong answer in a
// row, or the hard lock from the hard cap on.
func (l Limits) lockFor(n int) time.Duration {
	if l.HardCap > 0 && n >= l.HardCap {
		return HardLock
	}
	return l.backoff(n, l.FailuresBeforeLock)
}

// lockPasswordFor is the back-off after the n-th wrong password in a row
// (passwords have no hard cap: a locked-out owner could not log in).
func (l Limits) lockPasswordFor(n int) time.Duration { return l.backoff(n, l.FailuresBeforeLock) }

// lockIPFor is lockFor for client IPs.
func (l Limits) lockIPFor(n int) time.Duration { return l.backoff(n, l.IPFailuresBeforeLock) }

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

// ErrTypeInvalid is errkind.Internal under the name activities/recovery.go
// was written with. Activities fail with errkind's kinds, the contract's.
const ErrTypeInvalid = string(errkind.Internal)

// rateLimited is a send refused by a send budget: the flow answers 429.
func rateLimited(retryAfter time.Duration) error {
	return errkind.New(errkind.RateLimited, "too many messages; try again later",
		errkind.RateLimitDetails{RetryAfterSeconds: ceilSeconds(retryAfter)})
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Activities) log(ctx context.Context) *slog.Logger {
	l := a.Log
	if l == nil {
		l = slog.Default()
	}
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		_, flowID, _ := strings.Cut(info.WorkflowExecution.ID, "/")
		l = l.With("flow_id", flowID, "workflow_id", info.WorkflowExecution.ID, "activity", info.ActivityType.Name)
	}
	return l
}

// idemKey is the idempotency key of a send: the same across retries of one
// activity, different for every activity of every run.
func idemKey(ctx context.Context) string {
	info := activity.GetInfo(ctx)
	return info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID
}

// storeErr turns store sentinels into non-retryable failures and leaves
// everything else (a database that is down) retryable. A record a flow
// needs that is gone (a phone removed meanwhile) makes its method
// unavailable.
func storeErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return errkind.Wrap(errkind.MethodUnavailable, op+": not found", err)
	case errors.Is(err, store.ErrConflict):
		return errkind.Wrap(errkind.Conflict, op+": conflict", err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// NormalizeEmail trims and lower-cases an address (API.md "Ids").
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// RecordEventInput is an audit event to add.
type RecordEventInput struct {
	UserID string
	Type   string
	IP     string
	Detail map[string]any
}

// RecordEvent adds an audit event.
func (a *Activities) RecordEvent(ctx context.Context, in RecordEventInput) error {
	return storeErr("record event", a.addEvent(ctx, in.UserID, in.Type, in.IP, in.Detail))
}

func (a *Activities) addEvent(ctx context.Context, userID, typ, ip string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	return a.Store.AddEvent(ctx, store.Event{UserID: userID, Type: typ, At: a.now(), IP: ip, Detail: detail})
}
