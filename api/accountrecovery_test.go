package api_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// Account recovery end to end (docs/api.md "Account recovery").

func startRecovery(t *testing.T, email string) apitest.Response {
	t.Helper()
	return apitest.Expect(t, env.Do(t, "POST", "/v1/recovery", "", map[string]string{"email": email}), 202)
}

// recoveryCode reads the code a recovery emailed.
func recoveryCode(t *testing.T, email, flow string) channels.OutboxEntry {
	t.Helper()
	return env.LastOutbox(t, func(e channels.OutboxEntry) bool {
		return e.Channel == "email" && e.To == email && strings.Contains(e.Text, "recover your account") && strings.Contains(e.Text, flow)
	})
}

func recoveryDo(t *testing.T, flow, step string, body any) apitest.Response {
	t.Helper()
	return env.Do(t, "POST", "/v1/recovery/"+flow+"/"+step, "", body)
}

var cancelLink = regexp.MustCompile(`/recover/cancel\?token=([A-Za-z0-9_-]+)`)

func TestAccountRecovery(t *testing.T) {
	t.Run("case=an unknown address gets the same answer and no email", func(t *testing.T) {
		known := newAccount(t, "rec-known")
		a := startRecovery(t, known.email)
		b := startRecovery(t, apitest.UniqueEmail("rec-nobody"))
		if a.Str("state") != "email_sent" || b.Str("state") != "email_sent" || len(a.Body) != len(b.Body) ||
			len(a.Str("flow_secret")) != len(b.Str("flow_secret")) {
			t.Fatalf("answers differ: %s vs %s", a.Raw, b.Raw)
		}
		recoveryCode(t, known.email, a.Str("flow_id"))
		// The unknown address's flow takes answers like any other, all wrong.
		r := apitest.ExpectError(t, recoveryDo(t, b.Str("flow_id"), "verify", map[string]string{"code": "123456"}), 400, "invalid_code")
		if r.Get("error.attempts_left") != float64(4) {
			t.Fatalf("%s", r.Raw)
		}
	})
	t.Run("case=without 2FA: the code, a new password, every other session ended, a new session", func(t *testing.T) {
		u := newUser(t, "rec-plain")
		flow := startRecovery(t, u.email).Str("flow_id")
		m := recoveryCode(t, u.email, flow)
		if !strings.Contains(m.Text, "/recover?flow="+flow) || strings.Contains(m.Subject, digits6.FindString(m.Text)) {
			t.Fatalf("email %+v", m)
		}
		apitest.ExpectError(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "a new long password"}), 409, "wrong_state")
		code := digits6.FindString(m.Text)
		v := apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"code": code}), 200)
		if v.Str("state") != "set_password" {
			t.Fatalf("verify %s", v.Raw)
		}
		apitest.ExpectError(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "short"}), 400, "bad_request")
		d := apitest.Expect(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "a new long password"}), 200)
		if d.Str("state") != "done" || d.Str("session.token") == "" {
			t.Fatalf("password %s", d.Raw)
		}
		apitest.ExpectError(t, u.do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		apitest.ExpectError(t, env.Login(t, u.email, pw), 401, "invalid_credentials")
		apitest.Expect(t, env.Login(t, u.email, "a new long password"), 200)
		ev := apitest.Expect(t, env.Do(t, "GET", "/v1/me/events", d.Str("session.token"), nil), 200).Raw
		for _, typ := range []string{"recovery_started", "password_changed", "recovery_completed", "sessions_ended"} {
			if !strings.Contains(string(ev), `"`+typ+`"`) {
				t.Fatalf("no %s event: %s", typ, ev)
			}
		}
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == u.email && e.Subject == "Your authflow password was reset"
		})
		// Nothing secret in history: the code, the new password and the
		// session token travel sealed or derived, as at login.
		text := historyText(t, "recovery/"+flow)
		if !strings.Contains(text, "set-password") || !strings.Contains(text, u.id) {
			t.Fatal("the history decoder sees nothing: the check would pass vacuously")
		}
		for name, secret := range map[string]string{"code": code, "new password": "a new long password", "session token": d.Str("session.token"),
			"flow secret": env.FlowSecret(flow)} {
			if strings.Contains(text, secret) {
				t.Errorf("the %s appears in the recovery's history", name)
			}
		}
		recordHistory(t, "recovery/"+flow, "recovery-no-2fa")
	})
	t.Run("case=the flow secret is required, as at login", func(t *testing.T) {
		u := newAccount(t, "rec-secret")
		flow := startRecovery(t, u.email).Str("flow_id")
		apitest.ExpectError(t, env.DoHeaders(t, "GET", "/v1/recovery/"+flow, "", nil, nil), 404, "flow_not_found")
		apitest.ExpectError(t, env.DoHeaders(t, "POST", "/v1/recovery/"+flow+"/verify", "", map[string]string{"code": "123456"},
			http.Header{apitest.FlowSecretHeader: {"not-the-secret"}}), 404, "flow_not_found")
		apitest.Expect(t, env.Do(t, "GET", "/v1/recovery/"+flow, "", nil), 200)
	})
	t.Run("case=a recovery code answered straight from second_factor, then a new password", func(t *testing.T) {
		u := newUser(t, "rec-code")
		u.withTOTP(t)
		codes := apitest.Expect(t, u.do(t, "POST", "/v1/me/recovery-codes", map[string]any{}), 200).Get("codes").([]any)
		flow := startRecovery(t, u.email).Str("flow_id")
		v := apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"code": digits6.FindString(recoveryCode(t, u.email, flow).Text)}), 200)
		if strings.Join(methodTypes(v), ",") != "totp,recovery_code" {
			t.Fatalf("verify %s", v.Raw)
		}
		s := apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"method": "recovery_code", "code": codes[0].(string)}), 200)
		if s.Str("state") != "set_password" || s.Str("method") != "recovery_code" {
			t.Fatalf("recovery code %s", s.Raw)
		}
		apitest.Expect(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "a new long password"}), 200)
		recordHistory(t, "recovery/"+flow, "recovery-recovery-code")
	})
	t.Run("case=with 2FA: a second factor as at login, no phone offered, then a new password", func(t *testing.T) {
		u := newAccount(t, "rec-totp")
		u.withTOTP(t)
		u.withPhone(t, "+380501234567")
		flow := startRecovery(t, u.email).Str("flow_id")
		v := apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"code": digits6.FindString(recoveryCode(t, u.email, flow).Text)}), 200)
		if v.Str("state") != "second_factor" || strings.Join(methodTypes(v), ",") != "totp" {
			t.Fatalf("verify %s", v.Raw)
		}
		apitest.ExpectError(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "a new long password"}), 409, "wrong_state")
		apitest.ExpectError(t, recoveryDo(t, flow, "challenge", map[string]any{"method": "sms", "phone_id": "x", "confirm_downgrade": true}),
			409, "method_unavailable")
		apitest.Expect(t, recoveryDo(t, flow, "challenge", map[string]any{"method": "totp"}), 200)
		apitest.ExpectError(t, recoveryDo(t, flow, "verify", map[string]string{"code": otherCode(totpNow(t, u.totp, time.Now()))}), 400, "invalid_code")
		s := apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"code": totpNow(t, u.totp, time.Now())}), 200)
		if s.Str("state") != "set_password" || s.Str("method") != "totp" {
			t.Fatalf("second factor %s", s.Raw)
		}
		apitest.Expect(t, recoveryDo(t, flow, "password", map[string]string{"new_password": "a new long password"}), 200)
		recordHistory(t, "recovery/"+flow, "recovery-totp")
	})
}

func TestAccountRecoveryOfLostFactors(t *testing.T) {
	// lost starts a recovery of an account with TOTP and says every factor
	// is lost; it returns the flow and the notice's cancel token.
	lost := func(t *testing.T, a account) (string, string) {
		t.Helper()
		flow := startRecovery(t, a.email).Str("flow_id")
		apitest.Expect(t, recoveryDo(t, flow, "verify", map[string]string{"code": digits6.FindString(recoveryCode(t, a.email, flow).Text)}), 200)
		w := apitest.Expect(t, recoveryDo(t, flow, "lost-factors", map[string]any{}), 200)
		ready, err := time.Parse(time.RFC3339, w.Str("ready_at"))
		if w.Str("state") != "waiting" || err != nil || ready.Sub(time.Now()) < 71*time.Hour {
			t.Fatalf("lost factors %s", w.Raw)
		}
		n := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == a.email && strings.HasPrefix(e.Subject, "Someone is recovering")
		})
		m := cancelLink.FindStringSubmatch(n.Text)
		if m == nil {
			t.Fatalf("notice without a cancel link: %+v", n)
		}
		return flow, m[1]
	}
	waitState := func(t *testing.T, flow, want string) apitest.Response {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			r := apitest.Expect(t, env.Do(t, "GET", "/v1/recovery/"+flow, "", nil), 200)
			if r.Str("state") == want {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("state %s, want %s", r.Raw, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Run("case=one wait per account: a second recovery is 409 conflict, nobody is told again, and it may wait once the first is cancelled", func(t *testing.T) {
		a := newAccount(t, "rec-onewait")
		a.withTOTP(t)
		first, token := lost(t, a)
		second := startRecovery(t, a.email).Str("flow_id")
		apitest.Expect(t, recoveryDo(t, second, "verify", map[string]string{"code": digits6.FindString(recoveryCode(t, a.email, second).Text)}), 200)
		notices := func() int {
			n := 0
			for _, e := range env.Outbox.Entries() {
				if e.Channel == "email" && e.To == a.email && strings.HasPrefix(e.Subject, "Someone is recovering") {
					n++
				}
			}
			return n
		}
		before := notices()
		apitest.ExpectError(t, recoveryDo(t, second, "lost-factors", map[string]any{}), 409, "conflict")
		if g := apitest.Expect(t, env.Do(t, "GET", "/v1/recovery/"+second, "", nil), 200); g.Str("state") != "second_factor" {
			t.Fatalf("the refused recovery %s", g.Raw)
		}
		time.Sleep(300 * time.Millisecond) // a notice, were one sent, would be on its way
		if notices() != before {
			t.Fatalf("the refused wait told the account: %d notices, %d before", notices(), before)
		}
		apitest.Expect(t, env.Do(t, "POST", "/v1/recovery/cancel", "", map[string]string{"token": token}), 200)
		waitState(t, first, "cancelled")
		w := apitest.Expect(t, recoveryDo(t, second, "lost-factors", map[string]any{}), 200)
		if w.Str("state") != "waiting" {
			t.Fatalf("after the first was cancelled %s", w.Raw)
		}
	})
	t.Run("case=every channel is told, and the link cancels once", func(t *testing.T) {
		a := newAccount(t, "rec-link")
		a.withTOTP(t)
		a.withTelegram(t, 880101)
		flow, token := lost(t, a)
		env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "telegram" && e.To == "880101" && strings.Contains(e.Text, "/recover/cancel?token=")
		})
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/recovery/cancel", "", map[string]string{"token": "not-a-token"}), 404, "not_found")
		c := apitest.Expect(t, env.Do(t, "POST", "/v1/recovery/cancel", "", map[string]string{"token": token}), 200)
		if c.Str("state") != "cancelled" || c.Str("flow_id") != flow {
			t.Fatalf("cancel %s", c.Raw)
		}
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/recovery/cancel", "", map[string]string{"token": token}), 404, "not_found")
		r := waitState(t, flow, "cancelled")
		if r.Get("session") != nil {
			t.Fatalf("%s", r.Raw)
		}
		recordHistory(t, "recovery/"+flow, "recovery-lost-factors-cancelled")
	})
	t.Run("case=a login of the account cancels the wait", func(t *testing.T) {
		a := newAccount(t, "rec-login")
		a.withTOTP(t)
		flow, _ := lost(t, a)
		l := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, l, map[string]any{"method": "totp"}), 200)
		apitest.Expect(t, verify(t, l, totpNow(t, a.totp, time.Now())), 200)
		waitState(t, flow, "cancelled")
		recordHistory(t, "recovery/"+flow, "recovery-lost-factors-cancelled-by-login")
	})
	t.Run("case=an admin cancels, recorded as an event; a closed flow is not found", func(t *testing.T) {
		a := newUser(t, "rec-admin")
		a.withTOTP(t)
		flow, _ := lost(t, a.account)
		listed := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?kind=recovery&state=waiting&user_id="+url.QueryEscape(a.id), nil), 200)
		if !strings.Contains(string(listed.Raw), flow) {
			// Visibility is eventually consistent: the flow may take a moment.
			time.Sleep(time.Second)
			listed = apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?kind=recovery&state=waiting&user_id="+url.QueryEscape(a.id), nil), 200)
			if !strings.Contains(string(listed.Raw), flow) {
				t.Fatalf("a waiting recovery is not listed: %s", listed.Raw)
			}
		}
		c := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/flows/"+flow+"/cancel", nil), 200)
		if c.Str("state") != "cancelled" {
			t.Fatalf("%s", c.Raw)
		}
		waitState(t, flow, "cancelled")
		if a.eventTypes(t)["recovery_cancelled"] != 1 {
			t.Fatalf("events %v", a.eventTypes(t))
		}
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/flows/"+flow+"/cancel", nil), 404, "flow_not_found")
		recordHistory(t, "recovery/"+flow, "recovery-lost-factors-cancelled-by-admin")
	})
}
