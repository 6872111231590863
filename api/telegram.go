package api

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/i18n"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/workflows"
)

// HandleTelegramUpdate acts on one update, whether it came from the webhook,
// long polling or a click in the dev outbox, and returns the text to show the
// person (the callback answer), if any.
func (s *Server) HandleTelegramUpdate(ctx context.Context, u telegram.Update) string {
	if cb := u.Callback; cb != nil {
		lang := i18n.Pick("", cb.From.LanguageCode, s.Cfg.DefaultLocale)
		flowID, number, notMe, err := rules.ParseCallbackData(cb.Data)
		if err != nil {
			return i18n.T(lang, "telegram.callback.invalid", nil)
		}
		chatID := cb.From.ID
		if cb.Message != nil {
			chatID = cb.Message.Chat.ID
		}
		ans := workflows.TelegramAnswer{ChatID: chatID, Number: number, NotMe: notMe}
		err = s.Temporal.SignalWorkflow(ctx, workflows.LoginWorkflowID(flowID), "", workflows.SignalTelegramAnswer, ans)
		if err != nil {
			// An account recovery's second factor prompts the same way;
			// flow ids are unique across kinds.
			err = s.Temporal.SignalWorkflow(ctx, workflows.RecoveryWorkflowID(flowID), "", workflows.SignalTelegramAnswer, ans)
		}
		if err != nil {
			return i18n.T(lang, "telegram.callback.closed", nil)
		}
		if notMe {
			return i18n.T(lang, "telegram.callback.denied", nil)
		}
		return i18n.T(lang, "telegram.callback.received", nil)
	}
	if m := u.Message; m != nil {
		return s.handleTelegramMessage(ctx, u.ID, m)
	}
	return ""
}

func (s *Server) telegramWebhook(c *gin.Context) {
	secret := s.Cfg.TelegramWebhookSecret
	got := c.GetHeader("X-Telegram-Bot-Api-Secret-Token")
	if secret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(got)) != 1 {
		fail(c, newErr(errkind.Unauthorized, "wrong or missing X-Telegram-Bot-Api-Secret-Token"))
		return
	}
	var u telegram.Update
	if err := bind(c, &u); err != nil {
		fail(c, err)
		return
	}
	s.ServeTelegramUpdate(c.Request.Context(), u)
	c.Status(http.StatusOK)
}

// ServeTelegramUpdate handles an update and answers a button press, so the
// person sees a toast in Telegram. The webhook and the long poller call it.
func (s *Server) ServeTelegramUpdate(ctx context.Context, u telegram.Update) {
	answer := s.HandleTelegramUpdate(ctx, u)
	if u.Callback != nil && s.Bot != nil {
		if err := s.Bot.AnswerCallback(ctx, u.Callback.ID, answer); err != nil {
			s.logger().Warn("answer callback", "err", err)
		}
	}
}
