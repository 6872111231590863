// Package channels defines how authflow reaches people — email, SMS, voice
// calls and Telegram — as small interfaces, with a dev outbox that records
// everything when no provider is configured. Real adapters (SMTP, Twilio,
// the Telegram Bot API) implement the same interfaces.
package channels

import (
	"context"
	"errors"
	"time"
)

// Email is one message. Key is the idempotency key of the send.
type Email struct {
	To      string
	Subject string
	Text    string
	HTML    string
	Key     string
}

// EmailSender sends email.
type EmailSender interface {
	SendEmail(ctx context.Context, m Email) (providerID string, err error)
}

// SMSSender sends text messages.
type SMSSender interface {
	SendSMS(ctx context.Context, to, body, key string) (providerID string, err error)
}

// Caller places voice calls.
type Caller interface {
	// DictateCall calls to and has a robot read the digits.
	DictateCall(ctx context.Context, to, digits, key string) (providerID string, err error)
	// FlashCall calls to from the number from and hangs up: the last digits
	// of from are the code.
	FlashCall(ctx context.Context, to, from, key string) (providerID string, err error)
}

// Button is an inline keyboard button of a Telegram message.
type Button struct {
	Text string
	Data string // callback data, ≤ 64 bytes
}

// TelegramSender talks to Telegram chats through the bot.
type TelegramSender interface {
	// SendPrompt sends a message with one row of buttons and returns the
	// message id, so the message can be edited later.
	SendPrompt(ctx context.Context, chatID int64, text string, buttons []Button, key string) (messageID int64, err error)
	// EditPrompt replaces the text of a prompt and removes its buttons.
	EditPrompt(ctx context.Context, chatID, messageID int64, text string) error
	// SendText sends a plain notice.
	SendText(ctx context.Context, chatID int64, text, key string) error
}

// PermanentError marks a send that will never succeed if retried (an
// invalid number, a blocked bot): activities stop retrying it.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// RetryDelay is how long the provider behind err asked us to wait before
// trying again (Telegram's retry_after, Twilio's Retry-After), or zero: the
// error, or one it wraps, has a RetryDelay method.
func RetryDelay(err error) time.Duration {
	var d interface{ RetryDelay() time.Duration }
	if errors.As(err, &d) {
		return d.RetryDelay()
	}
	return 0
}

// BillingNotifier tells billing that an account's cards were unlinked;
// idempotencyKey makes a retried call one event.
type BillingNotifier interface {
	CardsUnlinked(ctx context.Context, userID string, count int, idempotencyKey string) error
}

// TelegramBot is the whole bot as the API uses it: senders plus the answer
// to a button press (the small toast Telegram shows after a click).
type TelegramBot interface {
	TelegramSender
	AnswerCallback(ctx context.Context, callbackID, text string) error
}
