package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/client"
)

// TestTypedClientTOTPJourney walks a user from sign-up to sign-out through
// the generated client alone (package client, from api/openapi.yaml): the
// document, the server and the client agree on every call and answer of a
// TOTP login, and the typed answers carry what the server sent.
func TestTypedClientTOTPJourney(t *testing.T) {
	ctx := context.Background()
	c := env.Client(t)
	email := apitest.UniqueEmail("typed")
	created, err := c.AdminCreateUserWithResponse(ctx, client.AdminCreateUserJSONRequestBody{Email: email, Password: pw}, client.Bearer(env.AdminToken))
	if err != nil || created.JSON201 == nil {
		t.Fatalf("create user: %v %s", err, created.Body)
	}

	// Without 2FA the password alone signs in.
	first, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Email: email, Password: pw})
	if err != nil || first.JSON200 == nil || first.JSON200.State != "done" || first.JSON200.Session == nil {
		t.Fatalf("first login: %v %s", err, first.Body)
	}
	tok := first.JSON200.Session.Token

	// Turn the authenticator app on.
	started, err := c.StartEnrollmentWithResponse(ctx, client.EnrollRequest{Method: client.EnrollRequestMethodTotp}, client.Bearer(tok))
	if err != nil || started.JSON200 == nil || started.JSON200.Totp == nil {
		t.Fatalf("start enrollment: %v %s", err, started.Body)
	}
	setup, err := started.JSON200.Totp.AsTOTPSetup()
	if err != nil || setup.Secret == "" || len(setup.Secret) < 32 {
		t.Fatalf("totp setup %+v: %v", setup, err)
	}
	confirmCode := totpNow(t, setup.Secret, time.Now())
	var confirm client.ConfirmRequest
	if err := confirm.FromCodeConfirm(client.CodeConfirm{Code: confirmCode}); err != nil {
		t.Fatal(err)
	}
	done, err := c.ConfirmEnrollmentWithResponse(ctx, started.JSON200.FlowId, confirm, client.Bearer(tok))
	if err != nil || done.JSON200 == nil || done.JSON200.State != "done" {
		t.Fatalf("confirm: %v %s", err, done.Body)
	}

	// Now the password asks for the second step; the app's code answers
	// it straight from choose_method (a login in two calls).
	login, err := c.LoginWithResponse(ctx, client.LoginJSONRequestBody{Email: email, Password: pw})
	if err != nil || login.JSON200 == nil || login.JSON200.State != "choose_method" || login.JSON200.Session != nil {
		t.Fatalf("login with 2FA: %v %s", err, login.Body)
	}
	flow, secret := login.JSON200.FlowId, login.JSON200.FlowSecret
	answer := func(code string) *client.LoginVerifyResponse {
		t.Helper()
		var a client.AnswerRequest
		if err := a.FromCodeAnswer(client.CodeAnswer{Code: code, Method: ptr(client.CodeAnswerMethodTotp)}); err != nil {
			t.Fatal(err)
		}
		r, err := c.LoginVerifyWithResponse(ctx, flow, a, client.FlowSecret(secret))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// The code that confirmed the enrollment is used: refused, typed, and
	// no attempt.
	if r := answer(confirmCode); r.JSON400 == nil || r.JSON400.Error.Code != "code_already_used" {
		t.Fatalf("replayed confirm code: %d %s", r.StatusCode(), r.Body)
	}
	// Without the flow secret the flow does not exist.
	var a client.AnswerRequest
	_ = a.FromCodeAnswer(client.CodeAnswer{Code: "123456", Method: ptr(client.CodeAnswerMethodTotp)})
	if r, err := c.LoginVerifyWithResponse(ctx, flow, a, client.FlowSecret("not-the-secret")); err != nil || r.JSON404 == nil {
		t.Fatalf("wrong flow secret: %v %d %s", err, r.StatusCode(), r.Body)
	}
	verified := answer(totpNow(t, setup.Secret, time.Now().Add(30*time.Second)))
	if verified.JSON200 == nil || verified.JSON200.State != "done" || verified.JSON200.Session == nil {
		t.Fatalf("verify: %d %s", verified.StatusCode(), verified.Body)
	}
	tok2 := verified.JSON200.Session.Token

	me, err := c.GetMeWithResponse(ctx, client.Bearer(tok2))
	if err != nil || me.JSON200 == nil || me.JSON200.Email != email || !me.JSON200.TwoFactor.Enabled || !me.JSON200.TwoFactor.Totp.Enabled {
		t.Fatalf("me: %v %s", err, me.Body)
	}
	sessions, err := c.ListSessionsWithResponse(ctx, client.Bearer(tok2))
	if err != nil || sessions.JSON200 == nil {
		t.Fatalf("sessions: %v %s", err, sessions.Body)
	}
	current := 0
	for _, s := range sessions.JSON200.Sessions {
		if s.Current {
			current++
		}
	}
	if current != 1 {
		t.Fatalf("sessions %+v: want exactly one current", sessions.JSON200.Sessions)
	}

	out, err := c.LogoutWithResponse(ctx, client.Bearer(tok2))
	if err != nil || out.StatusCode() != http.StatusNoContent {
		t.Fatalf("logout: %v %d %s", err, out.StatusCode(), out.Body)
	}
	if after, err := c.GetMeWithResponse(ctx, client.Bearer(tok2)); err != nil || after.JSON401 == nil {
		t.Fatalf("me after logout: %v %d %s", err, after.StatusCode(), after.Body)
	}
}

func ptr[T any](v T) *T { return &v }
