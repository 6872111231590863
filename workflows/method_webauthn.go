package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// webauthnMethod is a passkey: request options at login (any passkey of
// the account after the password; one marked passwordless on its own),
// creation options at enrollment. A challenge is single use.
type webauthnMethod struct{}

func (webauthnMethod) method() Method { return MethodWebAuthn }

func (webauthnMethod) offer(o activities.LoginOptions) []MethodOption {
	return offerIf(o.WebAuthn, MethodWebAuthn)
}

func (webauthnMethod) challenge(ctx workflow.Context, l *login, _ MethodOption) error {
	var ch activities.WebAuthnChallenge
	err := workflow.ExecuteActivity(activityCtx(ctx), a.BeginWebAuthnLogin,
		activities.BeginWebAuthnLoginInput{UserID: l.view.UserID}).Get(ctx, &ch)
	l.waSession, l.view.WebAuthnOptions = ch.Session, ch.Options
	return err
}

func (webauthnMethod) validateAnswer(in VerifyInput) error {
	if len(in.Credential) == 0 {
		return appErr(ErrBadRequest, "credential is required for a passkey", nil)
	}
	return nil
}

func (webauthnMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	if l.waSession == nil {
		return checked{}, appErr(ErrWrongState, "the passkey challenge was used; ask for a new one", nil)
	}
	var c checked
	if l.view.UserID != "" {
		if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.ReserveSecondFactorAttempt, l.view.UserID).Get(ctx, &c.Answer); err != nil {
			return checked{}, activityErr(err)
		}
		if c.Refused {
			return c, nil
		}
	}
	var res activities.WebAuthnLoginResult
	err := workflow.ExecuteActivity(activityCtx(ctx), a.FinishWebAuthnLogin, activities.FinishWebAuthnLoginInput{
		UserID: l.view.UserID, Session: l.waSession, Credential: in.Credential}).Get(ctx, &res)
	l.waSession = nil // single use, whatever the outcome (docs/security.md "WebAuthn")
	if err != nil {
		return checked{}, activityErr(err)
	}
	if l.in.Passwordless && res.UserID != "" && l.view.UserID == "" {
		// Nothing was reserved: the account was not known before.
		l.view.UserID = res.UserID
		_ = workflow.UpsertTypedSearchAttributes(ctx, SearchUserID.ValueSet(res.UserID))
	}
	c.OK, c.reason, c.errType, c.msg = res.OK, res.Reason, ErrInvalidAssertion, "the passkey was not accepted"
	return c, nil
}

func (webauthnMethod) validateBegin(in EnrollInput) error {
	if in.DeviceName == "" {
		return appErr(ErrBadRequest, "a passkey needs a name", nil)
	}
	return nil
}

func (m webauthnMethod) begin(ctx workflow.Context, e *enroll) error { return m.rechallenge(ctx, e) }

// rechallenge makes (new) creation options: a registration challenge is
// single use, so a rejected attestation gets a fresh one.
func (webauthnMethod) rechallenge(ctx workflow.Context, e *enroll) error {
	var ch activities.WebAuthnChallenge
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.BeginWebAuthnRegistration, e.in.UserID).Get(ctx, &ch); err != nil {
		return err
	}
	e.waSession, e.view.WebAuthnOptions = ch.Session, ch.Options
	return nil
}

func (webauthnMethod) validateConfirm(in EnrollConfirmInput) error {
	if len(in.Credential) == 0 {
		return appErr(ErrBadRequest, "credential is required for a passkey", nil)
	}
	return nil
}

func (webauthnMethod) confirm(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (activities.FinishEnrollmentInput, string, error) {
	var reg activities.WebAuthnRegistration
	if err := workflow.ExecuteLocalActivity(localCtx(ctx), a.VerifyWebAuthnRegistration, activities.VerifyWebAuthnRegistrationInput{
		UserID: e.in.UserID, Session: e.waSession, Credential: in.Credential}).Get(ctx, &reg); err != nil {
		return activities.FinishEnrollmentInput{}, "", activityErr(err)
	}
	if !reg.OK {
		// One error for a wrong confirmation, whatever the method:
		// invalid_code (docs/api.md).
		return activities.FinishEnrollmentInput{}, "the passkey was not accepted; try again with the new options", nil
	}
	return activities.FinishEnrollmentInput{Credential: reg.Credential, DeviceName: e.in.DeviceName}, "", nil
}

func (webauthnMethod) finishActivity() any { return a.FinishPasskeyEnrollment }

func (webauthnMethod) done(v *EnrollView, res activities.EnrollmentResult) {
	if d := res.Device; d != nil {
		v.Device = &EnrolledDevice{ID: d.ID, Name: d.Name, Passwordless: d.Passwordless, CreatedAt: d.CreatedAt, LastUsedAt: d.LastUsedAt}
	}
}
