package workflows

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// Webhook delivers one endpoint's outbox, oldest event first, one delivery
// at a time (docs/design.md "Webhooks"). It reads the pending deliveries
// from the store, makes one attempt per activity and, when an attempt
// fails, waits on a durable timer — WebhookFirstRetry doubling to
// WebhookMaxBackoff — before trying the same delivery again with the same
// webhook-id; the deliveries behind it wait, so a receiver sees the
// events of each user in the order they happened. After
// WebhookDisableAfter of failures the endpoint is disabled. The run ends
// when the outbox is empty; the worker's relay starts the next one. A
// long run continues as new, carrying its failing streak.
func Webhook(ctx workflow.Context, in WebhookInput) error {
	w := &webhookRun{in: in,
		pending: workflow.GetSignalChannel(ctx, SignalWebhookPending),
		retry:   workflow.GetSignalChannel(ctx, SignalWebhookRetry)}
	return w.run(ctx)
}

// webhookBatch is how many pending deliveries one activity reads.
const webhookBatch = 100

// webhookHistoryLimit is the history length past which a run continues as
// new (Temporal's own suggestion comes first when it comes sooner).
const webhookHistoryLimit = 4000

type webhookRun struct {
	in      WebhookInput
	pending workflow.ReceiveChannel
	retry   workflow.ReceiveChannel
	state   State
	event   string // the delivery being attempted
	last    activities.WebhookAttemptResult
}

// WebhookBackoff is the wait after the n-th failed attempt in a row.
func WebhookBackoff(n int) time.Duration {
	d := WebhookFirstRetry
	for i := 1; i < n && d < WebhookMaxBackoff; i++ {
		d *= 2
	}
	return min(d, WebhookMaxBackoff)
}

func (w *webhookRun) run(ctx workflow.Context) error {
	w.setState(ctx, StateDelivering)
	if w.in.NextAttemptAt != nil {
		// Continued as new in the middle of a back-off.
		w.setState(ctx, StateRetrying)
		w.wait(ctx, *w.in.NextAttemptAt)
		w.in.NextAttemptAt = nil
		w.setState(ctx, StateDelivering)
	}
	for {
		var batch activities.PendingWebhooksResult
		err := workflow.ExecuteActivity(webhookStoreCtx(ctx), a.PendingWebhooks,
			activities.PendingWebhooksInput{EndpointID: w.in.EndpointID, Limit: webhookBatch}).Get(ctx, &batch)
		if err != nil {
			return err
		}
		if batch.Ended {
			w.setState(ctx, StateDeleted)
			return nil
		}
		if len(batch.EventIDs) == 0 {
			// A signal that came meanwhile may mean a delivery queued after
			// the read: read again rather than end on it.
			if w.drain() {
				continue
			}
			w.setState(ctx, StateIdle)
			return nil
		}
		for _, id := range batch.EventIDs {
			ended, err := w.deliver(ctx, id)
			if err != nil || ended {
				return err
			}
			if w.long(ctx) {
				return w.continueAsNew(ctx)
			}
		}
		w.drain() // what they said is in the next read
	}
}

// deliver attempts one delivery until it is delivered (or no longer
// pending), backing off between attempts. ended: the endpoint is gone or
// was disabled here.
func (w *webhookRun) deliver(ctx workflow.Context, eventID string) (ended bool, err error) {
	w.event = eventID
	for {
		var r activities.WebhookAttemptResult
		if err := workflow.ExecuteActivity(webhookAttemptCtx(ctx), a.DeliverWebhook,
			activities.DeliverWebhookInput{EndpointID: w.in.EndpointID, EventID: eventID}).Get(ctx, &r); err != nil {
			return false, err
		}
		w.last = r
		switch r.Outcome {
		case activities.WebhookDelivered:
			w.in.FailingSince, w.in.Failures = nil, 0
			w.setState(ctx, StateDelivering)
			return false, nil
		case activities.WebhookSkipped:
			return false, nil
		case activities.WebhookGone:
			w.setState(ctx, StateDeleted)
			return true, nil
		}
		now := workflow.Now(ctx)
		if w.in.FailingSince == nil {
			w.in.FailingSince = &now
		}
		w.in.Failures++
		deadline := w.in.FailingSince.Add(WebhookDisableAfter)
		if !now.Before(deadline) {
			reason := fmt.Sprintf("failing since %s (%d attempts in a row); the last: %s",
				w.in.FailingSince.UTC().Format(time.RFC3339), w.in.Failures, r.Error)
			if err := workflow.ExecuteActivity(webhookStoreCtx(ctx), a.DisableWebhookEndpoint,
				activities.DisableWebhookInput{EndpointID: w.in.EndpointID, Reason: reason}).Get(ctx, nil); err != nil {
				return false, err
			}
			w.setState(ctx, StateDisabled)
			return true, nil
		}
		// The last attempt falls on the deadline, not past it.
		next := now.Add(min(WebhookBackoff(w.in.Failures), deadline.Sub(now)))
		w.in.NextAttemptAt = &next
		w.setState(ctx, StateRetrying)
		if w.long(ctx) {
			return true, w.continueAsNew(ctx)
		}
		w.wait(ctx, next)
		w.in.NextAttemptAt = nil
		w.setState(ctx, StateDelivering)
	}
}

// wait sleeps until at, or until an admin's retry: then the back-off
// starts again from its first step. The relay's signals change nothing.
func (w *webhookRun) wait(ctx workflow.Context, at time.Time) {
	d := at.Sub(workflow.Now(ctx))
	if d <= 0 {
		return
	}
	tctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	done := false
	sel := workflow.NewSelector(ctx)
	sel.AddFuture(workflow.NewTimer(tctx, d), func(workflow.Future) { done = true })
	sel.AddReceive(w.retry, func(c workflow.ReceiveChannel, _ bool) {
		var r WebhookRetry
		c.Receive(ctx, &r)
		w.in.Failures = 0
		done = true
	})
	sel.AddReceive(w.pending, func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil) })
	for !done {
		sel.Select(ctx)
	}
}

// drain takes every signal already received and says whether there was
// one.
func (w *webhookRun) drain() bool {
	got := false
	for w.pending.ReceiveAsync(nil) {
		got = true
	}
	for w.retry.ReceiveAsync(nil) {
		got = true
		w.in.Failures = 0
	}
	return got
}

// long says whether the history is long enough to continue as new.
func (w *webhookRun) long(ctx workflow.Context) bool {
	info := workflow.GetInfo(ctx)
	return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > webhookHistoryLimit
}

// continueAsNew hands the failing streak and the back-off in progress to a
// new run; a retry received meanwhile ends the back-off.
func (w *webhookRun) continueAsNew(ctx workflow.Context) error {
	if w.drain() && w.in.Failures == 0 {
		w.in.NextAttemptAt = nil
	}
	return workflow.NewContinueAsNewError(ctx, WebhookWorkflowName, w.in)
}

// setState shows where the run is: the search attributes that changed
// (AuthflowKind once, AuthflowState with AuthflowStateChangedAt) and the
// UI's current details.
func (w *webhookRun) setState(ctx workflow.Context, s State) {
	sa := workflow.GetTypedSearchAttributes(ctx)
	var attrs []temporal.SearchAttributeUpdate
	if k, ok := sa.GetKeyword(SearchKind); !ok || k != KindWebhook {
		attrs = append(attrs, SearchKind.ValueSet(KindWebhook))
	}
	if old, ok := sa.GetKeyword(SearchState); !ok || old != string(s) {
		attrs = append(attrs, SearchState.ValueSet(string(s)), SearchStateChangedAt.ValueSet(workflow.Now(ctx)))
	}
	if len(attrs) > 0 {
		_ = workflow.UpsertTypedSearchAttributes(ctx, attrs...)
	}
	w.state = s
	details := fmt.Sprintf("webhook · endpoint: %s · state: %s", w.in.EndpointID, s)
	if w.event != "" {
		details += " · event: " + w.event
	}
	if w.in.Failures > 0 {
		details += fmt.Sprintf(" · failed attempts in a row: %d", w.in.Failures)
		if w.in.FailingSince != nil {
			details += " · failing since " + w.in.FailingSince.UTC().Format(time.RFC3339)
		}
		if w.last.Error != "" {
			details += " · last error: " + w.last.Error
		}
	}
	if w.in.NextAttemptAt != nil {
		details += " · next attempt at " + w.in.NextAttemptAt.UTC().Format(time.RFC3339)
	}
	workflow.SetCurrentDetails(ctx, details)
}

// webhookStoreCtx runs the store's activities: retried while the store is
// down, however long (a delivery is never lost to an outage).
func webhookStoreCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute},
	})
}

// webhookAttemptCtx runs one delivery attempt: the HTTP call is bounded by
// the client's timeout; a retry of the activity (the store failed, or the
// worker died) is another attempt with the same webhook-id.
func webhookAttemptCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 40 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute},
	})
}

// WakeWebhook signals the endpoint's delivery workflow, starting it when
// it is not running (Signal-With-Start): what the relay does when the
// outbox changed and the admin API when it retried or re-enabled a
// delivery. The id makes any number of callers harmless.
func WakeWebhook(ctx context.Context, c client.Client, endpointID, signal string, arg any, now time.Time) error {
	_, err := c.SignalWithStartWorkflow(ctx, WebhookWorkflowID(endpointID), signal, arg, WebhookStartOptions(endpointID, now),
		WebhookWorkflowName, WebhookInput{EndpointID: endpointID})
	return err
}

// WebhookStartOptions start an endpoint's delivery workflow (by the relay's
// or an admin's Signal-With-Start): one per endpoint, whatever calls it,
// with its search attributes and summary.
func WebhookStartOptions(endpointID string, now time.Time) client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID:                       WebhookWorkflowID(endpointID),
		TaskQueue:                TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		StaticSummary:            "Webhook deliveries of endpoint " + endpointID,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchKind.ValueSet(KindWebhook),
			SearchState.ValueSet(string(StateDelivering)),
			SearchStateChangedAt.ValueSet(now.UTC()),
		),
	}
}
