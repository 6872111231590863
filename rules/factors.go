package rules

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/phone"
	"github.com/authflow/authflow/store"
)

// The factor changes: each stores what changes and hands its events and
// notice to changed, which decides what follows. Those that turn a factor
// on are what an enrollment does once confirmed (FinishEnrollment); the
// others are the settings calls.

// EnableTOTP stores a confirmed TOTP secret (sealed) with the step its
// confirming code used up. It replaces the secret of an earlier app: codes
// of the old secret stop working at once.
func (a *Account) EnableTOTP(ctx context.Context, c Change, secretSealed []byte, usedStep int64) (Result, error) {
	before, err := a.before(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.SetTOTPSecret(ctx, c.UserID, secretSealed, usedStep); err != nil {
		return Result{}, fmt.Errorf("set totp secret: %w", err)
	}
	return a.changed(ctx, c, before, true, []Event{{"factor_enabled", map[string]any{"method": "totp", "replaced": before.TOTP}}},
		Notice{ID: "notice.totp_enabled"})
}

// DisableTOTP turns TOTP off and destroys its secret.
func (a *Account) DisableTOTP(ctx context.Context, c Change) (Result, error) {
	tf, err := a.Store.TwoFactorSettings(ctx, c.UserID)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.DeleteTOTPSecret(ctx, c.UserID); err != nil {
		return Result{}, err
	}
	if !tf.TOTPEnabled && tf.TOTPSecretSealed == nil {
		return Result{}, nil // there was nothing to turn off
	}
	return a.changed(ctx, c, Status{}, false, []Event{{"factor_disabled", map[string]any{"method": "totp"}}},
		Notice{ID: "notice.totp_disabled"})
}

// EnableEmail turns codes by email on (the enrollment proved the address
// gets them).
func (a *Account) EnableEmail(ctx context.Context, c Change) (Result, error) {
	before, err := a.before(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.SetEmailEnabled(ctx, c.UserID, true); err != nil {
		return Result{}, fmt.Errorf("enable email 2fa: %w", err)
	}
	return a.changed(ctx, c, before, true, []Event{{"factor_enabled", map[string]any{"method": "email"}}},
		Notice{ID: "notice.email_enabled"})
}

// DisableEmail turns codes by email off.
func (a *Account) DisableEmail(ctx context.Context, c Change) (Result, error) {
	tf, err := a.Store.TwoFactorSettings(ctx, c.UserID)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.SetEmailEnabled(ctx, c.UserID, false); err != nil {
		return Result{}, err
	}
	if !tf.EmailEnabled {
		return Result{}, nil
	}
	return a.changed(ctx, c, Status{}, false, []Event{{"factor_disabled", map[string]any{"method": "email"}}},
		Notice{ID: "notice.email_disabled"})
}

// ErrChatLinkedElsewhere: a Telegram chat links to one authflow account
// only (docs/api.md), and this one is another's.
var ErrChatLinkedElsewhere = errors.New("the Telegram chat is linked to another account")

// LinkTelegram links a chat (the bot got the enrollment's /start) and
// turns Telegram 2FA on with it. A chat already linked to the account (a
// retry) is that link; one linked to another account is
// ErrChatLinkedElsewhere and nothing changes.
func (a *Account) LinkTelegram(ctx context.Context, c Change, chatID int64, username string) (store.TelegramAccount, Result, error) {
	before, err := a.before(ctx, c)
	if err != nil {
		return store.TelegramAccount{}, Result{}, err
	}
	t, err := a.Store.LinkTelegram(ctx, c.UserID, chatID, username)
	if errors.Is(err, store.ErrConflict) {
		return store.TelegramAccount{}, Result{}, ErrChatLinkedElsewhere
	}
	if err != nil {
		return t, Result{}, fmt.Errorf("link telegram: %w", err)
	}
	// Linking turns Telegram 2FA on by itself (the help page).
	if err := a.Store.SetTelegramEnabled(ctx, c.UserID, true); err != nil {
		return t, Result{}, fmt.Errorf("enable telegram 2fa: %w", err)
	}
	events := []Event{{"telegram_linked", map[string]any{"account_id": t.ID, "username": t.Username, "chat_id": t.ChatID}}}
	if !before.Telegram {
		events = append(events, Event{"factor_enabled", map[string]any{"method": "telegram"}})
	}
	res, err := a.changed(ctx, c, before, true, events, Notice{ID: "notice.telegram_linked", Data: map[string]any{"Username": t.Username}})
	return t, res, err
}

// SetTelegram turns Telegram 2FA on or off; the linked chats stay, for
// notices. Turning it on needs a linked chat (MethodUnavailable).
func (a *Account) SetTelegram(ctx context.Context, c Change, on bool) (Result, error) {
	tf, err := a.Store.TwoFactorSettings(ctx, c.UserID)
	if err != nil {
		return Result{}, err
	}
	tg, err := a.Store.ListTelegram(ctx, c.UserID)
	if err != nil {
		return Result{}, err
	}
	if on && len(tg) == 0 {
		return Result{}, errkind.New(errkind.MethodUnavailable, "link a Telegram account first")
	}
	if tf.TelegramEnabled == on {
		return Result{}, nil
	}
	before, err := a.before(ctx, c)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.SetTelegramEnabled(ctx, c.UserID, on); err != nil {
		return Result{}, err
	}
	if !on {
		return a.changed(ctx, c, before, false, []Event{{"factor_disabled", map[string]any{"method": "telegram"}}},
			Notice{ID: "notice.telegram_disabled"})
	}
	return a.changed(ctx, c, before, true, []Event{{"factor_enabled", map[string]any{"method": "telegram"}}},
		Notice{ID: "notice.telegram_enabled"})
}

// UnlinkTelegram unlinks one of the account's chats (store.ErrNotFound
// for another account's).
func (a *Account) UnlinkTelegram(ctx context.Context, c Change, accountID string) (Result, error) {
	acc, err := findOne(ctx, c.UserID, a.Store.ListTelegram, func(t store.TelegramAccount) bool { return t.ID == accountID })
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.UnlinkTelegram(ctx, c.UserID, accountID); err != nil {
		return Result{}, err
	}
	return a.changed(ctx, c, Status{}, false,
		[]Event{{"telegram_unlinked", map[string]any{"account_id": acc.ID, "username": acc.Username, "chat_id": acc.ChatID}}},
		Notice{ID: "notice.telegram_unlinked", Data: map[string]any{"Username": acc.Username}})
}

// AddPasskey stores a verified passkey (cred.Data is the go-webauthn
// credential). A retry finds the passkey the first try stored; a
// credential registered on another account is a Conflict.
func (a *Account) AddPasskey(ctx context.Context, c Change, cred store.Credential) (store.Credential, Result, error) {
	before, err := a.before(ctx, c)
	if err != nil {
		return store.Credential{}, Result{}, err
	}
	cred.UserID, cred.CreatedAt = c.UserID, a.now()
	added, err := a.Store.AddCredential(ctx, cred)
	if errors.Is(err, store.ErrConflict) {
		if prev, perr := a.Store.CredentialByCredentialID(ctx, cred.CredentialID); perr == nil && prev.UserID == c.UserID &&
			prev.Name == cred.Name && bytes.Equal(prev.Data, cred.Data) {
			added, err = prev, nil
		}
	}
	if errors.Is(err, store.ErrConflict) {
		return store.Credential{}, Result{}, errkind.Wrap(errkind.Conflict, "this passkey is registered already; use another authenticator", err)
	}
	if err != nil {
		return store.Credential{}, Result{}, fmt.Errorf("add passkey: %w", err)
	}
	added.Data = nil
	res, err := a.changed(ctx, c, before, true, []Event{{"device_added", map[string]any{"device_id": added.ID, "name": added.Name}}},
		Notice{ID: "notice.passkey_added", Data: map[string]any{"Name": added.Name}})
	return added, res, err
}

// SetPasswordless lets one of the account's passkeys sign in without a
// password, or stops it.
func (a *Account) SetPasswordless(ctx context.Context, c Change, deviceID string, on bool) (Result, error) {
	dev, err := findOne(ctx, c.UserID, a.Store.ListCredentials, func(d store.Credential) bool { return d.ID == deviceID })
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.SetCredentialPasswordless(ctx, c.UserID, deviceID, on); err != nil {
		return Result{}, err
	}
	if dev.Passwordless == on {
		return Result{}, nil
	}
	typ, notice := "factor_disabled", "notice.passwordless_off"
	if on {
		typ, notice = "factor_enabled", "notice.passwordless_on"
	}
	return a.changed(ctx, c, Status{}, false, []Event{{typ, map[string]any{"method": "passwordless", "device_id": dev.ID, "name": dev.Name}}},
		Notice{ID: notice, Data: map[string]any{"Name": dev.Name}})
}

// RemovePasskey deletes one of the account's passkeys.
func (a *Account) RemovePasskey(ctx context.Context, c Change, deviceID string) (Result, error) {
	dev, err := findOne(ctx, c.UserID, a.Store.ListCredentials, func(d store.Credential) bool { return d.ID == deviceID })
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.DeleteCredential(ctx, c.UserID, deviceID); err != nil {
		return Result{}, err
	}
	return a.changed(ctx, c, Status{}, false, []Event{{"device_removed", map[string]any{"device_id": dev.ID, "name": dev.Name}}},
		Notice{ID: "notice.passkey_removed", Data: map[string]any{"Name": dev.Name}})
}

// AddPhone stores a verified phone (E.164). A phone is a reserve method,
// not a second factor: it turns nothing on and ends no session. The number
// already on the account (a retry, or two flows for one number) is that
// phone.
func (a *Account) AddPhone(ctx context.Context, c Change, number string) (store.Phone, Result, error) {
	p, err := a.Store.AddPhone(ctx, c.UserID, number, true)
	if errors.Is(err, store.ErrConflict) {
		if prev, ferr := findOne(ctx, c.UserID, a.Store.ListPhones, func(x store.Phone) bool { return x.Number == number }); ferr == nil {
			p, err = prev, nil
		}
	}
	if err != nil {
		return store.Phone{}, Result{}, fmt.Errorf("add phone: %w", err)
	}
	masked := phone.Mask(p.Number)
	res, err := a.changed(ctx, c, Status{}, false,
		[]Event{{"phone_added", map[string]any{"phone_id": p.ID, "number_masked": masked, "kind": string(phone.KindOf(p.Number))}}},
		Notice{ID: "notice.phone_added", Data: map[string]any{"Number": masked}})
	return p, res, err
}

// RemovePhone deletes one of the account's phones.
func (a *Account) RemovePhone(ctx context.Context, c Change, phoneID string) (Result, error) {
	p, err := a.Store.Phone(ctx, c.UserID, phoneID)
	if err != nil {
		return Result{}, err
	}
	if err := a.Store.DeletePhone(ctx, c.UserID, phoneID); err != nil {
		return Result{}, err
	}
	masked := phone.Mask(p.Number)
	return a.changed(ctx, c, Status{}, false, []Event{{"phone_removed", map[string]any{"phone_id": p.ID, "number_masked": masked}}},
		Notice{ID: "notice.phone_removed", Data: map[string]any{"Number": masked}})
}

// findOne returns the user's row that matches, or store.ErrNotFound (an
// unknown id and another account's id look the same: 404 not_found).
func findOne[T any](ctx context.Context, userID string, list func(context.Context, string) ([]T, error), match func(T) bool) (T, error) {
	var zero T
	rows, err := list(ctx, userID)
	if err != nil {
		return zero, err
	}
	for _, r := range rows {
		if match(r) {
			return r, nil
		}
	}
	return zero, store.ErrNotFound
}
