package api

import (
	"context"
	"crypto/subtle"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/workflows"
)

// TelegramUpdate is the part of a Bot API Update authflow reads.
type TelegramUpdate struct {
	UpdateID int64             `json:"update_id"`
	Message  *TelegramMessage  `json:"message,omitempty"`
	Callback *TelegramCallback `json:"callback_query,omitempty"`
}

// TelegramCallback is a Bot API CallbackQuery: a press on an inline button.
type TelegramCallback struct {
	ID      string           `json:"id"`
	From    TelegramUser     `json:"from"`
	Message *TelegramMessage `json:"message,omitempty"`
	Data    string           `json:"data"`
}

// TelegramMessage is a Bot API Message.
type TelegramMessage struct {
	MessageID int64        `json:"message_id"`
	From      TelegramUser `json:"from"`
	Chat      struct {
		ID int64 `json:"id"`
	} `json:"chat"`
	Text string `json:"text"`
}

// TelegramUser is a Bot API User.
type TelegramUser struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

// HandleTelegramUpdate acts on one update, whether it came from the webhook,
// long polling or a click in the dev outbox, and returns the text to show the
// person (the callback answer), if any.
func (s *Server) HandleTelegramUpdate(ctx context.Context, u TelegramUpdate) string {
	if cb := u.Callback; cb != nil {
		flowID, number, notMe, err := rules.ParseCallbackData(cb.Data)
		if err != nil {
			return "This button is not valid."
		}
		chatID := cb.From.ID
		if cb.Message != nil {
			chatID = cb.Message.Chat.ID
		}
		err = s.Temporal.SignalWorkflow(ctx, workflows.LoginWorkflowID(flowID), "", workflows.SignalTelegramAnswer,
			workflows.TelegramAnswer{ChatID: chatID, Number: number, NotMe: notMe})
		if err != nil {
			return "This login request is closed."
		}
		if notMe {
			return "Login denied."
		}
		return "Answer received."
	}
	if m := u.Message; m != nil {
		return s.handleTelegramMessage(ctx, u.UpdateID, m)
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
	var u TelegramUpdate
	if err := bind(c, &u); err != nil {
		fail(c, err)
		return
	}
	s.ServeTelegramUpdate(c.Request.Context(), u)
	c.Status(http.StatusOK)
}

// ServeTelegramUpdate handles an update and answers a button press, so the
// person sees a toast in Telegram. The webhook and the long poller call it.
func (s *Server) ServeTelegramUpdate(ctx context.Context, u TelegramUpdate) {
	answer := s.HandleTelegramUpdate(ctx, u)
	if u.Callback != nil && s.Bot != nil {
		if err := s.Bot.AnswerCallback(ctx, u.Callback.ID, answer); err != nil {
			s.logger().Warn("answer callback", "err", err)
		}
	}
}
