package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
)

// enrollRun drives one Enroll run in the test environment: steps run in
// order at the given workflow-clock offsets; each records its answer.
type enrollRun struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	at  time.Duration
	in  EnrollInput
}

func newEnrollRun(t *testing.T, method Method) *enrollRun {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Enroll, workflow.RegisterOptions{Name: EnrollWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	in := EnrollInput{FlowID: "flow1", UserID: "u1", SessionID: "s1", IP: "192.0.2.1", Method: method}
	switch method {
	case MethodWebAuthn:
		in.DeviceName = "Laptop"
	case MethodPhone:
		in.Number = "+380501234567"
	}
	return &enrollRun{t: t, env: env, in: in}
}

// enrollAnswer is an update's outcome.
type enrollAnswer struct {
	view     EnrollView
	err      error
	rejected bool
	done     bool
}

func (r *enrollRun) update(after time.Duration, name string, out *enrollAnswer, args ...any) {
	r.at += after
	r.env.RegisterDelayedCallback(func() {
		r.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.err, out.rejected, out.done = err, true, true },
			OnComplete: func(v any, err error) {
				out.err, out.done = err, true
				if vv, ok := v.(EnrollView); ok {
					out.view = vv
				}
			},
		}, args...)
	}, r.at)
}

func (r *enrollRun) begin(out *enrollAnswer) { r.update(time.Second, UpdateEnrollBegin, out) }

func (r *enrollRun) confirm(after time.Duration, in EnrollConfirmInput, out *enrollAnswer) {
	if in.UserID == "" {
		in.UserID = r.in.UserID
	}
	r.update(after, UpdateEnrollConfirm, out, in)
}

func (r *enrollRun) signal(after time.Duration, l TelegramLink) {
	r.at += after
	r.env.RegisterDelayedCallback(func() { r.env.SignalWorkflow(SignalTelegramLink, l) }, r.at)
}

func (r *enrollRun) run() EnrollView {
	r.t.Helper()
	r.env.ExecuteWorkflow(Enroll, r.in)
	if !r.env.IsWorkflowCompleted() {
		r.t.Fatal("workflow did not complete")
	}
	var v EnrollView
	if err := r.env.GetWorkflowResult(&v); err != nil {
		r.t.Fatalf("workflow failed: %v", err)
	}
	return v
}

// finishes mocks the method's finish activity, checks what it is given and
// answers res.
func (r *enrollRun) finishes(res activities.EnrollmentResult, check func(activities.FinishEnrollmentInput)) *[]activities.FinishEnrollmentInput {
	var got []activities.FinishEnrollmentInput
	r.env.OnActivity(finishOf(r.in.Method), mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.FinishEnrollmentInput) (activities.EnrollmentResult, error) {
			got = append(got, in)
			if check != nil {
				check(in)
			}
			return res, nil
		})
	return &got
}

// before mocks what the account could use before the enrollment.
func (r *enrollRun) before(o activities.LoginOptions) {
	r.env.OnActivity(a.LoadLoginOptions, mock.Anything, r.in.UserID).Return(o, nil)
}

func (r *enrollRun) sendsCode(channel string) {
	r.env.OnActivity(a.SendCode, mock.Anything, mock.MatchedBy(func(in activities.SendCodeInput) bool {
		return in.Channel == channel && in.Purpose == "enroll" && in.FlowID == r.in.FlowID && in.UserID == r.in.UserID &&
			in.Number == r.in.Number
	})).Return(activities.SentCode{MAC: []byte("mac"), Digits: 6, ExpiresAt: r.env.Now().Add(10 * time.Minute)}, nil)
}

func appErrType(err error) errkind.Kind {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return errkind.Kind(ae.Type())
	}
	return ""
}

func attemptsOf(t *testing.T, err error) int {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("not an application error: %v", err)
	}
	var d AttemptsDetails
	if err := ae.Details(&d); err != nil {
		t.Fatal(err)
	}
	return d.AttemptsLeft
}

var code6 = EnrollConfirmInput{CodeSealed: []byte("sealed"), CodeLength: 6}

func TestEnrollMethods(t *testing.T) {
	t.Run("case=totp: the sealed key is answered and the code's step is used up", func(t *testing.T) {
		r := newEnrollRun(t, MethodTOTP)
		r.env.OnActivity(a.BeginTOTPEnrollment, mock.Anything, "u1").Return(activities.TOTPEnrollment{KeySealed: []byte("sealed-key")}, nil)
		r.env.OnActivity(a.CheckTOTPEnrollment, mock.Anything, activities.CheckTOTPEnrollmentInput{
			KeySealed: []byte("sealed-key"), CodeSealed: []byte("sealed")}).Return(int64(58_000_000), nil)
		r.before(activities.LoginOptions{})
		got := r.finishes(activities.EnrollmentResult{}, func(in activities.FinishEnrollmentInput) {
			if in.TOTPStep != 58_000_000 || string(in.TOTPKeySealed) != "sealed-key" || in.SessionID != "s1" || in.UserID != "u1" {
				t.Errorf("finish got %+v", in)
			}
		})
		var b, c enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, code6, &c)
		v := r.run()
		if b.err != nil || b.view.State != StateChallenge || string(b.view.TOTPKeySealed) != "sealed-key" || b.view.AttemptsLeft != 5 {
			t.Fatalf("begin %+v", b)
		}
		if c.err != nil || c.view.State != StateDone || !c.view.TOTPEnabled || c.view.TOTPKeySealed != nil {
			t.Fatalf("confirm %+v %v", c, c.err)
		}
		if v.State != StateDone || len(*got) != 1 {
			t.Fatalf("final %+v, finish called %d times", v, len(*got))
		}
	})

	t.Run("case=email: a code to the account email, confirmed by it", func(t *testing.T) {
		r := newEnrollRun(t, MethodEmail)
		r.sendsCode(activities.ChannelEmail)
		r.env.OnActivity(a.CheckCode, mock.Anything, activities.CheckCodeInput{FlowID: "flow1", CodeSealed: []byte("sealed"), MAC: []byte("mac")}).Return(activities.Answer{OK: true}, nil)
		r.before(activities.LoginOptions{TOTP: true})
		got := r.finishes(activities.EnrollmentResult{}, func(in activities.FinishEnrollmentInput) {
			if !in.Before.TOTP {
				t.Errorf("finish got %+v", in)
			}
		})
		var b, c enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, code6, &c)
		v := r.run()
		if b.err != nil || b.view.State != StateChallenge || c.err != nil || c.view.State != StateDone || v.State != StateDone || len(*got) != 1 {
			t.Fatalf("begin %+v confirm %+v final %+v", b, c, v)
		}
	})

	t.Run("case=phone: an SMS to the new number, the verified phone in the answer", func(t *testing.T) {
		r := newEnrollRun(t, MethodPhone)
		r.sendsCode(activities.ChannelSMS)
		r.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{OK: true}, nil)
		r.before(activities.LoginOptions{})
		r.finishes(activities.EnrollmentResult{Phone: &store.Phone{ID: "p1", Number: "+380501234567", Verified: true}},
			func(in activities.FinishEnrollmentInput) {
				if in.Number != "+380501234567" {
					t.Errorf("finish got %+v", in)
				}
			})
		var b, c enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, code6, &c)
		r.run()
		if c.err != nil || c.view.Phone == nil || c.view.Phone.ID != "p1" || !c.view.Phone.Verified {
			t.Fatalf("confirm %+v %v", c, c.err)
		}
	})

	t.Run("case=webauthn: creation options, then the attestation registers the named device", func(t *testing.T) {
		r := newEnrollRun(t, MethodWebAuthn)
		r.env.OnActivity(a.BeginWebAuthnRegistration, mock.Anything, "u1").Return(activities.WebAuthnChallenge{
			Options: json.RawMessage(`{"publicKey":{}}`), Session: json.RawMessage(`{"challenge":"x"}`)}, nil)
		r.env.OnActivity(a.VerifyWebAuthnRegistration, mock.Anything, mock.MatchedBy(func(in activities.VerifyWebAuthnRegistrationInput) bool {
			return in.UserID == "u1" && string(in.Session) == `{"challenge":"x"}` && string(in.Credential) == `{"id":"c"}`
		})).Return(activities.WebAuthnRegistration{OK: true, Credential: json.RawMessage(`{"ID":"Yw=="}`)}, nil)
		r.before(activities.LoginOptions{})
		created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		r.finishes(activities.EnrollmentResult{Device: &store.Credential{ID: "d1", Name: "Laptop", CreatedAt: created}},
			func(in activities.FinishEnrollmentInput) {
				if in.DeviceName != "Laptop" || string(in.Credential) != `{"ID":"Yw=="}` {
					t.Errorf("finish got %+v", in)
				}
			})
		var b, c enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, EnrollConfirmInput{Credential: json.RawMessage(`{"id":"c"}`)}, &c)
		r.run()
		if b.err != nil || string(b.view.WebAuthnOptions) != `{"publicKey":{}}` {
			t.Fatalf("begin %+v", b)
		}
		if c.err != nil || c.view.Device == nil || c.view.Device.ID != "d1" || c.view.Device.Name != "Laptop" || !c.view.Device.CreatedAt.Equal(created) {
			t.Fatalf("confirm %+v %v", c, c.err)
		}
	})

	t.Run("case=telegram: the bot's /start signal links the chat and completes the flow", func(t *testing.T) {
		r := newEnrollRun(t, MethodTelegram)
		r.env.OnActivity(a.CreateTelegramLink, mock.Anything, mock.MatchedBy(func(in activities.CreateTelegramLinkInput) bool {
			return in.UserID == "u1" && in.FlowID == "flow1" && !in.ExpiresAt.IsZero()
		})).Return(activities.TelegramLinkToken{TokenSealed: []byte("sealed-token")}, nil)
		r.before(activities.LoginOptions{})
		r.finishes(activities.EnrollmentResult{Telegram: &store.TelegramAccount{ID: "t1", ChatID: 4242, Username: "alice"}},
			func(in activities.FinishEnrollmentInput) {
				if in.ChatID != 4242 || in.Username != "alice" || in.SessionID != "s1" {
					t.Errorf("finish got %+v", in)
				}
			})
		var b enrollAnswer
		r.begin(&b)
		r.signal(time.Minute, TelegramLink{ChatID: 4242, Username: "alice"})
		v := r.run()
		if b.err != nil || string(b.view.TelegramTokenSealed) != "sealed-token" {
			t.Fatalf("begin %+v", b)
		}
		if v.State != StateDone || v.TelegramAccount == nil || v.TelegramAccount.ChatID != 4242 || v.TelegramTokenSealed != nil {
			t.Fatalf("final %+v", v)
		}
	})

	t.Run("case=telegram: a chat linked to another account is refused and the flow keeps waiting", func(t *testing.T) {
		r := newEnrollRun(t, MethodTelegram)
		r.env.OnActivity(a.CreateTelegramLink, mock.Anything, mock.Anything).Return(activities.TelegramLinkToken{TokenSealed: []byte("t")}, nil)
		r.before(activities.LoginOptions{})
		var calls []int64
		r.env.OnActivity(finishOf(r.in.Method), mock.Anything, mock.Anything).Return(
			func(_ context.Context, in activities.FinishEnrollmentInput) (activities.EnrollmentResult, error) {
				calls = append(calls, in.ChatID)
				if in.ChatID == 1 {
					return activities.EnrollmentResult{Refused: true}, nil
				}
				return activities.EnrollmentResult{Telegram: &store.TelegramAccount{ID: "t2", ChatID: in.ChatID}}, nil
			})
		var b enrollAnswer
		var mid *EnrollView
		r.begin(&b)
		r.signal(time.Minute, TelegramLink{ChatID: 1})
		r.at += time.Second
		r.env.RegisterDelayedCallback(func() {
			res, err := r.env.QueryWorkflow(QueryState)
			if err == nil {
				var v EnrollView
				if res.Get(&v) == nil {
					mid = &v
				}
			}
		}, r.at)
		r.signal(time.Minute, TelegramLink{ChatID: 2})
		v := r.run()
		if mid == nil || mid.State != StateChallenge {
			t.Fatalf("after the refused chat: %+v", mid)
		}
		if v.State != StateDone || v.TelegramAccount == nil || v.TelegramAccount.ChatID != 2 || len(calls) != 2 {
			t.Fatalf("final %+v calls %v", v, calls)
		}
	})
}

func TestEnrollAttempts(t *testing.T) {
	t.Run("case=wrong codes count down and the fifth fails the flow", func(t *testing.T) {
		r := newEnrollRun(t, MethodEmail)
		r.sendsCode(activities.ChannelEmail)
		r.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{}, nil)
		var b enrollAnswer
		var wrong [6]enrollAnswer
		r.begin(&b)
		for i := range wrong {
			after := time.Second
			if i == 5 {
				after = 0 // sent while the fifth is being checked
			}
			r.confirm(after, code6, &wrong[i])
		}
		v := r.run()
		for i := range 5 {
			if appErrType(wrong[i].err) != ErrInvalidCode || attemptsOf(t, wrong[i].err) != 4-i {
				t.Fatalf("wrong code %d: %v", i+1, wrong[i].err)
			}
		}
		if appErrType(wrong[5].err) != ErrWrongState {
			t.Fatalf("a sixth code after the flow failed: %+v", wrong[5])
		}
		if v.State != StateFailed || v.Reason != "attempts" || v.AttemptsLeft != 0 {
			t.Fatalf("final %+v", v)
		}
		r.env.AssertNotCalled(t, finishName(r.in.Method), mock.Anything, mock.Anything)
	})

	t.Run("case=a wrong TOTP code then the right one", func(t *testing.T) {
		r := newEnrollRun(t, MethodTOTP)
		r.env.OnActivity(a.BeginTOTPEnrollment, mock.Anything, mock.Anything).Return(activities.TOTPEnrollment{KeySealed: []byte("k")}, nil)
		r.env.OnActivity(a.CheckTOTPEnrollment, mock.Anything, activities.CheckTOTPEnrollmentInput{KeySealed: []byte("k"), CodeSealed: []byte("bad")}).Return(int64(-1), nil)
		r.env.OnActivity(a.CheckTOTPEnrollment, mock.Anything, activities.CheckTOTPEnrollmentInput{KeySealed: []byte("k"), CodeSealed: []byte("good")}).Return(int64(7), nil)
		r.before(activities.LoginOptions{})
		r.finishes(activities.EnrollmentResult{}, nil)
		var b, w, c enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, EnrollConfirmInput{CodeSealed: []byte("bad"), CodeLength: 6}, &w)
		r.confirm(time.Second, EnrollConfirmInput{CodeSealed: []byte("good"), CodeLength: 6}, &c)
		v := r.run()
		if appErrType(w.err) != ErrInvalidCode || attemptsOf(t, w.err) != 4 {
			t.Fatalf("wrong %+v", w)
		}
		if c.err != nil || v.State != StateDone || v.AttemptsLeft != 4 {
			t.Fatalf("confirm %+v final %+v", c, v)
		}
	})

	t.Run("case=a rejected attestation costs an attempt and renews the challenge", func(t *testing.T) {
		r := newEnrollRun(t, MethodWebAuthn)
		n := 0
		r.env.OnActivity(a.BeginWebAuthnRegistration, mock.Anything, mock.Anything).Return(
			func(_ context.Context, _ string) (activities.WebAuthnChallenge, error) {
				n++
				o := json.RawMessage(`{"n":` + string(rune('0'+n)) + `}`)
				return activities.WebAuthnChallenge{Options: o, Session: o}, nil
			})
		r.env.OnActivity(a.VerifyWebAuthnRegistration, mock.Anything, mock.Anything).Return(activities.WebAuthnRegistration{}, nil)
		var b, w enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, EnrollConfirmInput{Credential: json.RawMessage(`{}`)}, &w)
		var mid EnrollView
		r.at += time.Second
		r.env.RegisterDelayedCallback(func() {
			res, _ := r.env.QueryWorkflow(QueryState)
			_ = res.Get(&mid)
		}, r.at)
		r.run()
		if appErrType(w.err) != ErrInvalidCode || attemptsOf(t, w.err) != 4 {
			t.Fatalf("wrong attestation %+v", w)
		}
		if string(b.view.WebAuthnOptions) != `{"n":1}` || string(mid.WebAuthnOptions) != `{"n":2}` || mid.State != StateChallenge {
			t.Fatalf("options before %s after %s (%s)", b.view.WebAuthnOptions, mid.WebAuthnOptions, mid.State)
		}
	})
}

func TestEnrollExpiry(t *testing.T) {
	t.Run("case=nobody confirms: the flow expires after ten minutes", func(t *testing.T) {
		r := newEnrollRun(t, MethodTOTP)
		r.env.OnActivity(a.BeginTOTPEnrollment, mock.Anything, mock.Anything).Return(activities.TOTPEnrollment{KeySealed: []byte("k")}, nil)
		start := r.env.Now()
		var b enrollAnswer
		r.begin(&b)
		v := r.run()
		if b.err != nil || v.State != StateExpired {
			t.Fatalf("begin %+v final %+v", b, v)
		}
		if took := r.env.Now().Sub(start); took < FlowTTL || took > FlowTTL+time.Minute {
			t.Fatalf("expired after %s", took)
		}
		r.env.AssertNotCalled(t, finishName(r.in.Method), mock.Anything, mock.Anything)
	})

	t.Run("case=a Telegram link opened after expiry changes nothing", func(t *testing.T) {
		r := newEnrollRun(t, MethodTelegram)
		r.env.OnActivity(a.CreateTelegramLink, mock.Anything, mock.Anything).Return(activities.TelegramLinkToken{TokenSealed: []byte("t")}, nil)
		var b enrollAnswer
		r.begin(&b)
		r.signal(FlowTTL+time.Second, TelegramLink{ChatID: 5})
		v := r.run()
		if v.State != StateExpired || v.TelegramAccount != nil {
			t.Fatalf("final %+v", v)
		}
		r.env.AssertNotCalled(t, finishName(r.in.Method), mock.Anything, mock.Anything)
	})

	t.Run("case=an expired email code is flow_expired", func(t *testing.T) {
		r := newEnrollRun(t, MethodEmail)
		r.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(
			func(_ context.Context, _ activities.SendCodeInput) (activities.SentCode, error) {
				return activities.SentCode{MAC: []byte("mac"), ExpiresAt: r.env.Now().Add(time.Minute)}, nil
			})
		var b, c enrollAnswer
		r.begin(&b)
		r.confirm(2*time.Minute, code6, &c)
		r.run()
		if appErrType(c.err) != ErrFlowExpired {
			t.Fatalf("confirm %+v %v", c, c.err)
		}
		r.env.AssertNotCalled(t, "CheckCode", mock.Anything, mock.Anything)
	})
}

func TestEnrollValidators(t *testing.T) {
	t.Run("case=confirm before the challenge is wrong_state", func(t *testing.T) {
		r := newEnrollRun(t, MethodEmail)
		var c enrollAnswer
		r.confirm(time.Second, code6, &c)
		r.run()
		if !c.rejected || appErrType(c.err) != ErrWrongState {
			t.Fatalf("confirm %+v %v", c, c.err)
		}
	})

	t.Run("case=another account's confirm is not found, a Telegram flow takes no code, a 4-digit code is bad", func(t *testing.T) {
		r := newEnrollRun(t, MethodTelegram)
		r.env.OnActivity(a.CreateTelegramLink, mock.Anything, mock.Anything).Return(activities.TelegramLinkToken{TokenSealed: []byte("t")}, nil)
		var b, other, tg enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, EnrollConfirmInput{UserID: "someone-else", CodeSealed: []byte("x"), CodeLength: 6}, &other)
		r.confirm(time.Second, code6, &tg)
		r.run()
		if !other.rejected || appErrType(other.err) != ErrFlowNotFound {
			t.Fatalf("other account %+v", other)
		}
		if !tg.rejected || appErrType(tg.err) != ErrWrongState {
			t.Fatalf("code for telegram %+v", tg)
		}

		r = newEnrollRun(t, MethodEmail)
		r.sendsCode(activities.ChannelEmail)
		var b2, short, none enrollAnswer
		r.begin(&b2)
		r.confirm(time.Second, EnrollConfirmInput{CodeSealed: []byte("x"), CodeLength: 4}, &short)
		r.confirm(time.Second, EnrollConfirmInput{}, &none)
		v := r.run()
		if !short.rejected || appErrType(short.err) != ErrBadRequest || !none.rejected || appErrType(none.err) != ErrBadRequest {
			t.Fatalf("short %+v none %+v", short, none)
		}
		// Rejected input never counts as an attempt.
		if v.AttemptsLeft != MaxFlowAttempts {
			t.Fatalf("attempts left %d", v.AttemptsLeft)
		}
	})

	t.Run("case=begin twice is wrong_state and a confirm after done is wrong_state", func(t *testing.T) {
		r := newEnrollRun(t, MethodEmail)
		r.sendsCode(activities.ChannelEmail)
		r.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{OK: true}, nil)
		r.before(activities.LoginOptions{})
		r.finishes(activities.EnrollmentResult{}, nil)
		var b, again, c, after enrollAnswer
		r.begin(&b)
		r.begin(&again)
		r.confirm(time.Second, code6, &c)
		r.confirm(0, code6, &after)
		r.run()
		if !again.rejected || appErrType(again.err) != ErrWrongState {
			t.Fatalf("second begin %+v", again)
		}
		// Sent while the first is being stored: the handler checks again
		// under the lock and refuses it.
		if c.err != nil || appErrType(after.err) != ErrWrongState {
			t.Fatalf("confirm %+v after %+v", c, after)
		}
	})

	t.Run("case=a passkey without a name or a bad phone number is refused before anything is sent", func(t *testing.T) {
		r := newEnrollRun(t, MethodWebAuthn)
		r.in.DeviceName = ""
		var b enrollAnswer
		r.begin(&b)
		r.env.RegisterDelayedCallback(func() {}, FlowTTL+time.Minute)
		r.run()
		if !b.rejected || appErrType(b.err) != ErrBadRequest {
			t.Fatalf("begin %+v", b)
		}

		r = newEnrollRun(t, MethodPhone)
		r.in.Number = "0501234567"
		var p enrollAnswer
		r.begin(&p)
		r.run()
		if !p.rejected || appErrType(p.err) != ErrBadRequest {
			t.Fatalf("begin %+v", p)
		}
		r.env.AssertNotCalled(t, "SendCode", mock.Anything, mock.Anything)
	})
}

func TestEnrollErrors(t *testing.T) {
	t.Run("case=a send that cannot be done fails the flow", func(t *testing.T) {
		r := newEnrollRun(t, MethodPhone)
		r.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(activities.SentCode{},
			errkind.New(errkind.RateLimited, "rate limited", errkind.RateLimitDetails{RetryAfterSeconds: 60}))
		var b enrollAnswer
		r.begin(&b)
		v := r.run()
		if appErrType(b.err) != ErrRateLimited || v.State != StateFailed {
			t.Fatalf("begin %+v final %+v", b, v)
		}
	})

	t.Run("case=a passkey of another account is a conflict and another authenticator may try", func(t *testing.T) {
		r := newEnrollRun(t, MethodWebAuthn)
		r.env.OnActivity(a.BeginWebAuthnRegistration, mock.Anything, mock.Anything).Return(activities.WebAuthnChallenge{Options: json.RawMessage(`{}`), Session: json.RawMessage(`{}`)}, nil)
		r.env.OnActivity(a.VerifyWebAuthnRegistration, mock.Anything, mock.Anything).Return(activities.WebAuthnRegistration{OK: true, Credential: json.RawMessage(`{}`)}, nil)
		r.before(activities.LoginOptions{})
		n := 0
		r.env.OnActivity(finishOf(r.in.Method), mock.Anything, mock.Anything).Return(
			func(_ context.Context, _ activities.FinishEnrollmentInput) (activities.EnrollmentResult, error) {
				n++
				if n == 1 {
					return activities.EnrollmentResult{}, errkind.New(errkind.Conflict, "conflict")
				}
				return activities.EnrollmentResult{Device: &store.Credential{ID: "d2", Name: "Laptop"}}, nil
			})
		var b, c1, c2 enrollAnswer
		r.begin(&b)
		r.confirm(time.Second, EnrollConfirmInput{Credential: json.RawMessage(`{"a":1}`)}, &c1)
		r.confirm(time.Second, EnrollConfirmInput{Credential: json.RawMessage(`{"a":2}`)}, &c2)
		v := r.run()
		if appErrType(c1.err) != ErrConflict || c2.err != nil || v.State != StateDone || v.Device == nil || v.AttemptsLeft != MaxFlowAttempts {
			t.Fatalf("c1 %+v c2 %+v final %+v", c1, c2, v)
		}
		r.env.AssertNumberOfCalls(t, "BeginWebAuthnRegistration", 2)
	})
}

// TestEnrollReplaysRecordedHistories replays the enrollments recorded from
// real runs (workflows/testdata/enroll/*.json, written by the API tests with
// AUTHFLOW_RECORD_HISTORIES=1). A change to Enroll that would break flows in
// flight fails here: guard it with workflow.GetVersion.
func TestEnrollReplaysRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "enroll", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded enrollment histories in workflows/testdata/enroll")
	}
	logger := log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, f := range files {
		t.Run("case="+filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(Enroll, workflow.RegisterOptions{Name: EnrollWorkflowName})
			if err := r.ReplayWorkflowHistoryFromJSONFile(logger, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}

// finishOf is the activity that stores what method m enrolls.
func finishOf(m Method) any {
	em, _ := enrollMethodNamed(m)
	return em.finishActivity()
}

// finishName is finishOf's activity name, as mocks record it.
func finishName(m Method) string {
	name := runtime.FuncForPC(reflect.ValueOf(finishOf(m)).Pointer()).Name()
	name = strings.TrimSuffix(name[strings.LastIndex(name, ".")+1:], "-fm")
	return name
}
