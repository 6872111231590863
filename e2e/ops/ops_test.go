// Package ops_test checks what operators rely on, against the whole stack
// with the production data converter: Prometheus metrics at /metrics, and
// payloads encrypted in Temporal with a codec endpoint that opens them for
// the admin token only.
package ops_test

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

var env *apitest.Env

// uiOrigin stands for the Temporal UI's origin (AUTHFLOW_CODEC_ORIGINS).
const uiOrigin = "http://localhost:8233"

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	limits := rules.DefaultLimits
	limits.FailuresBeforeLock = 3 // a 429 after a few wrong passwords
	e, err := apitest.Start(ctx, apitest.Options{
		EncryptPayloads: true,
		Limits:          &limits,
		Argon2:          &security.Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1},
		Configure: func(c *config.Config) {
			c.CodecOrigins = []string{uiOrigin}
			c.MetricsToken = metricsToken
		},
	})
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

// totpLogin logs a new TOTP user in through the API.
func totpLogin(t *testing.T) (flow, userID, session string) {
	t.Helper()
	email := apitest.UniqueEmail("ops")
	userID = env.NewUser(t, email, pw)
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "authflow", AccountName: email, SecretSize: 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.SetTOTPSecret(context.Background(), userID,
		env.Activities.Sealer.Seal(security.PurposeTOTPSecret, []byte(key.Secret())), 0); err != nil {
		t.Fatal(err)
	}
	flow = apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
	apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]string{"method": "totp"}), 200)
	code, err := totp.GenerateCode(key.Secret(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"code": code}), 200)
	if r.Str("state") != "done" {
		t.Fatalf("verify: %s", r.Raw)
	}
	return flow, userID, r.Str("session.token")
}

// metricsToken is the stack's AUTHFLOW_METRICS_TOKEN.
const metricsToken = "scrape-token-0123456789"

func scrape(t *testing.T) string {
	t.Helper()
	if r := env.Do(t, "GET", "/metrics", "", nil); r.Status != 401 {
		t.Fatalf("GET /metrics without AUTHFLOW_METRICS_TOKEN's bearer token: %d, want 401", r.Status)
	}
	r := env.Do(t, "GET", "/metrics", metricsToken, nil)
	if r.Status != 200 {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Raw)
	}
	return string(r.Raw)
}

// sample reads one sample's value ("" when absent). labels are matched as
// a substring of the label set, in Prometheus' sorted order.
func sample(text, name, labels string) string {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\{[^}]*` + regexp.QuoteMeta(labels) + `[^}]*\} (\S+)$`)
	if labels == "" {
		re = regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{[^}]*\})? (\S+)$`)
	}
	if m := re.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

func value(t *testing.T, text, name, labels string) float64 {
	t.Helper()
	v := sample(text, name, labels)
	if v == "" {
		t.Fatalf("/metrics has no %s{%s}", name, labels)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMetrics(t *testing.T) {
	t.Run("case=a TOTP login shows in the login, HTTP and SDK families", func(t *testing.T) {
		before := scrape(t)
		totpLogin(t)
		text := scrape(t)
		var was float64
		if sample(before, "authflow_logins_total", `method="totp",outcome="success"`) != "" {
			was = value(t, before, "authflow_logins_total", `method="totp",outcome="success"`)
		}
		if got := value(t, text, "authflow_logins_total", `method="totp",outcome="success"`); got != was+1 {
			t.Errorf("authflow_logins_total{totp,success} went %v → %v, want +1", was, got)
		}
		for _, route := range []string{"/v1/login", "/v1/login/:flow_id/challenge", "/v1/login/:flow_id/verify"} {
			if n := value(t, text, "authflow_http_request_duration_seconds_count", `route="`+route+`",status="200"`); n < 1 {
				t.Errorf("no observation of %s", route)
			}
		}
		if strings.Contains(text, "/v1/login/"+"a") && regexp.MustCompile(`route="/v1/login/[a-z0-9]{16,}`).MatchString(text) {
			t.Error("a flow id leaked into a route label")
		}
		// The Temporal SDK's own metrics, through the adapter.
		for _, name := range []string{
			"temporal_workflow_task_execution_latency_seconds_count",
			"temporal_local_activity_execution_latency_seconds_count",
			"temporal_request_total",
		} {
			if sample(text, name, "") == "" {
				t.Errorf("/metrics has no %s", name)
			}
		}
		if !strings.Contains(text, `temporal_workflow_task_execution_latency_seconds_count{`) || !strings.Contains(text, `workflow_type="Login"`) {
			t.Error("SDK metrics lack their workflow_type label")
		}
	})
	t.Run("case=wrong passwords and the 429 that follows are counted", func(t *testing.T) {
		email := apitest.UniqueEmail("lock")
		env.NewUser(t, email, pw)
		before := scrape(t)
		for range 3 {
			apitest.ExpectError(t, env.Login(t, email, "wrong password"), 401, "invalid_credentials")
		}
		apitest.ExpectError(t, env.Login(t, email, "wrong password"), 429, "rate_limited")
		text := scrape(t)
		get := func(s, name, labels string) float64 {
			if sample(s, name, labels) == "" {
				return 0
			}
			return value(t, s, name, labels)
		}
		if d := get(text, "authflow_logins_total", `method="password",outcome="invalid_credentials"`) -
			get(before, "authflow_logins_total", `method="password",outcome="invalid_credentials"`); d != 3 {
			t.Errorf("invalid_credentials +%v, want +3", d)
		}
		if d := get(text, "authflow_rate_limited_total", `route="/v1/login"`) - get(before, "authflow_rate_limited_total", `route="/v1/login"`); d != 1 {
			t.Errorf("authflow_rate_limited_total{/v1/login} +%v, want +1", d)
		}
	})
	t.Run("case=a phone login counts a saga run and its completion", func(t *testing.T) {
		email := apitest.UniqueEmail("saga")
		id := env.NewUser(t, email, pw)
		if err := env.Store.SetEmailEnabled(context.Background(), id, true); err != nil {
			t.Fatal(err)
		}
		number := fmt.Sprintf("+38050%07d", time.Now().UnixNano()%10000000)
		phone := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+id+"/phones", map[string]string{"number": number}), 201)
		before := scrape(t)
		flow := apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
		apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{
			"method": "sms", "phone_id": phone.Str("id"), "confirm_downgrade": true}), 200)
		msg := env.LastOutbox(t, func(e channels.OutboxEntry) bool { return e.Channel == "sms" && e.To == number })
		code := regexp.MustCompile(`\b\d{6}\b`).FindString(msg.Text)
		r := apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/verify", "", map[string]string{"code": code}), 200)
		if r.Get("downgrade") == nil {
			t.Fatalf("no downgrade in %s", r.Raw)
		}
		text := scrape(t)
		for _, name := range []string{"authflow_saga_runs_total", "authflow_saga_completions_total"} {
			if d := value(t, text, name, "") - value(t, before, name, ""); d != 1 {
				t.Errorf("%s +%v, want +1", name, d)
			}
		}
		if d := value(t, text, "authflow_saga_compensations_total", "") - value(t, before, "authflow_saga_compensations_total", ""); d != 0 {
			t.Errorf("authflow_saga_compensations_total +%v, want 0", d)
		}
	})
}
