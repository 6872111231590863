package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/store"
)

// SMS pumping and a victim's phone fallback (issue 14, item 4;
// docs/security.md "SMS pumping"): which numbers get codes, the hourly cap
// on every phone send, and the budgets of numbers not yet verified.

// uaMobile is a Ukrainian mobile number no other test uses.
func uaMobile() string { return fmt.Sprintf("+38067%07d", time.Now().UnixNano()%10_000_000) }

func TestPhoneNumbersThatGetNoCode(t *testing.T) {
	u := newUser(t, "numtype")
	t.Run("case=enrolling a premium-rate number is a bad request that says why", func(t *testing.T) {
		r := apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "phone", "number": "+44 90 1234 5678"}), 400, "bad_request")
		if msg := r.Str("error.message"); !strings.Contains(msg, "premium-rate numbers cannot receive codes") {
			t.Fatalf("message %q does not say why", msg)
		}
	})
	t.Run("case=shared-cost, UAN, VoIP, pager, personal and fixed-line numbers cannot be enrolled by SMS", func(t *testing.T) {
		for n, why := range map[string]string{
			"+48801234567":  "shared-cost",
			"+445512345678": "(UAN)",
			"+445612345678": "VoIP",
			"+447600123456": "pager",
			"+447012345678": "personal",
			"+380442345678": "fixed-line numbers cannot receive codes",
			"+14155550123":  "fixed-line-or-mobile numbers cannot receive SMS",
			"+447700900123": "does not exist",
		} {
			r := apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "phone", "number": n}), 400, "bad_request")
			if !strings.Contains(r.Str("error.message"), why) {
				t.Errorf("%s: message %q, want it to say %q", n, r.Str("error.message"), why)
			}
		}
	})
	t.Run("case=admin seeding refuses a premium-rate number and takes a +1 number (calls only)", func(t *testing.T) {
		a := newAccount(t, "seedtype")
		r := apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/users/"+a.id+"/phones", map[string]string{"number": "+449012345678"}), 400, "bad_request")
		if !strings.Contains(r.Str("error.message"), "premium-rate") {
			t.Fatalf("message %q", r.Str("error.message"))
		}
		a.withPhone(t, "+14155550123")
	})
	t.Run("case=a number outside AUTHFLOW_PHONE_REGIONS is a bad request", func(t *testing.T) {
		srv := httptest.NewServer(handlerWith(func(c *config.Config) { c.PhoneRegions = []string{"UA"} }))
		defer srv.Close()
		post := func(path, token string, body string) apitest.Response {
			req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			r := apitest.Response{Status: resp.StatusCode}
			if err := json.NewDecoder(resp.Body).Decode(&r.Body); err != nil {
				t.Fatal(err)
			}
			return r
		}
		r := post("/v1/me/enrollments", u.tok, `{"method":"phone","number":"+48501234567"}`)
		if r.Status != 400 || r.ErrorCode() != "bad_request" || !strings.Contains(r.Str("error.message"), "only to numbers of UA") {
			t.Fatalf("a PL mobile with regions UA: %d %v", r.Status, r.Body)
		}
		a := newAccount(t, "seedregion")
		r = post("/v1/admin/users/"+a.id+"/phones", env.AdminToken, `{"number":"+48501234567"}`)
		if r.Status != 400 || r.ErrorCode() != "bad_request" {
			t.Fatalf("admin seeding a PL mobile with regions UA: %d %v", r.Status, r.Body)
		}
		if r := post("/v1/admin/users/"+a.id+"/phones", env.AdminToken, `{"number":"+380501234567"}`); r.Status != 201 {
			t.Fatalf("admin seeding a UA mobile with regions UA: %d %v", r.Status, r.Body)
		}
	})
}

var capRefusals = regexp.MustCompile(`(?m)^authflow_phone_sends_refused_total\{reason="cap"\} (\d+)$`)

// capRefused reads the metric of phone sends refused by the hourly cap.
func capRefused(t *testing.T) int {
	t.Helper()
	rec := httptest.NewRecorder()
	env.Metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	m := capRefusals.FindStringSubmatch(rec.Body.String())
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func TestPhoneSendsHourlyCap(t *testing.T) {
	// The ERROR log is checked in activities (TestPhoneSendsHourlyCap).
	t.Run("case=past the cap an SMS or call challenge and a phone enrollment are 503 unavailable, counted in the metric", func(t *testing.T) {
		a := newAccount(t, "pumpcap")
		a.withEmail(t)
		phoneID := a.withPhone(t, uaMobile())
		u := newUser(t, "pumpcapenroll")
		// The cap is this hour's phone sends so far: the next one is over.
		n, err := env.Store.CountSends(context.Background(), store.SentQuery{
			Channels: []string{"sms", "call_dictate", "call_flash"}, Since: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		before := capRefused(t)
		old := env.Activities.Limits.PhoneSendsPerHour
		env.Activities.Limits.PhoneSendsPerHour = max(1, n)
		t.Cleanup(func() { env.Activities.Limits.PhoneSendsPerHour = old })
		if n == 0 {
			// Nothing sent yet this hour: one send reaches the cap of 1.
			apitest.Expect(t, u.enroll(t, map[string]any{"method": "phone", "number": uaMobile()}), 200)
		}

		flow := a.start(t).Str("flow_id")
		for _, method := range []string{"sms", "call"} {
			apitest.ExpectError(t, challenge(t, flow, map[string]any{"method": method, "phone_id": phoneID, "confirm_downgrade": true}), 503, "unavailable")
		}
		apitest.ExpectError(t, u.enroll(t, map[string]any{"method": "phone", "number": uaMobile()}), 503, "unavailable")
		if got := capRefused(t) - before; got != 3 {
			t.Fatalf("authflow_phone_sends_refused_total{reason=\"cap\"} grew by %d, want 3", got)
		}
		// Email is no phone send: the same flow still signs in by email.
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "email"}), 200)
		apitest.Expect(t, verify(t, flow, digits6.FindString(outboxTo(t, "email", a.email).Text)), 200)
	})
}

func TestEnrollingAVictimsNumber(t *testing.T) {
	t.Run("case=another account enrolling a victim's number 5 times does not stop the victim's SMS login code", func(t *testing.T) {
		number := uaMobile()
		victim := newAccount(t, "victim")
		victim.withEmail(t)
		phoneID := victim.withPhone(t, number)
		attacker := newUser(t, "attacker")
		for i := range 5 {
			started(t, attacker.enroll(t, map[string]any{"method": "phone", "number": number}), fmt.Sprintf("phone #%d", i+1))
		}
		// The number's enrollment budget is spent (and the attacker's).
		apitest.ExpectError(t, attacker.enroll(t, map[string]any{"method": "phone", "number": number}), 429, "rate_limited")

		flow := victim.start(t).Str("flow_id")
		apitest.Expect(t, challenge(t, flow, map[string]any{"method": "sms", "phone_id": phoneID, "confirm_downgrade": true}), 200)
		sms := outboxTo(t, "sms", number)
		if !strings.Contains(sms.Key, flow) {
			t.Fatalf("the newest SMS to the number is not the victim's login code: %+v", sms)
		}
		v := apitest.Expect(t, verify(t, flow, digits6.FindString(sms.Text)), 200)
		if v.Str("state") != "done" {
			t.Fatalf("verify %s", v.Raw)
		}
	})
}
