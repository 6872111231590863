package api_test

import (
	"testing"

	"github.com/authflow/authflow/api/apitest"
)

func TestPasswordlessLogin(t *testing.T) {
	u := newUser(t, "passwordless")
	key := newPasskey(u.id)
	dev := u.enrollPasskey(t, key, "Phone")
	devID := dev["id"].(string)

	begin := func(t *testing.T) apitest.Response {
		t.Helper()
		r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/passkey", "", map[string]any{}), 200)
		if r.Str("state") != "challenge" || r.Str("method") != "webauthn" || r.Get("webauthn.publicKey.challenge") == nil {
			t.Fatalf("passkey login %s", r.Raw)
		}
		if uv := r.Get("webauthn.publicKey.userVerification"); uv != "required" {
			t.Fatalf("passwordless must require user verification, got %v", uv)
		}
		return r
	}

	t.Run("case=a passkey not marked passwordless is invalid_assertion and an attempt", func(t *testing.T) {
		r := begin(t)
		v := apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+r.Str("flow_id")+"/verify", "", map[string]any{"credential": key.assert(t, r)}), 400, "invalid_assertion")
		if v.Get("error.attempts_left") != 4.0 {
			t.Fatalf("attempts_left %s", v.Raw)
		}
	})
	t.Run("case=marked passwordless, the passkey alone signs in its owner", func(t *testing.T) {
		apitest.Expect(t, u.do(t, "PATCH", "/v1/me/webauthn/"+devID, map[string]any{"passwordless": true}), 204)
		r := begin(t)
		flow := r.Str("flow_id")
		v := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]any{"credential": key.assert(t, r)}), 200)
		if v.Str("state") != "done" || v.Str("session.token") == "" {
			t.Fatalf("verify %s", v.Raw)
		}
		me := apitest.Expect(t, env.Do(t, "GET", "/v1/me", v.Str("session.token"), nil), 200)
		if me.Str("id") != u.id {
			t.Fatalf("signed in as %s, want %s", me.Str("id"), u.id)
		}
		devices := me.Get("two_factor.webauthn.devices").([]any)
		if len(devices) != 1 || devices[0].(map[string]any)["last_used_at"] == nil {
			t.Fatalf("last use not stored: %v", devices)
		}
		// The challenge was single use.
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]any{"credential": key.assert(t, r)}), 409, "wrong_state")
		recordHistory(t, "login/"+flow, "login-passwordless")
	})
	t.Run("case=an assertion over another challenge is refused", func(t *testing.T) {
		r := begin(t)
		other := begin(t)
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+r.Str("flow_id")+"/verify", "", map[string]any{"credential": key.assert(t, other)}), 400, "invalid_assertion")
	})
	t.Run("case=a passwordless flow takes no password", func(t *testing.T) {
		r := begin(t)
		apitest.ExpectError(t, challenge(t, r.Str("flow_id"), map[string]any{"method": "totp"}), 409, "method_unavailable")
	})
}
