package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
)

// TestLanguages: what a person reads comes in their language — the one
// they chose, else their browser's, else AUTHFLOW_DEFAULT_LOCALE (en here)
// (docs/api.md "Languages").
func TestLanguages(t *testing.T) {
	// emailCodeIn starts a login whose email code goes out with the
	// Accept-Language header given and returns the email.
	emailCodeIn := func(t *testing.T, a account, acceptLanguage string) channels.OutboxEntry {
		t.Helper()
		h := http.Header{}
		if acceptLanguage != "" {
			h.Set("Accept-Language", acceptLanguage)
		}
		r := apitest.Expect(t, env.DoHeaders(t, "POST", "/v1/login", "", map[string]string{"email": a.email, "password": pw}, h), 200)
		flow := r.Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		return env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == a.email && strings.Contains(e.Key, flow)
		})
	}
	t.Run("case=without a choice, the browser's language; without one, the default", func(t *testing.T) {
		a := newAccount(t, "lang-browser")
		a.withEmail(t)
		uk := emailCodeIn(t, a, "uk-UA,uk;q=0.9,en;q=0.5")
		if uk.Subject != "Ваш код authflow" || !strings.Contains(uk.Text, "Ваш код, щоб увійти:") {
			t.Fatalf("Ukrainian browser: %+v", uk)
		}
		en := emailCodeIn(t, a, "")
		if en.Subject != "Your authflow code" || !strings.Contains(en.Text, "Your code to sign in:") {
			t.Fatalf("no header: %+v", en)
		}
	})
	t.Run("case=the chosen language wins over the browser's, in codes and notices", func(t *testing.T) {
		u := newUser(t, "lang-chosen")
		apitest.ExpectError(t, u.do(t, "PUT", "/v1/me/locale", map[string]string{"locale": "fr"}), 400, "bad_request")
		if got := u.me(t).Str("locale"); got != "" {
			t.Fatalf("locale before a choice %q", got)
		}
		apitest.Expect(t, u.do(t, "PUT", "/v1/me/locale", map[string]string{"locale": "uk"}), 204)
		if got := u.me(t).Str("locale"); got != "uk" {
			t.Fatalf("locale %q", got)
		}
		u.withEmail(t)
		m := emailCodeIn(t, u.account, "en-US,en;q=0.9")
		if m.Subject != "Ваш код authflow" {
			t.Fatalf("the chosen language lost to the browser's: %+v", m)
		}
		// A notice of a factor change, rendered by the worker.
		apitest.Expect(t, u.do(t, "DELETE", "/v1/me/factors/email", nil), 204)
		n := env.LastOutbox(t, func(e channels.OutboxEntry) bool {
			return e.Channel == "email" && e.To == u.email && e.Subject == "Двоетапну автентифікацію через email вимкнено"
		})
		if !strings.Contains(n.Text, "Якщо це були не ви") {
			t.Fatalf("notice %+v", n)
		}
	})
}
