package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/phone"
)

// Enroll is the durable enrollment of one second factor (or phone): begin
// makes the challenge — a TOTP key, a code by email or SMS, passkey creation
// options or a Telegram deep link — then a code, an attestation or the bot's
// /start signal confirms it, and the factor is stored. The flow expires
// after FlowTTL and fails after MaxFlowAttempts wrong answers.
func Enroll(ctx workflow.Context, in EnrollInput) (EnrollView, error) {
	e := &enroll{in: in, mu: workflow.NewMutex(ctx)}
	return e.run(ctx)
}

// enroll is the state of one Enroll run. Handlers run one at a time (mu), so
// a double-clicked confirm cannot store a factor twice.
type enroll struct {
	in   EnrollInput
	mu   workflow.Mutex
	view EnrollView

	// What the challenge needs to check an answer.
	code      *activities.SentCode
	waSession json.RawMessage
}

func (e *enroll) run(ctx workflow.Context) (EnrollView, error) {
	now := workflow.Now(ctx)
	e.view = EnrollView{FlowID: e.in.FlowID, UserID: e.in.UserID, State: StateStarting, Method: e.in.Method,
		ExpiresAt: now.Add(FlowTTL), AttemptsLeft: MaxFlowAttempts}
	// The API's start options set the search attributes of this state.
	e.setDetails(ctx)

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
	workflow.Go(ctx, e.receiveTelegram)

	ok, err := workflow.AwaitWithTimeout(ctx, e.view.ExpiresAt.Sub(now), e.finished)
	if err != nil {
		return e.view, err
	}
	if !ok {
		// A confirmation being stored finishes first.
		if err := e.mu.Lock(ctx); err != nil {
			return e.view, err
		}
		if !e.finished() {
			e.setState(ctx, StateExpired)
		}
		e.mu.Unlock()
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return e.view, err
	}
	return e.view, nil
}

func (e *enroll) finished() bool {
	switch e.view.State {
	case StateDone, StateFailed, StateExpired:
		return true
	}
	return false
}

// setState records the state in the view, the search attributes and the UI
// details: operators find stuck enrollments by AuthflowState.
func (e *enroll) setState(ctx workflow.Context, s State) {
	e.view.State = s
	_ = workflow.UpsertTypedSearchAttributes(ctx,
		SearchKind.ValueSet(KindEnroll), SearchUserID.ValueSet(e.in.UserID), SearchState.ValueSet(string(s)),
		SearchMethod.ValueSet(string(e.in.Method)), SearchStateChangedAt.ValueSet(workflow.Now(ctx)))
	e.setDetails(ctx)
}

// setDetails shows the flow's state in the UI (never a secret).
func (e *enroll) setDetails(ctx workflow.Context) {
	details := fmt.Sprintf("enroll · state: %s · method: %s · user: %s", e.view.State, e.in.Method, e.in.UserID)
	if e.view.Reason != "" {
		details += " · reason: " + e.view.Reason
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (e *enroll) checkOpen(ctx workflow.Context) error {
	expired := !workflow.Now(ctx).Before(e.view.ExpiresAt)
	if e.view.State == StateExpired || (!e.finished() && expired) {
		return appErr(ErrFlowExpired, "the enrollment expired; start again", nil)
	}
	if e.finished() {
		return appErr(ErrWrongState, fmt.Sprintf("the enrollment is %s", e.view.State), nil)
	}
	return nil
}

// ---- Step 1: the challenge ----

func (e *enroll) validateBegin(ctx workflow.Context) error {
	if err := e.checkOpen(ctx); err != nil {
		return err
	}
	if e.view.State != StateStarting {
		return appErr(ErrWrongState, "the enrollment has begun already", nil)
	}
	switch e.in.Method {
	case MethodTOTP, MethodEmail, MethodTelegram:
	case MethodWebAuthn:
		if e.in.DeviceName == "" {
			return appErr(ErrBadRequest, "a passkey needs a name", nil)
		}
	case MethodPhone:
		if !phone.Valid(e.in.Number) {
			return appErr(ErrBadRequest, phone.ErrInvalid.Error(), nil)
		}
	default:
		return appErr(ErrBadRequest, fmt.Sprintf("method %q cannot be enrolled", e.in.Method), nil)
	}
	return nil
}

func (e *enroll) begin(ctx workflow.Context) (EnrollView, error) {
	if err := e.mu.Lock(ctx); err != nil {
		return e.view, err
	}
	defer e.mu.Unlock()
	if err := e.validateBegin(ctx); err != nil {
		return e.view, err
	}
	var err error
	switch e.in.Method {
	case MethodTOTP:
		var k activities.TOTPEnrollment
		err = workflow.ExecuteLocalActivity(localCtx(ctx), a.BeginTOTPEnrollment, e.in.UserID).Get(ctx, &k)
		e.view.TOTPKeySealed = k.KeySealed
	case MethodEmail:
		err = e.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelEmail})
	case MethodPhone:
		err = e.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelSMS, Number: e.in.Number})
	case MethodWebAuthn:
		err = e.challengeWebAuthn(ctx)
	case MethodTelegram:
		var t activities.TelegramLinkToken
		err = workflow.ExecuteLocalActivity(localCtx(ctx), a.CreateTelegramLink, activities.CreateTelegramLinkInput{
			UserID: e.in.UserID, FlowID: e.in.FlowID, ExpiresAt: e.view.ExpiresAt}).Get(ctx, &t)
		e.view.TelegramTokenSealed = t.TokenSealed
	}
	if err != nil {
		return e.view, e.fail(ctx, "error", activityErr(err))
	}
	e.setState(ctx, StateChallenge)
	return e.view, nil
}

func (e *enroll) sendCode(ctx workflow.Context, in activities.SendCodeInput) error {
	// The IP: a number not yet verified counts against its client's budget.
	in.FlowID, in.UserID, in.Purpose, in.IP = e.in.FlowID, e.in.UserID, "enroll", e.in.IP
	var sent activities.SentCode
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.SendCode, in).Get(ctx, &sent); err != nil {
		return err
	}
	e.code = &sent
	return nil
}

// challengeWebAuthn makes (new) creation options: a registration challenge
// is single use, so a rejected attestation gets a fresh one.
func (e *enroll) challengeWebAuthn(ctx workflow.Context) error {
	var ch activities.WebAuthnChallenge
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.BeginWebAuthnRegistration, e.in.UserID).Get(ctx, &ch); err != nil {
		return err
	}
	e.waSession, e.view.WebAuthnOptions = ch.Session, ch.Options
	return nil
}

// ---- Step 2: the confirmation ----

func (e *enroll) validateConfirm(ctx workflow.Context, in EnrollConfirmInput) error {
	if in.UserID != e.in.UserID {
		// Another account's flow does not exist for the caller.
		return appErr(ErrNotFound, "no such enrollment", nil)
	}
	if err := e.checkOpen(ctx); err != nil {
		return err
	}
	if e.view.State != StateChallenge {
		return appErr(ErrWrongState, "the enrollment has no challenge yet", nil)
	}
	switch e.in.Method {
	case MethodTelegram:
		return appErr(ErrWrongState, "a Telegram link is confirmed by opening it in Telegram", nil)
	case MethodWebAuthn:
		if len(in.Credential) == 0 {
			return appErr(ErrBadRequest, "credential is required for a passkey", nil)
		}
	default:
		if len(in.CodeSealed) == 0 {
			return appErr(ErrBadRequest, "code is required", nil)
		}
		if in.CodeLength != 6 {
			return appErr(ErrBadRequest, "the code has 6 digits", nil)
		}
	}
	return nil
}

func (e *enroll) confirm(ctx workflow.Context, in EnrollConfirmInput) (EnrollView, error) {
	if err := e.mu.Lock(ctx); err != nil {
		return e.view, err
	}
	defer e.mu.Unlock()
	if err := e.validateConfirm(ctx, in); err != nil {
		return e.view, err // the state may have changed while waiting for the lock
	}
	fin := activities.FinishEnrollmentInput{}
	switch e.in.Method {
	case MethodTOTP:
		var step int64
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckTOTPEnrollment, activities.CheckTOTPEnrollmentInput{
			KeySealed: e.view.TOTPKeySealed, CodeSealed: in.CodeSealed}).Get(ctx, &step); err != nil {
			return e.view, activityErr(err)
		}
		if step < 0 {
			return e.view, e.wrongAnswer(ctx, ErrInvalidCode, "wrong code")
		}
		fin.TOTPKeySealed, fin.TOTPStep = e.view.TOTPKeySealed, step
	case MethodEmail, MethodPhone:
		if !workflow.Now(ctx).Before(e.code.ExpiresAt) {
			return e.view, appErr(ErrFlowExpired, "the code expired; start again", nil)
		}
		var ok bool
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckCode, activities.CheckCodeInput{
			FlowID: e.in.FlowID, CodeSealed: in.CodeSealed, MAC: e.code.MAC}).Get(ctx, &ok); err != nil {
			return e.view, activityErr(err)
		}
		if !ok {
			return e.view, e.wrongAnswer(ctx, ErrInvalidCode, "wrong code")
		}
		fin.Number = e.in.Number
	case MethodWebAuthn:
		var reg activities.WebAuthnRegistration
		err := workflow.ExecuteLocalActivity(localCtx(ctx), a.VerifyWebAuthnRegistration, activities.VerifyWebAuthnRegistrationInput{
			UserID: e.in.UserID, Session: e.waSession, Credential: in.Credential}).Get(ctx, &reg)
		if err != nil {
			return e.view, activityErr(err)
		}
		if !reg.OK {
			// API.md names one error for a wrong confirmation, whatever
			// the method: invalid_code.
			werr := e.wrongAnswer(ctx, ErrInvalidCode, "the passkey was not accepted; try again with the new options")
			if !e.finished() {
				if err := e.challengeWebAuthn(ctx); err != nil {
					return e.view, activityErr(err)
				}
			}
			return e.view, werr
		}
		fin.Credential, fin.DeviceName = reg.Credential, e.in.DeviceName
	}
	res, err := e.finish(ctx, fin)
	if err != nil {
		var ae *temporal.ApplicationError
		if e.in.Method == MethodWebAuthn && errors.As(err, &ae) && ae.Type() == ErrConflict {
			// The authenticator's credential belongs to another account: the
			// spent challenge is replaced so another authenticator can try.
			if cerr := e.challengeWebAuthn(ctx); cerr != nil {
				return e.view, activityErr(cerr)
			}
		}
		return e.view, err
	}
	e.done(ctx, res)
	return e.view, nil
}

// wrongAnswer counts a wrong code or attestation; the last one fails the
// flow (API.md: 5 wrong codes per enrollment).
func (e *enroll) wrongAnswer(ctx workflow.Context, errType, msg string) error {
	e.view.AttemptsLeft = max(0, e.view.AttemptsLeft-1)
	if e.view.AttemptsLeft == 0 {
		e.view.Reason = "attempts"
		e.setState(ctx, StateFailed)
	}
	return appErr(errType, msg, AttemptsDetails{AttemptsLeft: e.view.AttemptsLeft})
}

// finish stores the factor. What the account could use before is read
// first, in its own step, so the decision to end other sessions survives a
// retried FinishEnrollment.
func (e *enroll) finish(ctx workflow.Context, fin activities.FinishEnrollmentInput) (activities.EnrollmentResult, error) {
	var res activities.EnrollmentResult
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.LoadLoginOptions, e.in.UserID).Get(ctx, &fin.Before); err != nil {
		return res, activityErr(err)
	}
	fin.FlowID, fin.UserID, fin.SessionID, fin.IP, fin.Method = e.in.FlowID, e.in.UserID, e.in.SessionID, e.in.IP, string(e.in.Method)
	if err := workflow.ExecuteActivity(finishEnrollCtx(ctx), a.FinishEnrollment, fin).Get(ctx, &res); err != nil {
		return res, enrollErr(err)
	}
	return res, nil
}

func (e *enroll) done(ctx workflow.Context, res activities.EnrollmentResult) {
	e.code, e.waSession, e.view.WebAuthnOptions = nil, nil, nil
	e.view.TOTPKeySealed, e.view.TelegramTokenSealed = nil, nil
	switch e.in.Method {
	case MethodTOTP:
		e.view.TOTPEnabled = true
	case MethodWebAuthn:
		if d := res.Device; d != nil {
			e.view.Device = &EnrolledDevice{ID: d.ID, Name: d.Name, Passwordless: d.Passwordless, CreatedAt: d.CreatedAt, LastUsedAt: d.LastUsedAt}
		}
	case MethodPhone:
		if p := res.Phone; p != nil {
			e.view.Phone = &EnrolledPhone{ID: p.ID, Number: p.Number, Verified: p.Verified}
		}
	case MethodTelegram:
		if t := res.Telegram; t != nil {
			e.view.TelegramAccount = &EnrolledTelegram{ID: t.ID, Username: t.Username, ChatID: t.ChatID, LinkedAt: t.LinkedAt}
		}
	}
	e.setState(ctx, StateDone)
}

// fail ends the flow and returns err to the caller.
func (e *enroll) fail(ctx workflow.Context, reason string, err error) error {
	e.view.Reason = reason
	e.setState(ctx, StateFailed)
	return err
}

// ---- Telegram: /start <token> arrives as a signal ----

func (e *enroll) receiveTelegram(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalTelegramLink)
	for {
		var l TelegramLink
		ch.Receive(ctx, &l)
		if err := e.mu.Lock(ctx); err != nil {
			return
		}
		e.telegramLink(ctx, l)
		e.mu.Unlock()
	}
}

// telegramLink links the chat. A chat linked to another account is refused
// in the chat and the flow keeps waiting: the same link may still be opened
// from the right Telegram account until the flow expires.
func (e *enroll) telegramLink(ctx workflow.Context, l TelegramLink) {
	if e.in.Method != MethodTelegram || e.view.State != StateChallenge || e.checkOpen(ctx) != nil || l.ChatID == 0 {
		return
	}
	res, err := e.finish(ctx, activities.FinishEnrollmentInput{ChatID: l.ChatID, Username: l.Username})
	if err != nil {
		// The person can send /start again; the flow keeps waiting.
		workflow.GetLogger(ctx).Warn("linking a Telegram account failed", "err", err)
		return
	}
	if res.Refused {
		return
	}
	e.done(ctx, res)
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

// enrollErr is activityErr that keeps a conflict (a passkey registered on
// another account) a conflict.
func enrollErr(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == activities.ErrTypeConflict {
		return appErr(ErrConflict, "this passkey is registered already; use another authenticator", nil)
	}
	return activityErr(err)
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
		UserID: in.UserID, Subject: in.Subject, Text: in.Text}).Get(ctx, nil)
}
