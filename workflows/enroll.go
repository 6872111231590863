package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
)

// Enroll is the durable enrollment of one second factor (or phone): begin
// makes the challenge — a TOTP key, a code by email or SMS, passkey creation
// options or a Telegram deep link — then a code, an attestation or the bot's
// /start signal confirms it, and the factor is stored. The flow expires
// after FlowTTL and fails after MaxFlowAttempts wrong answers.
func Enroll(ctx workflow.Context, in EnrollInput) (EnrollView, error) {
	e := &enroll{in: in}
	e.f = newFlow(ctx, KindEnroll, &e.view.FlowStatus)
	return e.run(ctx)
}

// enroll is the state of one Enroll run beside its skeleton (f): handlers
// run one at a time under f's lock, so a double-clicked confirm cannot store
// a factor twice.
type enroll struct {
	in   EnrollInput
	f    *flow
	view EnrollView

	// What the challenge needs to check an answer.
	code      *activities.SentCode
	waSession json.RawMessage
}

func (e *enroll) run(ctx workflow.Context) (EnrollView, error) {
	e.view = EnrollView{FlowStatus: FlowStatus{FlowID: e.in.FlowID, UserID: e.in.UserID, State: StateStarting,
		Method: e.in.Method, ExpiresAt: workflow.Now(ctx).Add(FlowTTL), AttemptsLeft: MaxFlowAttempts}}
	// The API's start options set the search attributes of this state.
	e.f.setDetails(ctx)

	if err := workflow.SetQueryHandler(ctx, QueryState, func() (EnrollView, error) { return e.view, nil }); err != nil {
		return e.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateEnrollBegin, e.begin,
		workflow.UpdateHandlerOptions{Validator: e.validateBegin}); err != nil {
		return e.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateEnrollConfirm, e.confirm,
		workflow.UpdateHandlerOptions{Validator: e.validateConfirm}); err != nil {
		return e.view, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) { receiveSignals(ctx, e.f, SignalTelegramLink, e.telegramLink) })
	err := e.f.run(ctx, nil)
	return e.view, err
}

// ---- Step 1: the challenge ----

func (e *enroll) validateBegin(ctx workflow.Context) error {
	if err := e.f.checkOpen(ctx); err != nil {
		return err
	}
	if e.view.State != StateStarting {
		return appErr(ErrWrongState, "the enrollment has begun already", nil)
	}
	m, ok := enrollMethodNamed(e.in.Method)
	if !ok {
		return appErr(ErrBadRequest, fmt.Sprintf("method %q cannot be enrolled", e.in.Method), nil)
	}
	return m.validateBegin(e.in)
}

func (e *enroll) begin(ctx workflow.Context) (EnrollView, error) {
	if err := e.f.mu.Lock(ctx); err != nil {
		return e.view, err
	}
	defer e.f.mu.Unlock()
	if err := e.validateBegin(ctx); err != nil {
		return e.view, err
	}
	m, _ := enrollMethodNamed(e.in.Method) // validateBegin found it
	err := m.begin(ctx, e)
	if err != nil {
		return e.view, e.f.fail(ctx, "error", activityErr(err))
	}
	e.f.setState(ctx, StateChallenge)
	return e.view, nil
}

func (e *enroll) sendCode(ctx workflow.Context, in activities.SendCodeInput) error {
	// The IP: a number not yet verified counts against its client's budget.
	in.IP, in.Locale = e.in.IP, e.in.Locale
	sent, err := e.f.sendCode(ctx, "enroll", in)
	e.code = sent
	return err
}

// ---- Step 2: the confirmation ----

func (e *enroll) validateConfirm(ctx workflow.Context, in EnrollConfirmInput) error {
	if in.UserID != e.in.UserID {
		// Another account's flow does not exist for the caller.
		return appErr(ErrFlowNotFound, "no such enrollment", nil)
	}
	if err := e.f.checkOpen(ctx); err != nil {
		return err
	}
	if e.view.State != StateChallenge {
		return appErr(ErrWrongState, "the enrollment has no challenge yet", nil)
	}
	m, _ := enrollMethodNamed(e.in.Method) // validateBegin found it
	return m.validateConfirm(in)
}

func (e *enroll) confirm(ctx workflow.Context, in EnrollConfirmInput) (EnrollView, error) {
	if err := e.f.mu.Lock(ctx); err != nil {
		return e.view, err
	}
	defer e.f.mu.Unlock()
	if err := e.validateConfirm(ctx, in); err != nil {
		return e.view, err // the state may have changed while waiting for the lock
	}
	m, _ := enrollMethodNamed(e.in.Method)
	fin, wrong, err := m.confirm(ctx, e, in)
	if err != nil {
		return e.view, err
	}
	if wrong != "" {
		// One error for a wrong confirmation, whatever the method:
		// invalid_code (docs/api.md).
		werr := e.f.wrongAnswer(ctx, ErrInvalidCode, wrong)
		if r, ok := m.(rechallenger); ok && !e.f.finished() {
			if err := r.rechallenge(ctx, e); err != nil {
				return e.view, activityErr(err)
			}
		}
		return e.view, werr
	}
	res, err := e.finish(ctx, m, fin)
	if err != nil {
		if r, ok := m.(rechallenger); ok && errkind.Is(err, ErrConflict) {
			// The authenticator's credential belongs to another account: the
			// spent challenge is replaced so another authenticator can try.
			if cerr := r.rechallenge(ctx, e); cerr != nil {
				return e.view, activityErr(cerr)
			}
		}
		return e.view, err
	}
	e.done(ctx, res)
	return e.view, nil
}

// finish stores the factor. What the account could use before is read
// first, in its own step, so the decision to end other sessions survives a
// retried finish activity.
func (e *enroll) finish(ctx workflow.Context, m enrollMethod, fin activities.FinishEnrollmentInput) (activities.EnrollmentResult, error) {
	var res activities.EnrollmentResult
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.LoadLoginOptions, e.in.UserID).Get(ctx, &fin.Before); err != nil {
		return res, activityErr(err)
	}
	fin.FlowID, fin.UserID, fin.SessionID, fin.IP, fin.Locale = e.in.FlowID, e.in.UserID, e.in.SessionID, e.in.IP, e.in.Locale
	if err := workflow.ExecuteActivity(finishEnrollCtx(ctx), m.finishActivity(), fin).Get(ctx, &res); err != nil {
		return res, activityErr(err)
	}
	return res, nil
}

func (e *enroll) done(ctx workflow.Context, res activities.EnrollmentResult) {
	e.code, e.waSession, e.view.WebAuthnOptions = nil, nil, nil
	e.view.TOTPKeySealed, e.view.TelegramTokenSealed = nil, nil
	if m, ok := enrollMethodNamed(e.in.Method); ok {
		m.done(&e.view, res)
	}
	e.f.setState(ctx, StateDone)
}

// ---- Activity options and errors ----

// finishEnrollCtx retries storing a confirmed factor for a few minutes: the
// person has proven the factor, so a database restart must not lose it.
func finishEnrollCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Second, MaximumAttempts: 12},
	})
}

// ---- Notice ----

// Notice sends a notice to every channel of an account (email and linked
// Telegram chats), retried until it is delivered. The API starts it after a
// change it makes itself, such as disabling a factor.
func Notice(ctx workflow.Context, in NoticeInput) error {
	// About half an hour of retries rides out a mail server restart.
	nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: time.Minute, MaximumAttempts: 40},
	})
	return workflow.ExecuteActivity(nctx, a.Notify, activities.NotifyInput{
		UserID: in.UserID, Notice: in.Notice}).Get(ctx, nil)
}
