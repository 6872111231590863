package workflows

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// recoveryRun drives one Recovery run with skipped time: steps are
// callbacks at moments of workflow time, activities are mocks.
type recoveryRun struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment
	in  RecoveryInput
	// What the mocks saw.
	notices    []activities.RecoveryNoticeInput
	ended      []string
	events     []string
	downgraded bool
	completed  int
	// waitRefused makes BeginRecoveryWait find another wait of the
	// account.
	waitRefused bool
	waits       []activities.BeginRecoveryWaitInput
}

var recoveryMAC = []byte("recovery-mac")

func newRecoveryRun(t *testing.T, user string, opts activities.LoginOptions) *recoveryRun {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Recovery, workflow.RegisterOptions{Name: RecoveryWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	r := &recoveryRun{t: t, env: env, in: RecoveryInput{FlowID: "rf1", Email: "u@example.com", FlowSecretMAC: recoveryMAC,
		ExpiresAt: env.Now().Add(RecoveryTTL), Delay: 72 * time.Hour}}
	res := activities.BeginRecoveryResult{}
	if user != "" {
		res = activities.BeginRecoveryResult{UserID: user, Code: &activities.SentCode{MAC: []byte("code-mac"), Digits: 6,
			ExpiresAt: env.Now().Add(10 * time.Minute)}}
	}
	env.OnActivity(a.BeginRecovery, mock.Anything, mock.Anything).Return(res, nil)
	env.OnActivity(a.CheckCode, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.CheckCodeInput) (activities.Answer, error) {
			return activities.Answer{OK: string(in.CodeSealed) == "right", Counted: true}, nil
		})
	env.OnActivity(a.LoadLoginOptions, mock.Anything, user).Return(opts, nil)
	env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.VerifyTOTPInput) (activities.Answer, error) {
			return activities.Answer{OK: string(in.CodeSealed) == "right"}, nil
		})
	env.OnActivity(a.VerifyRecoveryCode, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.VerifyRecoveryCodeInput) (activities.Answer, error) {
			return activities.Answer{OK: string(in.CodeSealed) == "right"}, nil
		})
	env.OnActivity(a.SecondFactorStatus, mock.Anything, mock.Anything).Return(activities.SecondFactorBudget{Left: 10}, nil)
	env.OnActivity(a.RecordSecondFactorFailure, mock.Anything, mock.Anything).Return(activities.SecondFactorBudget{Left: 9}, nil)
	env.OnActivity(a.RecordEvent, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecordEventInput) error {
			r.events = append(r.events, in.Type+":"+stringOf(in.Detail["reason"]))
			return nil
		})
	env.OnActivity(a.BeginRecoveryWait, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.BeginRecoveryWaitInput) error {
			r.waits = append(r.waits, in)
			if r.waitRefused {
				return temporal.NewNonRetryableApplicationError("a recovery of this account is already waiting", string(ErrConflict), nil)
			}
			return nil
		})
	env.OnActivity(a.RecoveryNotice, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.RecoveryNoticeInput) error {
			r.notices = append(r.notices, in)
			return nil
		})
	env.OnActivity(a.EndRecoveryWait, mock.Anything, mock.Anything).Return(
		func(_ context.Context, in activities.EndRecoveryWaitInput) error {
			r.ended = append(r.ended, in.Outcome)
			return nil
		})
	env.OnActivity(a.DisableTwoFactor, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.DowngradeInput) error { r.downgraded = true; return nil })
	env.OnActivity(a.UnlinkBankCards, mock.Anything, mock.Anything).Return(2, nil)
	env.OnActivity(a.FinishDowngrade, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(a.CompleteRecovery, mock.Anything, mock.Anything).Return(
		func(context.Context, activities.CompleteRecoveryInput) error { r.completed++; return nil })
	env.OnActivity(a.IssueSession, mock.Anything, mock.Anything).Return(
		activities.IssuedSession{ID: "s1", ExpiresAt: env.Now().Add(time.Hour)}, nil)
	return r
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// step sends an update at workflow time at and keeps its answer.
type step struct {
	v   RecoveryView
	err error
}

func (r *recoveryRun) update(at time.Duration, name string, arg any) *step {
	st := &step{}
	r.env.RegisterDelayedCallback(func() {
		r.env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
			OnAccept: func() {}, OnReject: func(err error) { st.err = err },
			OnComplete: func(v any, err error) { st.v, _ = v.(RecoveryView); st.err = err },
		}, arg)
	}, at)
	return st
}

func (r *recoveryRun) code(at time.Duration, code string) *step {
	return r.update(at, UpdateVerify, VerifyInput{FlowSecretMAC: recoveryMAC, CodeSealed: []byte(code), CodeLength: 6})
}

func (r *recoveryRun) password(at time.Duration) *step {
	return r.update(at, UpdateSetPassword, SetPasswordInput{FlowSecretMAC: recoveryMAC, PasswordSealed: []byte("sealed")})
}

func (r *recoveryRun) run() RecoveryView {
	r.t.Helper()
	r.env.ExecuteWorkflow(Recovery, r.in)
	var v RecoveryView
	if err := r.env.GetWorkflowResult(&v); err != nil {
		r.t.Fatalf("workflow failed: %v", err)
	}
	return v
}

func mustOK(t *testing.T, what string, s *step) {
	t.Helper()
	if s.err != nil {
		t.Fatalf("%s: %v", what, s.err)
	}
}

func TestRecoveryWithoutTwoFactor(t *testing.T) {
	t.Run("case=the emailed code leads to a new password and a session", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", activities.LoginOptions{})
		wrong := r.code(time.Second, "wrong!")
		right := r.code(2*time.Second, "right")
		done := r.password(3 * time.Second)
		v := r.run()
		if appErrType(wrong.err) != ErrInvalidCode || right.v.State != StateSetPassword {
			t.Fatalf("wrong %v, right %+v", wrong.err, right.v)
		}
		mustOK(t, "password", done)
		if v.State != StateDone || v.Session == nil || r.completed != 1 || r.downgraded {
			t.Fatalf("final %+v completed %d downgraded %v", v, r.completed, r.downgraded)
		}
	})
	t.Run("case=no new password before the code", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", activities.LoginOptions{})
		early := r.password(time.Second)
		r.run()
		if appErrType(early.err) != ErrWrongState || r.completed != 0 {
			t.Fatalf("early password: %v, completed %d", early.err, r.completed)
		}
	})
	t.Run("case=the flow secret is required", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", activities.LoginOptions{})
		st := r.update(time.Second, UpdateVerify, VerifyInput{FlowSecretMAC: []byte("other"), CodeSealed: []byte("right"), CodeLength: 6})
		r.run()
		if appErrType(st.err) != ErrFlowNotFound {
			t.Fatalf("another secret: %v", st.err)
		}
	})
	t.Run("case=unused, the flow expires after an hour", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", activities.LoginOptions{})
		v := r.run()
		if v.State != StateExpired {
			t.Fatalf("final %+v", v)
		}
	})
}

func TestRecoveryOfAnUnknownAddress(t *testing.T) {
	t.Run("case=every code is wrong and the attempts run out as for a known one", func(t *testing.T) {
		r := newRecoveryRun(t, "", activities.LoginOptions{})
		var steps []*step
		for i := range MaxFlowAttempts {
			steps = append(steps, r.code(time.Duration(i+1)*time.Second, "right"))
		}
		v := r.run()
		for i, s := range steps {
			if appErrType(s.err) != ErrInvalidCode {
				t.Fatalf("answer %d: %v", i, s.err)
			}
		}
		if v.State != StateFailed || v.UserID != "" {
			t.Fatalf("final %+v", v)
		}
	})
}

func TestRecoveryWithASecondFactor(t *testing.T) {
	opts := activities.LoginOptions{TOTP: true, RecoveryCodes: 3, Phones: []activities.PhoneOption{{ID: "p1", Kind: "ukrainian"}}}
	for _, m := range []Method{MethodTOTP, MethodRecoveryCode} {
		t.Run("case="+string(m)+" leads to a new password, and the phone is not offered", func(t *testing.T) {
			r := newRecoveryRun(t, "u1", opts)
			right := r.code(time.Second, "right")
			ch := r.update(2*time.Second, UpdateChallenge, ChallengeInput{FlowSecretMAC: recoveryMAC, Method: m})
			codeLen := 6
			if m == MethodRecoveryCode {
				codeLen = 10
			}
			ans := r.update(3*time.Second, UpdateVerify, VerifyInput{FlowSecretMAC: recoveryMAC, CodeSealed: []byte("right"), CodeLength: codeLen})
			done := r.password(4 * time.Second)
			v := r.run()
			if right.v.State != StateSecondFactor || len(right.v.Methods) != 2 {
				t.Fatalf("after the code %+v", right.v)
			}
			for _, o := range right.v.Methods {
				if o.Downgrade {
					t.Fatalf("a downgrading method is offered: %+v", right.v.Methods)
				}
			}
			mustOK(t, "challenge", ch)
			mustOK(t, "answer", ans)
			if ans.v.State != StateSetPassword {
				t.Fatalf("after the second factor %+v", ans.v)
			}
			mustOK(t, "password", done)
			if v.State != StateDone || v.Session == nil || r.downgraded {
				t.Fatalf("final %+v", v)
			}
		})
	}
	t.Run("case=the phone cannot be chosen", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		r.code(time.Second, "right")
		ch := r.update(2*time.Second, UpdateChallenge, ChallengeInput{FlowSecretMAC: recoveryMAC, Method: MethodCall, PhoneID: "p1",
			ConfirmDowngrade: true})
		r.run()
		if appErrType(ch.err) != ErrMethodUnavailable {
			t.Fatalf("phone challenge: %v", ch.err)
		}
	})
	t.Run("case=skipping the second factor is refused", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		r.code(time.Second, "right")
		skip := r.password(2 * time.Second)
		r.run()
		if appErrType(skip.err) != ErrWrongState || r.completed != 0 {
			t.Fatalf("password in second_factor: %v", skip.err)
		}
	})
}

func TestRecoveryOfLostFactors(t *testing.T) {
	opts := activities.LoginOptions{TOTP: true}
	lost := func(r *recoveryRun) *step {
		r.code(time.Second, "right")
		return r.update(2*time.Second, UpdateLostFactors, LostFactorsInput{FlowSecretMAC: recoveryMAC})
	}
	t.Run("case=after the delay 2FA goes off and the cards are unlinked, then a new password", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		w := lost(r)
		early := r.password(71 * time.Hour)
		done := r.password(73 * time.Hour)
		v := r.run()
		mustOK(t, "lost factors", w)
		if w.v.State != StateWaiting || w.v.ReadyAt == nil || w.v.ReadyAt.Sub(*w.v.ReminderAt) != RecoveryReminderLead {
			t.Fatalf("waiting %+v", w.v)
		}
		if appErrType(early.err) != ErrWrongState {
			t.Fatalf("a password before ready_at: %v", early.err)
		}
		mustOK(t, "password", done)
		if len(r.notices) != 2 || r.notices[0].Reminder || !r.notices[1].Reminder {
			t.Fatalf("notices %+v, want the first and a reminder", r.notices)
		}
		if !r.downgraded || v.Downgrade == nil || v.Downgrade.BankCardsUnlinked != 2 || v.State != StateDone {
			t.Fatalf("final %+v downgraded %v", v, r.downgraded)
		}
		if len(r.ended) != 1 || r.ended[0] != "ready" {
			t.Fatalf("wait ended %v", r.ended)
		}
	})
	cancels := []struct {
		name   string
		reason string
		cancel func(r *recoveryRun, at time.Duration)
	}{
		{"a notice's link", "link", func(r *recoveryRun, at time.Duration) {
			r.update(at, UpdateRecoveryCancel, RecoveryCancel{Reason: "link"})
		}},
		{"an admin", "admin", func(r *recoveryRun, at time.Duration) {
			r.update(at, UpdateRecoveryCancel, RecoveryCancel{Reason: "admin"})
		}},
		{"a login of the account", "login", func(r *recoveryRun, at time.Duration) {
			r.env.RegisterDelayedCallback(func() {
				r.env.SignalWorkflow(SignalRecoveryCancel, RecoveryCancel{Reason: "login"})
			}, at)
		}},
	}
	for _, c := range cancels {
		t.Run("case=cancelled by "+c.name+" during the wait: nothing is turned off", func(t *testing.T) {
			r := newRecoveryRun(t, "u1", opts)
			lost(r)
			c.cancel(r, 30*time.Hour)
			v := r.run()
			if v.State != StateCancelled || v.Reason != c.reason || r.downgraded || r.completed != 0 {
				t.Fatalf("final %+v downgraded %v", v, r.downgraded)
			}
			if len(r.ended) != 1 || r.ended[0] != "cancelled" {
				t.Fatalf("wait ended %v", r.ended)
			}
			if len(r.notices) != 1 {
				t.Fatalf("notices %+v: no reminder after a cancel", r.notices)
			}
			found := false
			for _, e := range r.events {
				found = found || e == "recovery_cancelled:"+c.reason
			}
			if !found {
				t.Fatalf("events %v", r.events)
			}
		})
	}
	t.Run("case=another recovery of the account waits: refused as a conflict, nobody told, the flow stays in second_factor", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		r.waitRefused = true
		w := lost(r)
		g := r.update(3*time.Second, UpdateChallenge, ChallengeInput{FlowSecretMAC: recoveryMAC, Method: MethodTOTP})
		r.run()
		if appErrType(w.err) != ErrConflict {
			t.Fatalf("lost factors while another waits: %v", w.err)
		}
		if len(r.waits) != 1 || len(r.notices) != 0 || len(r.ended) != 0 || r.downgraded {
			t.Fatalf("waits %d notices %d ended %v downgraded %v", len(r.waits), len(r.notices), r.ended, r.downgraded)
		}
		// Still in second_factor: a factor may still answer.
		mustOK(t, "totp challenge after the refusal", g)
	})
	t.Run("case=the wait is recorded before the flow waits, with its ready_at", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		w := lost(r)
		r.run()
		mustOK(t, "lost factors", w)
		if len(r.waits) != 1 || !r.waits[0].ReadyAt.Equal(*w.v.ReadyAt) || r.waits[0].UserID != "u1" || r.waits[0].FlowID != "rf1" {
			t.Fatalf("waits %+v, view %+v", r.waits, w.v)
		}
	})
	t.Run("case=a short delay reminds at its half", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		r.in.Delay = 2 * time.Hour
		w := lost(r)
		r.password(3 * time.Hour)
		r.run()
		if w.v.ReadyAt.Sub(*w.v.ReminderAt) != time.Hour || len(r.notices) != 2 {
			t.Fatalf("waiting %+v notices %d", w.v, len(r.notices))
		}
	})
	t.Run("case=unused after ready_at, the flow expires a day later", func(t *testing.T) {
		r := newRecoveryRun(t, "u1", opts)
		lost(r)
		v := r.run()
		if v.State != StateExpired || !r.downgraded {
			t.Fatalf("final %+v", v)
		}
		if got := r.env.Now().Sub(*v.ReadyAt); got < RecoveryReadyTTL {
			t.Fatalf("expired %v after ready_at", got)
		}
	})
}
