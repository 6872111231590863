package bench

import (
	"context"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

// The bare round trip's own names: a trivial workflow on its own task queue,
// so it measures Temporal and nothing of authflow.
const (
	floorTaskQueue = "authflow-bench-floor"
	floorWorkflow  = "BenchFloor"
	floorUpdate    = "ping"
)

func newFloorWorker(c client.Client) sdkworker.Worker {
	w := sdkworker.New(c, floorTaskQueue, sdkworker.Options{MaxConcurrentWorkflowTaskPollers: 8})
	w.RegisterWorkflowWithOptions(floorFlow, workflow.RegisterOptions{Name: floorWorkflow})
	return w
}

// echo is the floor's local activity: no I/O, like a cached read.
func echo(_ context.Context, n int) (int, error) { return n + 1, nil }

// floorFlow answers updates (one; 0 counts as one) by running one local
// activity each, then ends: the least a login's step can cost in Temporal.
func floorFlow(ctx workflow.Context, updates int) (int, error) {
	answered := 0
	err := workflow.SetUpdateHandler(ctx, floorUpdate, func(ctx workflow.Context, n int) (int, error) {
		defer func() { answered++ }()
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
			StartToCloseTimeout: 10 * time.Second,
			RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3},
		})
		var out int
		err := workflow.ExecuteLocalActivity(lctx, echo, n).Get(ctx, &out)
		return out, err
	})
	if err != nil {
		return 0, err
	}
	if err := workflow.Await(ctx, func() bool { return answered >= max(updates, 1) && workflow.AllHandlersFinished(ctx) }); err != nil {
		return 0, err
	}
	return 1, nil
}

// roundTrip is floor 1 as the issue defines it: start the trivial workflow
// (eager start: its first workflow task comes back in the start's answer
// and runs on the local worker), send it one update that runs a local
// activity, and wait for the workflow's result.
func roundTrip(ctx context.Context, c client.Client) error {
	start := floorStart()
	start.EnableEagerStart = true
	run, err := c.ExecuteWorkflow(ctx, start, floorWorkflow, 1)
	if err != nil {
		return err
	}
	ping := floorPing()
	ping.WorkflowID, ping.RunID = run.GetID(), run.GetRunID()
	h, err := c.UpdateWorkflow(ctx, ping)
	if err != nil {
		return err
	}
	var out int
	if err := h.Get(ctx, &out); err != nil {
		return err
	}
	return run.Get(ctx, &out)
}

// updateWithStart is the same workflow driven by one Update-With-Start
// call, as POST /v1/login drives a login: one workflow task instead of two.
// It is cheaper than floor 1 and is reported beside it, not in the ratio.
func updateWithStart(ctx context.Context, c client.Client) error {
	return updates(ctx, c, 1)
}

// updates drives the trivial workflow through n updates, the first with
// Update-With-Start, each waited for until it completes; the last one ends
// it, as a login's verify does. With n the number of a login's calls, it is
// those calls as bare Temporal: whatever a login adds to the crypto, it
// cannot cost less than this.
func updates(ctx context.Context, c client.Client, n int) error {
	op := c.NewWithStartWorkflowOperation(floorStart(), floorWorkflow, n)
	h, err := c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
		StartWorkflowOperation: op,
		UpdateOptions:          floorPing(),
	})
	if err != nil {
		return err
	}
	var out int
	if err := h.Get(ctx, &out); err != nil || n == 1 {
		return err
	}
	run, err := op.Get(ctx)
	if err != nil {
		return err
	}
	for range n - 1 {
		ping := floorPing()
		ping.WorkflowID, ping.RunID = run.GetID(), run.GetRunID()
		if h, err = c.UpdateWorkflow(ctx, ping); err == nil {
			err = h.Get(ctx, &out)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// floorStart starts one trivial workflow under a fresh id.
func floorStart() client.StartWorkflowOptions {
	return client.StartWorkflowOptions{
		ID: "bench-floor/" + security.RandomToken(), TaskQueue: floorTaskQueue,
		WorkflowExecutionTimeout: time.Minute, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}
}

// floorPing is the update, waited for until it completes.
func floorPing() client.UpdateWorkflowOptions {
	return client.UpdateWorkflowOptions{UpdateName: floorUpdate, Args: []any{41}, WaitForStage: client.WorkflowUpdateStageCompleted}
}

// crypto is floor 2: one argon2id verification with the run's parameters
// and one TOTP validation, as the password and TOTP steps do them.
func crypto(h *security.Hasher, hash, password, secret, code string) bool {
	ok := h.Verify(hash, password)
	return rules.MatchTOTPStep(secret, code, time.Now()) >= 0 && ok
}
