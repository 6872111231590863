package api_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
)

// listedFlow waits until GET /v1/admin/flows with query q lists flow
// (visibility is eventually consistent) and returns its row.
func listedFlow(t *testing.T, q url.Values, flow string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?"+q.Encode(), nil), 200)
		for _, f := range r.Get("flows").([]any) {
			if m := f.(map[string]any); m["flow_id"] == flow {
				return m
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("flow %s not listed by %s: %s", flow, q.Encode(), r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestOperatorsFindLoginsStuckInAState: with only the changes upserted
// (the kind and first state come with the start), a login is found by
// kind, user, state and method, and `--stuck-for` (older_than) finds it
// in each state it waits in, since that state began; a finished one is
// found by its final state and is never stuck.
func TestOperatorsFindLoginsStuckInAState(t *testing.T) {
	a := newAccount(t, "stuck")
	a.withTOTP(t)
	flow := a.start(t).Str("flow_id")
	stuck := func(state string) url.Values {
		return url.Values{"kind": {"login"}, "state": {state}, "user_id": {a.id}, "older_than": {"1ms"}}
	}
	chose := listedFlow(t, stuck("choose_method"), flow)
	if chose["kind"] != "login" || chose["method"] != "" || chose["workflow_id"] != "login/"+flow {
		t.Fatalf("in choose_method: %v", chose)
	}
	apitest.Expect(t, challenge(t, flow, map[string]any{"method": "totp"}), 200)
	challenged := listedFlow(t, stuck("challenge"), flow)
	if challenged["method"] != "totp" {
		t.Fatalf("in challenge: %v", challenged)
	}
	since := func(row map[string]any) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339Nano, row["updated_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	if !since(challenged).After(since(chose)) {
		t.Fatalf("the state's change time did not move: %v then %v", chose["updated_at"], challenged["updated_at"])
	}
	apitest.Expect(t, verify(t, flow, totpNow(t, a.totp, time.Now())), 200)
	done := listedFlow(t, url.Values{"kind": {"login"}, "state": {"done"}, "user_id": {a.id}}, flow)
	if done["method"] != "totp" {
		t.Fatalf("done: %v", done)
	}
	// Listed as done, it is closed in visibility: never stuck.
	r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/flows?"+url.Values{"user_id": {a.id}, "older_than": {"1ms"}}.Encode(), nil), 200)
	if flows := r.Get("flows").([]any); len(flows) != 0 {
		t.Fatalf("a finished login is listed as stuck: %s", r.Raw)
	}
}
