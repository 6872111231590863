package workflows

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// webhookRunT drives one Webhook run on the test suite with skipped time:
// the outbox is a list in memory, each attempt fails or not as fail says.
type webhookRunT struct {
	t       *testing.T
	env     *testsuite.TestWorkflowEnvironment
	start   time.Time
	pending []string
	// fail says whether the n-th attempt (1 for the first) of an event
	// fails.
	fail      func(event string, n int) bool
	gone      bool
	attempts  map[string][]time.Duration // since start, per event
	order     []string                   // every attempt's event, in order
	delivered []string
	disabled  []string
	states    []string
}

func newWebhookRun(t *testing.T, pending ...string) *webhookRunT {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Webhook, workflow.RegisterOptions{Name: WebhookWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	r := &webhookRunT{t: t, env: env, start: env.Now(), pending: pending, attempts: map[string][]time.Duration{},
		fail: func(string, int) bool { return false }}
	env.OnActivity(a.PendingWebhooks, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.PendingWebhooksInput) (activities.PendingWebhooksResult, error) {
			if in.EndpointID != "ep1" {
				return activities.PendingWebhooksResult{}, errors.New("another endpoint: " + in.EndpointID)
			}
			if r.gone || len(r.disabled) > 0 {
				return activities.PendingWebhooksResult{Ended: true}, nil
			}
			return activities.PendingWebhooksResult{EventIDs: slices.Clone(r.pending)}, nil
		})
	env.OnActivity(a.DeliverWebhook, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DeliverWebhookInput) (activities.WebhookAttemptResult, error) {
			if r.gone {
				return activities.WebhookAttemptResult{Outcome: activities.WebhookGone}, nil
			}
			if !slices.Contains(r.pending, in.EventID) {
				return activities.WebhookAttemptResult{Outcome: activities.WebhookSkipped}, nil
			}
			r.attempts[in.EventID] = append(r.attempts[in.EventID], env.Now().Sub(r.start))
			r.order = append(r.order, in.EventID)
			n := len(r.attempts[in.EventID])
			if r.fail(in.EventID, n) {
				return activities.WebhookAttemptResult{Outcome: activities.WebhookFailed, Attempt: n, StatusCode: 503, Error: "answered 503"}, nil
			}
			r.pending = slices.DeleteFunc(r.pending, func(id string) bool { return id == in.EventID })
			r.delivered = append(r.delivered, in.EventID)
			return activities.WebhookAttemptResult{Outcome: activities.WebhookDelivered, Attempt: n, StatusCode: 204}, nil
		})
	env.OnActivity(a.DisableWebhookEndpoint, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.DisableWebhookInput) error {
			r.disabled = append(r.disabled, in.Reason)
			return nil
		})
	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		if v, ok := args.Get(0).(temporal.SearchAttributes).GetKeyword(SearchState); ok {
			r.states = append(r.states, v)
		}
	}).Return(nil)
	return r
}

func (r *webhookRunT) at(d time.Duration, fn func()) { r.env.RegisterDelayedCallback(fn, d) }

func (r *webhookRunT) run(in WebhookInput) error {
	r.t.Helper()
	if in.EndpointID == "" {
		in.EndpointID = "ep1"
	}
	r.env.ExecuteWorkflow(WebhookWorkflowName, in)
	if !r.env.IsWorkflowCompleted() {
		r.t.Fatal("the run did not complete")
	}
	return r.env.GetWorkflowError()
}

func secs(ds ...int) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d) * time.Second
	}
	return out
}

func TestWebhookBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second}
	for i, w := range want {
		if got := WebhookBackoff(i + 1); got != w {
			t.Errorf("after %d failures: %s, want %s", i+1, got, w)
		}
	}
	if got := WebhookBackoff(30); got != time.Hour {
		t.Errorf("after 30 failures: %s, want the cap of an hour", got)
	}
}

func TestWebhookDelivery(t *testing.T) {
	t.Run("case=a receiver failing the first 3 attempts gets the event at the 4th, and the events behind it after, in order", func(t *testing.T) {
		r := newWebhookRun(t, "e1", "e2", "e3")
		r.fail = func(ev string, n int) bool { return ev == "e1" && n <= 3 }
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r.delivered, []string{"e1", "e2", "e3"}) {
			t.Fatalf("delivered %v", r.delivered)
		}
		// 5, 10 and 20 seconds of back-off; e2 and e3 waited behind e1.
		if got := r.attempts["e1"]; !slices.Equal(got, secs(0, 5, 15, 35)) {
			t.Errorf("attempts of e1 at %v", got)
		}
		if !slices.Equal(r.order, []string{"e1", "e1", "e1", "e1", "e2", "e3"}) {
			t.Errorf("attempts in order %v", r.order)
		}
		if !slices.Equal(r.states, []string{"delivering", "retrying", "delivering", "retrying", "delivering", "retrying", "delivering", "idle"}) {
			t.Errorf("states %v", r.states)
		}
	})
	t.Run("case=an endpoint failing for 3 days is disabled after its last attempt at 72 hours, the back-off capped at an hour", func(t *testing.T) {
		r := newWebhookRun(t, "e1", "e2")
		r.fail = func(string, int) bool { return true }
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		at := r.attempts["e1"]
		if len(r.disabled) != 1 || !strings.Contains(r.disabled[0], "answered 503") || !strings.Contains(r.disabled[0], "failing since") {
			t.Fatalf("disabled %q", r.disabled)
		}
		if last := at[len(at)-1]; last != WebhookDisableAfter {
			t.Errorf("the last attempt at %s, want exactly %s", last, WebhookDisableAfter)
		}
		for i := 1; i < len(at); i++ {
			if gap := at[i] - at[i-1]; gap > WebhookMaxBackoff || gap <= 0 {
				t.Fatalf("gap %s between attempts %d and %d", gap, i, i+1)
			}
		}
		if len(r.attempts["e2"]) != 0 || len(r.delivered) != 0 {
			t.Errorf("e2 was attempted behind a failing e1: %v", r.attempts)
		}
		// 5 s doubling to an hour (10 attempts), then hourly to 72 h.
		if n := len(at); n < 70 || n > 90 {
			t.Errorf("%d attempts in 3 days", n)
		}
		if last := r.states[len(r.states)-1]; last != "disabled" {
			t.Errorf("last state %s", last)
		}
	})
	t.Run("case=a success resets the streak: failing 3 days in two spells is not disabled", func(t *testing.T) {
		r := newWebhookRun(t, "e1", "e2")
		// e1 fails for 40 hours, then e2 fails for 40 hours.
		r.fail = func(ev string, n int) bool {
			since := r.env.Now().Sub(r.start)
			if ev == "e1" {
				return since < 40*time.Hour
			}
			return since < 80*time.Hour
		}
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		if len(r.disabled) != 0 || !slices.Equal(r.delivered, []string{"e1", "e2"}) {
			t.Fatalf("disabled %q, delivered %v", r.disabled, r.delivered)
		}
	})
	t.Run("case=an admin's retry ends a back-off at once; the relay's signal does not", func(t *testing.T) {
		r := newWebhookRun(t, "e1")
		r.fail = func(_ string, n int) bool { return n <= 3 }
		// After the first failure the back-off is 5 s: the relay's signal at
		// 2 s changes nothing, the second attempt is at 5 s. After it the
		// back-off is 10 s: an admin's retry at 7 s brings the third attempt
		// forward, and the back-off starts again from 5 s.
		r.at(2*time.Second, func() { r.env.SignalWorkflow(SignalWebhookPending, nil) })
		r.at(7*time.Second, func() { r.env.SignalWorkflow(SignalWebhookRetry, WebhookRetry{EventID: "e1"}) })
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		if got := r.attempts["e1"]; !slices.Equal(got, secs(0, 5, 7, 12)) {
			t.Fatalf("attempts at %v", got)
		}
	})
	t.Run("case=a deleted endpoint ends the run without another attempt", func(t *testing.T) {
		r := newWebhookRun(t, "e1", "e2")
		r.fail = func(string, int) bool { return true }
		r.at(time.Hour, func() { r.gone = true })
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		if len(r.disabled) != 0 || r.states[len(r.states)-1] != "deleted" {
			t.Fatalf("disabled %q, states %v", r.disabled, r.states)
		}
		for _, d := range r.attempts["e1"] {
			if d > time.Hour+WebhookMaxBackoff {
				t.Fatalf("an attempt at %s after the endpoint was deleted at 1 h", d)
			}
		}
	})
	t.Run("case=a long run continues as new with its failing streak and the back-off in progress", func(t *testing.T) {
		r := newWebhookRun(t, "e1")
		r.fail = func(string, int) bool { return true }
		r.at(time.Minute, func() { r.env.SetContinueAsNewSuggested(true) })
		err := r.run(WebhookInput{})
		var can *workflow.ContinueAsNewError
		if !errors.As(err, &can) || can.WorkflowType.Name != WebhookWorkflowName {
			t.Fatalf("run ended with %v, want continue-as-new", err)
		}
		var next WebhookInput
		if err := converter.GetDefaultDataConverter().FromPayloads(can.Input, &next); err != nil {
			t.Fatal(err)
		}
		n := len(r.attempts["e1"])
		if next.EndpointID != "ep1" || next.FailingSince == nil || !next.FailingSince.Equal(r.start) || next.Failures != n ||
			next.NextAttemptAt == nil || next.NextAttemptAt.Sub(r.start) != r.attempts["e1"][n-1]+WebhookBackoff(n) {
			t.Fatalf("continued with %+v after %d attempts at %v", next, n, r.attempts["e1"])
		}

		// The next run waits out the back-off, then fails on until 72 h
		// after the first failure, not 72 h after it started.
		r2 := newWebhookRun(t, "e1")
		r2.start = r.start
		r2.env.SetStartTime(r.start.Add(r.attempts["e1"][n-1]))
		r2.fail = func(string, int) bool { return true }
		if err := r2.run(next); err != nil {
			t.Fatal(err)
		}
		at := r2.attempts["e1"]
		if at[0] != next.NextAttemptAt.Sub(r.start) || at[len(at)-1] != WebhookDisableAfter || len(r2.disabled) != 1 {
			t.Fatalf("second run's attempts at %v..%v, disabled %q", at[0], at[len(at)-1], r2.disabled)
		}
	})
	t.Run("case=nothing pending ends the run idle at once", func(t *testing.T) {
		r := newWebhookRun(t)
		if err := r.run(WebhookInput{}); err != nil {
			t.Fatal(err)
		}
		if len(r.order) != 0 || !slices.Equal(r.states, []string{"delivering", "idle"}) {
			t.Fatalf("attempts %v, states %v", r.order, r.states)
		}
	})
}
