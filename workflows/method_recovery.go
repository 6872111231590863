package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// recoveryCodeMethod is one of the account's ten single-use recovery codes
// (made by POST /v1/me/recovery-codes, not by an enrollment): nothing is
// sent; the answer is a code as shown, which the API normalizes (10
// characters). It never downgrades.
type recoveryCodeMethod struct{}

// recoveryCodeLength is a normalized code's length (security's format).
const recoveryCodeLength = 10

func (recoveryCodeMethod) method() Method { return MethodRecoveryCode }

func (recoveryCodeMethod) offer(o activities.LoginOptions) []MethodOption {
	if o.RecoveryCodes <= 0 {
		return nil
	}
	return []MethodOption{{Type: MethodRecoveryCode, Remaining: o.RecoveryCodes}}
}

func (recoveryCodeMethod) answersDirectly() {}

func (recoveryCodeMethod) challenge(workflow.Context, *login, MethodOption) error { return nil }

func (recoveryCodeMethod) validateAnswer(in VerifyInput) error {
	if len(in.CodeSealed) == 0 || in.CodeLength != recoveryCodeLength {
		return appErr(ErrBadRequest, "a recovery code has 10 letters and digits (xxxxx-xxxxx)", nil)
	}
	return nil
}

func (recoveryCodeMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	c := checked{reason: "wrong_code", msg: "wrong or used recovery code"}
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.VerifyRecoveryCode, activities.VerifyRecoveryCodeInput{
		UserID: l.view.UserID, CodeSealed: in.CodeSealed}).Get(ctx, &c.Answer); err != nil {
		return checked{}, activityErr(err)
	}
	return c, nil
}
