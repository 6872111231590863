package workflows

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/authflow/authflow/activities"
)

// fakeMethod is a second factor that exists only in this test: its answer
// is right when its sealed code reads "open sesame". It proves a method is
// one unit: registered in the list, it is offered, challenged and checked
// with no change to the flows.
type fakeMethod struct{}

const methodFake Method = "fake"

func (fakeMethod) method() Method { return methodFake }
func (fakeMethod) offer(activities.LoginOptions) []MethodOption {
	return []MethodOption{{Type: methodFake}}
}
func (fakeMethod) challenge(workflow.Context, *login, MethodOption) error { return nil }
func (fakeMethod) validateAnswer(in VerifyInput) error                    { return validateCode(methodFake, in, 6) }
func (fakeMethod) check(_ workflow.Context, _ *login, in VerifyInput) (checked, error) {
	c := checked{reason: "wrong_code", msg: "wrong code"}
	c.OK = string(in.CodeSealed) == "open sesame"
	return c, nil
}

func TestAMethodIsOneUnit(t *testing.T) {
	saved := loginMethods
	loginMethods = append(append([]loginMethod(nil), saved...), fakeMethod{})
	t.Cleanup(func() { loginMethods = saved })

	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Login, workflow.RegisterOptions{Name: LoginWorkflowName})
	env.RegisterActivity(&activities.Activities{})
	env.OnActivity(a.VerifyPassword, mock.Anything, mock.Anything).Return(activities.VerifyPasswordResult{UserID: "u1", OK: true,
		Options: activities.LoginOptions{TOTP: true}, Budget: activities.SecondFactorBudget{Left: 10}}, nil)
	env.OnActivity(a.SecondFactorStatus, mock.Anything, "u1").Return(activities.SecondFactorBudget{Left: 10}, nil)
	env.OnActivity(a.RecordSecondFactorFailure, mock.Anything, mock.Anything).Return(activities.SecondFactorBudget{Left: 9}, nil)
	env.OnActivity(a.IssueSession, mock.Anything, mock.Anything).Return(activities.IssuedSession{ID: "s1", ExpiresAt: time.Now().Add(time.Hour)}, nil)

	mac := []byte("mac")
	var methods []MethodOption
	var wrongErr, rightErr error
	update := func(at time.Duration, name string, arg any, done func(View, error)) {
		env.RegisterDelayedCallback(func() {
			env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
				OnAccept: func() {}, OnReject: func(err error) { done(View{}, err) },
				OnComplete: func(v any, err error) { vv, _ := v.(View); done(vv, err) },
			}, arg)
		}, at)
	}
	update(time.Second, UpdateSubmitPassword, SubmitPasswordInput{Email: "u@example.com", PasswordSealed: []byte("x")},
		func(v View, _ error) { methods = v.Methods })
	update(2*time.Second, UpdateChallenge, ChallengeInput{FlowSecretMAC: mac, Method: methodFake}, func(View, error) {})
	update(3*time.Second, UpdateVerify, VerifyInput{FlowSecretMAC: mac, CodeSealed: []byte("guess!"), CodeLength: 6},
		func(_ View, err error) { wrongErr = err })
	update(4*time.Second, UpdateVerify, VerifyInput{FlowSecretMAC: mac, CodeSealed: []byte("open sesame"), CodeLength: 6},
		func(_ View, err error) { rightErr = err })
	env.ExecuteWorkflow(Login, LoginInput{FlowID: "f1", FlowSecretMAC: mac})

	var v View
	if err := env.GetWorkflowResult(&v); err != nil {
		t.Fatal(err)
	}
	if len(methods) != 2 || methods[1].Type != methodFake {
		t.Fatalf("methods %+v, want the registered fake after totp", methods)
	}
	if wrongErr == nil || rightErr != nil || v.State != StateDone || v.Method != methodFake || v.AttemptsLeft != MaxFlowAttempts-1 {
		t.Fatalf("wrong answer %v, right answer %v, final %+v", wrongErr, rightErr, v)
	}
	if LoginMethods()[len(LoginMethods())-1] != methodFake {
		t.Fatalf("the API's list of methods %v does not name the registered one", LoginMethods())
	}
}
