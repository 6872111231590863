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
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
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
	Billing  channels.BillingNotifier

	// FlashCalls is the pool a flash call's caller is drawn from; empty:
	// every number's call dictates its code.
	FlashCalls phone.FlashPool
	// PhonePolicy says which numbers get codes (type, region:
	// AUTHFLOW_PHONE_REGIONS); the zero value allows mobiles of every region.
	PhonePolicy phone.Policy
	// SessionTTL is how long a login session lives.
	SessionTTL time.Duration
	// Limits bound failures and sends.
	Limits rules.Limits
	// Now is the clock (tests move it).
	Now func() time.Time
	Log *slog.Logger
	// Metrics counts logins and sagas; nil counts nothing.
	Metrics Metrics
	// PublicURL is where the pages are (links in emails and notices).
	PublicURL string
	// DefaultLocale is AUTHFLOW_DEFAULT_LOCALE: the language of a person
	// who chose none and whose flow brought no browser language.
	DefaultLocale string
	// CancelRecovery cancels a waiting account recovery (the worker
	// signals its workflow); nil cancels nothing.
	CancelRecovery func(ctx context.Context, flowID, reason string) error
	// Webhooks makes webhook delivery attempts under the configuration's
	// SSRF policy; nil: the strictest policy.
	Webhooks *webhooks.Client
}

// rateLimited is a send refused by a send budget: the flow answers 429.
func rateLimited(retryAfter time.Duration) error {
	return errkind.New(errkind.RateLimited, "too many messages; try again later",
		errkind.RateLimitDetails{RetryAfterSeconds: rules.CeilSeconds(retryAfter)})
}

// account is the domain's account changes on the activities' store and
// clock, telling every channel of the account with keyed notices.
func (a *Activities) account() *rules.Account {
	return &rules.Account{Store: a.Store, Notify: rules.NotifierFunc(a.notify), Hasher: a.Hasher, Limits: a.Limits, Now: a.now}
}

// passwords is the password guard on the activities' store, limits and
// clock: the same counters the API's re-authentication uses.
func (a *Activities) passwords() rules.PasswordGuard {
	return rules.PasswordGuard{Store: a.Store, Limits: a.Limits, Now: a.now}
}

// lang is the language to write to a user in: their stored one, else
// hint (the Accept-Language of the browser that started the flow), else
// the default (docs/design.md "Languages"). A store that cannot answer
// must not stop a code from going out: the hint or default serves.
func (a *Activities) lang(ctx context.Context, userID, hint string) string {
	stored := ""
	if userID != "" {
		var err error
		if stored, err = a.Store.UserLocale(ctx, userID); err != nil {
			a.log(ctx).Warn("user locale", "err", err)
		}
	}
	return i18n.Pick(stored, hint, a.DefaultLocale)
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
	if _, _, ok := errkind.Of(err); ok {
		return err // a domain rule's failure carries its kind already
	}
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
