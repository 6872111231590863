package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// totpMethod is the authenticator app (RFC 6238): nothing is sent; the
// answer is the app's current code, accepted once per time step.
type totpMethod struct{}

func (totpMethod) method() Method { return MethodTOTP }

func (totpMethod) offer(o activities.LoginOptions) []MethodOption { return offerIf(o.TOTP, MethodTOTP) }

func (totpMethod) answersDirectly() {}

func (totpMethod) challenge(workflow.Context, *login, MethodOption) error { return nil }

func (totpMethod) validateAnswer(in VerifyInput) error { return validateCode(MethodTOTP, in, 6) }

func (totpMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	var c checked
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.VerifyTOTP, activities.VerifyTOTPInput{
		UserID: l.view.UserID, CodeSealed: in.CodeSealed, IP: l.in.IP}).Get(ctx, &c.Answer); err != nil {
		return checked{}, activityErr(err)
	}
	c.reason, c.msg = "wrong_code", "wrong code"
	if c.Replay {
		// VerifyTOTP gave the reservation back and recorded the event: the
		// flow counts it nowhere either (login.verify).
		c.reason, c.errType, c.msg = "replay", ErrCodeAlreadyUsed, "this code was already used; wait for the next one"
	}
	return c, nil
}

func (totpMethod) validateBegin(EnrollInput) error { return nil }

func (totpMethod) begin(ctx workflow.Context, e *enroll) error {
	var k activities.TOTPEnrollment
	err := workflow.ExecuteLocalActivity(localCtx(ctx), a.BeginTOTPEnrollment, e.in.UserID).Get(ctx, &k)
	e.view.TOTPKeySealed = k.KeySealed
	return err
}

func (totpMethod) validateConfirm(in EnrollConfirmInput) error { return validateEnrollCode(in) }

func (totpMethod) confirm(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (activities.FinishEnrollmentInput, string, error) {
	var step int64
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.CheckTOTPEnrollment, activities.CheckTOTPEnrollmentInput{
		KeySealed: e.view.TOTPKeySealed, CodeSealed: in.CodeSealed}).Get(ctx, &step); err != nil {
		return activities.FinishEnrollmentInput{}, "", activityErr(err)
	}
	if step < 0 {
		return activities.FinishEnrollmentInput{}, "wrong code", nil
	}
	// The confirming code's step is used up, like a login's.
	return activities.FinishEnrollmentInput{TOTPKeySealed: e.view.TOTPKeySealed, TOTPStep: step}, "", nil
}

func (totpMethod) finishActivity() any { return a.FinishTOTPEnrollment }

func (totpMethod) done(v *EnrollView, _ activities.EnrollmentResult) { v.TOTPEnabled = true }
