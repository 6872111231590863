package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/channels"
)

// throttled is a provider's "too many requests, retry after d".
type throttled struct{ d time.Duration }

func (e throttled) Error() string             { return "429 too many requests" }
func (e throttled) RetryDelay() time.Duration { return e.d }

type throttledEmail struct{ err error }

func (s throttledEmail) SendEmail(context.Context, channels.Email) (string, error) { return "", s.err }

func TestSendCodeTakesTheProvidersRetryDelay(t *testing.T) {
	for name, c := range map[string]struct {
		err       error
		wantDelay time.Duration
	}{
		"case=a provider's retry-after becomes the next retry's delay": {err: throttled{7 * time.Second}, wantDelay: 7 * time.Second},
		"case=wrapped, it still does":                                  {err: errors.Join(errors.New("smtp"), throttled{3 * time.Second}), wantDelay: 3 * time.Second},
		"case=without one the retry policy decides":                    {err: errors.New("connection reset")},
	} {
		t.Run(name, func(t *testing.T) {
			f := newEnrollFixture(t)
			f.acts.Email = throttledEmail{c.err}
			_, err := f.env.ExecuteActivity(f.acts.SendCode, activities.SendCodeInput{
				Channel: activities.ChannelEmail, UserID: f.user.ID, FlowID: "flow-" + name, Purpose: "login"})
			if err == nil {
				t.Fatal("a failed send succeeded")
			}
			var app *temporal.ApplicationError
			if !errors.As(err, &app) {
				t.Fatalf("err = %v, want an application error", err)
			}
			if app.NonRetryable() {
				t.Fatalf("err = %v: a throttled send must be retried", err)
			}
			if got := app.NextRetryDelay(); got != c.wantDelay {
				t.Fatalf("next retry delay %s, want %s (err %v)", got, c.wantDelay, err)
			}
		})
	}
}
