package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/rules"
)

// env is the one stack shared by every test of this binary.
var env *apitest.Env

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e, err := apitest.Start(ctx, apitest.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start test stack:", err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	e.Close()
	os.Exit(code)
}

const pw = "correct horse battery"

func TestAdminUsers(t *testing.T) {
	t.Run("case=create user answers id and normalized email", func(t *testing.T) {
		email := apitest.UniqueEmail("Admin")
		r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users", map[string]string{"email": "  " + strings.ToUpper(email) + " ", "password": pw}), 201)
		if r.Str("id") == "" || r.Str("email") != strings.ToLower(email) {
			t.Fatalf("got %s", r.Raw)
		}
	})
	t.Run("case=email taken is conflict, whatever the case", func(t *testing.T) {
		email := apitest.UniqueEmail("taken")
		env.NewUser(t, email, pw)
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users", map[string]string{"email": strings.ToUpper(email), "password": pw}), 409, "conflict")
	})
	t.Run("case=bad email or short password is bad request", func(t *testing.T) {
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users", map[string]string{"email": "not-an-email", "password": pw}), 400, "bad_request")
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users", map[string]string{"email": apitest.UniqueEmail("short"), "password": "1234"}), 400, "bad_request")
	})
	t.Run("case=no admin token is unauthorized", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/admin/users", "", map[string]string{"email": apitest.UniqueEmail("x"), "password": pw}), 401, "unauthorized")
	})
	t.Run("case=user session instead of admin token is unauthorized", func(t *testing.T) {
		email := apitest.UniqueEmail("notadmin")
		env.NewUser(t, email, pw)
		tok := env.SessionToken(t, email, pw)
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/admin/flows", tok, nil), 401, "unauthorized")
	})
	t.Run("case=admin reads a user, adds a card and a phone", func(t *testing.T) {
		id := env.NewUser(t, apitest.UniqueEmail("seed"), pw)
		card := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+id+"/bank-cards", map[string]string{"brand": "visa", "last4": "4242"}), 201)
		if card.Get("linked") != true || card.Str("last4") != "4242" {
			t.Fatalf("card %s", card.Raw)
		}
		ph := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+id+"/phones", map[string]string{"number": "+380501234567"}), 201)
		if ph.Str("number_masked") != "+380*******67" || ph.Str("kind") != "ukrainian" || ph.Get("verified") != true {
			t.Fatalf("phone %s", ph.Raw)
		}
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users/"+id+"/phones", map[string]string{"number": "0501234567"}), 400, "bad_request")
		u := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/users/"+id, nil), 200)
		if n := len(u.Get("bank_cards").([]any)); n != 1 {
			t.Fatalf("bank cards %d: %s", n, u.Raw)
		}
		apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/users/nope", nil), 404, "not_found")
	})
}

func TestPasswordLogin(t *testing.T) {
	email := apitest.UniqueEmail("login")
	id := env.NewUser(t, email, pw)

	t.Run("case=account without 2FA gets done and a session", func(t *testing.T) {
		r := apitest.Expect(t, env.Login(t, " "+strings.ToUpper(email), pw), 200)
		if r.Str("state") != "done" || r.Str("flow_id") == "" || r.Str("session.token") == "" || r.Str("session.expires_at") == "" {
			t.Fatalf("got %s", r.Raw)
		}
		var cookie bool
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "authflow_session=") && strings.Contains(c, "HttpOnly") && strings.Contains(c, "SameSite=Lax") {
				cookie = true
			}
		}
		if !cookie {
			t.Fatalf("no HttpOnly SameSite=Lax session cookie: %v", r.Header.Values("Set-Cookie"))
		}
		me := apitest.Expect(t, env.Do(t, "GET", "/v1/me", r.Str("session.token"), nil), 200)
		if me.Str("id") != id || me.Str("email") != email || me.Get("two_factor.enabled") != false {
			t.Fatalf("me %s", me.Raw)
		}
		// The flow keeps answering with its session while it is retained.
		st := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+r.Str("flow_id"), "", nil), 200)
		if st.Str("state") != "done" || st.Str("session.token") != r.Str("session.token") || st.Get("method") != "" {
			t.Fatalf("state %s", st.Raw)
		}
	})
	t.Run("case=wrong password and unknown email are the same invalid_credentials", func(t *testing.T) {
		a := apitest.ExpectError(t, env.Login(t, email, "wrong password"), 401, "invalid_credentials")
		b := apitest.ExpectError(t, env.Login(t, apitest.UniqueEmail("nobody"), "wrong password"), 401, "invalid_credentials")
		if a.Get("error.message") != b.Get("error.message") {
			t.Fatalf("answers differ: %s vs %s", a.Raw, b.Raw)
		}
	})
	t.Run("case=missing fields and malformed JSON are bad requests", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login", "", map[string]string{"email": email}), 400, "bad_request")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login", "", `{"email":`), 400, "bad_request")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login", "", `{"email":1,"password":2}`), 400, "bad_request")
	})
	t.Run("case=body over 64 KiB is payload_too_large", func(t *testing.T) {
		big := `{"email":"a@b.c","password":"` + strings.Repeat("x", 70<<10) + `"}`
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login", "", big), 413, "payload_too_large")
	})
	t.Run("case=unknown flow is flow_not_found", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/login/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", nil), 404, "flow_not_found")
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/verify", "", map[string]string{"code": "123456"}), 404, "flow_not_found")
	})
	t.Run("case=verify on a done flow is wrong_state", func(t *testing.T) {
		r := apitest.Expect(t, env.Login(t, email, pw), 200)
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/login/"+r.Str("flow_id")+"/verify", "", map[string]string{"code": "123456"}), 409, "wrong_state")
	})
}

func TestPasswordThrottling(t *testing.T) {
	t.Run("case=ten wrong passwords lock the account with retry_after", func(t *testing.T) {
		email := apitest.UniqueEmail("throttle")
		env.NewUser(t, email, pw)
		for i := range 10 {
			apitest.ExpectError(t, env.Login(t, email, fmt.Sprintf("wrong %d", i)), 401, "invalid_credentials")
		}
		r := apitest.ExpectError(t, env.Login(t, email, pw), 429, "rate_limited")
		ra, ok := r.Get("error.retry_after").(float64)
		if !ok || ra < 1 || ra > 60 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("retry_after %v header %q: %s", r.Get("error.retry_after"), r.Header.Get("Retry-After"), r.Raw)
		}
	})
	t.Run("case=a success resets the account counter", func(t *testing.T) {
		email := apitest.UniqueEmail("reset")
		env.NewUser(t, email, pw)
		for range 9 {
			apitest.ExpectError(t, env.Login(t, email, "wrong"), 401, "invalid_credentials")
		}
		apitest.Expect(t, env.Login(t, email, pw), 200)
		for range 9 {
			apitest.ExpectError(t, env.Login(t, email, "wrong"), 401, "invalid_credentials")
		}
		apitest.Expect(t, env.Login(t, email, pw), 200)
	})
	t.Run("case=40 parallel wrong passwords are 10 checked and 30 refused", func(t *testing.T) {
		email := apitest.UniqueEmail("parallel")
		env.NewUser(t, email, pw)
		statuses := make(chan int, 40)
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() { statuses <- env.Login(t, email, fmt.Sprintf("guess %d", i)).Status })
		}
		wg.Wait()
		close(statuses)
		count := map[int]int{}
		for s := range statuses {
			count[s]++
		}
		if count[401] != 10 || count[429] != 30 || len(count) != 2 {
			t.Fatalf("answers by status %v, want 10 × 401 and 30 × 429 (each attempt counted before its hash)", count)
		}
	})
	t.Run("case=unknown emails lock too, so a lock reveals nothing", func(t *testing.T) {
		email := apitest.UniqueEmail("ghost")
		for range 10 {
			apitest.ExpectError(t, env.Login(t, email, "wrong"), 401, "invalid_credentials")
		}
		apitest.ExpectError(t, env.Login(t, email, "wrong"), 429, "rate_limited")
	})
}

func TestSessions(t *testing.T) {
	email := apitest.UniqueEmail("sessions")
	env.NewUser(t, email, pw)
	a := env.SessionToken(t, email, pw)
	b := env.SessionToken(t, email, pw)
	c := env.SessionToken(t, email, pw)

	t.Run("case=list marks the current session", func(t *testing.T) {
		r := apitest.Expect(t, env.Do(t, "GET", "/v1/me/sessions", a, nil), 200)
		list := r.Get("sessions").([]any)
		if len(list) != 3 {
			t.Fatalf("sessions: %s", r.Raw)
		}
		current := 0
		for _, s := range list {
			m := s.(map[string]any)
			if m["current"] == true {
				current++
			}
			for _, k := range []string{"id", "created_at", "last_seen_at", "ip", "user_agent"} {
				if _, ok := m[k]; !ok {
					t.Fatalf("session lacks %s: %v", k, m)
				}
			}
		}
		if current != 1 {
			t.Fatalf("%d current sessions", current)
		}
	})
	t.Run("case=end one session", func(t *testing.T) {
		r := apitest.Expect(t, env.Do(t, "GET", "/v1/me/sessions", c, nil), 200)
		var cid string
		for _, s := range r.Get("sessions").([]any) {
			if m := s.(map[string]any); m["current"] == true {
				cid = m["id"].(string)
			}
		}
		apitest.Expect(t, env.Do(t, "DELETE", "/v1/me/sessions/"+cid, a, nil), 204)
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", c, nil), 401, "unauthorized")
		apitest.ExpectError(t, env.Do(t, "DELETE", "/v1/me/sessions/"+cid, a, nil), 404, "not_found")
	})
	t.Run("case=end every other session keeps the current one", func(t *testing.T) {
		apitest.Expect(t, env.Do(t, "DELETE", "/v1/me/sessions", a, nil), 204)
		apitest.Expect(t, env.Do(t, "GET", "/v1/me", a, nil), 200)
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", b, nil), 401, "unauthorized")
	})
	t.Run("case=logout ends the current session", func(t *testing.T) {
		apitest.Expect(t, env.Do(t, "POST", "/v1/logout", a, nil), 204)
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", a, nil), 401, "unauthorized")
	})
	t.Run("case=no or bad token is unauthorized", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", "", nil), 401, "unauthorized")
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", "garbage", nil), 401, "unauthorized")
	})
}

func TestPasswordChange(t *testing.T) {
	email := apitest.UniqueEmail("pwchange")
	env.NewUser(t, email, pw)
	cur := env.SessionToken(t, email, pw)
	other := env.SessionToken(t, email, pw)

	t.Run("case=wrong current password is 403 invalid_credentials", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/me/password", cur, map[string]string{"current_password": "nope", "new_password": "another horse"}), 403, "invalid_credentials")
	})
	t.Run("case=short new password is bad request", func(t *testing.T) {
		apitest.ExpectError(t, env.Do(t, "POST", "/v1/me/password", cur, map[string]string{"current_password": pw, "new_password": "short"}), 400, "bad_request")
	})
	t.Run("case=change ends every other session and the new password works", func(t *testing.T) {
		apitest.Expect(t, env.Do(t, "POST", "/v1/me/password", cur, map[string]string{"current_password": pw, "new_password": "another horse"}), 204)
		apitest.Expect(t, env.Do(t, "GET", "/v1/me", cur, nil), 200)
		apitest.ExpectError(t, env.Do(t, "GET", "/v1/me", other, nil), 401, "unauthorized")
		apitest.ExpectError(t, env.Login(t, email, pw), 401, "invalid_credentials")
		apitest.Expect(t, env.Login(t, email, "another horse"), 200)
		ev := apitest.Expect(t, env.Do(t, "GET", "/v1/me/events", cur, nil), 200)
		types := map[string]bool{}
		for _, e := range ev.Get("events").([]any) {
			types[e.(map[string]any)["type"].(string)] = true
		}
		for _, want := range []string{"password_changed", "sessions_ended", "login_succeeded"} {
			if !types[want] {
				t.Fatalf("no %s event: %s", want, ev.Raw)
			}
		}
	})
}

func TestCookieSessionsNeedCSRF(t *testing.T) {
	email := apitest.UniqueEmail("csrf")
	env.NewUser(t, email, pw)
	r := apitest.Expect(t, env.Login(t, email, pw), 200)
	var session, csrf string
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		switch c.Name {
		case "authflow_session":
			session = c.Value
		case "authflow_csrf":
			csrf = c.Value
		}
	}
	if session == "" || csrf == "" {
		t.Fatal("login set no session or CSRF cookie")
	}
	do := func(method, path, header string) int {
		req, _ := http.NewRequest(method, env.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "authflow_session", Value: session})
		req.AddCookie(&http.Cookie{Name: "authflow_csrf", Value: csrf})
		if header != "" {
			req.Header.Set("X-CSRF-Token", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	t.Run("case=cookie GET needs no token", func(t *testing.T) {
		if s := do("GET", "/v1/me", ""); s != 200 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=cookie POST without or with a wrong token is refused", func(t *testing.T) {
		if s := do("DELETE", "/v1/me/sessions", ""); s != 401 {
			t.Fatalf("status %d", s)
		}
		if s := do("DELETE", "/v1/me/sessions", "wrong"); s != 401 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=cookie POST with the double-submit token passes", func(t *testing.T) {
		if s := do("DELETE", "/v1/me/sessions", csrf); s != 204 {
			t.Fatalf("status %d", s)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Run("case=healthz and readyz answer ok with a worker polling", func(t *testing.T) {
		r := apitest.Expect(t, env.Do(t, "GET", "/healthz", "", nil), 200)
		if r.Str("status") != "ok" {
			t.Fatalf("%s", r.Raw)
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			r = env.Do(t, "GET", "/readyz", "", nil)
			if r.Status == 200 || time.Now().After(deadline) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		apitest.Expect(t, r, 200)
	})
}

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	email := apitest.UniqueEmail("xsite")
	env.NewUser(t, email, pw)
	post := func(headers map[string]string) int {
		req, _ := http.NewRequest("POST", env.URL+"/v1/login", strings.NewReader(`{"email":"`+email+`","password":"`+pw+`"}`))
		req.Header.Set("Content-Type", "text/plain")
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
	t.Run("case=a form posted from another site cannot sign the browser in", func(t *testing.T) {
		if s := post(map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); s != 403 {
			t.Fatalf("status %d", s)
		}
		if s := post(map[string]string{"Origin": "https://evil.example"}); s != 403 {
			t.Fatalf("status %d (Origin only)", s)
		}
	})
	t.Run("case=the page's own origin and servers without browser headers pass", func(t *testing.T) {
		if s := post(map[string]string{"Origin": env.Config.PublicURL, "Sec-Fetch-Site": "same-origin"}); s != 200 {
			t.Fatalf("status %d", s)
		}
		if s := post(nil); s != 200 {
			t.Fatalf("status %d", s)
		}
	})
	t.Run("case=polling a flow sets the session cookie only for the same origin", func(t *testing.T) {
		flow := apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
		get := func(site string) []*http.Cookie {
			req, _ := http.NewRequest("GET", env.URL+"/v1/login/"+flow, nil)
			req.Header.Set(apitest.FlowSecretHeader, env.FlowSecret(flow))
			if site != "" {
				req.Header.Set("Sec-Fetch-Site", site)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.Cookies()
		}
		if c := get("cross-site"); len(c) != 0 {
			t.Fatalf("a cross-site navigation got cookies %v", c)
		}
		if c := get("same-origin"); len(c) == 0 {
			t.Fatal("the page's own poll got no session cookie")
		}
	})
}

func TestWrongCurrentPasswordsAreThrottledLikeLogins(t *testing.T) {
	email := apitest.UniqueEmail("reauth-throttle")
	env.NewUser(t, email, pw)
	cur := env.SessionToken(t, email, pw)
	change := func(current string) apitest.Response {
		return env.Do(t, "POST", "/v1/me/password", cur, map[string]string{"current_password": current, "new_password": "another horse"})
	}
	// A stolen session must not guess the password faster than a login may.
	for range rules.DefaultLimits.FailuresBeforeLock {
		apitest.ExpectError(t, change("guess"), 403, "invalid_credentials")
	}
	w := apitest.ExpectError(t, change(pw), 429, "rate_limited")
	if ra, _ := w.Get("error.retry_after").(float64); ra <= 0 {
		t.Fatalf("retry_after %v", w.Get("error.retry_after"))
	}
	apitest.ExpectError(t, env.Do(t, "DELETE", "/v1/me/factors/email", cur, map[string]any{"current_password": pw}), 429, "rate_limited")
	// The same counter as the login's.
	apitest.ExpectError(t, env.Login(t, email, pw), 429, "rate_limited")
}
