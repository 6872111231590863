package workflows

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
)

// a names activity methods for ExecuteActivity; it is never dereferenced.
var a *activities.Activities

// Login is the durable login flow: password, then a second factor chosen from
// what the account has — Telegram, TOTP, email, passkey, or the phone as a
// reserve method, which runs the downgrade saga — then a session. It reads
// like the flowchart in docs/design.md: one method per step.
func Login(ctx workflow.Context, in LoginInput) (View, error) {
	l := &login{in: in, view: &View{}, chooseState: StateChooseMethod, challengeState: StateChallenge}
	l.f = newFlow(ctx, KindLogin, &l.view.FlowStatus)
	l.done = l.issueSession
	return l.run(ctx)
}

// login is the state of one Login run beside its skeleton (f): handlers
// run one at a time under f's lock, so a double-clicked verify cannot race
// the counters or the saga.
type login struct {
	in   LoginInput
	f    *flow
	view *View
	opts activities.LoginOptions

	// The second step's shape, which a recovery shares (recovery.go): the
	// states it shows while choosing and while challenged, and what a right
	// answer leads to (a session for a login).
	chooseState, challengeState State
	done                        func(ctx workflow.Context, method Method) error

	// The current challenge: the option chosen, and what its method needs
	// to check an answer.
	chosen    MethodOption
	code      *activities.SentCode
	waSession json.RawMessage
	tgNumber  int
	// reset: the right answer's check reset the account's second-step
	// counter (activities.Answer.Reset); the session need not.
	reset bool
}

func (l *login) run(ctx workflow.Context) (View, error) {
	*l.view = View{FlowStatus: FlowStatus{FlowID: l.in.FlowID, State: StatePassword,
		ExpiresAt: workflow.Now(ctx).Add(FlowTTL), AttemptsLeft: MaxFlowAttempts}}
	// The API's start options set the search attributes already (of
	// choose_method for a passwordless flow).
	l.f.setDetails(ctx)
	if l.in.Passwordless {
		// Before the handlers: the SDK validates an Update-With-Start update
		// as soon as its handler is registered.
		l.setState(ctx, StateChooseMethod, "")
	}

	if err := workflow.SetQueryHandler(ctx, QueryState, func(secretMAC []byte) (View, error) {
		if err := l.checkSecret(secretMAC); err != nil {
			return View{}, err
		}
		return *l.view, nil
	}); err != nil {
		return *l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSubmitPassword, l.submitPassword,
		workflow.UpdateHandlerOptions{Validator: l.validatePassword}); err != nil {
		return *l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateChallenge, l.challenge,
		workflow.UpdateHandlerOptions{Validator: l.validateChallenge}); err != nil {
		return *l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateVerify, l.verify,
		workflow.UpdateHandlerOptions{Validator: l.validateVerify}); err != nil {
		return *l.view, err
	}
	workflow.Go(ctx, func(ctx workflow.Context) { receiveSignals(ctx, l.f, SignalTelegramAnswer, l.telegramAnswer) })
	// Whoever decided the flow may still be closing it (editing Telegram
	// prompts): the skeleton waits for the lock too, not only for handlers.
	err := l.f.run(ctx, func(ctx workflow.Context) { l.closeChallenge(ctx, "expired") })
	return *l.view, err
}

// setState moves the flow to s with method m.
func (l *login) setState(ctx workflow.Context, s State, m Method) {
	l.view.Method = m
	l.f.setState(ctx, s)
}

// checkSecret answers ErrFlowNotFound unless mac is the MAC of the flow
// secret the API handed to the client that started the flow: a flow id
// alone (seen in a log or the Temporal UI) names a flow but opens nothing,
// and a caller without the secret cannot even tell the flow exists.
func (l *login) checkSecret(mac []byte) error {
	if len(l.in.FlowSecretMAC) == 0 || subtle.ConstantTimeCompare(mac, l.in.FlowSecretMAC) != 1 {
		return appErr(ErrFlowNotFound, "no such flow", nil)
	}
	return nil
}

// ---- Step 1: the password ----

func (l *login) validatePassword(ctx workflow.Context, in SubmitPasswordInput) error {
	if err := l.f.checkOpen(ctx); err != nil {
		return err
	}
	if l.in.Passwordless || l.view.State != StatePassword {
		return appErr(ErrWrongState, "the password was already given", nil)
	}
	if in.Email == "" || len(in.PasswordSealed) == 0 {
		return appErr(ErrBadRequest, "email and password are required", nil)
	}
	return nil
}

func (l *login) submitPassword(ctx workflow.Context, in SubmitPasswordInput) (View, error) {
	if err := l.f.mu.Lock(ctx); err != nil {
		return *l.view, err
	}
	defer l.f.mu.Unlock()
	if err := l.f.checkOpen(ctx); err != nil {
		return *l.view, err
	}
	var res activities.VerifyPasswordResult
	if err := workflow.ExecuteLocalActivity(passwordCtx(ctx), a.VerifyPassword, activities.VerifyPasswordInput{
		Email: in.Email, PasswordSealed: in.PasswordSealed, IP: l.in.IP}).Get(ctx, &res); err != nil {
		return *l.view, l.fail(ctx, "error", err)
	}
	if res.RetryAfterSeconds > 0 {
		return *l.view, l.fail(ctx, "rate_limited", appErr(ErrRateLimited, "too many attempts; try again later",
			RateLimitDetails{RetryAfterSeconds: res.RetryAfterSeconds}))
	}
	if !res.OK {
		return *l.view, l.fail(ctx, "invalid_credentials", appErr(ErrInvalidCredentials, "wrong email or password", nil))
	}
	// The user id is upserted with the next state.
	l.view.UserID = res.UserID
	l.opts = res.Options
	if !l.opts.Any() {
		return *l.view, l.issueSession(ctx, "")
	}
	l.view.Methods = methodOptions(l.opts)
	l.view.AttemptsLeft = min(MaxFlowAttempts, max(1, res.Budget.Left))
	l.setState(ctx, StateChooseMethod, "")
	return *l.view, nil
}

// methodOptions lists what the registered methods offer, in their order.
func methodOptions(o activities.LoginOptions) []MethodOption {
	var out []MethodOption
	for _, m := range loginMethods {
		out = append(out, m.offer(o)...)
	}
	return out
}

// ---- Step 2: choose a method, get a challenge ----

func (l *login) validateChallenge(ctx workflow.Context, in ChallengeInput) error {
	if err := l.checkSecret(in.FlowSecretMAC); err != nil {
		return err
	}
	if err := l.f.checkOpen(ctx); err != nil {
		return err
	}
	if l.view.State != l.chooseState && l.view.State != l.challengeState {
		return appErr(ErrWrongState, "give the password first", nil)
	}
	if l.in.Passwordless {
		if in.Method != MethodWebAuthn {
			return appErr(ErrMethodUnavailable, "a passwordless flow only takes a passkey", nil)
		}
		return nil
	}
	opt, ok := l.offered(in)
	if !ok {
		return appErr(ErrMethodUnavailable, fmt.Sprintf("method %q is not available for this account", in.Method), nil)
	}
	if opt.PhoneID != "" && in.PhoneID == "" {
		// A method offered once per phone needs to be told which.
		return appErr(ErrBadRequest, fmt.Sprintf("phone_id is required for %s: one of the phone ids it is offered with", in.Method), nil)
	}
	if opt.Downgrade && !in.ConfirmDowngrade {
		return appErr(ErrDowngradeNotConfirmed,
			"signing in by phone disables two-step authentication and unlinks every bank card: send confirm_downgrade: true", nil)
	}
	return nil
}

func (l *login) offered(in ChallengeInput) (MethodOption, bool) {
	for _, m := range l.view.Methods {
		if m.Type == in.Method && (m.PhoneID == "" || m.PhoneID == in.PhoneID || in.PhoneID == "") {
			return m, true
		}
	}
	return MethodOption{}, false
}

func (l *login) challenge(ctx workflow.Context, in ChallengeInput) (View, error) {
	if err := l.f.mu.Lock(ctx); err != nil {
		return *l.view, err
	}
	defer l.f.mu.Unlock()
	if err := l.validateChallenge(ctx, in); err != nil {
		return *l.view, err // the state may have changed while waiting for the lock
	}
	if !l.in.Passwordless {
		if err := l.checkLocked(ctx); err != nil {
			return *l.view, err
		}
	}
	// A new challenge replaces the old one (docs/api.md).
	l.code, l.waSession, l.tgNumber = nil, nil, 0
	l.view.TelegramNumber, l.view.WebAuthnOptions = 0, nil
	opt, ok := l.offered(in)
	if l.in.Passwordless {
		opt, ok = MethodOption{Type: MethodWebAuthn}, true
	}
	m, known := loginMethodNamed(in.Method)
	if !ok || !known {
		return *l.view, appErr(ErrMethodUnavailable, fmt.Sprintf("method %q is not available for this account", in.Method), nil)
	}
	if err := m.challenge(ctx, l, opt); err != nil {
		return *l.view, activityErr(err)
	}
	l.chosen = opt
	l.setState(ctx, l.challengeState, in.Method)
	return *l.view, nil
}

func (l *login) sendCode(ctx workflow.Context, in activities.SendCodeInput) error {
	in.Locale = l.in.Locale
	sent, err := l.f.sendCode(ctx, "login", in)
	l.code = sent
	return err
}

// ---- Step 3: the answer ----

func (l *login) validateVerify(ctx workflow.Context, in VerifyInput) error {
	if err := l.checkSecret(in.FlowSecretMAC); err != nil {
		return err
	}
	if err := l.f.checkOpen(ctx); err != nil {
		return err
	}
	if in.Method != "" {
		return l.validateDirect(in)
	}
	if l.view.State != l.challengeState {
		return appErr(ErrWrongState, "choose a method first", nil)
	}
	m, ok := loginMethodNamed(l.view.Method)
	if !ok {
		return appErr(ErrWrongState, "choose a method first", nil)
	}
	return m.validateAnswer(in)
}

// validateDirect checks an answer that names its method: only a method
// whose challenge sends nothing, offered to this flow, from the states a
// challenge may start in (docs/api.md "Login flows").
func (l *login) validateDirect(in VerifyInput) error {
	if l.in.Passwordless || (l.view.State != l.chooseState && l.view.State != l.challengeState) {
		return appErr(ErrWrongState, "this flow takes no answer by method now", nil)
	}
	m, ok := loginMethodNamed(in.Method)
	if !ok {
		return appErr(ErrBadRequest, fmt.Sprintf("unknown method %q", in.Method), nil)
	}
	if _, direct := m.(directAnswer); !direct {
		return appErr(ErrBadRequest, fmt.Sprintf("method %q needs a challenge first", in.Method), nil)
	}
	if _, ok := l.offered(ChallengeInput{Method: in.Method}); !ok {
		return appErr(ErrMethodUnavailable, fmt.Sprintf("method %q is not available for this account", in.Method), nil)
	}
	return m.validateAnswer(in)
}

func (l *login) verify(ctx workflow.Context, in VerifyInput) (View, error) {
	if err := l.f.mu.Lock(ctx); err != nil {
		return *l.view, err
	}
	defer l.f.mu.Unlock()
	if err := l.validateVerify(ctx, in); err != nil {
		return *l.view, err
	}
	direct := in.Method != ""
	if direct {
		// The challenge is the answer's own: it sends nothing, so it is
		// only chosen here, with no state of its own unless the answer is
		// wrong. A challenge outstanding (a prompt) is replaced.
		l.closeChallenge(ctx, "cancelled")
		l.code, l.waSession, l.tgNumber = nil, nil, 0
		l.view.TelegramNumber, l.view.WebAuthnOptions = 0, nil
		l.chosen, _ = l.offered(ChallengeInput{Method: in.Method})
		l.view.Method = in.Method
	}
	method := l.view.Method
	m, _ := loginMethodNamed(method) // validateVerify found it
	c, err := m.check(ctx, l, in)
	if err != nil {
		return *l.view, err
	}
	if c.Refused {
		return *l.view, lockedErr(c.Budget)
	}
	if !c.OK {
		if c.errType == "" {
			c.errType = ErrInvalidCode
		}
		if direct && !l.f.finished() {
			// From here the flow is in this method's challenge: the next
			// answer needs no method.
			l.setState(ctx, l.challengeState, method)
		}
		if c.Replay {
			// A right code already used is no attempt (the activity that
			// found it so gave its reservation back): never accepted,
			// counted nowhere. Only a code that matches the secret is a
			// Replay, so no guess goes uncounted.
			return *l.view, appErr(c.errType, c.msg, AttemptsDetails{AttemptsLeft: l.view.AttemptsLeft})
		}
		return *l.view, l.wrongAnswer(ctx, c.reason, c.errType, c.msg, c.Answer)
	}
	l.reset = c.Reset
	// The phone methods' options downgrade: the saga runs before any
	// session exists.
	if l.chosen.Downgrade {
		if err := l.downgrade(ctx, method); err != nil {
			return *l.view, err
		}
	}
	return *l.view, l.done(ctx, method)
}

// wrongAnswer counts a wrong answer in the flow and records it on the
// account. ans is the checked answer: when its attempt was reserved
// (Counted), the account's counter already holds it. An answer that locks
// the account fails the flow at once.
func (l *login) wrongAnswer(ctx workflow.Context, reason string, errType errkind.Kind, msg string, ans activities.Answer) error {
	if l.view.UserID != "" {
		in := activities.SecondFactorFailureInput{UserID: l.view.UserID, Method: string(l.view.Method), IP: l.in.IP,
			Reason: reason, Counted: ans.Counted, Failures: ans.Failures}
		var b activities.SecondFactorBudget
		if err := workflow.ExecuteActivity(activityCtx(ctx), a.RecordSecondFactorFailure, in).Get(ctx, &b); err != nil {
			return activityErr(err)
		}
		if ans.Counted {
			b = ans.Budget
		}
		if b.RetryAfterSeconds > 0 {
			l.view.AttemptsLeft = min(l.view.AttemptsLeft, 1)
		}
	}
	err := l.f.wrongAnswer(ctx, errType, msg)
	if l.f.finished() {
		l.closeChallenge(ctx, "failed")
	}
	return err
}

// closeChallenge tells the current method, when its challenge outlives an
// answer (a Telegram prompt), how the flow ended.
func (l *login) closeChallenge(ctx workflow.Context, outcome string) {
	if m, ok := loginMethodNamed(l.view.Method); ok {
		if c, ok := m.(challengeCloser); ok {
			c.close(ctx, l, outcome)
		}
	}
}

// checkLocked answers 429 while the account's second step is backing off
// or locked: no code is sent for an answer that could not be checked.
func (l *login) checkLocked(ctx workflow.Context) error {
	var b activities.SecondFactorBudget
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.SecondFactorStatus, l.view.UserID).Get(ctx, &b); err != nil {
		return activityErr(err)
	}
	if b.RetryAfterSeconds > 0 {
		return lockedErr(b)
	}
	return nil
}

func lockedErr(b activities.SecondFactorBudget) error {
	msg := "too many wrong answers on this account; try again later"
	if b.Locked {
		msg = "too many wrong answers on this account: the second step is locked until the password is changed or an administrator unlocks it"
	}
	return appErr(ErrRateLimited, msg, RateLimitDetails{RetryAfterSeconds: b.RetryAfterSeconds, Locked: b.Locked})
}

func (l *login) record(ctx workflow.Context, typ string, detail map[string]any) {
	_ = workflow.ExecuteActivity(activityCtx(ctx), a.RecordEvent, activities.RecordEventInput{
		UserID: l.view.UserID, Type: typ, IP: l.in.IP, Detail: detail}).Get(ctx, nil)
}

// ---- The phone saga ----

// downgrade disables 2FA and unlinks the cards before any session exists. If
// a step fails for good, 2FA is restored and the login fails: a session must
// never exist while cards are still linked to an account whose 2FA was
// bypassed by phone (docs/design.md).
func (l *login) downgrade(ctx workflow.Context, method Method) error {
	in := activities.DowngradeInput{UserID: l.view.UserID, Key: workflow.GetInfo(ctx).WorkflowExecution.ID, IP: l.in.IP}
	sctx := sagaCtx(ctx)
	var cards int
	err := workflow.ExecuteActivity(sctx, a.DisableTwoFactor, in).Get(ctx, nil)
	if err == nil {
		err = workflow.ExecuteActivity(sctx, a.UnlinkBankCards, in).Get(ctx, &cards)
	}
	if err != nil {
		// Compensation runs even if the flow's context is cancelled.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		if cerr := workflow.ExecuteActivity(compensationCtx(dctx), a.RestoreTwoFactor, in).Get(dctx, nil); cerr != nil {
			workflow.GetLogger(ctx).Error("restoring 2FA after a failed downgrade failed", "err", cerr)
		}
		return l.fail(ctx, "saga", appErr(ErrUnavailable, "the phone sign-in could not be completed; two-step authentication was kept", nil))
	}
	if err := workflow.ExecuteActivity(finishCtx(ctx), a.FinishDowngrade, activities.FinishDowngradeInput{
		DowngradeInput: in, Method: string(method), CardsUnlinked: cards}).Get(ctx, nil); err != nil {
		return l.fail(ctx, "saga", activityErr(err))
	}
	l.view.Downgrade = &Downgrade{TwoFactorDisabled: true, BankCardsUnlinked: cards}
	return nil
}

// ---- The end ----

func (l *login) issueSession(ctx workflow.Context, method Method) error {
	in := activities.IssueSessionInput{UserID: l.view.UserID, FlowID: l.in.FlowID, TokenHash: l.in.SessionTokenHash,
		IP: l.in.IP, UserAgent: l.in.UserAgent, Method: string(method), SecondStepReset: l.reset}
	// A few small writes: as a local activity it saves the activity task's
	// two round trips through Temporal (idempotent either way).
	var s activities.IssuedSession
	if err := workflow.ExecuteLocalActivity(finishLocalCtx(ctx), a.IssueSession, in).Get(ctx, &s); err != nil {
		return l.fail(ctx, "error", activityErr(err))
	}
	l.view.Session = &SessionInfo{ID: s.ID, ExpiresAt: s.ExpiresAt}
	l.view.Methods = nil
	l.setState(ctx, StateDone, method)
	return nil
}

// fail ends the flow and returns err, in the contract's terms, to the
// caller.
func (l *login) fail(ctx workflow.Context, reason string, err error) error {
	return l.f.fail(ctx, reason, activityErr(err))
}

// ---- Activity options and errors ----

func localCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 10 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumAttempts: 5},
	})
}

// passwordCtx is localCtx with room for the argon2id queue: hashes run one
// per CPU, so under load a verification waits for its turn (40 logins at
// once with a 343 ms hash on 2 CPUs: about 7 s).
func passwordCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 200 * time.Millisecond, MaximumAttempts: 5},
	})
}

// activityCtx is for sends and reads: retried for a minute, then the caller
// gets an error it can retry.
func activityCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 20 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 500 * time.Millisecond, BackoffCoefficient: 2,
			MaximumInterval: 10 * time.Second, MaximumAttempts: 6},
	})
}

// sagaCtx retries the saga's steps for about ten minutes (a database
// restart) before they count as failed for good and are compensated.
func sagaCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2,
			MaximumInterval: 30 * time.Second, MaximumAttempts: 25},
	})
}

// compensationCtx and finishCtx never give up: once cards are unlinked, the
// only way forward is to finish; a compensation must eventually happen.
func compensationCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
}

func finishCtx(ctx workflow.Context) workflow.Context { return compensationCtx(ctx) }

// finishLocalCtx is finishCtx for a local activity.
func finishLocalCtx(ctx workflow.Context) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
}

// appErr is a failure of kind k for the flow's caller.
func appErr(k errkind.Kind, msg string, details any) error {
	if details == nil {
		return errkind.New(k, msg)
	}
	return errkind.New(k, msg, details)
}

// activityErr is what a flow returns for a step that failed: the failure
// itself when its kind is one a client may see (the activities raise the
// contract's kinds), else ErrUnavailable — a timeout, a retryable error
// whose retries ran out, an internal failure.
func activityErr(err error) error {
	if k, ae, ok := errkind.Of(err); ok && k.Public() {
		return ae
	}
	return appErr(ErrUnavailable, "a step of the flow failed; try again", nil)
}
