package rules

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// Notifier tells every channel of an account (its email, its Telegram
// chats) about a change. A notice with a key is sent once per key, so a
// retried change tells no one twice; without a key each call is one
// notice.
//
// A notice is a message id of package i18n with its data: the notifier
// renders it in the language of the account (docs/design.md "Languages").
type Notifier interface {
	Notify(ctx context.Context, userID, key string, n Notice) error
}

// NotifierFunc is a function that is a Notifier.
type NotifierFunc func(ctx context.Context, userID, key string, n Notice) error

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, userID, key string, n Notice) error {
	return f(ctx, userID, key, n)
}

// Account is the one way an account's second factors, password and
// sessions change (docs/design.md "Factor changes"). Whoever asks — the
// API's settings calls or an enrollment's last activity — each change
// stores what changed, records its audit events and decides what follows:
// the account's other sessions end when its first factor turns on (the
// help page's "Attention!") and when its password changes; every factor
// change is a notice on every channel.
type Account struct {
	Store  store.Store
	Notify Notifier
	// Hasher and Limits check a current password (Reauthenticate), on the
	// login's counters; nil and zero (DefaultLimits) where none is checked.
	Hasher *security.Hasher
	Limits Limits
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Change says whose account changes, and who changes it.
type Change struct {
	UserID string
	// SessionID is the session making the change: it is kept when the
	// change ends the other sessions.
	SessionID string
	IP        string
	// Key makes the change idempotent for a caller that retries (an
	// activity): its events are recorded and its notice sent once per key.
	// Empty: each call records and notifies (an API call).
	Key string
	// Before is which factors the account had before the change, when the
	// caller read it earlier so that a retry decides the same (an
	// enrollment reads it in a step of its own). Nil: read now.
	Before *Status
}

// Status is which second factors an account can use at login.
type Status struct {
	// Telegram is on with at least one linked chat.
	Telegram bool
	TOTP     bool
	Email    bool
	Passkeys bool
	// RecoveryCodes left: they are asked for at login like a factor.
	RecoveryCodes int
}

// On reports whether two-step authentication is on: any factor but a
// phone, which is only a reserve method.
func (s Status) On() bool {
	return s.Telegram || s.TOTP || s.Email || s.Passkeys || s.RecoveryCodes > 0
}

// Status reads which factors the account has.
func (a *Account) Status(ctx context.Context, userID string) (Status, error) {
	tf, err := a.Store.TwoFactorSettings(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	tg, err := a.Store.ListTelegram(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	creds, err := a.Store.ListCredentials(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	codes, err := a.Store.RecoveryCodesLeft(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	return Status{Telegram: tf.TelegramEnabled && len(tg) > 0, TOTP: tf.TOTPEnabled && len(tf.TOTPSecretSealed) > 0,
		Email: tf.EmailEnabled, Passkeys: len(creds) > 0, RecoveryCodes: codes}, nil
}

// Result is what a change did.
type Result struct {
	// Changed is false when there was nothing to change (the factor was
	// off already): nothing was recorded and no one told.
	Changed bool
	// SessionsEnded counts the other sessions the change ended.
	SessionsEnded int
}

// Event is an audit event a change records.
type Event struct {
	Type   string
	Detail map[string]any
}

// Notice is what a change tells the account's channels.
type Notice struct {
	// ID names the messages <ID>.subject and <ID>.text in i18n's catalogs.
	ID   string
	Data map[string]any
	// SessionsEnded adds how many other sessions the change signed out.
	SessionsEnded int
	// NotYou ends the text with "if this was not you…": every notice of a
	// change says it, since the owner may not have made the change.
	NotYou bool
}

// Render is the notice's subject and text in lang (package i18n).
func (n Notice) Render(lang string) (subject, text string) {
	subject, text = i18n.T(lang, n.ID+".subject", n.Data), i18n.T(lang, n.ID+".text", n.Data)
	if n.SessionsEnded > 0 {
		text += " " + i18n.T(lang, "notice.sessions_ended", map[string]any{"Count": n.SessionsEnded})
	}
	if n.NotYou {
		text += " " + i18n.T(lang, "notice.not_you", nil)
	}
	return subject, text
}

func (a *Account) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Account) before(ctx context.Context, c Change) (Status, error) {
	if c.Before != nil {
		return *c.Before, nil
	}
	return a.Status(ctx, c.UserID)
}

// changed is what follows every change: when it turned a factor on for an
// account that had none (before), every other session ends; then the
// events are recorded and the notice sent.
func (a *Account) changed(ctx context.Context, c Change, before Status, turnsOn bool, events []Event, n Notice) (Result, error) {
	res := Result{Changed: true}
	if turnsOn && !before.On() {
		// Turning 2FA on for an account that had none ends every other
		// session (the help page); the session that made the change is kept.
		ended, err := a.Store.DeleteOtherSessions(ctx, c.UserID, c.SessionID)
		if err != nil {
			return res, fmt.Errorf("end other sessions: %w", err)
		}
		res.SessionsEnded = ended
		if ended > 0 {
			events = append(events, Event{"sessions_ended", map[string]any{"count": ended, "reason": EndedByTwoFactorTurnOn}})
			n.SessionsEnded = ended
		}
	}
	if err := a.record(ctx, c, events...); err != nil {
		return res, err
	}
	return res, a.notify(ctx, c, n)
}

// Announce records a change made elsewhere and tells every channel of the
// account, as a factor change does.
func (a *Account) Announce(ctx context.Context, c Change, ev Event, n Notice) error {
	if err := a.record(ctx, c, ev); err != nil {
		return err
	}
	return a.notify(ctx, c, n)
}

func (a *Account) notify(ctx context.Context, c Change, n Notice) error {
	key := ""
	if c.Key != "" {
		key = c.Key + "/notice"
	}
	n.NotYou = true
	return a.Notify.Notify(ctx, c.UserID, key, n)
}

// record adds the change's events, each once per key when the change has
// one.
func (a *Account) record(ctx context.Context, c Change, events ...Event) error {
	for i, ev := range events {
		key := ""
		if c.Key != "" {
			key = fmt.Sprintf("%s/event%d", c.Key, i)
		}
		if err := RecordEvent(ctx, a.Store, key, store.Event{UserID: c.UserID, Type: ev.Type, At: a.now(), IP: c.IP, Detail: ev.Detail}); err != nil {
			return err
		}
	}
	return nil
}

// RecordEvent adds an audit event; with a key, once: the key is kept
// among the sent messages (a notice's kind, which no send budget counts),
// so a retried activity records nothing more.
func RecordEvent(ctx context.Context, st store.Store, key string, ev store.Event) error {
	if ev.Detail == nil {
		ev.Detail = map[string]any{}
	}
	if key == "" {
		return st.AddEvent(ctx, ev)
	}
	if _, err := st.SentMessage(ctx, key); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("event %s: %w", key, err)
	}
	if err := st.AddEvent(ctx, ev); err != nil {
		return err
	}
	return st.RecordSentMessage(ctx, store.SentMessage{Key: key, Channel: "event", Recipient: "event:" + key,
		SentAt: ev.At, Kind: store.SentKindNotice})
}
