package durability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/internal/smtpsink"
)

// answer is an HTTP answer read without a *testing.T (for goroutines).
type answer struct {
	status int
	body   map[string]any
	raw    string
	err    error
}

// post sends a call of a login flow with the flow's secret.
func post(url, flowSecret string, body any) answer {
	b, _ := json.Marshal(body)
	c := &http.Client{Timeout: 3 * time.Minute}
	req, err := http.NewRequest("POST", url, bytes.NewReader(b))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Flow-Secret", flowSecret)
	resp, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// TestWorkerKilledInThePhoneSaga kills the worker process with SIGKILL after
// UnlinkBankCards has unlinked the cards but before it returned (it is
// waiting on the billing webhook), then starts another worker process: the
// saga finishes, the cards are unlinked once (billing hears one idempotency
// key), one notice is sent, and exactly one session exists.
func TestWorkerKilledInThePhoneSaga(t *testing.T) {
	if testing.Short() {
		t.Skip("builds authflow and waits out an activity timeout")
	}
	ctx := context.Background()
	tw, billing, sink := newFakeTwilio(t), newFakeBilling(t), smtpsink.Start(t)
	// The worker runs as its own process from here on.
	workerEnv := externalWorkerEnv(t, sink, map[string]string{
		"TWILIO_ACCOUNT_SID":    "AC00000000000000000000000000000001",
		"TWILIO_AUTH_TOKEN":     "testtoken0",
		"TWILIO_FROM_NUMBER":    "+15550100001",
		"TWILIO_API_URL":        tw.URL,
		"TELEGRAM_BOT_TOKEN":    "123456:test-token",
		"TELEGRAM_BOT_USERNAME": "authflow_test_bot",
		"TELEGRAM_API_URL":      billing.URL, // never called: the account has no Telegram
		"BILLING_WEBHOOK_URL":   billing.URL,
	})
	w1 := startAuthflow(t, workerEnv, "worker")
	w1.waitOutput(t, "worker polling", time.Minute)

	email := apitest.UniqueEmail("killed")
	userID := env.NewUser(t, email, pw)
	if err := env.Store.SetEmailEnabled(ctx, userID, true); err != nil {
		t.Fatal(err)
	}
	number := fmt.Sprintf("+38067%07d", time.Now().UnixNano()%10000000)
	phoneID := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+userID+"/phones", map[string]string{"number": number}), 201).Str("id")
	for _, last4 := range []string{"1111", "2222"} {
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+userID+"/bank-cards", map[string]string{"brand": "visa", "last4": last4}), 201)
	}

	flow := apitest.Expect(t, env.Login(t, email, pw), 200).Str("flow_id")
	apitest.Expect(t, env.Do(t, "POST", "/v1/login/"+flow+"/challenge", "", map[string]any{
		"method": "sms", "phone_id": phoneID, "confirm_downgrade": true}), 200)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(tw.lastTo(t, number))
	if code == "" {
		t.Fatal("no code in the SMS")
	}

	verified := make(chan answer, 1)
	go func() {
		verified <- post(env.URL+"/v1/login/"+flow+"/verify", env.FlowSecret(flow), map[string]string{"code": code})
	}()

	select {
	case <-billing.arrived:
	case <-time.After(time.Minute):
		t.Fatal("UnlinkBankCards never reached the billing webhook")
	}
	cards, err := env.Store.ListBankCards(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cards {
		if c.Linked {
			t.Fatalf("card %s still linked when the worker is killed: not the middle of the saga", c.Last4)
		}
	}
	w1.kill()
	billing.release()

	// The second worker also serves its metrics (a worker has no API).
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	const metricsToken = "metrics-token-for-the-test"
	workerEnv["AUTHFLOW_METRICS"], workerEnv["AUTHFLOW_METRICS_ADDR"], workerEnv["AUTHFLOW_METRICS_TOKEN"] = "on", metricsAddr, metricsToken
	w2 := startAuthflow(t, workerEnv, "worker")
	w2.waitOutput(t, "worker polling", time.Minute)

	// The verify call waits for the saga (up to the API's 60 s); if it gave
	// up first, the flow still finishes and GET shows it.
	var a answer
	select {
	case a = <-verified:
	case <-time.After(3 * time.Minute):
		t.Fatal("verify never answered")
	}
	if a.status != http.StatusOK {
		t.Logf("verify answered %d %s; reading the flow instead", a.status, a.raw)
		eventually(t, 2*time.Minute, "the flow to finish", func() bool {
			r := env.Do(t, "GET", "/v1/login/"+flow, "", nil)
			a = answer{status: r.Status, body: r.Body, raw: string(r.Raw)}
			return r.Str("state") != "challenge"
		})
	}
	if a.body["state"] != "done" {
		t.Fatalf("flow ended %s", a.raw)
	}
	dg, _ := a.body["downgrade"].(map[string]any)
	if dg["two_factor_disabled"] != true || dg["bank_cards_unlinked"] != 2.0 {
		t.Errorf("downgrade %v, want 2FA off and 2 cards", dg)
	}

	keys := billing.requests()
	if len(keys) < 2 {
		t.Errorf("billing heard %d requests: UnlinkBankCards was not retried after the kill", len(keys))
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Errorf("billing heard two idempotency keys %q and %q: the cards were unlinked twice", keys[0], k)
		}
	}
	sessions, err := env.Store.ListSessions(ctx, userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 1 {
		t.Errorf("%d sessions, want one", len(sessions))
	}
	events, err := env.Store.ListEvents(ctx, userID, 100)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range events {
		count[e.Type]++
	}
	for _, typ := range []string{"bank_cards_unlinked", "two_factor_downgraded", "login_succeeded"} {
		if count[typ] != 1 {
			t.Errorf("%d %s events, want one", count[typ], typ)
		}
	}
	if n := len(sink.To(email)); n != 1 {
		t.Errorf("%d downgrade notices by email, want one", n)
	}
	req, _ := http.NewRequest("GET", "http://"+metricsAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	scraped, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"authflow_saga_completions_total 1", "authflow_logins_total{method=\"sms\",outcome=\"success\"} 1",
		"temporal_activity_execution_latency_seconds_count"} {
		if !bytes.Contains(scraped, []byte(want)) {
			t.Errorf("the worker's /metrics lacks %s", want)
		}
	}
	tf, err := env.Store.TwoFactorSettings(ctx, userID)
	if err != nil {
		t.Fatal(err)
	}
	if tf.EmailEnabled {
		t.Error("email 2FA still on after the downgrade")
	}
}
