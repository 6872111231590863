package api_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// TestSecondStepHardCap: the 20th wrong answer in a row locks the account's
// second step for good, tells the owner, and only a password change or an
// admin's unlock ends it (docs/api.md "Hard cap").
func TestSecondStepHardCap(t *testing.T) {
	// lockedAt19 is an account with 19 wrong answers in a row on record
	// and no back-off running (as after waiting out the last one).
	lockedAt19 := func(t *testing.T, prefix string) (account, string) {
		t.Helper()
		email := apitest.UniqueEmail(prefix)
		id := env.NewUser(t, email, pw)
		session := env.SessionToken(t, email, pw) // signed in before 2FA was on
		a := account{id: id, email: email}
		a.withTOTP(t)
		for range 19 {
			if _, err := env.Store.AddFailure(context.Background(), "2fa", id, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		return a, session
	}
	// hitCap gives the 20th wrong answer and checks what it did.
	hitCap := func(t *testing.T, a account) {
		t.Helper()
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		r := apitest.ExpectError(t, verify(t, flow, wrongTOTP(t, a)), 400, "invalid_code")
		if r.Get("error.attempts_left") != float64(0) {
			t.Fatalf("the capping answer: %s", r.Raw)
		}
		// Locked: even the right code of a new flow is refused, and the
		// answer says it is for good.
		next := a.start(t).Str("flow_id")
		r = apitest.ExpectError(t, challenge(t, next, map[string]any{"method": "totp"}), 429, "rate_limited")
		if r.Get("error.locked") != true || !strings.Contains(r.Str("error.message"), "password is changed") {
			t.Fatalf("the locked answer does not say so: %s", r.Raw)
		}
		notice := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == a.email && strings.Contains(e.Subject, "locked")
		})
		if !strings.Contains(notice.Text, "20 wrong") {
			t.Fatalf("notice %+v", notice)
		}
	}
	t.Run("case=the 20th wrong answer locks for good until an admin unlocks", func(t *testing.T) {
		a, _ := lockedAt19(t, "cap-admin")
		hitCap(t, a)
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/unlock", nil), 204)
		flow := a.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		apitest.Expect(t, verify(t, flow, totpNow(t, a.totp, time.Now())), 200)
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users/no-such-user/unlock", nil), 404, "not_found")
	})
	t.Run("case=a password change unlocks it", func(t *testing.T) {
		a, session := lockedAt19(t, "cap-password")
		hitCap(t, a)
		apitest.Expect(t, env.Do(t, "POST", "/v1/me/password", session,
			map[string]string{"current_password": pw, "new_password": pw + " changed"}), 204)
		flow := apitest.Expect(t, env.Login(t, a.email, pw+" changed"), 200).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
	})
}

// wrongTOTP is a 6-digit code that is not the account's current one.
func wrongTOTP(t *testing.T, a account) string {
	t.Helper()
	right := totpNow(t, a.totp, time.Now())
	for _, c := range []string{"000000", "111111", "222222"} {
		if c != right && c != totpNow(t, a.totp, time.Now().Add(-30*time.Second)) && c != totpNow(t, a.totp, time.Now().Add(30*time.Second)) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}
