package activities

import (
	"context"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

// VerifyRecoveryCodeInput is a recovery-code answer at login: the code as
// the person typed it, normalized by the API, sealed.
type VerifyRecoveryCodeInput struct {
	UserID     string
	CodeSealed []byte
}

// VerifyRecoveryCode reserves the answer on the account, then uses the
// code up if it is one of the account's unused codes (one store statement:
// a code passes once). When two or fewer codes remain after a right one,
// every channel of the account is told to make a new set.
func (a *Activities) VerifyRecoveryCode(ctx context.Context, in VerifyRecoveryCodeInput) (Answer, error) {
	code, err := a.Sealer.Open(security.PurposeCode, in.CodeSealed)
	if err != nil {
		return Answer{}, errkind.Wrap(errkind.Internal, "sealed code", err)
	}
	normalized, ok := security.NormalizeRecoveryCode(string(code))
	ans, err := a.reserveAnswer(ctx, in.UserID)
	if err != nil || ans.Refused {
		return ans, err
	}
	if ok {
		used, err := a.Store.UseRecoveryCode(ctx, in.UserID, security.RecoveryCodeHash(a.SecretKey, in.UserID, normalized), a.now())
		if err != nil {
			return Answer{}, storeErr("use recovery code", err)
		}
		ans.OK = used
	}
	if err := a.keepIfRight(ctx, in.UserID, &ans); err != nil || !ans.OK {
		return ans, err
	}
	left, err := a.Store.RecoveryCodesLeft(ctx, in.UserID)
	if err != nil {
		return Answer{}, storeErr("recovery codes left", err)
	}
	if left <= 2 {
		// Idempotent per activity: a retry sends the notice once.
		if err := a.notify(ctx, in.UserID, idemKey(ctx)+"/codes-low", rules.Notice{ID: "notice.recovery_codes_low",
			Data: map[string]any{"Left": left}}); err != nil {
			return Answer{}, err
		}
	}
	return ans, nil
}
