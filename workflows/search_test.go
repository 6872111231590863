package workflows_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/workflows"
)

// upserts records the search attributes each upsert of a flow sets, as
// "Key=value" (AuthflowStateChangedAt as "AuthflowStateChangedAt"), in
// the order they were set.
func (s *scenario) upserts() *[][]string {
	var out [][]string
	s.env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		var set []string
		for _, k := range []temporal.SearchAttributeKeyKeyword{workflows.SearchKind, workflows.SearchUserID, workflows.SearchState, workflows.SearchMethod} {
			if v, ok := sa.GetKeyword(k); ok {
				set = append(set, k.GetName()+"="+v)
			}
		}
		if _, ok := sa.GetTime(workflows.SearchStateChangedAt); ok {
			set = append(set, workflows.SearchStateChangedAt.GetName())
		}
		out = append(out, set)
	}).Return(nil)
	return &out
}

// startedByAPI gives the flow the search attributes the API's start
// options give a login.
func (s *scenario) startedByAPI(state workflows.State) {
	if err := s.env.SetTypedSearchAttributesOnStart(temporal.NewSearchAttributes(
		workflows.SearchKind.ValueSet(workflows.KindLogin), workflows.SearchState.ValueSet(string(state)),
		workflows.SearchMethod.ValueSet(""), workflows.SearchStateChangedAt.ValueSet(time.Now().UTC()))); err != nil {
		s.t.Fatal(err)
	}
}

func flatten(u [][]string) string {
	var out []string
	for _, set := range u {
		out = append(out, strings.Join(set, " "))
	}
	return strings.Join(out, " | ")
}

// TestLoginSearchAttributes: a login upserts only what changed since its
// start options or its last upsert — never the kind, the user once — and
// moves AuthflowStateChangedAt with every change of state or method, so
// `authflow flows --stuck-for` still finds a flow stuck in one.
func TestLoginSearchAttributes(t *testing.T) {
	t.Run("case=two calls: choose_method with the user, then done with the method", func(t *testing.T) {
		s := newScenario(t)
		s.startedByAPI(workflows.StatePassword)
		got := s.upserts()
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true, Reset: true}, nil)
		direct := code6
		direct.Method = workflows.MethodTOTP
		var pw, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(2*time.Second, workflows.UpdateVerify, direct, &vr)
		if v := s.run(loginIn); vr.err != nil || v.State != workflows.StateDone {
			t.Fatalf("verify err %v final %+v", vr.err, v)
		}
		want := [][]string{
			{"AuthflowUserID=u1", "AuthflowState=choose_method", "AuthflowStateChangedAt"},
			{"AuthflowState=done", "AuthflowMethod=totp", "AuthflowStateChangedAt"},
		}
		if !slices.EqualFunc(*got, want, slices.Equal) {
			t.Fatalf("upserts %s\nwant    %s", flatten(*got), flatten(want))
		}
	})
	t.Run("case=three calls: the challenge sets the method, done only the state", func(t *testing.T) {
		s := newScenario(t)
		s.startedByAPI(workflows.StatePassword)
		got := s.upserts()
		s.passwordOK(allOpts)
		s.sessionIssued()
		s.env.OnActivity(a.VerifyTOTP, mock.Anything, mock.Anything).Return(activities.Answer{OK: true, Counted: true, Reset: true}, nil)
		var pw, ch, vr answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.update(2*time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		// The same challenge again: nothing operators see changes.
		s.update(3*time.Second, workflows.UpdateChallenge, workflows.ChallengeInput{Method: workflows.MethodTOTP}, &ch)
		s.update(4*time.Second, workflows.UpdateVerify, code6, &vr)
		if v := s.run(loginIn); vr.err != nil || v.State != workflows.StateDone {
			t.Fatalf("verify err %v final %+v", vr.err, v)
		}
		want := [][]string{
			{"AuthflowUserID=u1", "AuthflowState=choose_method", "AuthflowStateChangedAt"},
			{"AuthflowState=challenge", "AuthflowMethod=totp", "AuthflowStateChangedAt"},
			{"AuthflowState=done", "AuthflowStateChangedAt"},
		}
		if !slices.EqualFunc(*got, want, slices.Equal) {
			t.Fatalf("upserts %s\nwant    %s", flatten(*got), flatten(want))
		}
	})
	t.Run("case=a passwordless flow started in choose_method upserts nothing until it ends", func(t *testing.T) {
		s := newScenario(t)
		s.startedByAPI(workflows.StateChooseMethod)
		got := s.upserts()
		in := loginIn
		in.Passwordless = true
		if v := s.run(in); v.State != workflows.StateExpired {
			t.Fatalf("final %+v", v)
		}
		want := [][]string{{"AuthflowState=expired", "AuthflowStateChangedAt"}}
		if !slices.EqualFunc(*got, want, slices.Equal) {
			t.Fatalf("upserts %s\nwant    %s", flatten(*got), flatten(want))
		}
	})
	t.Run("case=a flow started without the API's options gets the kind too", func(t *testing.T) {
		s := newScenario(t)
		got := s.upserts()
		s.passwordOK(allOpts)
		var pw answer
		s.update(time.Second, workflows.UpdateSubmitPassword, password, &pw)
		s.run(loginIn)
		want := [][]string{{"AuthflowKind=login", "AuthflowUserID=u1", "AuthflowState=choose_method", "AuthflowMethod=", "AuthflowStateChangedAt"},
			{"AuthflowState=expired", "AuthflowStateChangedAt"}}
		if !slices.EqualFunc(*got, want, slices.Equal) {
			t.Fatalf("upserts %s\nwant    %s", flatten(*got), flatten(want))
		}
	})
}
