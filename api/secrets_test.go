package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/security"
)

// TestNothingSecretInLogsOrDatabase reads what an attacker with the logs or
// a copy of the database would read after a login with a password, an
// emailed code and a use of the session (docs/security.md "Nothing secret
// in logs or history", "Sessions").
func TestNothingSecretInLogsOrDatabase(t *testing.T) {
	email := apitest.UniqueEmail("secrets")
	password := "pw-" + security.RandomToken()
	a := account{id: env.NewUser(t, email, password), email: email}
	a.withEmail(t)
	r := apitest.Expect(t, env.Login(t, email, password), 200)
	flow := r.Str("flow_id")
	apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
	code := digits6.FindString(outboxTo(t, "email", email).Text)
	if code == "" {
		t.Fatal("no code in the email")
	}
	token := apitest.Expect(t, verify(t, flow, code), 200).Str("session.token")
	if token == "" {
		t.Fatal("the login gave no session token")
	}
	apitest.Expect(t, env.Do(t, "GET", "/v1/me", token, nil), 200)

	t.Run("case=the logs hold no password, code or session token", func(t *testing.T) {
		logs := env.Logs()
		if !strings.Contains(logs, flow) {
			t.Fatal("the logs never name the flow: the check would pass vacuously")
		}
		for what, secret := range map[string]string{"password": password, "session token": token} {
			if strings.Contains(logs, secret) {
				t.Errorf("the %s appears in the logs", what)
			}
		}
		// Six digits stand alone, not inside an id, a number or a
		// duration's fraction.
		if loose := regexp.MustCompile(`(^|[^0-9A-Za-z.])` + code + `($|[^0-9A-Za-z])`); loose.MatchString(logs) {
			t.Errorf("the emailed code %s appears in the logs: %q", code, loose.FindString(logs))
		}
	})

	t.Run("case=the database holds the session token's hash, never the token or the password", func(t *testing.T) {
		path, ok := strings.CutPrefix(env.Config.DatabaseURL, "sqlite://")
		if !ok {
			t.Skip("the stack's store is not a SQLite file: the file is what this case reads")
		}
		var db []byte
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			db = append(db, b...)
		}
		if !bytes.Contains(db, security.HashToken(token)) {
			t.Fatal("the session token's hash is not in the database files: the check would pass vacuously")
		}
		for what, secret := range map[string]string{"password": password, "session token": token} {
			if bytes.Contains(db, []byte(secret)) {
				t.Errorf("the %s is in the database files", what)
			}
		}
	})
}

// TestSessionCookiesBehindHTTPS: behind an https public URL the session
// cookie is Secure, HttpOnly and SameSite=Lax, and the CSRF cookie Secure
// (docs/security.md "Sessions"); behind http neither is Secure, or a
// browser would drop them.
func TestSessionCookiesBehindHTTPS(t *testing.T) {
	login := func(t *testing.T, publicURL string) map[string]*http.Cookie {
		t.Helper()
		email := apitest.UniqueEmail("cookies")
		env.NewUser(t, email, pw)
		h := handlerWith(func(c *config.Config) { c.PublicURL = publicURL })
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/login", strings.NewReader(`{"email":"`+email+`","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("login: %d %s", rec.Code, rec.Body)
		}
		cookies := map[string]*http.Cookie{}
		for _, c := range rec.Result().Cookies() {
			cookies[c.Name] = c
		}
		for _, name := range []string{"authflow_session", "authflow_csrf"} {
			if cookies[name] == nil || cookies[name].Value == "" {
				t.Fatalf("the login set no %s cookie: %v", name, rec.Result().Header.Values("Set-Cookie"))
			}
		}
		return cookies
	}
	t.Run("case=behind https the session cookie is Secure, HttpOnly and SameSite=Lax, the csrf cookie Secure", func(t *testing.T) {
		c := login(t, "https://panel.example.com")
		s := c["authflow_session"]
		if !s.Secure || !s.HttpOnly || s.SameSite != http.SameSiteLaxMode {
			t.Errorf("session cookie %q: Secure %v, HttpOnly %v, SameSite %v", s.Raw, s.Secure, s.HttpOnly, s.SameSite)
		}
		if !c["authflow_csrf"].Secure {
			t.Errorf("csrf cookie %q is not Secure", c["authflow_csrf"].Raw)
		}
	})
	t.Run("case=behind http no cookie is Secure", func(t *testing.T) {
		c := login(t, "http://localhost:8080")
		for name, k := range c {
			if k.Secure {
				t.Errorf("%s cookie %q is Secure behind http", name, k.Raw)
			}
		}
		if !c["authflow_session"].HttpOnly {
			t.Errorf("session cookie %q is not HttpOnly", c["authflow_session"].Raw)
		}
	})
}

// TestSessionTokenIsBoundToTheFlowSecret: the secret key and the flow id,
// which shows in logs and the Temporal UI, do not make a session token;
// the flow's secret, which only its client holds, does (docs/security.md
// "Sessions").
func TestSessionTokenIsBoundToTheFlowSecret(t *testing.T) {
	email := apitest.UniqueEmail("bound")
	env.NewUser(t, email, pw)
	start := apitest.Expect(t, env.Login(t, email, pw), 200)
	flow, secret, token := start.Str("flow_id"), start.Str("flow_secret"), start.Str("session.token")
	if start.Str("state") != "done" || token == "" || secret == "" {
		t.Fatalf("login %s", start.Raw)
	}
	key := env.Config.SecretKey
	t.Run("case=the token is the one the flow secret makes, and the flow answers it again to its secret", func(t *testing.T) {
		if token != security.SessionToken(key, flow, secret) {
			t.Fatal("the answered token is not HMAC(key, flow id, flow secret)")
		}
		again := apitest.Expect(t, env.DoHeaders(t, "GET", "/v1/login/"+flow, "", nil, http.Header{"X-Flow-Secret": {secret}}), 200)
		if again.Str("session.token") != token {
			t.Fatalf("the done flow answered %s", again.Raw)
		}
		apitest.Expect(t, env.Do(t, "GET", "/v1/me", token, nil), 200)
	})
	t.Run("case=the key and the flow id without the flow secret make no token that works", func(t *testing.T) {
		for _, forged := range []string{security.SessionToken(key, flow, ""), security.SessionToken(key, flow, security.RandomToken())} {
			apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", forged, nil), 401, "unauthorized")
		}
	})
}
