package workflows

import (
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/phone"
)

// The phone is the reserve method: a call (dictating 4 digits to Ukrainian
// numbers, a flash call whose caller's last 4 digits are the code to
// others) or an SMS, to a verified phone. Using it downgrades the account
// (the saga in login.go): its options say so.

// callMethod is a call to a verified phone.
type callMethod struct{}

func (callMethod) method() Method { return MethodCall }

func (callMethod) offer(o activities.LoginOptions) []MethodOption {
	var out []MethodOption
	for _, p := range o.Phones {
		// Foreign numbers get a flash call only when a pool is configured;
		// without one their call dictates the code too.
		kind := "dictate"
		if p.Kind != "ukrainian" && o.FlashCalls {
			kind = "flash"
		}
		out = append(out, MethodOption{Type: MethodCall, PhoneID: p.ID, NumberMasked: p.NumberMasked, CallKind: kind, Downgrade: true})
	}
	return out
}

func (callMethod) challenge(ctx workflow.Context, l *login, opt MethodOption) error {
	ch := activities.ChannelCallFlash
	if opt.CallKind == "dictate" {
		ch = activities.ChannelCallDictate
	}
	return l.sendCode(ctx, activities.SendCodeInput{Channel: ch, PhoneID: opt.PhoneID})
}

func (callMethod) validateAnswer(in VerifyInput) error { return validateCode(MethodCall, in, 4) }

func (callMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	return checkSentCode(ctx, l, in)
}

// smsMethod is an SMS to a verified phone that takes SMS.
type smsMethod struct{}

func (smsMethod) method() Method { return MethodSMS }

func (smsMethod) offer(o activities.LoginOptions) []MethodOption {
	var out []MethodOption
	for _, p := range o.Phones {
		if p.CallOnly {
			continue
		}
		out = append(out, MethodOption{Type: MethodSMS, PhoneID: p.ID, NumberMasked: p.NumberMasked, Downgrade: true})
	}
	return out
}

func (smsMethod) challenge(ctx workflow.Context, l *login, opt MethodOption) error {
	return l.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelSMS, PhoneID: opt.PhoneID})
}

func (smsMethod) validateAnswer(in VerifyInput) error { return validateCode(MethodSMS, in, 6) }

func (smsMethod) check(ctx workflow.Context, l *login, in VerifyInput) (checked, error) {
	return checkSentCode(ctx, l, in)
}

// phoneMethod enrolls a phone: an SMS code to the new number verifies it.
type phoneMethod struct{}

func (phoneMethod) method() Method { return MethodPhone }

func (phoneMethod) validateBegin(in EnrollInput) error {
	if !phone.Valid(in.Number) {
		return appErr(ErrBadRequest, phone.ErrInvalid.Error(), nil)
	}
	return nil
}

func (phoneMethod) begin(ctx workflow.Context, e *enroll) error {
	return e.sendCode(ctx, activities.SendCodeInput{Channel: activities.ChannelSMS, Number: e.in.Number})
}

func (phoneMethod) validateConfirm(in EnrollConfirmInput) error { return validateEnrollCode(in) }

func (phoneMethod) confirm(ctx workflow.Context, e *enroll, in EnrollConfirmInput) (activities.FinishEnrollmentInput, string, error) {
	ok, err := confirmSentCode(ctx, e, in)
	if err != nil || !ok {
		return activities.FinishEnrollmentInput{}, "wrong code", err
	}
	return activities.FinishEnrollmentInput{Number: e.in.Number}, "", nil
}

func (phoneMethod) finishActivity() any { return a.FinishPhoneEnrollment }

func (phoneMethod) done(v *EnrollView, res activities.EnrollmentResult) {
	if p := res.Phone; p != nil {
		v.Phone = &EnrolledPhone{ID: p.ID, Number: p.Number, Verified: p.Verified}
	}
}
