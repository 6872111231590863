package api_test

import (
	"context"
	"slices"
	"testing"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
)

// TestRemovedFactorsLeaveTheNextLogin: removing a factor takes effect at
// once for new logins (docs/security.md "Factor changes"): the next
// login's choose_method no longer offers it.
func TestRemovedFactorsLeaveTheNextLogin(t *testing.T) {
	ctx := context.Background()
	offered := func(t *testing.T, u user) []string {
		t.Helper()
		got := methodTypes(u.start(t))
		slices.Sort(got)
		return slices.Compact(got)
	}
	want := func(t *testing.T, u user, types ...string) {
		t.Helper()
		slices.Sort(types)
		if got := offered(t, u); !slices.Equal(got, types) {
			t.Fatalf("the next login offers %v, want %v", got, types)
		}
	}

	t.Run("case=email, Telegram, a passkey and a phone removed one by one leave the next login each time", func(t *testing.T) {
		u := newUser(t, "removal") // its session is from before 2FA: recent, no re-auth needed
		u.withTOTP(t)
		u.withEmail(t)
		u.withTelegram(t, 7301)
		phoneID := u.withPhone(t, "+380501234567")
		cred, err := env.Store.AddCredential(ctx, store.Credential{UserID: u.id, CredentialID: []byte(security.RandomToken()),
			Data: []byte("{}"), Name: "test key"})
		if err != nil {
			t.Fatal(err)
		}
		all := methodTypes(u.start(t))
		for _, m := range []string{"totp", "email", "telegram", "webauthn", "sms", "call"} {
			if !slices.Contains(all, m) {
				t.Fatalf("before any removal the login offers %v, without %s", all, m)
			}
		}

		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/factors/email", nil), 204)
		want(t, u, "totp", "telegram", "webauthn", "sms", "call")
		apitest.Expect(t, u.do(t, "PUT", "/v1/me/factors/telegram", map[string]any{"enabled": false}), 204)
		want(t, u, "totp", "webauthn", "sms", "call")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/webauthn/"+cred.ID, nil), 204)
		want(t, u, "totp", "sms", "call")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/phones/"+phoneID, nil), 204)
		want(t, u, "totp")
	})

	t.Run("case=unlinking the last Telegram chat leaves the next login", func(t *testing.T) {
		u := newUser(t, "unlink")
		u.withTOTP(t)
		u.withTelegram(t)
		link, err := env.Store.LinkTelegram(ctx, u.id, 7302, "user7302")
		if err != nil {
			t.Fatal(err)
		}
		want(t, u, "totp", "telegram")
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/telegram-accounts/"+link.ID, nil), 204)
		want(t, u, "totp")
	})
}
