package activities

import (
	"context"
	"fmt"
	"html"

	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/store"
)

// DowngradeInput names the saga: the key makes each step idempotent.
type DowngradeInput struct {
	UserID string
	Key    string // the login workflow id
	IP     string
}

// DisableTwoFactor is the saga's first step: every second factor off (the
// TOTP secret and passkeys kept aside for compensation).
func (a *Activities) DisableTwoFactor(ctx context.Context, in DowngradeInput) error {
	if err := a.Store.DisableTwoFactor(ctx, in.UserID, in.Key, a.now()); err != nil {
		return storeErr("disable 2fa", err)
	}
	a.metrics().SagaStarted()
	return nil
}

// RestoreTwoFactor compensates DisableTwoFactor.
func (a *Activities) RestoreTwoFactor(ctx context.Context, in DowngradeInput) error {
	if err := a.Store.RestoreTwoFactor(ctx, in.UserID, in.Key); err != nil {
		return storeErr("restore 2fa", err)
	}
	a.metrics().SagaCompensated()
	return nil
}

// UnlinkBankCards is the saga's second step: every linked card unlinked once
// per key, and billing told with the same key.
func (a *Activities) UnlinkBankCards(ctx context.Context, in DowngradeInput) (int, error) {
	n, err := a.Store.UnlinkBankCards(ctx, in.UserID, in.Key, a.now())
	if err != nil {
		return 0, storeErr("unlink cards", err)
	}
	if a.Billing != nil {
		if err := a.Billing.CardsUnlinked(ctx, in.UserID, n, in.Key+"/cards"); err != nil {
			return 0, sendErr("billing", err)
		}
	}
	return n, nil
}

// FinishDowngradeInput closes a successful saga.
type FinishDowngradeInput struct {
	DowngradeInput
	Method        string // call | sms
	CardsUnlinked int
}

// FinishDowngrade destroys what DisableTwoFactor kept, records the events and
// notifies the account email and every linked Telegram chat. Each notice has
// its own idempotency key, so a retry sends only what is missing.
func (a *Activities) FinishDowngrade(ctx context.Context, in FinishDowngradeInput) error {
	if err := a.Store.FinishDowngrade(ctx, in.UserID, in.Key); err != nil {
		return storeErr("finish downgrade", err)
	}
	key := idemKey(ctx)
	for i, ev := range []struct {
		typ    string
		detail map[string]any
	}{
		{"two_factor_downgraded", map[string]any{"method": in.Method}},
		{"bank_cards_unlinked", map[string]any{"count": in.CardsUnlinked}},
	} {
		if err := a.onceEvent(ctx, fmt.Sprintf("%s/event%d", key, i), in.UserID, ev.typ, in.IP, ev.detail); err != nil {
			return err
		}
	}
	if err := a.notify(ctx, in.UserID, key, rules.Notice{ID: "notice.downgrade",
		Data: map[string]any{"Method": in.Method, "Cards": in.CardsUnlinked}}); err != nil {
		return err
	}
	a.metrics().SagaCompleted()
	return nil
}

// onceEvent adds an audit event once per key (retries do not duplicate it).
func (a *Activities) onceEvent(ctx context.Context, key, userID, typ, ip string, detail map[string]any) error {
	return storeErr("event", rules.RecordEvent(ctx, a.Store, key, store.Event{UserID: userID, Type: typ, At: a.now(), IP: ip, Detail: detail}))
}

// NotifyInput is a notice to every channel of the user.
type NotifyInput struct {
	UserID string
	Notice rules.Notice
}

// Notify sends a notice to the account email and every linked Telegram chat.
func (a *Activities) Notify(ctx context.Context, in NotifyInput) error {
	return a.notify(ctx, in.UserID, idemKey(ctx), in.Notice)
}

// notify renders the notice in the account's language and sends it to the
// account email and every linked Telegram chat, each once per key.
func (a *Activities) notify(ctx context.Context, userID, key string, n rules.Notice) error {
	u, err := a.Store.UserByID(ctx, userID)
	if err != nil {
		return storeErr("user", err)
	}
	subject, text := n.Render(a.lang(ctx, userID, ""))
	if err := a.once(ctx, key+"/email", userID, ChannelEmailNotice, u.Email, func() (string, error) {
		return a.Email.SendEmail(ctx, channels.Email{To: u.Email, Subject: subject, Text: text + "\n", HTML: "<p>" + html.EscapeString(text) + "</p>", Key: key + "/email"})
	}); err != nil {
		return err
	}
	chats, err := a.Store.ListTelegram(ctx, userID)
	if err != nil {
		return storeErr("telegram accounts", err)
	}
	for _, c := range chats {
		k := key + "/tg/" + itoa64(c.ChatID)
		if err := a.once(ctx, k, userID, ChannelTelegramNote, "telegram:"+itoa64(c.ChatID), func() (string, error) {
			return "", a.Telegram.SendText(ctx, c.ChatID, subject+"\n\n"+text, k)
		}); err != nil {
			return err
		}
	}
	return nil
}

// once runs send unless key was recorded, then records it. Notices are not
// rate-limited: they go to the account's own channels and are not codes,
// and their records are of kind notice, which no send budget counts.
func (a *Activities) once(ctx context.Context, key, userID, channel, to string, send func() (string, error)) error {
	if _, err := a.Store.SentMessage(ctx, key); err == nil {
		return nil
	}
	providerID, err := send()
	if err != nil {
		if _, ok := err.(*temporal.ApplicationError); ok {
			return err
		}
		return sendErr(channel, err)
	}
	// No user id on the record either: a notice counts against nothing.
	return storeErr("record send", a.Store.RecordSentMessage(ctx, store.SentMessage{
		Key: key, Channel: channel, Recipient: to, ProviderID: providerID, SentAt: a.now(), Kind: store.SentKindNotice}))
}
