package workflows

import (
	"fmt"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
)

// flow is the skeleton every workflow kind shares (docs/design.md
// "Workflows"): the status it shows, the mutex its handlers take one at a
// time, expiry by timer, draining handlers before the run returns, state
// and search attributes, the UI details, wrong answers per flow and
// failing. A kind keeps its own state beside it and hands the skeleton a
// pointer to its status.
type flow struct {
	kind string // AuthflowKind
	st   *FlowStatus
	mu   workflow.Mutex
}

func newFlow(ctx workflow.Context, kind string, st *FlowStatus) *flow {
	return &flow{kind: kind, st: st, mu: workflow.NewMutex(ctx)}
}

// run waits until the flow is decided or its timer runs out. At expiry,
// with the lock held (a saga or a confirmation in progress finishes
// first: expiry must never cut one in half), the flow is expired and
// onExpire runs. Then the run waits for whoever holds the lock and for
// every handler, so no update is left unanswered.
//
// A flow may move its expiry (a recovery that waits): the timer is set
// again for the new one.
func (f *flow) run(ctx workflow.Context, onExpire func(workflow.Context)) error {
	var ok bool
	for {
		at := f.st.ExpiresAt
		var err error
		ok, err = workflow.AwaitWithTimeout(ctx, at.Sub(workflow.Now(ctx)), func() bool {
			return f.finished() || !f.st.ExpiresAt.Equal(at)
		})
		if err != nil {
			return err
		}
		if !ok || f.finished() {
			break
		}
	}
	if !ok {
		if err := f.mu.Lock(ctx); err != nil {
			return err
		}
		if !f.finished() {
			f.setState(ctx, StateExpired)
			if onExpire != nil {
				onExpire(ctx)
			}
		}
		f.mu.Unlock()
	}
	if err := f.mu.Lock(ctx); err != nil {
		return err
	}
	f.mu.Unlock()
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// locked runs fn with the flow's lock held: handlers and signals run one
// at a time, so a double-clicked answer cannot race the counters.
func (f *flow) locked(ctx workflow.Context, fn func() error) error {
	if err := f.mu.Lock(ctx); err != nil {
		return err
	}
	defer f.mu.Unlock()
	return fn()
}

func (f *flow) finished() bool {
	switch f.st.State {
	case StateDone, StateFailed, StateExpired, StateCancelled:
		return true
	}
	return false
}

func (f *flow) expired(ctx workflow.Context) bool {
	return !workflow.Now(ctx).Before(f.st.ExpiresAt)
}

// checkOpen answers FlowExpired or WrongState for a flow that can take no
// more steps.
func (f *flow) checkOpen(ctx workflow.Context) error {
	if f.st.State == StateExpired || (!f.finished() && f.expired(ctx)) {
		return appErr(ErrFlowExpired, fmt.Sprintf("the %s flow expired; start again", f.kind), nil)
	}
	if f.finished() {
		return appErr(ErrWrongState, fmt.Sprintf("the %s flow is %s", f.kind, f.st.State), nil)
	}
	return nil
}

// setState records the state in the status, the search attributes and the
// UI details: operators find stuck flows by AuthflowState and
// AuthflowMethod, and since when by AuthflowStateChangedAt. Only what
// differs from the flow's search attributes is upserted (the API's start
// options set the kind and the first state; every upsert of a running flow
// is a write to visibility), and AuthflowStateChangedAt moves when the
// state or the method does.
func (f *flow) setState(ctx workflow.Context, s State) {
	f.st.State = s
	sa := workflow.GetTypedSearchAttributes(ctx)
	var attrs []temporal.SearchAttributeUpdate
	changed := func(key temporal.SearchAttributeKeyKeyword, v string) {
		if old, ok := sa.GetKeyword(key); !ok || old != v {
			attrs = append(attrs, key.ValueSet(v))
		}
	}
	changed(SearchState, string(s))
	changed(SearchMethod, string(f.st.Method))
	if len(attrs) > 0 {
		attrs = append(attrs, SearchStateChangedAt.ValueSet(workflow.Now(ctx)))
	}
	if _, ok := sa.GetKeyword(SearchKind); !ok {
		// Started without the API's start options.
		attrs = append(attrs, SearchKind.ValueSet(f.kind))
	}
	if f.st.UserID != "" {
		changed(SearchUserID, f.st.UserID)
	}
	if len(attrs) > 0 {
		_ = workflow.UpsertTypedSearchAttributes(ctx, attrs...)
	}
	f.setDetails(ctx)
}

// setDetails shows the flow's state in the UI (never a secret).
func (f *flow) setDetails(ctx workflow.Context) {
	details := fmt.Sprintf("%s · state: %s", f.kind, f.st.State)
	if f.st.Method != "" {
		details += " · method: " + string(f.st.Method)
	}
	if f.st.UserID != "" {
		details += " · user: " + f.st.UserID
	}
	if f.st.Reason != "" {
		details += " · reason: " + f.st.Reason
	}
	workflow.SetCurrentDetails(ctx, details)
}

// fail ends the flow and returns err to the caller.
func (f *flow) fail(ctx workflow.Context, reason string, err error) error {
	f.st.Reason = reason
	f.setState(ctx, StateFailed)
	return err
}

// wrongAnswer counts a wrong answer in the flow (MaxFlowAttempts per flow);
// the last one fails it. The caller adds what its kind counts elsewhere.
func (f *flow) wrongAnswer(ctx workflow.Context, errType errkind.Kind, msg string) error {
	f.st.AttemptsLeft = max(0, f.st.AttemptsLeft-1)
	if f.st.AttemptsLeft == 0 {
		_ = f.fail(ctx, "attempts", nil)
	}
	return appErr(errType, msg, AttemptsDetails{AttemptsLeft: f.st.AttemptsLeft})
}

// sendCode sends a one-time code for this flow and returns what the flow
// keeps of it (a MAC, never the code).
func (f *flow) sendCode(ctx workflow.Context, purpose string, in activities.SendCodeInput) (*activities.SentCode, error) {
	in.FlowID, in.UserID, in.Purpose = f.st.FlowID, f.st.UserID, purpose
	var sent activities.SentCode
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.SendCode, in).Get(ctx, &sent); err != nil {
		return nil, err
	}
	return &sent, nil
}

// receiveSignals hands every signal of one name to handle, with the flow's
// lock held, for the flow's whole life (Telegram's button clicks and
// /start messages).
func receiveSignals[T any](ctx workflow.Context, f *flow, name string, handle func(workflow.Context, T)) {
	ch := workflow.GetSignalChannel(ctx, name)
	for {
		var v T
		ch.Receive(ctx, &v)
		if err := f.mu.Lock(ctx); err != nil {
			return
		}
		handle(ctx, v)
		f.mu.Unlock()
	}
}
