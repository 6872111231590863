package api_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/api/apitest"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
	"github.com/authflow/authflow/workflows"
)

// hookURL is a public address (TEST-NET-3): accepted without DNS, and no
// receiver ever answers it with a 2xx.
const hookURL = "https://203.0.113.10/hooks"

// newHook creates an endpoint for events (deleted when the test ends) and
// returns the answer.
func newHook(t *testing.T, events ...string) apitest.Response {
	t.Helper()
	r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks",
		map[string]any{"url": hookURL, "events": events, "description": "control panel"}), 201)
	id := r.Str("id")
	t.Cleanup(func() { env.Admin(t, "DELETE", "/v1/admin/webhooks/"+id, nil) })
	return r
}

func hookIDs(r apitest.Response) []string {
	var out []string
	for _, h := range r.Get("webhooks").([]any) {
		out = append(out, h.(map[string]any)["id"].(string))
	}
	return out
}

var whsec = regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=$`)

func TestAdminWebhooks(t *testing.T) {
	t.Run("case=create answers the id and a whsec_ secret, once: no later answer or log line shows it", func(t *testing.T) {
		r := newHook(t, "password_changed", "login_failed", "password_changed")
		secret, id := r.Str("secret"), r.Str("id")
		if !whsec.MatchString(secret) || id == "" || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("created %s (Cache-Control %q)", r.Raw, r.Header.Get("Cache-Control"))
		}
		if r.Str("url") != hookURL || r.Str("description") != "control panel" || r.Get("enabled") != true ||
			!slices.Equal(r.Get("events").([]any), []any{"password_changed", "login_failed"}) {
			t.Fatalf("created %s", r.Raw)
		}
		got := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id, nil), 200)
		list := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks", nil), 200)
		if !slices.Contains(hookIDs(list), id) || got.Str("id") != id || got.Get("secret") != nil {
			t.Fatalf("get %s, list %s", got.Raw, list.Raw)
		}
		key := strings.TrimPrefix(secret, "whsec_")
		for what, b := range map[string][]byte{"GET": got.Raw, "the list": list.Raw, "the logs": []byte(env.Logs())} {
			if bytes.Contains(b, []byte(key)) {
				t.Errorf("%s shows the secret", what)
			}
		}
		// The store keeps it sealed, not in clear.
		e, err := env.Store.WebhookEndpoint(t.Context(), id)
		if err != nil || bytes.Contains(e.SecretSealed, []byte(key)) || len(e.SecretSealed) == 0 {
			t.Fatalf("stored %v, %v", e.SecretSealed, err)
		}
	})
	t.Run("case=a rotation answers a new secret, once; the old one signs for a day unless told otherwise, 0 stops it at once", func(t *testing.T) {
		hook := newHook(t, "password_changed")
		id, old := hook.Str("id"), hook.Str("secret")
		before := time.Now()
		r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", nil), 200)
		secret := r.Str("secret")
		if !whsec.MatchString(secret) || secret == old || r.Header.Get("Cache-Control") != "no-store" || r.Str("id") != id {
			t.Fatalf("rotated %s (Cache-Control %q)", r.Raw, r.Header.Get("Cache-Control"))
		}
		until, err := time.Parse(time.RFC3339Nano, r.Str("previous_secret_expires_at"))
		if err != nil || until.Before(before.Add(24*time.Hour)) || until.After(time.Now().Add(24*time.Hour)) {
			t.Fatalf("previous_secret_expires_at %q (%v), want a day from now", r.Str("previous_secret_expires_at"), err)
		}
		got := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id, nil), 200)
		if got.Str("previous_secret_expires_at") != r.Str("previous_secret_expires_at") || got.Get("secret") != nil {
			t.Fatalf("get after a rotation %s", got.Raw)
		}
		for what, b := range map[string][]byte{"GET": got.Raw, "the logs": []byte(env.Logs())} {
			if bytes.Contains(b, []byte(strings.TrimPrefix(secret, "whsec_"))) {
				t.Errorf("%s shows the new secret", what)
			}
		}
		e, err := env.Store.WebhookEndpoint(t.Context(), id)
		if err != nil || len(e.SigningSecrets(time.Now())) != 2 {
			t.Fatalf("stored %+v, %v: want the new and the old secret signing", e, err)
		}

		for _, bad := range []any{-1, 7*24*3600 + 1, "a day"} {
			apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", map[string]any{"keep_previous_for_seconds": bad}), 400, "bad_request")
		}
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/no-such-hook/rotate-secret", nil), 404, "not_found")
		if e2, _ := env.Store.WebhookEndpoint(t.Context(), id); !bytes.Equal(e2.SecretSealed, e.SecretSealed) {
			t.Fatal("a refused rotation changed the secret")
		}

		// A leaked secret: replaced, and nothing signs with it any more.
		r = apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", map[string]any{"keep_previous_for_seconds": 0}), 200)
		if r.Get("previous_secret_expires_at") != nil || r.Str("secret") == secret {
			t.Fatalf("rotated at once %s", r.Raw)
		}
		if e, err := env.Store.WebhookEndpoint(t.Context(), id); err != nil || len(e.SigningSecrets(time.Now())) != 1 {
			t.Fatalf("stored %+v, %v: want the new secret alone", e, err)
		}
	})
	t.Run("case=unknown event types, no events, no url or a long description are bad requests, and nothing is stored", func(t *testing.T) {
		before := hookIDs(apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks", nil), 200))
		for _, body := range []map[string]any{
			{"url": hookURL, "events": []string{"login_failed", "login_faild"}},
			{"url": hookURL, "events": []string{"*", "everything"}},
			{"url": hookURL, "events": []string{}},
			{"url": hookURL},
			{"events": []string{"*"}},
			{"url": hookURL, "events": []string{"*"}, "description": strings.Repeat("x", 501)},
			{"url": hookURL, "events": "login_failed"},
		} {
			r := apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks", body), 400, "bad_request")
			if ev, ok := body["events"].([]string); ok && len(ev) == 2 && !strings.Contains(string(r.Raw), ev[1]) {
				t.Errorf("%v: the answer does not name the unknown type: %s", body, r.Raw)
			}
		}
		after := hookIDs(apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks", nil), 200))
		if len(after) != len(before) {
			t.Fatalf("%d endpoints before, %d after", len(before), len(after))
		}
	})
	t.Run("case=URLs that reach inside the network are refused (SSRF): loopback, private, link-local, IPv6, names resolving there", func(t *testing.T) {
		for url, why := range map[string]string{
			"https://127.0.0.1/hooks":                   "loopback",
			"https://127.0.0.1:8080/v1/admin/users":     "loopback",
			"https://10.0.0.1/hooks":                    "private",
			"https://192.168.1.10/hooks":                "private",
			"https://169.254.169.254/latest/meta-data/": "link-local",
			"https://100.64.0.1/":                       "CGNAT",
			"https://0.0.0.0/":                          "unspecified",
			"https://[::1]/hooks":                       "loopback",
			"https://[fd00::1]/":                        "unique local",
			"https://[::ffff:169.254.169.254]/":         "link-local",
			"https://localhost/hooks":                   "resolves to",
			"https://2130706433/":                       "neither a DNS name nor an IP",
			"https://admin:pw@203.0.113.10/":            "user info",
			"ftp://203.0.113.10/":                       "scheme",
		} {
			r := apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks", map[string]any{"url": url, "events": []string{"*"}}), 400, "bad_request")
			if !strings.Contains(string(r.Raw), why) {
				t.Errorf("%s: refused without saying %q: %s", url, why, r.Raw)
			}
		}
		for _, h := range apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks", nil), 200).Get("webhooks").([]any) {
			if u := h.(map[string]any)["url"].(string); !strings.HasPrefix(u, "https://203.0.113.10/") && !strings.HasPrefix(u, "http") {
				t.Errorf("stored %s", u)
			}
		}
	})
	t.Run("case=every webhook call needs the admin token: none, a wrong one and a user's session are unauthorized", func(t *testing.T) {
		id := newHook(t, "account_unlocked").Str("id")
		email := apitest.UniqueEmail("hookuser")
		env.NewUser(t, email, pw)
		session := env.SessionToken(t, email, pw)
		for _, call := range []struct{ method, path string }{
			{"POST", "/v1/admin/webhooks"},
			{"GET", "/v1/admin/webhooks"},
			{"GET", "/v1/admin/webhooks/" + id},
			{"DELETE", "/v1/admin/webhooks/" + id},
			{"POST", "/v1/admin/webhooks/" + id + "/enable"},
			{"POST", "/v1/admin/webhooks/" + id + "/rotate-secret"},
			{"GET", "/v1/admin/webhooks/" + id + "/deliveries"},
			{"POST", "/v1/admin/webhooks/" + id + "/deliveries/x/retry"},
			{"POST", "/v1/admin/webhooks/" + id + "/deliveries/x/cancel"},
		} {
			for _, token := range []string{"", "not-the-admin-token-0123456789", session} {
				apitest.ExpectError(t, env.Do(t, call.method, call.path, token, map[string]any{"url": hookURL, "events": []string{"*"}}), 401, "unauthorized")
			}
		}
		apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id, nil), 200) // still there
	})
	t.Run("case=an event is listed as a delivery with its attempts; a retry redelivers it under the same id", func(t *testing.T) {
		hook := newHook(t, "account_unlocked")
		id := hook.Str("id")
		email := apitest.UniqueEmail("hooked")
		user := env.NewUser(t, email, pw)
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+user+"/unlock", nil), 204)
		var d map[string]any
		eventually(t, 40*time.Second, "a failed attempt listed", func() bool {
			r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 200)
			ds := r.Get("deliveries").([]any)
			if len(ds) != 1 {
				t.Fatalf("deliveries %s", r.Raw)
			}
			d = ds[0].(map[string]any)
			return len(d["attempts"].([]any)) > 0
		})
		first := d["attempts"].([]any)[0].(map[string]any)
		if d["type"] != "account_unlocked" || d["user_id"] != user || d["status"] != "pending" || d["last_error"] == "" ||
			first["outcome"] != "failed" || first["number"] != float64(1) || first["error"] == "" {
			t.Fatalf("delivery %v", d)
		}
		// The endpoint's workflow backs off, visible by its search attributes.
		desc, err := env.Temporal.DescribeWorkflowExecution(t.Context(), workflows.WebhookWorkflowID(id), "")
		if err != nil {
			t.Fatal(err)
		}
		if sa := string(desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["AuthflowKind"].GetData()); sa != `"webhook"` {
			t.Errorf("AuthflowKind %s", sa)
		}
		// Nothing of the secret in the workflow's history.
		if h := historyText(t, workflows.WebhookWorkflowID(id)); strings.Contains(h, strings.TrimPrefix(hook.Str("secret"), "whsec_")) {
			t.Error("the secret is in the delivery workflow's history")
		}

		evID := d["id"].(string)
		r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+evID+"/retry", nil), 202)
		if r.Str("id") != evID || r.Str("status") != "pending" {
			t.Fatalf("retry %s", r.Raw)
		}
		// The retry ends the back-off: another attempt comes at once.
		eventually(t, 30*time.Second, "an attempt after the retry", func() bool {
			r := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 200)
			return len(r.Get("deliveries").([]any)[0].(map[string]any)["attempts"].([]any)) >= 2
		})
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/no-such-event/retry", nil), 404, "not_found")
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/no-such-hook/deliveries/"+evID+"/retry", nil), 404, "not_found")
		apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries?limit=0", nil), 400, "bad_request")
		// Deleted during its back-off, the endpoint's workflow ends: its
		// history (failed attempts, a retry, the end) is kept for replay.
		apitest.Expect(t, env.Admin(t, "DELETE", "/v1/admin/webhooks/"+id, nil), 204)
		recordHistory(t, workflows.WebhookWorkflowID(id), "webhook-failing-retried-deleted")
	})
	t.Run("case=a disabled endpoint says so, when and why; its deliveries failed; a retry is a conflict until it is enabled with its failed deliveries", func(t *testing.T) {
		id := newHook(t, "account_unlocked").Str("id")
		user := env.NewUser(t, apitest.UniqueEmail("disabled"), pw)
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+user+"/unlock", nil), 204)
		// What the workflow's DisableWebhookEndpoint does after 3 days of
		// failures (TestWebhookDelivery covers when).
		reason := "failing since 2026-01-01T00:00:00Z (80 attempts in a row); the last: answered 503 Service Unavailable"
		if err := env.Store.DisableWebhookEndpoint(t.Context(), id, reason, time.Now()); err != nil {
			t.Fatal(err)
		}
		got := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id, nil), 200)
		if got.Get("enabled") != false || got.Str("disabled_reason") != reason || got.Str("disabled_at") == "" {
			t.Fatalf("disabled endpoint %s", got.Raw)
		}
		for _, h := range apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks", nil), 200).Get("webhooks").([]any) {
			if m := h.(map[string]any); m["id"] == id && (m["enabled"] != false || m["disabled_reason"] != reason) {
				t.Fatalf("listed as %v", m)
			}
		}
		ds := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 200).Get("deliveries").([]any)
		d := ds[0].(map[string]any)
		if d["status"] != "failed" {
			t.Fatalf("delivery of a disabled endpoint %v", d)
		}
		evID := d["id"].(string)
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+evID+"/retry", nil), 409, "conflict")

		// Enabled again, with its failed deliveries: the same secret, the
		// delivery pending and attempted again under its id.
		tried := len(d["attempts"].([]any))
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/enable", map[string]any{"redeliver_failed": "yes"}), 400, "bad_request")
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/no-such-hook/enable", nil), 404, "not_found")
		en := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/enable", map[string]any{"redeliver_failed": true}), 200)
		if en.Get("enabled") != true || en.Get("redelivered") != float64(1) || en.Get("disabled_at") != nil || en.Get("disabled_reason") != nil || en.Get("secret") != nil {
			t.Fatalf("enabled endpoint %s", en.Raw)
		}
		eventually(t, 40*time.Second, "an attempt of the redelivered delivery", func() bool {
			ds := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 200).Get("deliveries").([]any)
			d := ds[0].(map[string]any)
			return d["id"] == evID && d["status"] == "pending" && len(d["attempts"].([]any)) > tried
		})
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+evID+"/retry", nil), 202)
		// Enabling an enabled endpoint changes nothing.
		again := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil), 200)
		if again.Get("enabled") != true || again.Get("redelivered") != float64(0) {
			t.Fatalf("enabled again %s", again.Raw)
		}
	})
	t.Run("case=cancelling the delivery that holds the others back lets the next one go; a retry brings it back", func(t *testing.T) {
		id := newHook(t, "account_unlocked").Str("id")
		user := env.NewUser(t, apitest.UniqueEmail("blocked"), pw)
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+user+"/unlock", nil), 204)
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/users/"+user+"/unlock", nil), 204)
		deliveries := func() []map[string]any {
			var out []map[string]any
			for _, d := range apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 200).Get("deliveries").([]any) {
				out = append(out, d.(map[string]any))
			}
			return out // newest first
		}
		attempts := func(d map[string]any) int { return len(d["attempts"].([]any)) }
		// hookURL never answers 2xx: the first event backs off, the second
		// waits behind it with no attempt.
		eventually(t, 40*time.Second, "a failed attempt of the first event", func() bool {
			ds := deliveries()
			return len(ds) == 2 && attempts(ds[1]) > 0
		})
		ds := deliveries()
		first, second := ds[1], ds[0]
		if attempts(second) != 0 {
			t.Fatalf("the second event was attempted while the first failed: %v", second)
		}
		r := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+first["id"].(string)+"/cancel", nil), 200)
		if r.Str("status") != "failed" || r.Str("id") != first["id"] || r.Str("last_error") != "cancelled by an admin" {
			t.Fatalf("cancelled %s", r.Raw)
		}
		eventually(t, 40*time.Second, "an attempt of the second event after the cancel", func() bool {
			return attempts(deliveries()[0]) > 0
		})
		if ds := deliveries(); ds[1]["status"] != "failed" {
			t.Fatalf("the cancelled delivery: %v", ds[1])
		}
		apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/no-such-event/cancel", nil), 404, "not_found")
		again := apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+first["id"].(string)+"/cancel", nil), 200)
		if again.Str("status") != "failed" {
			t.Fatalf("cancelled twice %s", again.Raw)
		}
		apitest.Expect(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+id+"/deliveries/"+first["id"].(string)+"/retry", nil), 202)
		if d := deliveries()[1]; d["status"] != "pending" {
			t.Fatalf("the cancelled delivery after a retry: %v", d)
		}
	})
	t.Run("case=enabling checks the URL again: one the SSRF rules refuse now stays disabled", func(t *testing.T) {
		// Stored as AUTHFLOW_WEBHOOK_ALLOW_PRIVATE=true would have let it.
		e, err := env.Store.CreateWebhookEndpoint(t.Context(), store.WebhookEndpoint{URL: "https://10.1.2.3/hooks",
			Events: []string{"*"}, SecretSealed: []byte("sealed")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Admin(t, "DELETE", "/v1/admin/webhooks/"+e.ID, nil) })
		if err := env.Store.DisableWebhookEndpoint(t.Context(), e.ID, "failing", time.Now()); err != nil {
			t.Fatal(err)
		}
		r := apitest.ExpectError(t, env.Admin(t, "POST", "/v1/admin/webhooks/"+e.ID+"/enable", nil), 400, "bad_request")
		if !strings.Contains(r.Str("error.message"), "private") {
			t.Errorf("refusal %s does not say why", r.Raw)
		}
		if got := apitest.Expect(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+e.ID, nil), 200); got.Get("enabled") != false {
			t.Fatalf("enabled after a refusal: %s", got.Raw)
		}
	})
	t.Run("case=delete forgets the endpoint and its deliveries", func(t *testing.T) {
		id := newHook(t, "account_unlocked").Str("id")
		apitest.Expect(t, env.Admin(t, "DELETE", "/v1/admin/webhooks/"+id, nil), 204)
		apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id, nil), 404, "not_found")
		apitest.ExpectError(t, env.Admin(t, "GET", "/v1/admin/webhooks/"+id+"/deliveries", nil), 404, "not_found")
		apitest.ExpectError(t, env.Admin(t, "DELETE", "/v1/admin/webhooks/"+id, nil), 404, "not_found")
	})
}

// TestWebhookEventTypesInTheContract keeps the document's lists of event
// types equal to webhooks.EventTypes, which a test of its own keeps equal
// to what the code records.
func TestWebhookEventTypesInTheContract(t *testing.T) {
	doc := openAPIDoc(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	enum := func(v any) []string {
		var out []string
		for _, e := range v.([]any) {
			out = append(out, e.(string))
		}
		return out
	}
	names := webhooks.Names()
	filter := enum(schemas["WebhookEventType"].(map[string]any)["enum"])
	if want := append([]string{"*"}, names...); !slices.Equal(filter, want) {
		t.Errorf("WebhookEventType lists %v, want %v", filter, want)
	}
	event := enum(schemas["Event"].(map[string]any)["properties"].(map[string]any)["type"].(map[string]any)["enum"])
	slices.Sort(event)
	slices.Sort(names)
	if !slices.Equal(event, names) {
		t.Errorf("Event.type lists %v, want %v", event, names)
	}
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
