package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
)

// A second-factor method is one unit (docs/design.md "Methods"): a type
// in its own file that answers what Login and Enroll ask of every method,
// registered once in the lists below. The flows iterate over the lists;
// they do not switch on method names.

// loginMethod is a method a login can be challenged with.
type loginMethod interface {
	// method names it in the contract.
	method() Method
	// offer lists what the method offers an account that has opts, in
	// order (none: not offered). A phone method's options downgrade.
	offer(opts activities.LoginOptions) []MethodOption
	// challenge starts a challenge for opt: sends a code or a prompt, or
	// makes passkey options, into l's challenge state.
	challenge(ctx workflow.Context, l *login, opt MethodOption) error
	// validateAnswer checks a verify's shape (a validator: no I/O, never an
	// attempt).
	validateAnswer(in VerifyInput) error
	// check checks an answer. The attempt is reserved on the account before
	// the check (docs/security.md "Counters are exact").
	check(ctx workflow.Context, l *login, in VerifyInput) (checked, error)
}

// directAnswer is a login method whose challenge sends nothing and makes
// nothing (an authenticator app's code, a recovery code): it can be
// answered straight from choose_method, in the verify itself.
type directAnswer interface {
	answersDirectly()
}

// checked is what a method found of an answer.
type checked struct {
	activities.Answer
	// reason, errType and msg say why a wrong answer is wrong: the event's
	// reason, the contract's error type (ErrInvalidCode when empty) and the
	// message for the person.
	reason, msg string
	errType     errkind.Kind
}

// challengeCloser is a login method whose challenge outlives the flow's
// answer (a Telegram prompt): it is closed with the flow's outcome.
type challengeCloser interface {
	close(ctx workflow.Context, l *login, outcome string)
}

// loginMethods are the login's methods in the order the contract lists
// them in a choose_method answer.
var loginMethods = []loginMethod{telegramMethod{}, totpMethod{}, emailMethod{}, webauthnMethod{}, recoveryCodeMethod{},
	callMethod{}, smsMethod{}}

func loginMethodNamed(m Method) (loginMethod, bool) {
	for _, lm := range loginMethods {
		if lm.method() == m {
			return lm, true
		}
	}
	return nil, false
}

// LoginMethods names the methods a login challenge may ask for, in order.
func LoginMethods() []Method {
	out := make([]Method, 0, len(loginMethods))
	for _, m := range loginMethods {
		out = append(out, m.method())
	}
	return out
}

// enrollMethod is a method an account can enroll.
type enrollMethod interface {
	method() Method
	// validateBegin checks the enrollment's input (a validator: no I/O).
	validateBegin(in EnrollInput) error
	// begin makes the challenge: a key, a code sent, options, a link.
	begin(ctx workflow.Context, e *enroll) error
	// validateConfirm checks a confirmation's shape.
	validateConfirm(in EnrollConfirmInput) error
	// confirm checks the answer; wrong is the message of a wrong one
	// (it costs an attempt), else fin says what to store.
	confirm(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (fin activities.FinishEnrollmentInput, wrong string, err error)
	// finishActivity is the activity that stores what confirm returned
	// (an Activities method taking activities.FinishEnrollmentInput).
	finishActivity() any
	// done shows what the enrollment made.
	done(v *EnrollView, res activities.EnrollmentResult)
}

// rechallenger is an enroll method whose challenge is spent by a rejected
// answer (a passkey registration): it makes a new one so the person can
// try again.
type rechallenger interface {
	rechallenge(ctx workflow.Context, e *enroll) error
}

// enrollMethods are the methods an account can enroll.
var enrollMethods = []enrollMethod{totpMethod{}, emailMethod{}, webauthnMethod{}, telegramMethod{}, phoneMethod{}}

// EnrollMethods names the methods an enrollment may begin, in order.
func EnrollMethods() []Method {
	out := make([]Method, 0, len(enrollMethods))
	for _, m := range enrollMethods {
		out = append(out, m.method())
	}
	return out
}

func enrollMethodNamed(m Method) (enrollMethod, bool) {
	for _, em := range enrollMethods {
		if em.method() == m {
			return em, true
		}
	}
	return nil, false
}

// offerIf is the one option of a method that is on or off for an account.
func offerIf(on bool, m Method) []MethodOption {
	if !on {
		return nil
	}
	return []MethodOption{{Type: m}}
}

// ---- What code methods share ----

// validateCode checks that an answer is a sealed code of digits digits.
func validateCode(m Method, in VerifyInput, digits int) error {
	if len(in.CodeSealed) == 0 {
		return appErr(ErrBadRequest, "code is required", nil)
	}
	if in.CodeLength != digits {
		return appErr(ErrBadRequest, fmt.Sprintf("the code for %s has %d digits", m, digits), nil)
	}
	return nil
}

// validateEnrollCode is validateCode for a confirmation (6 digits).
func validateEnrollCode(in EnrollConfirmInput) error {
	if len(in.CodeSealed) == 0 {
		return appErr(ErrBadRequest, "code is required", nil)
	}
	if in.CodeLength != 6 {
		return appErr(ErrBadRequest, "the code has 6 digits", nil)
	}
	return nil
}

// checkSentCode checks an answer to the code the login sent (email, SMS,
// calls). A code is valid once; a code marked OneAnswer (a flash call's:
// its 4 digits are few, docs/security.md "Flash calls") takes one answer
// at all, right or wrong.
func checkSentCode(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	if l.code == nil {
		return checked{}, appErr(ErrWrongState, "ask for a new code first", nil)
	}
	if !workflow.Now(ctx).Before(l.code.ExpiresAt) {
		l.code = nil
		return checked{}, appErr(ErrFlowExpired, "the code expired; ask for a new one", nil)
	}
	var c checked
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckCode, activities.CheckCodeInput{
		FlowID: l.in.FlowID, UserID: l.view.UserID, CodeSealed: in.CodeSealed, MAC: l.code.MAC}).Get(ctx, &c.Answer); err != nil {
		return checked{}, activityErr(err)
	}
	c.reason, c.msg = "wrong_code", "wrong code"
	if c.OK || (!c.Refused && l.code.OneAnswer) {
		if !c.OK {
			c.msg = "wrong code; this call's code no longer works: ask for a new call"
		}
		l.code = nil
	}
	return c, nil
}

// confirmSentCode checks a confirmation against the code the enrollment
// sent. No UserID: an enrollment's wrong codes count in the flow only, not
// on the account's second step.
func confirmSentCode(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (ok bool, err error) {
	if !workflow.Now(ctx).Before(e.code.ExpiresAt) {
		return false, appErr(ErrFlowExpired, "the code expired; start again", nil)
	}
	var ans activities.Answer
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckCode, activities.CheckCodeInput{
		FlowID: e.in.FlowID, CodeSealed: in.CodeSealed, MAC: e.code.MAC}).Get(ctx, &ans); err != nil {
		return false, activityErr(err)
	}
	return ans.OK, nil
}
