// Package telegram is authflow's Telegram bot: a small typed client of the
// Bot API (https://core.telegram.org/bots/api) and a long poller.
//
// It is our own client rather than a bot framework on purpose: authflow uses
// six methods (sendMessage, editMessageText, answerCallbackQuery, getUpdates,
// setWebhook, deleteWebhook), each a JSON POST that net/http does in a few
// lines, so there is no dependency to keep up to date; errors are
// mapped exactly as the activities need them (a blocked bot or an unknown
// chat is a channels.PermanentError, 429 carries retry_after, 5xx and network
// failures stay retryable); and the base URL comes from TELEGRAM_API_URL, so
// tests and a self-hosted Bot API server stand in for api.telegram.org.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/internal/sendonce"
)

// DefaultAPIURL is the public Bot API.
const DefaultAPIURL = "https://api.telegram.org"

// AllowedUpdates are the update kinds authflow reads: /start messages and
// button presses. Asking for no others keeps polls and webhooks quiet.
var AllowedUpdates = []string{"message", "callback_query"}

// callTimeout bounds one Bot API call (getUpdates adds its long-poll time).
const callTimeout = 15 * time.Second

// Client calls the Bot API as one bot. It is safe for concurrent use.
type Client struct {
	// HTTPClient sends the requests; nil means a client without a global
	// timeout (every call carries its own deadline).
	HTTPClient *http.Client

	token   string
	baseURL string
	prompts *sendonce.Cache[int64]
	texts   *sendonce.Cache[struct{}]
}

var _ channels.TelegramBot = (*Client)(nil)

// New returns a client for the bot with token at baseURL (TELEGRAM_API_URL;
// DefaultAPIURL when empty).
func New(token, baseURL string) *Client {
	if baseURL == "" {
		baseURL = DefaultAPIURL
	}
	return &Client{
		token:   token,
		baseURL: strings.TrimRight(baseURL, "/"),
		prompts: sendonce.New[int64](sendonce.DefaultTTL, sendonce.DefaultMax),
		texts:   sendonce.New[struct{}](sendonce.DefaultTTL, sendonce.DefaultMax),
	}
}

// Error is a Bot API call that failed. Code is Telegram's error_code (the
// HTTP status) and 0 when no answer came, with the cause in Err.
type Error struct {
	Method      string
	Code        int
	Description string
	// RetryAfter is how long Telegram asks us to wait (429 only).
	RetryAfter time.Duration
	Err        error
}

// Error says which method failed and why, never with the bot token.
func (e *Error) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("telegram %s: %v", e.Method, e.Err)
	}
	msg := fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		msg += fmt.Sprintf(" (retryable: Telegram asks to retry after %s)", e.RetryAfter)
	}
	return msg
}

// RetryDelay is how long Telegram asked us to wait (channels.RetryDelay).
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

// Unwrap returns the network error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same call may succeed later: no answer,
// 429 or a server error.
func (e *Error) Retryable() bool {
	return e.Code == 0 || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// permanent wraps errors that will never succeed (403: the user blocked the
// bot; 400: chat not found, bad request; 401: a revoked token) in
// *channels.PermanentError and leaves the others as they are.
func permanent(err error) error {
	var te *Error
	if errors.As(err, &te) && !te.Retryable() {
		return &channels.PermanentError{Err: err}
	}
	return err
}

// RetryAfter returns how long Telegram asked to wait, if err carries it.
func RetryAfter(err error) time.Duration {
	var te *Error
	if errors.As(err, &te) {
		return te.RetryAfter
	}
	return 0
}

// apiResponse is the envelope of every Bot API answer.
type apiResponse struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

// call POSTs params as JSON to method and decodes the result into result
// (when not nil). Errors are *Error, not yet classified.
func (c *Client) call(ctx context.Context, method string, params, result any, timeout time.Duration) error {
	body, err := json.Marshal(params)
	if err != nil {
		return &Error{Method: method, Code: http.StatusBadRequest, Description: "cannot encode request", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	endpoint := c.baseURL + "/bot" + url.PathEscape(c.token) + "/" + method
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		// Only a malformed TELEGRAM_API_URL gets here; the URL holds the
		// token, so it stays out of the message.
		return &Error{Method: method, Code: http.StatusBadRequest, Description: "bad TELEGRAM_API_URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error prints the URL, and the URL holds the bot token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return &Error{Method: method, Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return &Error{Method: method, Err: err}
	}
	var r apiResponse
	if err := json.Unmarshal(data, &r); err != nil {
		// Not the Bot API talking (a proxy's error page): the status decides.
		code := resp.StatusCode
		if code < 400 {
			code = http.StatusBadGateway
		}
		return &Error{Method: method, Code: code, Description: "unreadable answer (" + resp.Status + ")"}
	}
	if !r.OK {
		e := &Error{Method: method, Code: r.ErrorCode, Description: r.Description}
		if e.Code == 0 {
			e.Code = resp.StatusCode
		}
		if r.Parameters != nil && r.Parameters.RetryAfter > 0 {
			e.RetryAfter = time.Duration(r.Parameters.RetryAfter) * time.Second
		}
		if e.Code == http.StatusTooManyRequests && e.RetryAfter == 0 {
			if s := resp.Header.Get("Retry-After"); s != "" {
				var secs int
				if _, err := fmt.Sscan(s, &secs); err == nil && secs > 0 {
					e.RetryAfter = time.Duration(secs) * time.Second
				}
			}
		}
		return e
	}
	if result != nil {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return &Error{Method: method, Code: http.StatusBadGateway, Description: "unexpected result: " + err.Error()}
		}
	}
	return nil
}

// InlineKeyboardButton is a Bot API button with callback data.
type InlineKeyboardButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data"`
}

// InlineKeyboardMarkup is a Bot API inline keyboard: rows of buttons.
type InlineKeyboardMarkup struct {
	InlineKeyboard [][]InlineKeyboardButton `json:"inline_keyboard"`
}

type sendMessageParams struct {
	ChatID      int64                 `json:"chat_id"`
	Text        string                `json:"text"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup,omitempty"`
}

type message struct {
	MessageID int64 `json:"message_id"`
}

// SendPrompt sends text with the buttons in one row and returns the
// message id. A retry with the same key returns the first message's id
// instead of sending again.
func (c *Client) SendPrompt(ctx context.Context, chatID int64, text string, buttons []channels.Button, key string) (int64, error) {
	row := make([]InlineKeyboardButton, len(buttons))
	for i, b := range buttons {
		row[i] = InlineKeyboardButton{Text: b.Text, CallbackData: b.Data}
	}
	return c.prompts.Do(ctx, key, func() (int64, error) {
		var m message
		err := c.call(ctx, "sendMessage", sendMessageParams{
			ChatID: chatID, Text: text,
			ReplyMarkup: &InlineKeyboardMarkup{InlineKeyboard: [][]InlineKeyboardButton{row}},
		}, &m, callTimeout)
		return m.MessageID, permanent(err)
	})
}

// SendText sends a plain message. A retry with the same key does not send
// again.
func (c *Client) SendText(ctx context.Context, chatID int64, text, key string) error {
	_, err := c.texts.Do(ctx, key, func() (struct{}, error) {
		return struct{}{}, permanent(c.call(ctx, "sendMessage", sendMessageParams{ChatID: chatID, Text: text}, nil, callTimeout))
	})
	return err
}

type editMessageTextParams struct {
	ChatID      int64                 `json:"chat_id"`
	MessageID   int64                 `json:"message_id"`
	Text        string                `json:"text"`
	ReplyMarkup *InlineKeyboardMarkup `json:"reply_markup"`
}

// EditPrompt replaces the prompt's text and removes its buttons (an empty
// inline keyboard). Editing twice to the same text is not an error, so
// retries are harmless.
func (c *Client) EditPrompt(ctx context.Context, chatID, messageID int64, text string) error {
	err := c.call(ctx, "editMessageText", editMessageTextParams{
		ChatID: chatID, MessageID: messageID, Text: text,
		ReplyMarkup: &InlineKeyboardMarkup{InlineKeyboard: [][]InlineKeyboardButton{}},
	}, nil, callTimeout)
	var te *Error
	if errors.As(err, &te) && te.Code == http.StatusBadRequest && strings.Contains(te.Description, "message is not modified") {
		return nil
	}
	return permanent(err)
}

type answerCallbackQueryParams struct {
	CallbackQueryID string `json:"callback_query_id"`
	Text            string `json:"text,omitempty"`
}

// AnswerCallback answers a button press; text is the toast Telegram shows.
func (c *Client) AnswerCallback(ctx context.Context, callbackID, text string) error {
	return permanent(c.call(ctx, "answerCallbackQuery", answerCallbackQueryParams{CallbackQueryID: callbackID, Text: text}, nil, callTimeout))
}

// Update is the part of a Bot API Update authflow reads: a message (the
// bot's /start) or a press on an inline button. The webhook, the long
// poller and the dev outbox all hand updates on in this shape.
type Update struct {
	ID       int64          `json:"update_id"`
	Message  *Message       `json:"message,omitempty"`
	Callback *CallbackQuery `json:"callback_query,omitempty"`
}

// CallbackQuery is a Bot API CallbackQuery: a press on an inline button.
type CallbackQuery struct {
	ID      string   `json:"id"`
	From    User     `json:"from"`
	Message *Message `json:"message,omitempty"`
	Data    string   `json:"data"`
}

// Message is a Bot API Message.
type Message struct {
	MessageID int64  `json:"message_id"`
	From      User   `json:"from"`
	Chat      Chat   `json:"chat"`
	Text      string `json:"text"`
}

// Chat is the part of a Bot API Chat authflow reads.
type Chat struct {
	ID int64 `json:"id"`
}

// User is a Bot API User.
type User struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
	// LanguageCode is the IETF tag of the user's Telegram language, if
	// Telegram tells it.
	LanguageCode string `json:"language_code,omitempty"`
}

type getUpdatesParams struct {
	Offset         int64    `json:"offset,omitempty"`
	Timeout        int      `json:"timeout"`
	AllowedUpdates []string `json:"allowed_updates"`
}

// GetUpdates long-polls for updates from offset (the last update id seen +
// 1, which also confirms the earlier ones), waiting up to timeout (whole
// seconds) for one to arrive.
func (c *Client) GetUpdates(ctx context.Context, offset int64, timeout time.Duration) ([]Update, error) {
	secs := int(timeout / time.Second)
	var raws []json.RawMessage
	err := c.call(ctx, "getUpdates", getUpdatesParams{Offset: offset, Timeout: secs, AllowedUpdates: AllowedUpdates},
		&raws, timeout+callTimeout)
	if err != nil {
		return nil, permanent(err)
	}
	out := make([]Update, 0, len(raws))
	for _, raw := range raws {
		var head struct {
			UpdateID int64 `json:"update_id"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, &Error{Method: "getUpdates", Code: http.StatusBadGateway, Description: "unexpected update: " + err.Error()}
		}
		u := Update{ID: head.UpdateID}
		if err := json.Unmarshal(raw, &u); err != nil {
			// An update authflow cannot read is passed on empty (and so
			// ignored), never retried: the poller must move past it.
			u = Update{ID: head.UpdateID}
		}
		out = append(out, u)
	}
	return out, nil
}

type setWebhookParams struct {
	URL            string   `json:"url"`
	SecretToken    string   `json:"secret_token,omitempty"`
	AllowedUpdates []string `json:"allowed_updates"`
}

// SetWebhook makes Telegram POST updates to webhookURL with header
// X-Telegram-Bot-Api-Secret-Token: secret.
func (c *Client) SetWebhook(ctx context.Context, webhookURL, secret string) error {
	return permanent(c.call(ctx, "setWebhook", setWebhookParams{URL: webhookURL, SecretToken: secret, AllowedUpdates: AllowedUpdates}, nil, callTimeout))
}

type deleteWebhookParams struct {
	DropPendingUpdates bool `json:"drop_pending_updates"`
}

// DeleteWebhook removes the webhook, so getUpdates works; pending updates
// are kept.
func (c *Client) DeleteWebhook(ctx context.Context) error {
	return permanent(c.call(ctx, "deleteWebhook", deleteWebhookParams{}, nil, callTimeout))
}
