package twilio_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
)

// flakyStore loses the first RecordSentMessage: the provider accepted the
// send, then the activity failed, as when the database blinks.
type flakyStore struct {
	store.Store
	mu      sync.Mutex
	records int
}

func (s *flakyStore) RecordSentMessage(ctx context.Context, m store.SentMessage) error {
	s.mu.Lock()
	s.records++
	n := s.records
	s.mu.Unlock()
	if n == 1 {
		return errors.New("database is unavailable")
	}
	return s.Store.RecordSentMessage(ctx, m)
}

// sendCodeWorkflow runs SendCode as the Login workflow does: with a retry
// policy, so a failed attempt is retried with the same activity id (and so
// the same idempotency key).
func sendCodeWorkflow(ctx workflow.Context, in activities.SendCodeInput) (activities.SentCode, error) {
	var a *activities.Activities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Millisecond, MaximumAttempts: 3},
	})
	var out activities.SentCode
	err := workflow.ExecuteActivity(ctx, a.SendCode, in).Get(ctx, &out)
	return out, err
}

// TestSendCodeRetryReachesTwilioOnce runs the real SendCode activity with the
// Twilio adapter against the fake Twilio API. The activity's retry policy
// runs in Temporal's test workflow environment because only a retry (not a
// second ExecuteActivity in TestActivityEnvironment, which gets a new
// activity id) keeps the idempotency key.
func TestSendCodeRetryReachesTwilioOnce(t *testing.T) {
	ctx := context.Background()
	st, err := opener.Open(ctx, "sqlite://:memory:")
	if err != nil {
		t.Fatalf("open the SQLite store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	u, err := st.CreateUser(ctx, "ivan@example.com", "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA")
	if err != nil {
		t.Fatal(err)
	}
	ph, err := st.AddPhone(ctx, u.ID, "+380501234567", true)
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		in   activities.SendCodeInput
		path string
	}{
		{"case=sms whose record failed reaches twilio once and is not retried",
			activities.SendCodeInput{FlowID: "flow-sms", UserID: u.ID, Channel: activities.ChannelSMS, PhoneID: ph.ID, Purpose: "login"}, messagesPath},
		{"case=dictating call whose record failed reaches twilio once and is not retried",
			activities.SendCodeInput{FlowID: "flow-call", UserID: u.ID, Channel: activities.ChannelCallDictate, PhoneID: ph.ID, Purpose: "login"}, callsPath},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeTwilio(t)
			tw := newClient(t, f.URL, nil)
			flaky := &flakyStore{Store: st}
			acts := &activities.Activities{
				Store: flaky, SecretKey: make([]byte, 32), SMS: tw, Voice: tw,
				Limits: rules.DefaultLimits,
			}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(acts)
			env.RegisterWorkflow(sendCodeWorkflow)
			// The key starts with the workflow id: one per case.
			env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: "login/" + tc.in.FlowID})
			var mu sync.Mutex
			attempts := 0
			env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) {
				mu.Lock()
				attempts++
				mu.Unlock()
			})
			env.ExecuteWorkflow(sendCodeWorkflow, tc.in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			// The provider accepted the message: SendCode must not fail, or
			// its retry would call the number again.
			if attempts != 1 {
				t.Fatalf("SendCode ran %d times, want 1", attempts)
			}
			reqs := f.take()
			if len(reqs) != 1 || reqs[0].Path != tc.path {
				t.Fatalf("Twilio got %d requests %+v, want exactly one to %s", len(reqs), reqs, tc.path)
			}
			if flaky.records != 1 {
				t.Fatalf("RecordSentMessage called %d times, want 1", flaky.records)
			}
		})
	}
}
