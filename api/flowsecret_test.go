package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/workflows"
)

// TestFlowSecret: a flow id is not a credential (it shows in logs, workflow
// ids and the Temporal UI). Every call under /v1/login/{flow_id} needs the
// secret handed to the client that started the flow (docs/security.md
// "Flow secret").
func TestFlowSecret(t *testing.T) {
	noSecret := http.Header{}
	wrongSecret := http.Header{apitest.FlowSecretHeader: {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}

	t.Run("case=the answer that starts a flow carries its secret and a strict cookie scoped to the flow", func(t *testing.T) {
		a := newAccount(t, "secret-cookie")
		a.withTOTP(t)
		r := apitest.Expect(t, a.start(t), 200)
		flow, secret := r.Str("flow_id"), r.Str("flow_secret")
		if len(secret) < 26 { // 26 base32 characters hold 130 bits
			t.Fatalf("flow_secret %q is shorter than 128 bits", secret)
		}
		var ck *http.Cookie
		for _, c := range (&http.Response{Header: r.Header}).Cookies() {
			if c.Name == "authflow_flow_secret" {
				ck = c
			}
		}
		if ck == nil || ck.Value != secret || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode ||
			ck.Path != "/v1/login/"+flow || ck.MaxAge <= 0 {
			t.Fatalf("flow cookie %+v, want the secret, HttpOnly, SameSite=Strict, Path=/v1/login/%s", ck, flow)
		}
		p := apitest.Expect(t, env.Admin(t, "POST", "/v1/login/passkey", map[string]any{}), 200)
		if len(p.Str("flow_secret")) < 26 {
			t.Fatalf("passkey login answer has no flow_secret: %s", p.Raw)
		}
	})
	t.Run("case=a done flow's session is not handed to a caller with only the flow id", func(t *testing.T) {
		email := apitest.UniqueEmail("secret-done")
		env.NewUser(t, email, pw)
		r := apitest.Expect(t, env.Login(t, email, pw), 200)
		flow := r.Str("flow_id")
		if r.Str("state") != "done" || r.Str("session.token") == "" {
			t.Fatalf("login %s", r.Raw)
		}
		for name, h := range map[string]http.Header{"no secret": noSecret, "a wrong secret": wrongSecret} {
			got := apitest.ExpectError(t, env.DoHeaders(t, "GET", "/v1/login/"+flow, "", nil, h), 404, "flow_not_found")
			if strings.Contains(string(got.Raw), r.Str("session.token")) || got.Header.Get("Set-Cookie") != "" {
				t.Fatalf("%s: the answer leaks the session: %s", name, got.Raw)
			}
		}
		// The owner reads it with the header, or with the cookie the
		// pages use.
		if apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200).Str("session.token") != r.Str("session.token") {
			t.Fatal("the secret's owner does not get the session")
		}
		byCookie := http.Header{"Cookie": {"authflow_flow_secret=" + env.FlowSecret(flow)}}
		if apitest.Expect(t, env.DoHeaders(t, "GET", "/v1/login/"+flow, "", nil, byCookie), 200).Str("state") != "done" {
			t.Fatal("the cookie does not open the flow")
		}
	})
	t.Run("case=challenge and verify without the secret are flow_not_found and change nothing", func(t *testing.T) {
		a := newAccount(t, "secret-steps")
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		for name, h := range map[string]http.Header{"no secret": noSecret, "a wrong secret": wrongSecret} {
			apitest.ExpectError(t, env.DoHeaders(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{"method": "totp"}, h), 404, "flow_not_found")
			apitest.ExpectError(t, env.DoHeaders(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]any{"code": "123456"}, h), 404, "flow_not_found")
			_ = name
		}
		st := apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)
		if st.Str("state") != "choose_method" || st.Get("attempts_left") != float64(5) {
			t.Fatalf("after calls without the secret the flow is %s", st.Raw)
		}
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
		apitest.Expect(t, verify(t, flow, totpNow(t, a.totp, time.Now())), 200)
	})
	t.Run("case=an unknown flow and a known flow without its secret answer alike", func(t *testing.T) {
		a := newAccount(t, "secret-alike")
		a.withTOTP(t)
		flow := a.start(t).Str("flow_id")
		known := env.DoHeaders(t, "GET", "/v1/login/"+flow, "", nil, wrongSecret)
		unknown := env.DoHeaders(t, "GET", "/v1/login/"+strings.Repeat("b", len(flow)), "", nil, wrongSecret)
		apitest.ExpectError(t, known, 404, "flow_not_found")
		apitest.ExpectError(t, unknown, 404, "flow_not_found")
		if string(known.Raw) != string(unknown.Raw) {
			t.Fatalf("known %s, unknown %s: a caller can tell the flow exists", known.Raw, unknown.Raw)
		}
	})
	t.Run("case=no flow secret in the history, the logs or the visibility records", func(t *testing.T) {
		a := newAccount(t, "secret-nowhere")
		a.withEmail(t)
		r := a.start(t)
		flow, secret := r.Str("flow_id"), r.Str("flow_secret")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		code := digits6.FindString(outboxTo(t, "email", a.email).Text)
		apitest.Expect(t, verify(t, flow, code), 200)
		apitest.Expect(t, env.Do(t, "GET", "/v1/login/"+flow, "", nil), 200)

		history := historyText(t, "login/"+flow)
		if !strings.Contains(history, a.id) {
			t.Fatal("the history decoder sees nothing: the test would pass vacuously")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var visibility strings.Builder
		for range 50 { // visibility is written asynchronously
			visibility.Reset()
			res, err := env.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
				Query: "WorkflowId = '" + workflows.LoginWorkflowID(flow) + "'"})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Executions {
				b, _ := protojson.Marshal(e)
				visibility.Write(b)
			}
			if strings.Contains(visibility.String(), "AuthflowUserID") {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(visibility.String(), flow) {
			t.Fatalf("no visibility record for the flow: %s", visibility.String())
		}
		logs := env.Logs()
		if !strings.Contains(logs, flow) {
			t.Fatal("the logs never name the flow: the log check would pass vacuously")
		}
		for where, text := range map[string]string{"history": history, "visibility": visibility.String(), "logs": logs} {
			if strings.Contains(text, secret) {
				t.Errorf("the flow secret appears in the %s", where)
			}
		}
	})
}
