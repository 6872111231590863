package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/workflows"
)

var a *activities.Activities

// scenario drives one Login run in the test environment: steps run in order
// at the given workflow-clock offsets; each records the update's answer.
type scenario struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	at  time.Duration
}

func newScenario(t *testing.T) *scenario {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(workflows.Login, workflowRegisterOptions())
	env.RegisterActivity(&activities.Activities{})
	return &scenario{t: t, env: env}
}

// answer is an update's outcome.
type answer struct {
	view     workflows.View
	err      error
	rejected bool
}

// update sends an update at the given offset. A challenge or a verify
// without a flow secret MAC carries the flow's own, as the API adds it from
// the caller's secret.
func (s *scenario) update(after time.Duration, name string, arg any, out *answer) {
	switch in := arg.(type) {
	case workflows.ChallengeInput:
		if in.FlowSecretMAC == nil {
			in.FlowSecretMAC = flowMAC
		}
		arg = in
	case workflows.VerifyInput:
		if in.FlowSecretMAC == nil {
			in.FlowSecretMAC = flowMAC
		}
		arg = in
	}
	s.at += after
	s.env.RegisterDelayedCallback(func() {
		s.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) { out.err, out.rejected = err, true },
			OnComplete: func(v any, err error) {
				out.err = err
				if vv, ok := v.(workflows.View); ok {
					out.view = vv
				}
			},
		}, arg)
	}, s.at)
}

func (s *scenario) signal(after time.Duration, name string, arg any) {
	s.at += after
	s.env.RegisterDelayedCallback(func() { s.env.SignalWorkflow(name, arg) }, s.at)
}

func (s *scenario) run(in workflows.LoginInput) workflows.View {
	s.t.Helper()
	s.env.ExecuteWorkflow(workflows.Login, in)
	if !s.env.IsWorkflowCompleted() {
		s.t.Fatal("workflow did not complete")
	}
	var v workflows.View
	if err := s.env.GetWorkflowResult(&v); err != nil {
		s.t.Fatalf("workflow failed: %v", err)
	}
	return v
}

func errType(err error) errkind.Kind {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		return errkind.Kind(ae.Type())
	}
	return ""
}

func attemptsLeft(t *testing.T, err error) int {
	t.Helper()
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		t.Fatalf("not an application error: %v", err)
	}
	var d workflows.AttemptsDetails
	if err := ae.Details(&d); err != nil {
		t.Fatalf("details: %v", err)
	}
	return d.AttemptsLeft
}

var (
	flowMAC  = []byte("the MAC of the flow secret")
	loginIn  = workflows.LoginInput{FlowID: "flow1", IP: "203.0.113.7", UserAgent: "test", FlowSecretMAC: flowMAC}
	password = workflows.SubmitPasswordInput{Email: "u@example.com", PasswordSealed: []byte("sealed")}
	code6    = workflows.VerifyInput{CodeSealed: []byte("sealed"), CodeLength: 6}
	code4    = workflows.VerifyInput{CodeSealed: []byte("sealed"), CodeLength: 4}
	session  = activities.IssuedSession{ID: "s1", ExpiresAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	allOpts  = activities.LoginOptions{Telegram: true, TelegramChats: []int64{111, 222}, TOTP: true, Email: true, WebAuthn: true,
		Phones:     []activities.PhoneOption{{ID: "p-ua", NumberMasked: "+380*******67", Kind: "ukrainian"}, {ID: "p-us", NumberMasked: "+155*****34", Kind: "foreign"}},
		FlashCalls: true}
	// counted is an answer reserved on an account that has 9 wrong answers
	// left after it.
	counted = activities.Answer{Counted: true, Failures: 1, Budget: activities.SecondFactorBudget{Left: 9}}
)

// passwordOK mocks a right password for an account with opts, answered in
// one activity as a current flow asks for it.
func (s *scenario) passwordOK(opts activities.LoginOptions) {
	budget := activities.SecondFactorBudget{Left: 10}
	s.env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).
		Return(activities.VerifyPasswordResult{UserID: "u1", OK: true, Options: opts, Budget: budget}, nil)
	// A challenge still reads the lock before it sends anything.
	s.env.OnActivity(a.SecondFactorStatus, mock.Anything, "u1").Return(budget, nil)
}

func (s *scenario) sessionIssued() {
	s.env.OnActivity(a.IssueSession, mock.Anything, mock.Anything).Return(session, nil)
}

func (s *scenario) failuresCounted() {
	s.env.OnActivity(a.RecordSecondFactorFailure, mock.Anything, mock.Anything).Return(activities.SecondFactorBudget{Left: 9}, nil)
}

func TestLoginPassword(t *testing.T) {
	t.Run("case=no 2FA issues a session at once", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(activities.LoginOptions{Phones: allOpts.Phones}) // phones alone are not 2FA
		s.sessionIssued()
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		v := s.run(loginIn)
		if pw.err != nil || pw.view.State != workflows.StateDone || pw.view.Session == nil || v.State != workflows.StateDone {
			t.Fatalf("answer %+v err %v, final %+v", pw.view, pw.err, v)
		}
	})
	t.Run("case=wrong password fails the flow with InvalidCredentials", func(t *testing.T) {
		s := newScenario(t)
		s.env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).Return(activities.VerifyPasswordResult{}, nil)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		v := s.run(loginIn)
		if errType(pw.err) != workflows.ErrInvalidCredentials || v.State != workflows.StateFailed {
			t.Fatalf("err %v state %s", pw.err, v.State)
		}
	})
	t.Run("case=throttled password is RateLimited with retry_after", func(t *testing.T) {
		s := newScenario(t)
		s.env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).Return(activities.VerifyPasswordResult{RetryAfterSeconds: 60}, nil)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.run(loginIn)
		if errType(pw.err) != workflows.ErrRateLimited {
			t.Fatalf("err %v", pw.err)
		}
	})
	t.Run("case=methods come in API order with one call and one sms per phone", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.run(loginIn)
		var got []string
		for _, m := range pw.view.Methods {
			got = append(got, string(m.Type)+":"+m.CallKind)
		}
		want := []string{"telegram:", "totp:", "email:", "webauthn:", "call:dictate", "call:flash", "sms:", "sms:"}
		if !slices.Equal(got, want) {
			t.Fatalf("methods %v, want %v", got, want)
		}
		if pw.view.State != workflows.StateChooseMethod || pw.view.AttemptsLeft != 5 {
			t.Fatalf("view %+v", pw.view)
		}
	})
	t.Run("case=without a flash-call pool a foreign number's call dictates its code", func(t *testing.T) {
		s := newScenario(t)
		opts := allOpts
		opts.FlashCalls = false
		s.passwordOK(opts)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.run(loginIn)
		var got []string
		for _, m := range pw.view.Methods {
			if m.Type == workflows.MethodCall {
				got = append(got, m.PhoneID+":"+m.CallKind)
			}
		}
		if want := []string{"p-ua:dictate", "p-us:dictate"}; !slices.Equal(got, want) {
			t.Fatalf("calls %v, want %v", got, want)
		}
	})
	t.Run("case=attempts_left is what the account has left when under 5", func(t *testing.T) {
		s := newScenario(t)
		s.env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).Return(activities.VerifyPasswordResult{UserID: "u1", OK: true,
			Options: allOpts, Budget: activities.SecondFactorBudget{Left: 2}}, nil)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.run(loginIn)
		if pw.view.AttemptsLeft != 2 {
			t.Fatalf("attempts_left %d", pw.view.AttemptsLeft)
		}
	})
}

func TestLoginTOTP(t *testing.T) {
	t.Run("case=right code issues a session", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		v := s.run(loginIn)
		if ch.view.State != workflows.StateChallenge || ch.view.Method != workflows.MethodTOTP {
			t.Fatalf("challenge %+v %v", ch.view, ch.err)
		}
		if vr.err != nil || v.State != workflows.StateDone || v.Session == nil || v.Method != workflows.MethodTOTP {
			t.Fatalf("verify err %v final %+v", vr.err, v)
		}
	})
	t.Run("case=the session is told when the answer's check reset the account's counter", func(t *testing.T) {
		for _, reset := range []bool{true, false} {
			s := newScenario(t)
			s.passwordOK(allOpts)
			var got []activities.IssueSessionInput
			s.env.OnActivity(a.IssueSession, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.IssueSessionInput) (activities.IssuedSession, error) {
				got = append(got, in)
				return session, nil
			})
			s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true, Reset: reset}, nil)
			var pw, vr answer
			s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
			direct := code6
			direct.Method = workflows.MethodTOTP
			s.update(time.Second, workflows.UpdateVerify, direct, &vr)
			s.run(loginIn)
			if vr.err != nil || len(got) != 1 || got[0].SecondStepReset != reset || got[0].Method != "totp" {
				t.Fatalf("answer reset %v: verify err %v, sessions %+v", reset, vr.err, got)
			}
		}
	})
	t.Run("case=five wrong codes fail the flow and count on the account", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(counted, nil)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		wrong := make([]answer, 6)
		for i := range wrong {
			s.update(time.Second, workflows.UpdateVerify, code6, &wrong[i])
		}
		v := s.run(loginIn)
		for i := range 5 {
			if errType(wrong[i].err) != workflows.ErrInvalidCode || attemptsLeft(t, wrong[i].err) != 4-i {
				t.Fatalf("try %d: %v", i, wrong[i].err)
			}
		}
		// The failed flow has ended: a sixth answer reaches no handler (the
		// API answers it with the closed flow's state, wrong_state).
		if wrong[5].err != nil || wrong[5].view.State != "" {
			t.Fatalf("sixth try reached the flow: %+v", wrong[5])
		}
		if v.State != workflows.StateFailed || v.Reason != "attempts" {
			t.Fatalf("final %+v", v)
		}
		s.env.AssertNumberOfCalls(t, "RecordSecondFactorFailure", 5)
		s.env.AssertNotCalled(t, "IssueSession", mock.Anything, mock.Anything)
	})
	// replay is what VerifyTOTP finds of a right code whose step was used:
	// its reservation given back, nothing counted.
	replay := activities.Answer{Replay: true, Budget: activities.SecondFactorBudget{Left: 10}}
	t.Run("case=five replays cost nothing and a right fresh code then signs in", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(replay, nil).Times(6)
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true, Reset: true}, nil).Once()
		var pw, ch, ok answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		replays := make([]answer, 6)
		for i := range replays {
			s.update(time.Second, workflows.UpdateVerify, code6, &replays[i])
		}
		s.update(time.Second, workflows.UpdateVerify, code6, &ok)
		v := s.run(loginIn)
		for i, r := range replays {
			if errType(r.err) != workflows.ErrCodeAlreadyUsed || attemptsLeft(t, r.err) != workflows.MaxFlowAttempts {
				t.Fatalf("replay %d: %v", i, r.err)
			}
			if !strings.Contains(r.err.Error(), "wait for the next") {
				t.Fatalf("replay %d says %q", i, r.err)
			}
		}
		if ok.err != nil || v.State != workflows.StateDone || v.Session == nil {
			t.Fatalf("fresh code: %v, final %+v", ok.err, v)
		}
		// Counted nowhere: not on the account (VerifyTOTP released it),
		// not in the flow.
		s.env.AssertNotCalled(t, "RecordSecondFactorFailure", mock.Anything, mock.Anything)
	})
	t.Run("case=wrong codes between replays still count, in the flow and on the account", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(counted, nil).Once()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(replay, nil).Once()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(counted, nil)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		// The two-call way: a replay moves the flow into TOTP's challenge
		// as a wrong answer does.
		direct := code6
		direct.Method = workflows.MethodTOTP
		answers := make([]answer, 6)
		s.update(time.Second, workflows.UpdateVerify, direct, &answers[0])
		for i := 1; i < len(answers); i++ {
			s.update(time.Second, workflows.UpdateVerify, code6, &answers[i])
		}
		v := s.run(loginIn)
		want := []struct {
			kind errkind.Kind
			left int
		}{{workflows.ErrInvalidCode, 4}, {workflows.ErrCodeAlreadyUsed, 4}, {workflows.ErrInvalidCode, 3},
			{workflows.ErrInvalidCode, 2}, {workflows.ErrInvalidCode, 1}, {workflows.ErrInvalidCode, 0}}
		for i, w := range want {
			if errType(answers[i].err) != w.kind || attemptsLeft(t, answers[i].err) != w.left {
				t.Fatalf("answer %d: %v", i, answers[i].err)
			}
		}
		if v.State != workflows.StateFailed || v.Reason != "attempts" {
			t.Fatalf("final %+v", v)
		}
		s.env.AssertNumberOfCalls(t, "RecordSecondFactorFailure", 5)
		s.env.AssertNotCalled(t, "RecordSecondFactorFailure", mock.Anything, mock.MatchedBy(func(in activities.SecondFactorFailureInput) bool {
			return in.Reason == "replay"
		}))
	})
	t.Run("case=a TOTP answer on an account locked meanwhile is RateLimited, checked in the same activity", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).
			Return(activities.Answer{Refused: true, Budget: activities.SecondFactorBudget{RetryAfterSeconds: 60}}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		s.run(loginIn)
		if ch.err != nil || errType(vr.err) != workflows.ErrRateLimited {
			t.Fatalf("challenge %v verify %v", ch.err, vr.err)
		}
		// The challenge read the lock; the answer did not read it again.
		s.env.AssertNumberOfCalls(t, "SecondFactorStatus", 1)
	})
	t.Run("case=a locked account's challenge is RateLimited before anything is sent", func(t *testing.T) {
		s := newScenario(t)
		s.env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).Return(activities.VerifyPasswordResult{UserID: "u1", OK: true,
			Options: allOpts}, nil)
		s.env.OnActivity(a.SecondFactorStatus, mock.Anything, "u1").Return(activities.SecondFactorBudget{RetryAfterSeconds: 120}, nil)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.run(loginIn)
		if errType(ch.err) != workflows.ErrRateLimited {
			t.Fatalf("err %v", ch.err)
		}
	})
}

func TestLoginStateRules(t *testing.T) {
	t.Run("case=verify before a challenge is rejected as wrong state", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		s.run(loginIn)
		if !vr.rejected || errType(vr.err) != workflows.ErrWrongState {
			t.Fatalf("%+v", vr)
		}
	})
	t.Run("case=method not offered is MethodUnavailable", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(activities.LoginOptions{TOTP: true})
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch)
		s.run(loginIn)
		if !ch.rejected || errType(ch.err) != workflows.ErrMethodUnavailable {
			t.Fatalf("%+v", ch)
		}
	})
	t.Run("case=another account's phone is MethodUnavailable", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodSMS, PhoneID: "p-other", ConfirmDowngrade: true}, &ch)
		s.run(loginIn)
		if errType(ch.err) != workflows.ErrMethodUnavailable {
			t.Fatalf("%+v", ch)
		}
	})
	t.Run("case=a phone method without phone_id is a bad request", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodSMS, ConfirmDowngrade: true}, &ch)
		s.run(loginIn)
		if !ch.rejected || errType(ch.err) != workflows.ErrBadRequest {
			t.Fatalf("%+v", ch)
		}
	})
	t.Run("case=phone without confirm_downgrade is DowngradeNotConfirmed", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodCall, PhoneID: "p-ua"}, &ch)
		s.run(loginIn)
		if errType(ch.err) != workflows.ErrDowngradeNotConfirmed {
			t.Fatalf("%+v", ch)
		}
	})
	t.Run("case=a 6-digit answer to a call is a bad request, not an attempt", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(activities.SentCode{MAC: []byte("m"), Digits: 4, ExpiresAt: time.Now().Add(time.Hour)}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodCall, PhoneID: "p-ua", ConfirmDowngrade: true}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		s.run(loginIn)
		if !vr.rejected || errType(vr.err) != workflows.ErrBadRequest {
			t.Fatalf("%+v", vr)
		}
	})
	t.Run("case=no answer expires the flow after 10 minutes", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, late answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		v := s.run(loginIn)
		if v.State != workflows.StateExpired {
			t.Fatalf("final %+v", v)
		}
		_ = late
	})
	t.Run("case=an answer after expiry is FlowExpired", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(workflows.FlowTTL-2*time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		v := s.run(loginIn)
		if v.State != workflows.StateExpired {
			t.Fatalf("final %+v", v)
		}
		if ch.err != nil {
			t.Fatalf("challenge before expiry failed: %v", ch.err)
		}
	})
}

func TestLoginCodes(t *testing.T) {
	sent := activities.SentCode{MAC: []byte("mac"), Digits: 6, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	t.Run("case=email code right issues a session and is used once", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.SendCode, mock.Anything, mock.MatchedBy(func(in activities.SendCodeInput) bool {
			return in.Channel == activities.ChannelEmail && in.FlowID == "flow1" && in.UserID == "u1"
		})).Return(sent, nil)
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		v := s.run(loginIn)
		if vr.err != nil || v.State != workflows.StateDone {
			t.Fatalf("err %v final %+v", vr.err, v)
		}
	})
	t.Run("case=a code past its own expiry is FlowExpired and not checked; a new code in the open flow signs in", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		// Each code lives 2 minutes from its send, well inside the flow's 10.
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.SendCodeInput) (activities.SentCode, error) {
				return activities.SentCode{MAC: []byte("mac"), Digits: 6, ExpiresAt: s.env.Now().Add(2 * time.Minute)}, nil
			})
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, ch, late, ch2, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch)
		s.update(2*time.Minute+time.Second, workflows.UpdateVerify, code6, &late)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch2)
		s.update(time.Minute, workflows.UpdateVerify, code6, &vr)
		v := s.run(loginIn)
		if errType(late.err) != workflows.ErrFlowExpired {
			t.Fatalf("an answer 2 minutes after its code's send: %v, want FlowExpired", late.err)
		}
		if ch2.err != nil || vr.err != nil || v.State != workflows.StateDone {
			t.Fatalf("new challenge %v, its answer %v, final %+v", ch2.err, vr.err, v)
		}
		s.env.AssertNumberOfCalls(t, "CheckCode", 1) // the late answer was never checked
	})
	t.Run("case=a new challenge in the same flow keeps the flow's count of wrong answers", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(sent, nil)
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(counted, nil)
		var pw, ch, ch2 answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch)
		first := make([]answer, 3)
		for i := range first {
			s.update(time.Second, workflows.UpdateVerify, code6, &first[i])
		}
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch2)
		second := make([]answer, 2)
		for i := range second {
			s.update(time.Second, workflows.UpdateVerify, code6, &second[i])
		}
		v := s.run(loginIn)
		if ch2.err != nil || ch2.view.AttemptsLeft != 2 {
			t.Fatalf("new challenge after 3 wrong answers: %v, attempts_left %d, want 2", ch2.err, ch2.view.AttemptsLeft)
		}
		for i, w := range append(first, second...) {
			if errType(w.err) != workflows.ErrInvalidCode || attemptsLeft(t, w.err) != 4-i {
				t.Fatalf("wrong answer %d: %v, want InvalidCode with %d left", i+1, w.err, 4-i)
			}
		}
		if v.State != workflows.StateFailed || v.Reason != "attempts" {
			t.Fatalf("final %+v, want failed for attempts after 5 wrong answers over two codes", v)
		}
	})
	t.Run("case=expired flash-call code is FlowExpired and not checked", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.SendCode, mock.Anything, mock.MatchedBy(func(in activities.SendCodeInput) bool {
			return in.Channel == activities.ChannelCallFlash && in.PhoneID == "p-us"
		})).Return(activities.SentCode{MAC: []byte("mac"), Digits: 4, ExpiresAt: time.Time{}}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodCall, PhoneID: "p-us", ConfirmDowngrade: true}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code4, &vr)
		s.run(loginIn)
		if errType(vr.err) != workflows.ErrFlowExpired {
			t.Fatalf("err %v", vr.err)
		}
		s.env.AssertNotCalled(t, "CheckCode", mock.Anything, mock.Anything)
	})
	t.Run("case=send rate limit surfaces as RateLimited", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(activities.SentCode{},
			errkind.New(errkind.RateLimited, "limited", errkind.RateLimitDetails{RetryAfterSeconds: 720}))
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodEmail}, &ch)
		s.run(loginIn)
		var ae *temporal.ApplicationError
		var d workflows.RateLimitDetails
		if !errors.As(ch.err, &ae) || errkind.Kind(ae.Type()) != workflows.ErrRateLimited || ae.Details(&d) != nil || d.RetryAfterSeconds != 720 {
			t.Fatalf("err %v details %+v", ch.err, d)
		}
	})
}

func TestLoginTelegram(t *testing.T) {
	var buttons []int
	setup := func(t *testing.T) (*scenario, *answer) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.SendTelegramPrompts, mock.Anything, mock.MatchedBy(func(in activities.SendTelegramPromptsInput) bool {
			return len(in.Chats) == 2 && len(in.Numbers) == 4
		})).Return(func(_ context.Context, in activities.SendTelegramPromptsInput) (int, error) {
			buttons = in.Numbers
			return 2, nil
		})
		s.env.OnActivity(a.CloseTelegramPrompts, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.ReserveSecondFactorAttempt, mock.Anything, "u1").Return(counted, nil)
		var pw answer
		ch := &answer{}
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTelegram}, ch)
		return s, ch
	}
	t.Run("case=the right button from a linked chat issues a session", func(t *testing.T) {
		s, ch := setup(t)
		s.sessionIssued()
		s.at += time.Second
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalTelegramAnswer, workflows.TelegramAnswer{ChatID: 222, Number: ch.view.TelegramNumber})
		}, s.at)
		v := s.run(loginIn)
		if ch.view.TelegramNumber < 10 || ch.view.TelegramNumber > 99 {
			t.Fatalf("number %d", ch.view.TelegramNumber)
		}
		if v.State != workflows.StateDone {
			t.Fatalf("final %+v", v)
		}
		s.env.AssertCalled(t, "CloseTelegramPrompts", mock.Anything, activities.CloseTelegramPromptsInput{FlowID: "flow1", Outcome: "confirmed", UserID: "u1"})
	})
	t.Run("case=the number shown is one of the buttons", func(t *testing.T) {
		s, ch := setup(t)
		buttons = nil
		s.run(loginIn)
		found := false
		seen := map[int]bool{}
		for _, n := range buttons {
			found = found || n == ch.view.TelegramNumber
			seen[n] = true
		}
		if !found || len(seen) != 4 {
			t.Fatalf("number %d buttons %v", ch.view.TelegramNumber, buttons)
		}
	})
	t.Run("case=a wrong button costs an attempt and keeps the flow open", func(t *testing.T) {
		s, ch := setup(t)
		s.failuresCounted()
		s.at += time.Second
		s.env.RegisterDelayedCallback(func() {
			wrong := ch.view.TelegramNumber%90 + 10
			if wrong == ch.view.TelegramNumber {
				wrong++
			}
			s.env.SignalWorkflow(workflows.SignalTelegramAnswer, workflows.TelegramAnswer{ChatID: 111, Number: wrong})
		}, s.at)
		var q workflows.View
		s.env.RegisterDelayedCallback(func() {
			res, err := s.env.QueryWorkflow(workflows.QueryState, flowMAC)
			if err == nil {
				_ = res.Get(&q)
			}
		}, s.at+time.Second)
		v := s.run(loginIn)
		if q.AttemptsLeft != 4 || q.State != workflows.StateChallenge {
			t.Fatalf("after the wrong button %+v", q)
		}
		if v.State != workflows.StateExpired {
			t.Fatalf("final %+v", v)
		}
		s.env.AssertCalled(t, "CloseTelegramPrompts", mock.Anything, activities.CloseTelegramPromptsInput{FlowID: "flow1", Outcome: "wrong", UserID: "u1"})
	})
	t.Run("case=not me fails the flow at once and records it", func(t *testing.T) {
		s, _ := setup(t)
		s.env.OnActivity(a.RecordEvent, mock.Anything, mock.MatchedBy(func(in activities.RecordEventInput) bool {
			return in.Type == "login_denied_by_user" && in.UserID == "u1"
		})).Return(nil).Once()
		s.signal(time.Second, workflows.SignalTelegramAnswer, workflows.TelegramAnswer{ChatID: 111, NotMe: true})
		v := s.run(loginIn)
		if v.State != workflows.StateFailed || v.Reason != "denied_by_user" {
			t.Fatalf("final %+v", v)
		}
	})
	t.Run("case=a click from a chat not linked to the account is ignored", func(t *testing.T) {
		s, ch := setup(t)
		s.at += time.Second
		s.env.RegisterDelayedCallback(func() {
			s.env.SignalWorkflow(workflows.SignalTelegramAnswer, workflows.TelegramAnswer{ChatID: 999, Number: ch.view.TelegramNumber})
		}, s.at)
		v := s.run(loginIn)
		if v.State != workflows.StateExpired {
			t.Fatalf("final %+v", v)
		}
	})
}

func TestLoginWebAuthn(t *testing.T) {
	challenge := activities.WebAuthnChallenge{Options: json.RawMessage(`{"publicKey":{"challenge":"abc"}}`), Session: json.RawMessage(`{"challenge":"abc"}`)}
	cred := workflows.VerifyInput{Credential: json.RawMessage(`{"id":"x"}`)}
	t.Run("case=passwordless with a passwordless passkey issues a session for its owner", func(t *testing.T) {
		s := newScenario(t)
		s.sessionIssued()
		s.env.OnActivity(a.BeginWebAuthnLogin, mock.Anything, activities.BeginWebAuthnLoginInput{}).Return(challenge, nil)
		s.env.OnActivity(a.FinishWebAuthnLogin, mock.Anything, mock.Anything).Return(activities.WebAuthnLoginResult{OK: true, UserID: "u9", DeviceID: "d1"}, nil)
		var ch, vr answer
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodWebAuthn}, &ch)
		s.update(time.Second, workflows.UpdateVerify, cred, &vr)
		in := loginIn
		in.Passwordless = true
		v := s.run(in)
		if string(ch.view.WebAuthnOptions) != string(challenge.Options) {
			t.Fatalf("options %s", ch.view.WebAuthnOptions)
		}
		if vr.err != nil || v.State != workflows.StateDone || v.UserID != "u9" {
			t.Fatalf("err %v final %+v", vr.err, v)
		}
	})
	t.Run("case=passkey not marked passwordless is InvalidAssertion and an attempt", func(t *testing.T) {
		s := newScenario(t)
		s.failuresCounted()
		s.env.OnActivity(a.SecondFactorStatus, mock.Anything, "u9").Return(activities.SecondFactorBudget{Left: 9}, nil)
		s.env.OnActivity(a.BeginWebAuthnLogin, mock.Anything, mock.Anything).Return(challenge, nil)
		s.env.OnActivity(a.FinishWebAuthnLogin, mock.Anything, mock.Anything).Return(activities.WebAuthnLoginResult{UserID: "u9", Reason: "not_passwordless"}, nil)
		var ch, vr, again answer
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodWebAuthn}, &ch)
		s.update(time.Second, workflows.UpdateVerify, cred, &vr)
		s.update(time.Second, workflows.UpdateVerify, cred, &again)
		in := loginIn
		in.Passwordless = true
		s.run(in)
		if errType(vr.err) != workflows.ErrInvalidAssertion || attemptsLeft(t, vr.err) != 4 {
			t.Fatalf("err %v", vr.err)
		}
		// The challenge is single use: answering it twice needs a new one.
		if errType(again.err) != workflows.ErrWrongState {
			t.Fatalf("second answer %v", again.err)
		}
		s.env.AssertCalled(t, "RecordSecondFactorFailure", mock.Anything, mock.MatchedBy(func(in activities.SecondFactorFailureInput) bool {
			return in.UserID == "u9" && in.Reason == "not_passwordless"
		}))
	})
	t.Run("case=a passwordless flow refuses the password and other methods", func(t *testing.T) {
		s := newScenario(t)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		in := loginIn
		in.Passwordless = true
		s.run(in)
		if !pw.rejected || !ch.rejected {
			t.Fatalf("password %+v challenge %+v", pw, ch)
		}
	})
}

func TestLoginPhoneSaga(t *testing.T) {
	sent := activities.SentCode{MAC: []byte("mac"), Digits: 6, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)}
	setup := func(t *testing.T) (*scenario, *answer) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(sent, nil)
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, ch answer
		vr := &answer{}
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodSMS, PhoneID: "p-ua", ConfirmDowngrade: true}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, vr)
		return s, vr
	}
	t.Run("case=sms code runs disable, unlink, finish, then the session", func(t *testing.T) {
		s, vr := setup(t)
		var order []string
		s.env.OnActivity(a.DisableTwoFactor, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DowngradeInput) error {
			order = append(order, "disable")
			if in.Key == "" || in.UserID != "u1" {
				t.Errorf("input %+v", in)
			}
			return nil
		})
		s.env.OnActivity(a.UnlinkBankCards, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.DowngradeInput) (int, error) {
			order = append(order, "unlink")
			return 3, nil
		})
		s.env.OnActivity(a.FinishDowngrade, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishDowngradeInput) error {
			order = append(order, "finish")
			if in.CardsUnlinked != 3 || in.Method != "sms" {
				t.Errorf("finish input %+v", in)
			}
			return nil
		})
		s.env.OnActivity(a.IssueSession, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.IssueSessionInput) (activities.IssuedSession, error) {
			order = append(order, "session")
			return session, nil
		})
		v := s.run(loginIn)
		if vr.err != nil || v.State != workflows.StateDone || v.Downgrade == nil || !v.Downgrade.TwoFactorDisabled || v.Downgrade.BankCardsUnlinked != 3 {
			t.Fatalf("err %v final %+v", vr.err, v)
		}
		if len(order) != 4 || order[0] != "disable" || order[1] != "unlink" || order[2] != "finish" || order[3] != "session" {
			t.Fatalf("order %v", order)
		}
		s.env.AssertNotCalled(t, "RestoreTwoFactor", mock.Anything, mock.Anything)
	})
	t.Run("case=unlink failing for good restores 2FA and issues no session", func(t *testing.T) {
		s, vr := setup(t)
		s.env.OnActivity(a.DisableTwoFactor, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.UnlinkBankCards, mock.Anything, mock.Anything).Return(0,
			errkind.New(errkind.MethodUnavailable, "billing refused"))
		s.env.OnActivity(a.RestoreTwoFactor, mock.Anything, mock.Anything).Return(nil).Once()
		v := s.run(loginIn)
		if errType(vr.err) != workflows.ErrUnavailable || v.State != workflows.StateFailed || v.Reason != "saga" || v.Session != nil {
			t.Fatalf("err %v final %+v", vr.err, v)
		}
		s.env.AssertNotCalled(t, "IssueSession", mock.Anything, mock.Anything)
		s.env.AssertNotCalled(t, "FinishDowngrade", mock.Anything, mock.Anything)
		s.env.AssertNumberOfCalls(t, "RestoreTwoFactor", 1)
	})
	t.Run("case=a transient unlink failure is retried and the saga completes", func(t *testing.T) {
		s, vr := setup(t)
		calls := 0
		s.env.OnActivity(a.DisableTwoFactor, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.UnlinkBankCards, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.DowngradeInput) (int, error) {
			calls++
			if calls < 3 {
				return 0, errors.New("database is down")
			}
			return 1, nil
		})
		s.env.OnActivity(a.FinishDowngrade, mock.Anything, mock.Anything).Return(nil)
		s.sessionIssued()
		v := s.run(loginIn)
		if vr.err != nil || v.State != workflows.StateDone || calls != 3 {
			t.Fatalf("err %v final %+v calls %d", vr.err, v, calls)
		}
		s.env.AssertNotCalled(t, "RestoreTwoFactor", mock.Anything, mock.Anything)
	})
}

func workflowRegisterOptions() workflow.RegisterOptions {
	return workflow.RegisterOptions{Name: workflows.LoginWorkflowName}
}

func TestLoginFlowSecret(t *testing.T) {
	t.Run("case=a challenge or verify without the flow's secret is FlowNotFound and changes nothing", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, noSecret, wrongSecret, ch, vrWrong, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{FlowSecretMAC: []byte{}, Method: workflows.MethodTOTP}, &noSecret)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{FlowSecretMAC: []byte("guess"), Method: workflows.MethodTOTP}, &wrongSecret)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.update(time.Second, workflows.UpdateVerify, workflows.VerifyInput{FlowSecretMAC: []byte("guess"), CodeSealed: []byte("sealed"), CodeLength: 6}, &vrWrong)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		v := s.run(loginIn)
		for name, got := range map[string]answer{"no secret": noSecret, "wrong secret": wrongSecret, "verify with a wrong secret": vrWrong} {
			if !got.rejected || errType(got.err) != workflows.ErrFlowNotFound {
				t.Errorf("%s: %+v, want rejected by the validator as FlowNotFound", name, got)
			}
		}
		if ch.err != nil || vr.err != nil || v.State != workflows.StateDone {
			t.Fatalf("the secret's owner: challenge %v verify %v final %+v", ch.err, vr.err, v)
		}
		s.env.AssertNumberOfCalls(t, "VerifyTOTP", 1)
	})
	t.Run("case=the state query answers only to the flow's secret", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		var good workflows.View
		var wrongErr, goodErr error
		s.env.RegisterDelayedCallback(func() {
			_, wrongErr = s.env.QueryWorkflow(workflows.QueryState, []byte("guess"))
			var res interface{ Get(any) error }
			res, goodErr = s.env.QueryWorkflow(workflows.QueryState, flowMAC)
			if goodErr == nil {
				goodErr = res.Get(&good)
			}
		}, 2*time.Second)
		s.run(loginIn)
		if errType(wrongErr) != workflows.ErrFlowNotFound {
			t.Errorf("query with a wrong secret: %v, want FlowNotFound", wrongErr)
		}
		if goodErr != nil || good.State != workflows.StateChooseMethod || good.UserID != "u1" {
			t.Errorf("query with the secret: %+v %v", good, goodErr)
		}
	})
	t.Run("case=a flow started without a secret MAC answers nobody", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, ch answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{FlowSecretMAC: []byte{}, Method: workflows.MethodTOTP}, &ch)
		in := loginIn
		in.FlowSecretMAC = nil
		s.run(in)
		if errType(ch.err) != workflows.ErrFlowNotFound {
			t.Fatalf("challenge %+v", ch)
		}
	})
}

func TestLoginFlashCall(t *testing.T) {
	flash := activities.SentCode{MAC: []byte("mac"), Digits: 4, ExpiresAt: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), OneAnswer: true}
	challenge := workflows.ChallengeInput{Method: workflows.MethodCall, PhoneID: "p-us", ConfirmDowngrade: true}
	t.Run("case=after a wrong answer the call's right digits no longer work", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.env.OnActivity(a.SendCode, mock.Anything, mock.MatchedBy(func(in activities.SendCodeInput) bool {
			return in.Channel == activities.ChannelCallFlash
		})).Return(flash, nil)
		checks := 0
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(func(context.Context, activities.CheckCodeInput) (activities.Answer, error) {
			checks++
			if checks == 1 {
				return counted, nil // wrong
			}
			return activities.Answer{OK: true, Counted: true}, nil // the call's digits
		})
		var pw, ch, wrong, right answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, challenge, &ch)
		s.update(time.Second, workflows.UpdateVerify, code4, &wrong)
		s.update(time.Second, workflows.UpdateVerify, code4, &right)
		v := s.run(loginIn)
		if errType(wrong.err) != workflows.ErrInvalidCode || attemptsLeft(t, wrong.err) != 4 {
			t.Fatalf("wrong answer: %v", wrong.err)
		}
		if errType(right.err) != workflows.ErrWrongState || checks != 1 {
			t.Fatalf("the right digits after a wrong answer: %v (%d checks), want WrongState without a check", right.err, checks)
		}
		if v.State != workflows.StateExpired || v.Session != nil {
			t.Fatalf("final %+v", v)
		}
	})
	t.Run("case=a new call after a wrong answer takes an answer again", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.sessionIssued()
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(flash, nil)
		s.env.OnActivity(a.DisableTwoFactor, mock.Anything, mock.Anything).Return(nil)
		s.env.OnActivity(a.UnlinkBankCards, mock.Anything, mock.Anything).Return(0, nil)
		s.env.OnActivity(a.FinishDowngrade, mock.Anything, mock.Anything).Return(nil)
		checks := 0
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(func(context.Context, activities.CheckCodeInput) (activities.Answer, error) {
			checks++
			return activities.Answer{OK: checks == 2, Counted: true, Budget: counted.Budget}, nil
		})
		var pw, ch, wrong, ch2, right answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, challenge, &ch)
		s.update(time.Second, workflows.UpdateVerify, code4, &wrong)
		s.update(time.Second, workflows.UpdateChallenge, challenge, &ch2)
		s.update(time.Second, workflows.UpdateVerify, code4, &right)
		v := s.run(loginIn)
		if errType(wrong.err) != workflows.ErrInvalidCode || ch2.err != nil || right.err != nil || v.State != workflows.StateDone {
			t.Fatalf("wrong %v, new call %v, right %v, final %+v", wrong.err, ch2.err, right.err, v)
		}
		s.env.AssertNumberOfCalls(t, "SendCode", 2)
	})
	t.Run("case=a dictated call's code survives a wrong answer", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		dictate := flash
		dictate.OneAnswer = false
		s.env.OnActivity(a.SendCode, mock.Anything, mock.Anything).Return(dictate, nil)
		s.env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(counted, nil)
		var pw, ch, first, second answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodCall, PhoneID: "p-ua", ConfirmDowngrade: true}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code4, &first)
		s.update(time.Second, workflows.UpdateVerify, code4, &second)
		s.run(loginIn)
		if errType(first.err) != workflows.ErrInvalidCode || errType(second.err) != workflows.ErrInvalidCode {
			t.Fatalf("first %v second %v, want both checked", first.err, second.err)
		}
		s.env.AssertNumberOfCalls(t, "CheckCode", 2)
	})
}

func TestLoginAccountCounter(t *testing.T) {
	// totpAnswered runs a login whose one TOTP answer the activity checks
	// as ans, and returns the scenario, the verify's outcome and the end.
	totpAnswered := func(t *testing.T, ans activities.Answer) (*scenario, answer, workflows.View) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(ans, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.update(time.Second, workflows.UpdateVerify, code6, &vr)
		return s, vr, s.run(loginIn)
	}
	t.Run("case=a wrong answer reserved on the account is recorded, not counted again", func(t *testing.T) {
		s, _, _ := totpAnswered(t, activities.Answer{Counted: true, Failures: 7, Budget: activities.SecondFactorBudget{Left: 3}})
		s.env.AssertCalled(t, "RecordSecondFactorFailure", mock.Anything, mock.MatchedBy(func(in activities.SecondFactorFailureInput) bool {
			return in.Counted && in.Failures == 7 && in.UserID == "u1" && in.Method == "totp"
		}))
	})
	t.Run("case=the answer that locks the account fails the flow", func(t *testing.T) {
		_, vr, v := totpAnswered(t, activities.Answer{Counted: true, Failures: 10, Budget: activities.SecondFactorBudget{RetryAfterSeconds: 60}})
		if errType(vr.err) != workflows.ErrInvalidCode || attemptsLeft(t, vr.err) != 0 || v.State != workflows.StateFailed {
			t.Fatalf("verify %v final %+v", vr.err, v)
		}
	})
	t.Run("case=a hard-locked account says so", func(t *testing.T) {
		s, vr, _ := totpAnswered(t, activities.Answer{Refused: true,
			Budget: activities.SecondFactorBudget{RetryAfterSeconds: 3153600000, Locked: true}})
		var ae *temporal.ApplicationError
		var d workflows.RateLimitDetails
		if !errors.As(vr.err, &ae) || errkind.Kind(ae.Type()) != workflows.ErrRateLimited || ae.Details(&d) != nil || !d.Locked {
			t.Fatalf("verify %v details %+v, want RateLimited and locked", vr.err, d)
		}
		s.env.AssertNotCalled(t, "RecordSecondFactorFailure", mock.Anything, mock.Anything)
	})
}

func TestLoginInTwoCalls(t *testing.T) {
	direct := func(m workflows.Method, length int) workflows.VerifyInput {
		return workflows.VerifyInput{CodeSealed: []byte("sealed"), CodeLength: length, Method: m}
	}
	t.Run("case=a TOTP code straight from choose_method issues a session with no challenge state", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true}, nil)
		var pw, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateVerify, direct(workflows.MethodTOTP, 6), &vr)
		v := s.run(loginIn)
		if vr.err != nil || v.State != workflows.StateDone || v.Session == nil || v.Method != workflows.MethodTOTP {
			t.Fatalf("verify err %v final %+v", vr.err, v)
		}
	})
	t.Run("case=a wrong direct code is an attempt and leaves the flow in the challenge", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		s.failuresCounted()
		s.sessionIssued()
		n := 0
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(
			func(context.Context, activities.VerifyTOTPInput) (activities.Answer, error) {
				n++
				if n == 1 {
					return counted, nil
				}
				return activities.Answer{OK: true, Counted: true}, nil
			})
		var pw, wrong, right answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateVerify, direct(workflows.MethodTOTP, 6), &wrong)
		s.update(time.Second, workflows.UpdateVerify, code6, &right)
		v := s.run(loginIn)
		if errType(wrong.err) != workflows.ErrInvalidCode || attemptsLeft(t, wrong.err) != 4 {
			t.Fatalf("wrong: %v", wrong.err)
		}
		if right.err != nil || v.State != workflows.StateDone {
			t.Fatalf("the next answer without a method: %v, final %+v", right.err, v)
		}
	})
	t.Run("case=a method that sends a code needs its challenge: a bad request, no attempt", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(allOpts)
		var pw, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateVerify, direct(workflows.MethodEmail, 6), &vr)
		v := s.run(loginIn)
		if !vr.rejected || errType(vr.err) != workflows.ErrBadRequest || v.AttemptsLeft != workflows.MaxFlowAttempts {
			t.Fatalf("email without a challenge: %+v, attempts %d", vr, v.AttemptsLeft)
		}
	})
	t.Run("case=a direct method the account lacks is method_unavailable", func(t *testing.T) {
		s := newScenario(t)
		s.passwordOK(activities.LoginOptions{Email: true})
		var pw, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(time.Second, workflows.UpdateVerify, direct(workflows.MethodTOTP, 6), &vr)
		s.run(loginIn)
		if !vr.rejected || errType(vr.err) != workflows.ErrMethodUnavailable {
			t.Fatalf("totp not offered: %+v", vr)
		}
	})
}
