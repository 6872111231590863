package workflows

import (
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// Recovery is the durable account recovery (docs/design.md "Account
// recovery"): a code by email proves the mailbox; an account with 2FA then
// proves a second factor exactly as at login (the login's methods, no
// phone), or its owner says every factor is lost and the flow waits out
// AUTHFLOW_RECOVERY_DELAY while every channel of the account is told, with
// a link that cancels — as does any login of the account meanwhile. After
// the wait 2FA goes off and the cards are unlinked (the phone's saga: only
// the mailbox was proven); then a new password ends every session and the
// flow ends with a fresh one.
func Recovery(ctx workflow.Context, in RecoveryInput) (RecoveryView, error) {
	r := &recovery{in: in}
	r.f = newFlow(ctx, KindRecovery, &r.view.FlowStatus)
	// The second step is a login's: the same methods, counters and checks,
	// on this flow's view and skeleton; a right answer leads to a new
	// password instead of a session.
	r.second = &login{in: LoginInput{FlowID: in.FlowID, IP: in.IP, UserAgent: in.UserAgent, FlowSecretMAC: in.FlowSecretMAC,
		SessionTokenHash: in.SessionTokenHash, Locale: in.Locale},
		f: r.f, view: &r.view.View, chooseState: StateSecondFactor, challengeState: StateSecondFactor}
	r.second.done = r.secondFactorDone
	return r.run(ctx)
}

// recovery is the state of one Recovery run beside its skeleton and the
// login second step it shares.
type recovery struct {
	in     RecoveryInput
	f      *flow
	view   RecoveryView
	second *login

	// code is the emailed code; nil when the address has no account (every
	// answer is wrong) or once it was used.
	code *activities.SentCode
}

func (r *recovery) run(ctx workflow.Context) (RecoveryView, error) {
	r.view = RecoveryView{View: View{FlowStatus: FlowStatus{FlowID: r.in.FlowID, State: StateEmailSent,
		ExpiresAt: r.in.ExpiresAt, AttemptsLeft: MaxFlowAttempts}}}
	r.f.setDetails(ctx)

	if err := workflow.SetQueryHandler(ctx, QueryState, func(secretMAC []byte) (RecoveryView, error) {
		if err := r.second.checkSecret(secretMAC); err != nil {
			return RecoveryView{}, err
		}
		return r.view, nil
	}); err != nil {
		return r.view, err
	}
	handlers := []struct {
		name      string
		handler   any
		validator any
	}{
		{UpdateVerify, r.verify, r.validateVerify},
		{UpdateChallenge, r.challenge, r.validateChallenge},
		{UpdateLostFactors, r.lostFactors, r.validateLostFactors},
		{UpdateSetPassword, r.setPassword, r.validateSetPassword},
		{UpdateRecoveryCancel, r.cancelUpdate, r.validateCancel},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler,
			workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return r.view, err
		}
	}
	workflow.Go(ctx, func(ctx workflow.Context) { receiveSignals(ctx, r.f, SignalTelegramAnswer, r.second.telegramAnswer) })
	workflow.Go(ctx, func(ctx workflow.Context) {
		receiveSignals(ctx, r.f, SignalRecoveryCancel, func(ctx workflow.Context, c RecoveryCancel) { _ = r.cancel(ctx, c.Reason) })
	})

	// The code goes out from here, not from the API, so the API answers an
	// unknown address in the same time as a known one.
	if err := r.f.locked(ctx, func() error { return r.begin(ctx) }); err != nil {
		return r.view, err
	}
	err := r.f.run(ctx, func(ctx workflow.Context) {
		r.second.closeChallenge(ctx, "expired")
		r.endWait(ctx, "expired")
	})
	return r.view, err
}

// begin looks the address up and sends its code.
func (r *recovery) begin(ctx workflow.Context) error {
	var res activities.BeginRecoveryResult
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.BeginRecovery, activities.BeginRecoveryInput{
		FlowID: r.in.FlowID, Email: r.in.Email, IP: r.in.IP, Locale: r.in.Locale}).Get(ctx, &res); err != nil {
		// The person sees no code arrive and starts again; nothing else to do.
		return r.f.fail(ctx, "error", nil)
	}
	r.view.UserID, r.code = res.UserID, res.Code
	r.f.setState(ctx, StateEmailSent)
	return nil
}

// ---- The emailed code ----

func (r *recovery) validateVerify(ctx workflow.Context, in VerifyInput) error {
	if err := r.second.checkSecret(in.FlowSecretMAC); err != nil {
		return err
	}
	if err := r.f.checkOpen(ctx); err != nil {
		return err
	}
	switch r.view.State {
	case StateEmailSent:
		return validateCode(MethodEmail, in, 6)
	case StateSecondFactor:
		return r.second.validateVerify(ctx, in)
	}
	return appErr(ErrWrongState, "the recovery is "+string(r.view.State), nil)
}

func (r *recovery) verify(ctx workflow.Context, in VerifyInput) (RecoveryView, error) {
	if r.view.State == StateSecondFactor {
		_, err := r.second.verify(ctx, in)
		return r.view, err
	}
	err := r.f.locked(ctx, func() error {
		if err := r.validateVerify(ctx, in); err != nil {
			return err
		}
		if r.view.State != StateEmailSent {
			return appErr(ErrWrongState, "the recovery is "+string(r.view.State), nil)
		}
		return r.checkEmailCode(ctx, in)
	})
	return r.view, err
}

// checkEmailCode checks the emailed code as a login checks a sent one:
// reserved on the account before the check, counted per flow and per
// account. An address without an account has no code: every answer is
// wrong, counted in the flow, and looks the same.
func (r *recovery) checkEmailCode(ctx workflow.Context, in VerifyInput) error {
	if r.code == nil {
		return r.f.wrongAnswer(ctx, ErrInvalidCode, "wrong code")
	}
	if !workflow.Now(ctx).Before(r.code.ExpiresAt) {
		return appErr(ErrFlowExpired, "the code expired; start again", nil)
	}
	var ans activities.Answer
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckCode, activities.CheckCodeInput{
		FlowID: r.in.FlowID, UserID: r.view.UserID, CodeSealed: in.CodeSealed, MAC: r.code.MAC}).Get(ctx, &ans); err != nil {
		return activityErr(err)
	}
	if ans.Refused {
		return lockedErr(ans.Budget)
	}
	if !ans.OK {
		return r.second.wrongAnswer(ctx, "wrong_code", ErrInvalidCode, "wrong code", ans)
	}
	r.code = nil
	var opts activities.LoginOptions
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.LoadLoginOptions, r.view.UserID).Get(ctx, &opts); err != nil {
		return activityErr(err)
	}
	r.view.AttemptsLeft = MaxFlowAttempts
	if !opts.Any() {
		r.second.setState(ctx, StateSetPassword, "")
		return nil
	}
	// The login's methods but the phone's: those downgrade, which a person
	// who lost every factor gets by waiting.
	r.second.opts = opts
	r.view.Methods = nil
	for _, m := range methodOptions(opts) {
		if !m.Downgrade {
			r.view.Methods = append(r.view.Methods, m)
		}
	}
	r.second.setState(ctx, StateSecondFactor, "")
	return nil
}

// ---- The second factor: the login's ----

func (r *recovery) validateChallenge(ctx workflow.Context, in ChallengeInput) error {
	return r.second.validateChallenge(ctx, in)
}

func (r *recovery) challenge(ctx workflow.Context, in ChallengeInput) (RecoveryView, error) {
	_, err := r.second.challenge(ctx, in)
	return r.view, err
}

// secondFactorDone is the second step's end: a right answer (under the
// lock) leads to a new password.
func (r *recovery) secondFactorDone(ctx workflow.Context, method Method) error {
	r.second.closeChallenge(ctx, "confirmed")
	r.view.Methods, r.view.TelegramNumber, r.view.WebAuthnOptions = nil, 0, nil
	r.second.setState(ctx, StateSetPassword, method)
	r.second.record(ctx, "recovery_second_factor", map[string]any{"method": string(method)})
	return nil
}

// ---- Lost factors: the wait ----

func (r *recovery) validateLostFactors(ctx workflow.Context, in LostFactorsInput) error {
	if err := r.second.checkSecret(in.FlowSecretMAC); err != nil {
		return err
	}
	if err := r.f.checkOpen(ctx); err != nil {
		return err
	}
	if r.view.State != StateSecondFactor {
		return appErr(ErrWrongState, "only an account with two-step authentication waits; the recovery is "+string(r.view.State), nil)
	}
	return nil
}

func (r *recovery) lostFactors(ctx workflow.Context, in LostFactorsInput) (RecoveryView, error) {
	err := r.f.locked(ctx, func() error {
		if err := r.validateLostFactors(ctx, in); err != nil {
			return err
		}
		now := workflow.Now(ctx)
		ready := now.Add(r.in.Delay)
		// One wait per account: another one waiting refuses this (409
		// conflict), and the flow stays where it was.
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.BeginRecoveryWait, activities.BeginRecoveryWaitInput{
			FlowID: r.in.FlowID, UserID: r.view.UserID, ReadyAt: ready}).Get(ctx, nil); err != nil {
			return activityErr(err)
		}
		r.second.closeChallenge(ctx, "cancelled")
		lead := min(RecoveryReminderLead, r.in.Delay/2)
		remind := ready.Add(-lead)
		r.view.ReadyAt, r.view.ReminderAt = &ready, &remind
		r.view.Methods, r.view.TelegramNumber, r.view.WebAuthnOptions = nil, 0, nil
		r.view.ExpiresAt = ready.Add(RecoveryReadyTTL)
		r.second.setState(ctx, StateWaiting, "")
		workflow.Go(ctx, r.wait)
		return nil
	})
	return r.view, err
}

func (r *recovery) noticeInput(reminder bool) activities.RecoveryNoticeInput {
	return activities.RecoveryNoticeInput{FlowID: r.in.FlowID, UserID: r.view.UserID, IP: r.in.IP,
		ReadyAt: *r.view.ReadyAt, Reminder: reminder, TokenExpiresAt: r.view.ExpiresAt}
}

// wait reminds the account before ReadyAt and opens the new password at
// it, unless the flow ended meanwhile. Timers are durable: a restart of
// every process changes nothing.
func (r *recovery) wait(ctx workflow.Context) {
	ended := func() bool { return r.view.State != StateWaiting }
	at := func(t time.Time) bool {
		done, err := workflow.AwaitWithTimeout(ctx, t.Sub(workflow.Now(ctx)), ended)
		return err == nil && !done
	}
	// The notices are sent outside the lock: they change nothing in the
	// flow, and a mail server that is down must not hold a cancel up.
	if err := workflow.ExecuteActivity(finishCtx(ctx), a.RecoveryNotice, r.noticeInput(false)).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("recovery notice", "err", err)
	}
	if at(*r.view.ReminderAt) {
		if err := workflow.ExecuteActivity(finishCtx(ctx), a.RecoveryNotice, r.noticeInput(true)).Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Error("recovery reminder", "err", err)
		}
	}
	if !at(*r.view.ReadyAt) {
		return
	}
	_ = r.f.locked(ctx, func() error {
		if r.view.State != StateWaiting {
			return nil
		}
		r.endWait(ctx, "ready")
		// Only the mailbox was proven: what the phone's reserve method
		// does, with its compensation (login.go).
		if err := r.second.downgrade(ctx, "recovery"); err != nil {
			return err
		}
		r.second.setState(ctx, StateSetPassword, "")
		return nil
	})
}

// endWait records how a wait ended (nothing when the flow never waited).
func (r *recovery) endWait(ctx workflow.Context, outcome string) {
	if r.view.ReadyAt == nil {
		return
	}
	if err := workflow.ExecuteActivity(finishCtx(ctx), a.EndRecoveryWait, activities.EndRecoveryWaitInput{
		FlowID: r.in.FlowID, UserID: r.view.UserID, Outcome: outcome, IP: r.in.IP}).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Error("end recovery wait", "err", err)
	}
}

// ---- Cancelling ----

func (r *recovery) validateCancel(ctx workflow.Context, in RecoveryCancel) error {
	if r.f.finished() {
		return appErr(ErrWrongState, "the recovery is "+string(r.view.State), nil)
	}
	return nil
}

func (r *recovery) cancelUpdate(ctx workflow.Context, in RecoveryCancel) (RecoveryView, error) {
	err := r.f.locked(ctx, func() error { return r.cancel(ctx, in.Reason) })
	return r.view, err
}

// cancel ends an open recovery as cancelled (with the lock held).
func (r *recovery) cancel(ctx workflow.Context, reason string) error {
	if r.f.finished() {
		return appErr(ErrWrongState, "the recovery is "+string(r.view.State), nil)
	}
	r.second.closeChallenge(ctx, "cancelled")
	r.view.Reason = reason
	r.second.setState(ctx, StateCancelled, r.view.Method)
	r.endWait(ctx, "cancelled")
	if r.view.UserID != "" {
		r.second.record(ctx, "recovery_cancelled", map[string]any{"reason": reason})
	}
	return nil
}

// ---- The new password ----

func (r *recovery) validateSetPassword(ctx workflow.Context, in SetPasswordInput) error {
	if err := r.second.checkSecret(in.FlowSecretMAC); err != nil {
		return err
	}
	if err := r.f.checkOpen(ctx); err != nil {
		return err
	}
	if r.view.State != StateSetPassword {
		return appErr(ErrWrongState, "the recovery is "+string(r.view.State), nil)
	}
	if len(in.PasswordSealed) == 0 {
		return appErr(ErrBadRequest, "new_password is required", nil)
	}
	return nil
}

func (r *recovery) setPassword(ctx workflow.Context, in SetPasswordInput) (RecoveryView, error) {
	err := r.f.locked(ctx, func() error {
		if err := r.validateSetPassword(ctx, in); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(activityCtx(ctx), a.CompleteRecovery, activities.CompleteRecoveryInput{
			FlowID: r.in.FlowID, UserID: r.view.UserID, PasswordSealed: in.PasswordSealed, IP: r.in.IP}).Get(ctx, nil); err != nil {
			return activityErr(err)
		}
		return r.second.issueSession(ctx, r.view.Method)
	})
	return r.view, err
}
