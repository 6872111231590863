package api_test

import (
	"strings"
	"testing"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// TestRecoveryCodes: ten single-use codes, shown once, usable at login
// like any other second step, never downgrading (docs/api.md "Recovery
// codes").
func TestRecoveryCodes(t *testing.T) {
	// withCodes is an account with TOTP on and a fresh set of codes.
	withCodes := func(t *testing.T, prefix string) (user, []string) {
		t.Helper()
		u := newUser(t, prefix) // signed in before 2FA: a fresh session, no reauth needed
		u.withTOTP(t)
		r := apitest.Expect(t, u.do(t, "POST", "/v1/me/recovery-codes", map[string]any{}), 200)
		var codes []string
		for _, c := range r.Get("codes").([]any) {
			codes = append(codes, c.(string))
		}
		if len(codes) != 10 {
			t.Fatalf("answer %s", r.Raw)
		}
		return u, codes
	}
	loginWith := func(t *testing.T, u user, code string) apitest.Response {
		t.Helper()
		flow := u.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "recovery_code"}), 200)
		return verify(t, flow, code)
	}

	t.Run("case=without a second factor no codes are made", func(t *testing.T) {
		u := newUser(t, "rc-no2fa")
		apitest.ExpectError(t, u.do(t, "POST", "/v1/me/recovery-codes", map[string]any{}), 409, "conflict")
		if u.me(t).Get("recovery_codes.remaining") != float64(0) {
			t.Fatal("codes were stored")
		}
	})
	t.Run("case=a code signs in once, as typed in any case with spaces, and never downgrades", func(t *testing.T) {
		u, codes := withCodes(t, "rc-login")
		if got := u.me(t).Get("recovery_codes.remaining"); got != float64(10) {
			t.Fatalf("remaining %v", got)
		}
		r := u.start(t)
		types := methodTypes(r)
		if strings.Join(types, ",") != "totp,recovery_code" {
			t.Fatalf("methods %v", types)
		}
		typed := strings.ToUpper(strings.ReplaceAll(codes[0], "-", " "))
		v := apitest.Expect(t, loginWith(t, u, typed), 200)
		if v.Str("state") != "done" || v.Get("downgrade") != nil || v.Str("method") != "recovery_code" {
			t.Fatalf("verify %s", v.Raw)
		}
		// Used: the same code again is a wrong answer, an attempt.
		w := apitest.ExpectError(t, loginWith(t, u, codes[0]), 400, "invalid_code")
		if w.Get("error.attempts_left") != float64(4) {
			t.Fatalf("a used code: %s", w.Raw)
		}
		if got := u.me(t).Get("recovery_codes.remaining"); got != float64(9) {
			t.Fatalf("remaining %v after one use", got)
		}
		if u.me(t).Get("two_factor.totp.enabled") != true {
			t.Fatal("a recovery code turned 2FA off")
		}
	})
	t.Run("case=a wrong code is an attempt and a 6-digit code a bad request", func(t *testing.T) {
		u, _ := withCodes(t, "rc-wrong")
		flow := u.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "recovery_code"}), 200)
		r := apitest.ExpectError(t, verify(t, flow, "aaaaa-bbbbb"), 400, "invalid_code")
		if r.Get("error.attempts_left") != float64(4) {
			t.Fatalf("%s", r.Raw)
		}
		apitest.ExpectError(t, verify(t, flow, "123456"), 400, "bad_request")
		apitest.ExpectError(t, verify(t, flow, "not a code!"), 400, "bad_request")
	})
	t.Run("case=a new set replaces the old one and every channel is told", func(t *testing.T) {
		u, old := withCodes(t, "rc-again")
		r := apitest.Expect(t, u.do(t, "POST", "/v1/me/recovery-codes", map[string]any{}), 200)
		if r.Get("codes").([]any)[0] == old[0] {
			t.Fatal("the same codes again")
		}
		apitest.ExpectError(t, loginWith(t, u, old[1]), 400, "invalid_code")
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == u.email && e.Subject == "New recovery codes"
		})
	})
	t.Run("case=two or fewer codes left: the owner is told to make new ones", func(t *testing.T) {
		u, codes := withCodes(t, "rc-low")
		for _, c := range codes[:8] {
			apitest.Expect(t, loginWith(t, u, c), 200)
		}
		n := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == u.email && strings.Contains(e.Subject, "running out")
		})
		if !strings.Contains(n.Text, "2 remain") {
			t.Fatalf("notice %+v", n)
		}
	})
}
