package activities

import (
	"context"
	"errors"
	"strconv"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/store"
)

// SendTelegramPromptsInput asks every linked chat to confirm a login.
type SendTelegramPromptsInput struct {
	FlowID  string
	UserID  string
	Chats   []int64
	Numbers []int // the buttons, in order; one of them is the page's number
	IP      string
	// Recovery: the prompt confirms an account recovery, not a login.
	Recovery bool
	// Locale is the language of the browser that started the flow.
	Locale string `json:",omitempty"`
}

// SendTelegramPrompts sends the prompt with number buttons and "Not me" to
// every chat and keeps the message ids, so the messages can be edited when
// the flow is decided. Chats already prompted by an earlier try are skipped.
func (a *Activities) SendTelegramPrompts(ctx context.Context, in SendTelegramPromptsInput) (int, error) {
	key := idemKey(ctx)
	// Prompts cost nothing and go to the account's own chats: only the
	// per-account budget applies.
	if err := a.checkSendLimits(ctx, outgoing{userID: in.UserID, channel: ChannelTelegram, kind: store.SentKindPrompt}); err != nil {
		return 0, err
	}
	buttons := make([]channels.Button, 0, len(in.Numbers)+1)
	for _, n := range in.Numbers {
		buttons = append(buttons, channels.Button{Text: strconv.Itoa(n), Data: rules.LoginCallbackData(in.FlowID, n)})
	}
	lang := a.lang(ctx, in.UserID, in.Locale)
	buttons = append(buttons, channels.Button{Text: i18n.T(lang, "telegram.button.not_me", nil), Data: rules.NotMeCallbackData(in.FlowID)})
	kind := "login"
	if in.Recovery {
		kind = "recovery"
	}
	text := i18n.T(lang, "telegram.prompt."+kind, nil)
	if in.IP != "" {
		text += " " + i18n.T(lang, "telegram.prompt.from", map[string]any{"IP": in.IP})
	}
	text += ".\n" + i18n.T(lang, "telegram.prompt.ask."+kind, nil)
	sent := 0
	for _, chat := range in.Chats {
		chatKey := key + "/" + itoa64(chat)
		if _, err := a.Store.SentMessage(ctx, chatKey); err == nil {
			sent++
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return 0, storeErr("sent message", err)
		}
		msgID, err := a.Telegram.SendPrompt(ctx, chat, text, buttons, chatKey)
		if err != nil {
			var perm *channels.PermanentError
			if errors.As(err, &perm) {
				// A chat that blocked the bot must not stop the others.
				a.log(ctx).Warn("telegram prompt not delivered", "chat", chat, "err", err)
				continue
			}
			return 0, sendErr("telegram prompt", err)
		}
		now := a.now()
		if err := a.Store.AddTelegramPrompt(ctx, store.TelegramPrompt{FlowID: in.FlowID, ChatID: chat, MessageID: msgID, SentAt: now}); err != nil {
			return 0, storeErr("record prompt", err)
		}
		if err := a.Store.RecordSentMessage(ctx, store.SentMessage{Key: chatKey, UserID: in.UserID, Channel: ChannelTelegram,
			Recipient: "telegram:" + in.UserID, ProviderID: itoa64(msgID), SentAt: now, Kind: store.SentKindPrompt}); err != nil {
			return 0, storeErr("record send", err)
		}
		sent++
	}
	if sent == 0 {
		return 0, errkind.New(errkind.MethodUnavailable, "no Telegram chat could be reached")
	}
	return sent, nil
}

// CloseTelegramPromptsInput says how the flow ended.
type CloseTelegramPromptsInput struct {
	FlowID  string
	Outcome string // "confirmed", "wrong", "denied", "expired", "failed", "cancelled"
	// UserID and Locale choose the language of the edited prompts.
	UserID string `json:",omitempty"`
	Locale string `json:",omitempty"`
}

// CloseTelegramPrompts edits every prompt of the flow to say how it ended
// and removes the buttons. Editing is idempotent, so retries are harmless.
func (a *Activities) CloseTelegramPrompts(ctx context.Context, in CloseTelegramPromptsInput) error {
	prompts, err := a.Store.TelegramPrompts(ctx, in.FlowID)
	if err != nil {
		return storeErr("prompts", err)
	}
	outcome := in.Outcome
	switch outcome {
	case "confirmed", "wrong", "denied", "expired", "failed":
	default:
		outcome = "cancelled"
	}
	text := i18n.T(a.lang(ctx, in.UserID, in.Locale), "telegram.closed."+outcome, nil)
	for _, p := range prompts {
		if err := a.Telegram.EditPrompt(ctx, p.ChatID, p.MessageID, text); err != nil {
			var perm *channels.PermanentError
			if errors.As(err, &perm) {
				continue
			}
			return sendErr("edit prompt", err)
		}
	}
	return nil
}
