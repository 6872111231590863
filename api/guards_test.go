package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/security"
)

// The cross-site guard, the session-bound CSRF token, HSTS, /metrics when
// off, and the names users and Telegram supply (issue 14, items 7 and 8).

// handlerWith is the stack's API with its configuration edited: a second
// router over the same store, Temporal client and worker.
func handlerWith(edit func(*config.Config)) http.Handler {
	srv := &api.Server{Cfg: env.API.Cfg, Store: env.API.Store, Temporal: env.API.Temporal, Hasher: env.API.Hasher,
		Sealer: env.API.Sealer, Outbox: env.API.Outbox, Bot: env.API.Bot, Log: env.API.Log, SessionTTL: env.API.SessionTTL,
		Metrics: env.API.Metrics, Limits: env.API.Limits}
	edit(&srv.Cfg)
	return srv.Handler()
}

// stackHost is the host:port of the stack's public URL (localhost:PORT),
// while env.URL names it 127.0.0.1:PORT.
func stackHost() string { return strings.TrimPrefix(env.Config.PublicURL, "http://") }

func TestCrossSiteGuardComparesWithThePublicOrigin(t *testing.T) {
	// POST /v1/logout without a session: 401 once past the guard, 403 from
	// the guard.
	post := func(t *testing.T, host string, headers map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", env.URL+"/v1/logout", nil)
		if host != "" {
			req.Host = host
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	port := env.URL[strings.LastIndex(env.URL, ":")+1:]
	t.Run("case=origin null is refused", func(t *testing.T) {
		if s := post(t, "", map[string]string{"Origin": "null"}); s != 403 {
			t.Fatalf("status %d", s)
		}
		if s := post(t, "", map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); s != 403 {
			t.Fatalf("status %d (with Sec-Fetch-Site: same-origin)", s)
		}
	})
	t.Run("case=an https origin for the http public URL is refused (scheme mismatch)", func(t *testing.T) {
		if s := post(t, stackHost(), map[string]string{"Origin": "https://" + stackHost()}); s != 403 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=an origin equal to the Host header but not the public URL is refused", func(t *testing.T) {
		if s := post(t, "", map[string]string{"Origin": "http://127.0.0.1:" + port}); s != 403 {
			t.Fatalf("status %d (Host 127.0.0.1:%s)", s, port)
		}
		if s := post(t, "attacker.example", map[string]string{"Origin": "http://attacker.example"}); s != 403 {
			t.Fatalf("status %d (Host attacker.example, as a rebound DNS name sends it)", s)
		}
	})
	t.Run("case=an origin with another port, a path or user info is refused", func(t *testing.T) {
		for _, o := range []string{"http://localhost:1", "http://localhost", env.Config.PublicURL + "/login", "http://u@" + stackHost(), env.Config.PublicURL + ".evil.example"} {
			if s := post(t, stackHost(), map[string]string{"Origin": o}); s != 403 {
				t.Errorf("Origin %q: status %d", o, s)
			}
		}
	})
	t.Run("case=the public origin passes, whatever its case", func(t *testing.T) {
		for _, o := range []string{env.Config.PublicURL, strings.ToUpper(env.Config.PublicURL)} {
			if s := post(t, "", map[string]string{"Origin": o, "Sec-Fetch-Site": "same-origin"}); s != 401 {
				t.Errorf("Origin %q: status %d, want 401 from past the guard", o, s)
			}
		}
	})
	t.Run("case=requests without Origin and Sec-Fetch-Site (curl, servers) pass", func(t *testing.T) {
		if s := post(t, "", nil); s != 401 {
			t.Fatalf("status %d, want 401 from past the guard", s)
		}
	})
	t.Run("case=the scheme's default port is the same origin", func(t *testing.T) {
		h := handlerWith(func(c *config.Config) { c.PublicURL = "https://Panel.Example.com:443" })
		for origin, want := range map[string]int{
			"https://panel.example.com":     401,
			"https://panel.example.com:443": 401,
			"http://panel.example.com":      403,
			"https://panel.example.com:444": 403,
		} {
			req := httptest.NewRequest("POST", "/v1/logout", nil)
			req.Header.Set("Origin", origin)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != want {
				t.Errorf("Origin %q: status %d, want %d", origin, rec.Code, want)
			}
		}
	})
}

func TestCSRFTokenIsBoundToTheSession(t *testing.T) {
	email := apitest.UniqueEmail("csrf-bound")
	env.NewUser(t, email, pw)
	cookies := func(r apitest.Response) (session, csrf string) {
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			switch c.Name {
			case "authflow_session":
				session = c.Value
			case "authflow_csrf":
				csrf = c.Value
			}
		}
		if session == "" || csrf == "" {
			t.Fatalf("login set no session or CSRF cookie: %v", r.Header)
		}
		return session, csrf
	}
	session, csrf := cookies(apitest.Expect(t, env.Login(t, email, pw), 200))
	_, otherCSRF := cookies(apitest.Expect(t, env.Login(t, email, pw), 200))
	do := func(t *testing.T, method, path, cookie, header string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, env.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "authflow_session", Value: session})
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "authflow_csrf", Value: cookie})
		}
		if header != "" {
			req.Header.Set("X-CSRF-Token", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	t.Run("case=a planted csrf cookie with a matching header is refused on a cookie session", func(t *testing.T) {
		planted := security.RandomToken()
		if s := do(t, "DELETE", "/v1/me/sessions", planted, planted).StatusCode; s != 401 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=another session's csrf token is refused", func(t *testing.T) {
		if otherCSRF == csrf {
			t.Fatal("two sessions got the same CSRF token")
		}
		if s := do(t, "DELETE", "/v1/me/sessions", otherCSRF, otherCSRF).StatusCode; s != 401 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=the csrf cookie the login set is HMAC(key, session token) and passes", func(t *testing.T) {
		if csrf != security.CSRFToken(env.Config.SecretKey, session) {
			t.Fatal("the CSRF cookie is not the session's HMAC")
		}
		if s := do(t, "DELETE", "/v1/me/sessions", csrf, csrf).StatusCode; s != 204 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=the settings page gives an older session its bound csrf cookie", func(t *testing.T) {
		resp := do(t, "GET", "/settings", security.RandomToken(), "")
		var got string
		for _, c := range resp.Cookies() {
			if c.Name == "authflow_csrf" {
				got = c.Value
			}
		}
		if resp.StatusCode != 200 || got != csrf {
			t.Fatalf("status %d, csrf cookie %q, want the session's", resp.StatusCode, got)
		}
	})
}

func TestHSTSAndMetricsOff(t *testing.T) {
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec
	}
	t.Run("case=HSTS is sent when the public URL is https", func(t *testing.T) {
		h := handlerWith(func(c *config.Config) { c.PublicURL = "https://panel.example.com" })
		for _, path := range []string{"/login", "/v1/no-such-endpoint"} {
			if got := get(h, path).Header().Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
				t.Errorf("%s: Strict-Transport-Security %q", path, got)
			}
		}
	})
	t.Run("case=no HSTS when the public URL is http", func(t *testing.T) {
		r := env.Do(t, "GET", "/v1/no-such-endpoint", "", nil)
		if got := r.Header.Get("Strict-Transport-Security"); got != "" || r.Status != 404 {
			t.Fatalf("status %d, Strict-Transport-Security %q", r.Status, got)
		}
	})
	t.Run("case=with AUTHFLOW_METRICS=off /metrics is 404", func(t *testing.T) {
		if rec := get(handlerWith(func(*config.Config) {}), "/metrics"); rec.Code != 200 {
			t.Fatalf("metrics on: status %d", rec.Code)
		}
		if rec := get(handlerWith(func(c *config.Config) { c.MetricsOff = true }), "/metrics"); rec.Code != 404 {
			t.Fatalf("metrics off: status %d", rec.Code)
		}
	})
}

func TestNamesAreStoredWithoutControlOrBidiCharacters(t *testing.T) {
	t.Run("case=a device name with U+202E and a control character is stored stripped", func(t *testing.T) {
		u := newUser(t, "names-passkey")
		p := newPasskey(u.id)
		r := started(t, u.enroll(t, map[string]any{"method": "webauthn", "name": " Lap\u202Etop\x07 "}), "webauthn")
		cred, _ := p.attest(t, r)
		d := apitest.Expect(t, u.confirm(t, r.Str("flow_id"), map[string]any{"credential": cred}), 200)
		if d.Str("device.name") != "Laptop" {
			t.Fatalf("confirm %s", d.Raw)
		}
		creds, err := env.Store.ListCredentials(context.Background(), u.id)
		if err != nil || len(creds) != 1 || creds[0].Name != "Laptop" {
			t.Fatalf("stored %+v %v", creds, err)
		}
	})
	t.Run("case=a device name of nothing but such characters is refused", func(t *testing.T) {
		u := newUser(t, "names-empty")
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "webauthn", "name": "\u202E\x07\u2066"}), 400, "bad_request")
	})
	t.Run("case=a Telegram username with U+202E and a control character is stored stripped", func(t *testing.T) {
		u := newUser(t, "names-telegram")
		chat := newChat()
		r := started(t, u.enroll(t, map[string]any{"method": "telegram"}), "telegram")
		telegramStart(t, chat, "ali\u202Ece\x07", r.Str("telegram.token"))
		g := u.waitEnroll(t, r.Str("flow_id"), "done")
		if g.Str("telegram_account.username") != "alice" {
			t.Fatalf("GET %s", g.Raw)
		}
		tg, err := env.Store.ListTelegram(context.Background(), u.id)
		if err != nil || len(tg) != 1 || tg[0].Username != "alice" {
			t.Fatalf("stored %+v %v", tg, err)
		}
	})
}
