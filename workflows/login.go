package workflows

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// a names activity methods for ExecuteActivity; it is never dereferenced.
var a *activities.Activities

// Login is the durable login flow: password, then a second factor chosen from
// what the account has — Telegram, TOTP, email, passkey, or the phone as a
// reserve method, which runs the downgrade saga — then a session. It reads
// like the flowchart in DESIGN.md: one method per step.
func Login(ctx workflow.Context, in LoginInput) (View, error) {
	l := &login{in: in, mu: workflow.NewMutex(ctx)}
	return l.run(ctx)
}

// login is the state of one Login run. Handlers run one at a time (mu), so a
// double-clicked verify cannot race the counters or the saga.
type login struct {
	in   LoginInput
	mu   workflow.Mutex
	view View
	opts activities.LoginOptions
	// lean is versionLean or later: fewer round trips and visibility
	// writes per login (see versionLean). compact is revisionCompact.
	lean, compact bool

	// The current challenge: what it needs to check an answer.
	code      *activities.SentCode
	waSession json.RawMessage
	tgNumber  int
}

func (l *login) run(ctx workflow.Context) (View, error) {
	now := workflow.Now(ctx)
	l.view = View{FlowID: l.in.FlowID, State: StatePassword, ExpiresAt: now.Add(FlowTTL), AttemptsLeft: MaxFlowAttempts}
	l.compact = l.in.Revision >= revisionCompact
	l.lean = l.compact || workflow.GetVersion(ctx, changeLean, workflow.DefaultVersion, versionLean) >= versionLean
	if l.lean {
		// The API's start options set these search attributes already.
		l.setDetails(ctx)
	} else {
		l.setState(ctx, StatePassword, "")
	}
	if l.in.Passwordless {
		// Before the handlers: the SDK validates an Update-With-Start update
		// as soon as its handler is registered.
		l.setState(ctx, StateChooseMethod, "")
	}

	if err := workflow.SetQueryHandler(ctx, QueryState, func() (View, error) { return l.view, nil }); err != nil {
		return l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateSubmitPassword, l.submitPassword,
		workflow.UpdateHandlerOptions{Validator: l.validatePassword}); err != nil {
		return l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateChallenge, l.challenge,
		workflow.UpdateHandlerOptions{Validator: l.validateChallenge}); err != nil {
		return l.view, err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateVerify, l.verify,
		workflow.UpdateHandlerOptions{Validator: l.validateVerify}); err != nil {
		return l.view, err
	}
	workflow.Go(ctx, l.receiveTelegram)

	ok, err := workflow.AwaitWithTimeout(ctx, l.view.ExpiresAt.Sub(now), l.finished)
	if err != nil {
		return l.view, err
	}
	if !ok {
		// A saga or session step in progress finishes first: expiry must
		// never cut a downgrade in half.
		if err := l.mu.Lock(ctx); err != nil {
			return l.view, err
		}
		if !l.finished() {
			l.setState(ctx, StateExpired, l.view.Method)
			l.closeTelegram(ctx, "expired")
		}
		l.mu.Unlock()
	}
	// Whoever decided the flow may still be closing it (editing Telegram
	// prompts): taking the lock waits for that too, not only for handlers.
	if err := l.mu.Lock(ctx); err != nil {
		return l.view, err
	}
	l.mu.Unlock()
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return l.view, err
	}
	return l.view, nil
}

func (l *login) finished() bool {
	switch l.view.State {
	case StateDone, StateFailed, StateExpired:
		return true
	}
	return false
}

// setState records the state in the view, the search attributes and the UI
// details: operators find stuck flows by AuthflowState and AuthflowMethod.
func (l *login) setState(ctx workflow.Context, s State, m Method) {
	l.view.State, l.view.Method = s, m
	attrs := []temporal.SearchAttributeUpdate{
		SearchKind.ValueSet(KindLogin), SearchState.ValueSet(string(s)), SearchMethod.ValueSet(string(m)),
		SearchStateChangedAt.ValueSet(workflow.Now(ctx))}
	if l.lean && l.view.UserID != "" {
		attrs = append(attrs, SearchUserID.ValueSet(l.view.UserID))
	}
	_ = workflow.UpsertTypedSearchAttributes(ctx, attrs...)
	l.setDetails(ctx)
}

// setDetails shows the flow's state in the UI (never a secret).
func (l *login) setDetails(ctx workflow.Context) {
	s, m := l.view.State, l.view.Method
	details := fmt.Sprintf("state: %s", s)
	if m != "" {
		details += fmt.Sprintf(" · method: %s", m)
	}
	if l.view.UserID != "" {
		details += " · user: " + l.view.UserID
	}
	if l.view.Reason != "" {
		details += " · reason: " + l.view.Reason
	}
	workflow.SetCurrentDetails(ctx, details)
}

func (l *login) expired(ctx workflow.Context) bool {
	return !workflow.Now(ctx).Before(l.view.ExpiresAt)
}

func (l *login) checkOpen(ctx workflow.Context) error {
	if l.view.State == StateExpired || (!l.finished() && l.expired(ctx)) {
		return appErr(ErrFlowExpired, "the flow expired; start again", nil)
	}
	if l.finished() {
		return appErr(ErrWrongState, fmt.Sprintf("the flow is %s", l.view.State), nil)
	}
	return nil
}

// ---- Step 1: the password ----

func (l *login) validatePassword(ctx workflow.Context, in SubmitPasswordInput) error {
	if err := l.checkOpen(ctx); err != nil {
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
	if err := l.mu.Lock(ctx); err != nil {
		return l.view, err
	}
	defer l.mu.Unlock()
	if err := l.checkOpen(ctx); err != nil {
		return l.view, err
	}
	var res activities.VerifyPasswordResult
	if err := workflow.ExecuteLocalActivity(passwordCtx(ctx), a.VerifyPassword, activities.VerifyPasswordInput{
		Email: in.Email, PasswordSealed: in.PasswordSealed, IP: l.in.IP, WithOptions: l.compact}).Get(ctx, &res); err != nil {
		return l.view, l.fail(ctx, "error", err)
	}
	if res.RetryAfterSeconds > 0 {
		return l.view, l.fail(ctx, "rate_limited", appErr(ErrRateLimited, "too many attempts; try again later",
			RateLimitDetails{RetryAfterSeconds: res.RetryAfterSeconds}))
	}
	if !res.OK {
		return l.view, l.fail(ctx, "invalid_credentials", appErr(ErrInvalidCredentials, "wrong email or password", nil))
	}
	l.view.UserID = res.UserID
	if !l.lean {
		// A lean flow upserts the user with its next state.
		_ = workflow.UpsertTypedSearchAttributes(ctx, SearchUserID.ValueSet(res.UserID))
	}
	if res.Options != nil {
		l.opts = *res.Options
	} else if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.LoadLoginOptions, res.UserID).Get(ctx, &l.opts); err != nil {
		return l.view, l.fail(ctx, "error", err)
	}
	if !l.opts.Any() {
		return l.view, l.issueSession(ctx, "")
	}
	l.view.Methods = methodOptions(l.opts)
	budget, err := l.budgetFrom(ctx, res.Budget)
	if err != nil {
		return l.view, l.fail(ctx, "error", err)
	}
	l.view.AttemptsLeft = min(MaxFlowAttempts, max(1, budget.Left))
	l.setState(ctx, StateChooseMethod, "")
	return l.view, nil
}

// methodOptions lists the methods in API.md's order.
func methodOptions(o activities.LoginOptions) []MethodOption {
	var out []MethodOption
	if o.Telegram {
		out = append(out, MethodOption{Type: MethodTelegram})
	}
	if o.TOTP {
		out = append(out, MethodOption{Type: MethodTOTP})
	}
	if o.Email {
		out = append(out, MethodOption{Type: MethodEmail})
	}
	if o.WebAuthn {
		out = append(out, MethodOption{Type: MethodWebAuthn})
	}
	for _, p := range o.Phones {
		kind := "flash"
		if p.Kind == "ukrainian" {
			kind = "dictate"
		}
		out = append(out, MethodOption{Type: MethodCall, PhoneID: p.ID, NumberMasked: p.NumberMasked, CallKind: kind, Downgrade: true})
	}
	for _, p := range o.Phones {
		out = append(out, MethodOption{Type: MethodSMS, PhoneID: p.ID, NumberMasked: p.NumberMasked, Downgrade: true})
	}
	return out
}

// ---- Step 2: choose a method, get a challenge ----

func (l *login) validateChallenge(ctx workflow.Context, in ChallengeInput) error {
	if err := l.checkOpen(ctx); err != nil {
		return err
	}
	if l.view.State != StateChooseMethod && l.view.State != StateChallenge {
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
	if opt.Downgrade && !in.ConfirmDowngrade {
		return appErr(ErrDowngradeNotConfirmed,
			"signing in by phone disables two-step authentication and unlinks every bank card: send confirm_downgrade: true", nil)
	}
	return nil
}

func (l *login) offered(in ChallengeInput) (MethodOption, bool) {
	for _, m := range l.view.Methods {
		if m.Type == in.Method && (m.PhoneID == "" || m.PhoneID == in.PhoneID) {
			return m, true
		}
	}
	return MethodOption{}, false
}

func (l *login) challenge(ctx workflow.Context, in ChallengeInput) (View, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return l.view, err
	}
	defer l.mu.Unlock()
	if err := l.validateChallenge(ctx, in); err != nil {
		return l.view, err // the state may have changed while waiting for the lock
	}
	if !l.in.Passwordless {
		if err := l.checkLocked(ctx); err != nil {
			return l.view, err
		}
	}
	// A new challenge replaces the old one (API.md).
	l.code, l.waSession, l.tgNumber = nil, nil, 0
	l.view.TelegramNumber, l.view.WebAuthnOptions = 0, nil
	var err error
	switch in.Method {
	case MethodTelegram:
		err = l.challengeTelegram(ctx)
	case MethodTOTP:
	case MethodEmail:
		err = l.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelEmail})
	case MethodSMS:
		err = l.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelSMS, PhoneID: in.PhoneID})
	case MethodCall:
		opt, _ := l.offered(in)
		ch := activities.ChannelCallFlash
		if opt.CallKind == "dictate" {
			ch = activities.ChannelCallDictate
		}
		err = l.sendCode(ctx, activities.SendCodeInput{Channel: ch, PhoneID: in.PhoneID})
	case MethodWebAuthn:
		var ch activities.WebAuthnChallenge
		err = workflow.ExecuteActivity(activityCtx(ctx), a.BeginWebAuthnLogin,
			activities.BeginWebAuthnLoginInput{UserID: l.view.UserID}).Get(ctx, &ch)
		l.waSession, l.view.WebAuthnOptions = ch.Session, ch.Options
	}
	if err != nil {
		return l.view, activityErr(err)
	}
	l.setState(ctx, StateChallenge, in.Method)
	return l.view, nil
}

func (l *login) sendCode(ctx workflow.Context, in activities.SendCodeInput) error {
	in.FlowID, in.UserID, in.Purpose = l.in.FlowID, l.view.UserID, "login"
	var sent activities.SentCode
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.SendCode, in).Get(ctx, &sent); err != nil {
		return err
	}
	l.code = &sent
	return nil
}

// challengeTelegram picks the number the page shows and three decoys, all
// distinct, in random order (a SideEffect: random once, replayed as recorded).
func (l *login) challengeTelegram(ctx workflow.Context) error {
	var numbers []int
	var right int
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return telegramNumbers() }).Get(&numbers); err != nil {
		return err
	}
	right = numbers[0]
	shuffled := append([]int(nil), numbers...)
	// Deterministic rotation by a recorded random offset keeps the right
	// button's position unpredictable.
	var off int
	if err := workflow.SideEffect(ctx, func(workflow.Context) any { return randInt(len(numbers)) }).Get(&off); err != nil {
		return err
	}
	for i := range numbers {
		shuffled[i] = numbers[(i+off)%len(numbers)]
	}
	var sent int
	if err := workflow.ExecuteActivity(activityCtx(ctx), a.SendTelegramPrompts, activities.SendTelegramPromptsInput{
		FlowID: l.in.FlowID, UserID: l.view.UserID, Chats: l.opts.TelegramChats, Numbers: shuffled, IP: l.in.IP,
	}).Get(ctx, &sent); err != nil {
		return err
	}
	l.tgNumber, l.view.TelegramNumber = right, right
	return nil
}

func telegramNumbers() []int {
	seen := map[int]bool{}
	var out []int
	for len(out) < 4 {
		n := 10 + randInt(90)
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}

// ---- Step 3: the answer ----

func (l *login) validateVerify(ctx workflow.Context, in VerifyInput) error {
	if err := l.checkOpen(ctx); err != nil {
		return err
	}
	if l.view.State != StateChallenge {
		return appErr(ErrWrongState, "choose a method first", nil)
	}
	switch l.view.Method {
	case MethodTelegram:
		return appErr(ErrWrongState, "a Telegram challenge is answered with the button in Telegram", nil)
	case MethodWebAuthn:
		if len(in.Credential) == 0 {
			return appErr(ErrBadRequest, "credential is required for a passkey", nil)
		}
	default:
		if len(in.CodeSealed) == 0 {
			return appErr(ErrBadRequest, "code is required", nil)
		}
		want := 6
		if l.view.Method == MethodCall {
			want = 4
		}
		if in.CodeLength != want {
			return appErr(ErrBadRequest, fmt.Sprintf("the code for %s has %d digits", l.view.Method, want), nil)
		}
	}
	return nil
}

func (l *login) verify(ctx workflow.Context, in VerifyInput) (View, error) {
	if err := l.mu.Lock(ctx); err != nil {
		return l.view, err
	}
	defer l.mu.Unlock()
	if err := l.validateVerify(ctx, in); err != nil {
		return l.view, err
	}
	method := l.view.Method
	// A compact flow checks the lock in the TOTP answer's own activity.
	if l.view.UserID != "" && !(l.compact && method == MethodTOTP) {
		if err := l.checkLocked(ctx); err != nil {
			return l.view, err
		}
	}
	var ok bool
	reason := "wrong_code"
	switch method {
	case MethodTOTP:
		var res activities.TOTPResult
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.VerifyTOTP, activities.VerifyTOTPInput{
			UserID: l.view.UserID, CodeSealed: in.CodeSealed, CheckLock: l.compact}).Get(ctx, &res); err != nil {
			return l.view, activityErr(err)
		}
		if res.RetryAfterSeconds > 0 {
			return l.view, lockedErr(res.RetryAfterSeconds)
		}
		ok = res.OK
		if res.Replay {
			reason = "replay"
		}
	case MethodEmail, MethodSMS, MethodCall:
		if l.code == nil {
			return l.view, appErr(ErrWrongState, "choose a method again", nil)
		}
		if !workflow.Now(ctx).Before(l.code.ExpiresAt) {
			l.code = nil
			return l.view, appErr(ErrFlowExpired, "the code expired; ask for a new one", nil)
		}
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckCode, activities.CheckCodeInput{
			FlowID: l.in.FlowID, CodeSealed: in.CodeSealed, MAC: l.code.MAC}).Get(ctx, &ok); err != nil {
			return l.view, activityErr(err)
		}
		if ok {
			l.code = nil // valid once
		}
	case MethodWebAuthn:
		if l.waSession == nil {
			return l.view, appErr(ErrWrongState, "the passkey challenge was used; ask for a new one", nil)
		}
		var res activities.WebAuthnLoginResult
		err := workflow.ExecuteActivity(activityCtx(ctx), a.FinishWebAuthnLogin, activities.FinishWebAuthnLoginInput{
			UserID: l.view.UserID, Session: l.waSession, Credential: in.Credential}).Get(ctx, &res)
		l.waSession = nil // single use, whatever the outcome (SECURITY.md)
		if err != nil {
			return l.view, activityErr(err)
		}
		if l.in.Passwordless && res.UserID != "" && l.view.UserID == "" {
			l.view.UserID = res.UserID
			_ = workflow.UpsertTypedSearchAttributes(ctx, SearchUserID.ValueSet(res.UserID))
		}
		ok, reason = res.OK, res.Reason
		if !ok {
			return l.view, l.wrongAnswer(ctx, reason, ErrInvalidAssertion, "the passkey was not accepted")
		}
	}
	if !ok {
		msg := "wrong code"
		if reason == "replay" {
			msg = "this code was already used; wait for the next one"
		}
		return l.view, l.wrongAnswer(ctx, reason, ErrInvalidCode, msg)
	}
	if method == MethodCall || method == MethodSMS {
		if err := l.downgrade(ctx, method); err != nil {
			return l.view, err
		}
	}
	return l.view, l.issueSession(ctx, method)
}

// wrongAnswer counts a failed attempt in the flow and on the account.
func (l *login) wrongAnswer(ctx workflow.Context, reason, errType, msg string) error {
	l.view.AttemptsLeft--
	if l.view.UserID != "" {
		var b activities.SecondFactorBudget
		if err := workflow.ExecuteActivity(activityCtx(ctx), a.RecordSecondFactorFailure, activities.SecondFactorFailureInput{
			UserID: l.view.UserID, Method: string(l.view.Method), IP: l.in.IP, Reason: reason}).Get(ctx, &b); err != nil {
			return activityErr(err)
		}
		if b.RetryAfterSeconds > 0 {
			l.view.AttemptsLeft = 0
		}
	}
	if l.view.AttemptsLeft <= 0 {
		l.view.AttemptsLeft = 0
		l.view.Reason = "attempts"
		l.setState(ctx, StateFailed, l.view.Method)
		l.closeTelegram(ctx, "failed")
	}
	return appErr(errType, msg, AttemptsDetails{AttemptsLeft: l.view.AttemptsLeft})
}

func (l *login) budget(ctx workflow.Context) (activities.SecondFactorBudget, error) {
	var b activities.SecondFactorBudget
	err := workflow.ExecuteLocalActivity(localCtx(ctx), a.SecondFactorStatus, l.view.UserID).Get(ctx, &b)
	return b, err
}

// budgetFrom is the budget VerifyPassword read, or reads it (older flows).
func (l *login) budgetFrom(ctx workflow.Context, read *activities.SecondFactorBudget) (activities.SecondFactorBudget, error) {
	if read != nil {
		return *read, nil
	}
	return l.budget(ctx)
}

// checkLocked answers 429 while the account's second step is backing off.
func (l *login) checkLocked(ctx workflow.Context) error {
	b, err := l.budget(ctx)
	if err != nil {
		return activityErr(err)
	}
	if b.RetryAfterSeconds > 0 {
		return lockedErr(b.RetryAfterSeconds)
	}
	return nil
}

func lockedErr(retryAfter int) error {
	return appErr(ErrRateLimited, "too many wrong answers on this account; try again later",
		RateLimitDetails{RetryAfterSeconds: retryAfter})
}

// ---- Telegram: the button click arrives as a signal ----

func (l *login) receiveTelegram(ctx workflow.Context) {
	ch := workflow.GetSignalChannel(ctx, SignalTelegramAnswer)
	for {
		var ans TelegramAnswer
		ch.Receive(ctx, &ans)
		if err := l.mu.Lock(ctx); err != nil {
			return
		}
		l.telegramAnswer(ctx, ans)
		l.mu.Unlock()
	}
}

func (l *login) telegramAnswer(ctx workflow.Context, ans TelegramAnswer) {
	if l.finished() || l.expired(ctx) || !l.ownsChat(ans.ChatID) {
		return
	}
	if ans.NotMe {
		l.view.Reason = "denied_by_user"
		l.setState(ctx, StateFailed, l.view.Method)
		l.record(ctx, "login_denied_by_user", map[string]any{"method": string(MethodTelegram)})
		l.closeTelegram(ctx, "denied")
		return
	}
	if l.view.State != StateChallenge || l.view.Method != MethodTelegram || l.tgNumber == 0 {
		return
	}
	if ans.Number != l.tgNumber {
		l.tgNumber = 0 // the prompt is spent; the page may challenge again
		l.closeTelegram(ctx, "wrong")
		_ = l.wrongAnswer(ctx, "wrong_button", ErrInvalidCode, "wrong button")
		return
	}
	if err := l.issueSession(ctx, MethodTelegram); err == nil {
		l.closeTelegram(ctx, "confirmed")
	}
}

func (l *login) ownsChat(chatID int64) bool {
	for _, c := range l.opts.TelegramChats {
		if c == chatID {
			return true
		}
	}
	return false
}

func (l *login) closeTelegram(ctx workflow.Context, outcome string) {
	if l.view.Method != MethodTelegram {
		return
	}
	// Best effort: a message that cannot be edited must not fail the flow.
	_ = workflow.ExecuteActivity(activityCtx(ctx), a.CloseTelegramPrompts,
		activities.CloseTelegramPromptsInput{FlowID: l.in.FlowID, Outcome: outcome}).Get(ctx, nil)
}

func (l *login) record(ctx workflow.Context, typ string, detail map[string]any) {
	_ = workflow.ExecuteActivity(activityCtx(ctx), a.RecordEvent, activities.RecordEventInput{
		UserID: l.view.UserID, Type: typ, IP: l.in.IP, Detail: detail}).Get(ctx, nil)
}

// ---- The phone saga ----

// downgrade disables 2FA and unlinks the cards before any session exists. If
// a step fails for good, 2FA is restored and the login fails: a session must
// never exist while cards are still linked to an account whose 2FA was
// bypassed by phone (DESIGN.md).
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
	in := activities.IssueSessionInput{
		UserID: l.view.UserID, FlowID: l.in.FlowID, IP: l.in.IP, UserAgent: l.in.UserAgent, Method: string(method)}
	// A few small writes: as a local activity it saves the activity task's
	// two round trips through Temporal (idempotent either way).
	var f workflow.Future
	if l.lean {
		f = workflow.ExecuteLocalActivity(finishLocalCtx(ctx), a.IssueSession, in)
	} else {
		f = workflow.ExecuteActivity(finishCtx(ctx), a.IssueSession, in)
	}
	var s activities.IssuedSession
	if err := f.Get(ctx, &s); err != nil {
		return l.fail(ctx, "error", activityErr(err))
	}
	l.view.Session = &SessionInfo{ID: s.ID, ExpiresAt: s.ExpiresAt}
	l.view.Methods = nil
	l.setState(ctx, StateDone, method)
	return nil
}

// fail ends the flow and returns err to the caller.
func (l *login) fail(ctx workflow.Context, reason string, err error) error {
	l.view.Reason = reason
	l.setState(ctx, StateFailed, l.view.Method)
	return activityErr(err)
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

// Versions of the Login workflow (workflow.GetVersion): flows started
// before a version replay the code path they were started with.
const (
	changeLean = "lean-login"
	// versionLean issues the session in a local activity and upserts the
	// user id with the next state instead of on its own, and does not
	// repeat at start the search attributes the API set.
	versionLean workflow.Version = 1
	// revisionCompact (LoginInput.Revision, no marker) is lean, and takes
	// the password step's options and budget from VerifyPassword and a TOTP
	// answer's lock check from VerifyTOTP: three local activities fewer.
	revisionCompact = 2
)

func appErr(typ, msg string, details any) error {
	if details == nil {
		return temporal.NewNonRetryableApplicationError(msg, typ, nil)
	}
	return temporal.NewNonRetryableApplicationError(msg, typ, nil, details)
}

// activityErr maps an activity's failure to the contract's error types.
func activityErr(err error) error {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		switch ae.Type() {
		case activities.ErrTypeRateLimited:
			var d activities.RateLimited
			_ = ae.Details(&d)
			return appErr(ErrRateLimited, "too many messages; try again later", RateLimitDetails{RetryAfterSeconds: d.RetryAfterSeconds})
		case activities.ErrTypeMethodUnusable, activities.ErrTypeNoRecipient, activities.ErrTypePermanentSend:
			return appErr(ErrMethodUnavailable, ae.Message(), nil)
		case activities.ErrTypeNotFound:
			return appErr(ErrMethodUnavailable, ae.Message(), nil)
		case ErrInvalidCredentials, ErrRateLimited, ErrInvalidCode, ErrInvalidAssertion, ErrDowngradeNotConfirmed,
			ErrMethodUnavailable, ErrWrongState, ErrFlowExpired, ErrBadRequest, ErrConflict, ErrNotFound, ErrUnavailable:
			return err
		}
	}
	return appErr(ErrUnavailable, "a step of the flow failed; try again", nil)
}
