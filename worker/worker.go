// Package worker builds authflow's Temporal worker: it registers the
// workflows under their contract names and the activities once.
package worker

import (
	"cmp"
	"context"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/workflows"
)

// Options tune the worker; zero values take the defaults.
type Options struct {
	// MaxConcurrentActivities bounds parallel activities (argon2id costs
	// 19 MiB each: a bound keeps memory predictable). Default: the SDK's.
	MaxConcurrentActivities int
	// WorkflowTaskPollers is how many workflow-task polls the worker keeps
	// open. Default: DefaultWorkflowTaskPollers.
	WorkflowTaskPollers int
	// WebhookRetention is the relay's Retention (AUTHFLOW_WEBHOOK_RETENTION;
	// 0 keeps every delivery).
	WebhookRetention time.Duration
}

// DefaultWorkflowTaskPollers replaces the SDK's 2: every step of a login is
// a workflow task, and with two polls open a burst of logins queues behind
// poll round trips (`authflow bench`, 40 logins in flight: p99 4.6 s with
// 2, 2.8–3.2 s and about 15 % more logins per second with 8).
const DefaultWorkflowTaskPollers = 8

// New returns a worker on workflows.TaskQueue with everything registered;
// while it runs, so does a webhook Relay.
func New(c client.Client, acts *activities.Activities, o Options) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:      o.MaxConcurrentActivities,
		MaxConcurrentLocalActivityExecutionSize: o.MaxConcurrentActivities,
		MaxConcurrentWorkflowTaskPollers:        cmp.Or(o.WorkflowTaskPollers, DefaultWorkflowTaskPollers),
	})
	if acts.CancelRecovery == nil {
		// A login of an account cancels its waiting recoveries
		// (docs/design.md "Account recovery").
		acts.CancelRecovery = func(ctx context.Context, flowID, reason string) error {
			return c.SignalWorkflow(ctx, workflows.RecoveryWorkflowID(flowID), "", workflows.SignalRecoveryCancel,
				workflows.RecoveryCancel{Reason: reason})
		}
	}
	Register(w, acts)
	// The webhook relay runs while the worker runs (docs/design.md
	// "Webhooks").
	return &relayWorker{Worker: w, relay: &Relay{Store: acts.Store, Temporal: c, Log: acts.Log,
		Retention: o.WebhookRetention}}
}

// Register adds authflow's workflows and activities to any registry (a
// worker, a replayer, a test environment).
func Register(r worker.Registry, acts *activities.Activities) {
	r.RegisterWorkflowWithOptions(workflows.Login, workflow.RegisterOptions{Name: workflows.LoginWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Enroll, workflow.RegisterOptions{Name: workflows.EnrollWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Notice, workflow.RegisterOptions{Name: workflows.NoticeWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Recovery, workflow.RegisterOptions{Name: workflows.RecoveryWorkflowName})
	r.RegisterWorkflowWithOptions(workflows.Webhook, workflow.RegisterOptions{Name: workflows.WebhookWorkflowName})
	r.RegisterActivity(acts)
}
