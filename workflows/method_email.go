package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// emailMethod is a 6-digit code sent to the account's email.
type emailMethod struct{}

func (emailMethod) method() Method { return MethodEmail }

func (emailMethod) offer(o activities.LoginOptions) []MethodOption {
	return offerIf(o.Email, MethodEmail)
}

func (emailMethod) challenge(ctx workflow.Context, l *login, _ MethodOption) error {
	return l.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelEmail})
}

func (emailMethod) validateAnswer(in VerifyInput) error { return validateCode(MethodEmail, in, 6) }

func (emailMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	return checkSentCode(ctx, l, in)
}

func (emailMethod) validateBegin(EnrollInput) error { return nil }

func (emailMethod) begin(ctx workflow.Context, e *enroll) error {
	return e.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelEmail})
}

func (emailMethod) validateConfirm(in EnrollConfirmInput) error { return validateEnrollCode(in) }

func (emailMethod) confirm(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (activities.FinishEnrollmentInput, string, error) {
	ok, err := confirmSentCode(ctx, e, in)
	if err != nil || !ok {
		return activities.FinishEnrollmentInput{}, "wrong code", err
	}
	return activities.FinishEnrollmentInput{}, "", nil
}

func (emailMethod) finishActivity() any { return a.FinishEmailEnrollment }

func (emailMethod) done(*EnrollView, activities.EnrollmentResult) {}
