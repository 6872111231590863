package channels

import (
	"context"
	"fmt"
)

// Off stands in for a channel that is not configured in production: every
// send fails for good, so the activity stops at once and the method answers
// method_unavailable instead of retrying a provider that does not exist.
type Off struct {
	// Name says which settings are missing, for the error message.
	Name string
}

var _ TelegramBot = Off{}
var _ SMSSender = Off{}
var _ Caller = Off{}
var _ EmailSender = Off{}

func (o Off) err() error {
	return &PermanentError{Err: fmt.Errorf("%s is not configured", o.Name)}
}

// SendEmail fails for good.
func (o Off) SendEmail(context.Context, Email) (string, error) { return "", o.err() }

// SendSMS fails for good.
func (o Off) SendSMS(context.Context, string, string, string) (string, error) { return "", o.err() }

// DictateCall fails for good.
func (o Off) DictateCall(context.Context, string, string, string) (string, error) {
	return "", o.err()
}

// FlashCall fails for good.
func (o Off) FlashCall(context.Context, string, string, string) (string, error) { return "", o.err() }

// SendPrompt fails for good.
func (o Off) SendPrompt(context.Context, int64, string, []Button, string) (int64, error) {
	return 0, o.err()
}

// EditPrompt fails for good.
func (o Off) EditPrompt(context.Context, int64, int64, string) error { return o.err() }

// SendText fails for good.
func (o Off) SendText(context.Context, int64, string, string) error { return o.err() }

// AnswerCallback fails for good.
func (o Off) AnswerCallback(context.Context, string, string) error { return o.err() }
