package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
)

// hookFixture is an endpoint on a receiver on loopback, in a SQLite store.
type hookFixture struct {
	*enrollFixture
	secret   string
	endpoint store.WebhookEndpoint
	mu       sync.Mutex
	got      []*http.Request
	bodies   [][]byte
	status   []int // the receiver's answers in turn; then 204
}

func newHookFixture(t *testing.T) *hookFixture {
	f := &hookFixture{enrollFixture: newEnrollFixture(t), secret: webhooks.NewSecret()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.got, f.bodies = append(f.got, r), append(f.bodies, body)
		status := 204
		if len(f.status) > 0 {
			status, f.status = f.status[0], f.status[1:]
		}
		f.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	f.acts.Webhooks = webhooks.NewClient(webhooks.Policy{AllowHTTP: true, AllowPrivate: true})
	var err error
	f.endpoint, err = f.st.CreateWebhookEndpoint(context.Background(), store.WebhookEndpoint{URL: srv.URL + "/hooks",
		Events: []string{"*"}, SecretSealed: f.acts.Sealer.Seal(webhooks.PurposeSecret, []byte(f.secret))})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *hookFixture) event(typ string) store.Event {
	f.t.Helper()
	ev := store.Event{ID: "ev-" + typ + "-" + time.Now().Format("150405.000000000"), UserID: f.user.ID, Type: typ,
		At: time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond), IP: "203.0.113.9", Detail: map[string]any{"reason": "wrong_password"}}
	if err := f.st.AddEvent(context.Background(), ev); err != nil {
		f.t.Fatal(err)
	}
	return ev
}

func (f *hookFixture) deliver(eventID string) activities.WebhookAttemptResult {
	f.t.Helper()
	v, err := f.env.ExecuteActivity(f.acts.DeliverWebhook, activities.DeliverWebhookInput{EndpointID: f.endpoint.ID, EventID: eventID})
	if err != nil {
		f.t.Fatalf("deliver: %v", err)
	}
	var r activities.WebhookAttemptResult
	if err := v.Get(&r); err != nil {
		f.t.Fatal(err)
	}
	return r
}

func (f *hookFixture) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func TestDeliverWebhook(t *testing.T) {
	t.Run("case=one attempt per activity, signed, recorded; a failure is an outcome, not an error", func(t *testing.T) {
		f := newHookFixture(t)
		f.status = []int{503}
		ev := f.event("login_failed")
		r := f.deliver(ev.ID)
		if r.Outcome != activities.WebhookFailed || r.Attempt != 1 || r.StatusCode != 503 || !strings.Contains(r.Error, "503") {
			t.Fatalf("first attempt %+v", r)
		}
		if n := f.requests(); n != 1 {
			t.Fatalf("%d requests for one attempt", n)
		}
		r = f.deliver(ev.ID)
		if r.Outcome != activities.WebhookDelivered || r.Attempt != 2 || r.StatusCode != 204 {
			t.Fatalf("second attempt %+v", r)
		}
		d, err := f.st.WebhookDelivery(context.Background(), f.endpoint.ID, ev.ID)
		if err != nil || d.Status != store.DeliveryDelivered || d.Attempts != 2 {
			t.Fatalf("delivery %+v, %v", d, err)
		}
		as, _ := f.st.WebhookAttempts(context.Background(), f.endpoint.ID, ev.ID)
		if len(as) != 2 || as[0].StatusCode != 503 || as[0].Error == "" || as[1].StatusCode != 204 || as[1].Error != "" {
			t.Fatalf("attempts %+v", as)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		for i, req := range f.got {
			if req.Header.Get("webhook-id") != ev.ID {
				t.Errorf("attempt %d carried webhook-id %q, want the event's id %q", i+1, req.Header.Get("webhook-id"), ev.ID)
			}
			if err := webhooks.Verify(f.secret, req.Header, f.bodies[i], time.Now()); err != nil {
				t.Errorf("attempt %d: %v", i+1, err)
			}
		}
		var m map[string]any
		if err := json.Unmarshal(f.bodies[1], &m); err != nil {
			t.Fatal(err)
		}
		data, _ := m["data"].(map[string]any)
		if m["id"] != ev.ID || m["type"] != "login_failed" || m["user_id"] != f.user.ID ||
			m["occurred_at"] != ev.At.Format(time.RFC3339Nano) || data["reason"] != "wrong_password" || data["ip"] != "203.0.113.9" {
			t.Fatalf("body %s", f.bodies[1])
		}
	})
	t.Run("case=after a rotation both secrets sign until the previous one's end, then the new one alone", func(t *testing.T) {
		f := newHookFixture(t)
		ctx := context.Background()
		rotate := func(until time.Time) string {
			t.Helper()
			next := webhooks.NewSecret()
			if _, err := f.st.RotateWebhookSecret(ctx, f.endpoint.ID, f.acts.Sealer.Seal(webhooks.PurposeSecret, []byte(next)), &until); err != nil {
				t.Fatal(err)
			}
			return next
		}
		signatures := func(i int) (*http.Request, []byte, int) {
			f.mu.Lock()
			defer f.mu.Unlock()
			return f.got[i], f.bodies[i], len(strings.Fields(f.got[i].Header.Get("webhook-signature")))
		}
		first := rotate(time.Now().Add(time.Hour))
		if r := f.deliver(f.event("login_failed").ID); r.Outcome != activities.WebhookDelivered {
			t.Fatalf("%+v", r)
		}
		req, body, n := signatures(0)
		if n != 2 {
			t.Fatalf("%d signatures while the previous secret lasts, want 2", n)
		}
		for _, s := range []string{f.secret, first} {
			if err := webhooks.Verify(s, req.Header, body, time.Now()); err != nil {
				t.Errorf("a receiver with one of the two secrets: %v", err)
			}
		}
		// Rotated again, the previous one (first) already over: the newest
		// alone signs; the oldest is gone either way.
		second := rotate(time.Now().Add(-time.Second))
		if r := f.deliver(f.event("login_failed").ID); r.Outcome != activities.WebhookDelivered {
			t.Fatalf("%+v", r)
		}
		req, body, n = signatures(1)
		if n != 1 || webhooks.Verify(second, req.Header, body, time.Now()) != nil {
			t.Fatalf("after the previous secret's end: %d signatures, verified by the new secret: %v", n, webhooks.Verify(second, req.Header, body, time.Now()))
		}
		for _, old := range []string{f.secret, first} {
			if webhooks.Verify(old, req.Header, body, time.Now()) == nil {
				t.Error("a secret past its end still verifies")
			}
		}
	})
	t.Run("case=a delivery no longer pending is skipped without a request", func(t *testing.T) {
		f := newHookFixture(t)
		ev := f.event("password_changed")
		if r := f.deliver(ev.ID); r.Outcome != activities.WebhookDelivered {
			t.Fatalf("%+v", r)
		}
		if r := f.deliver(ev.ID); r.Outcome != activities.WebhookSkipped {
			t.Fatalf("a delivered delivery again: %+v", r)
		}
		if n := f.requests(); n != 1 {
			t.Fatalf("%d requests", n)
		}
	})
	t.Run("case=a disabled or deleted endpoint is gone: no request", func(t *testing.T) {
		f := newHookFixture(t)
		ev := f.event("password_changed")
		if err := f.st.DisableWebhookEndpoint(context.Background(), f.endpoint.ID, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := f.deliver(ev.ID); r.Outcome != activities.WebhookGone {
			t.Fatalf("disabled: %+v", r)
		}
		if err := f.st.DeleteWebhookEndpoint(context.Background(), f.endpoint.ID); err != nil {
			t.Fatal(err)
		}
		if r := f.deliver(ev.ID); r.Outcome != activities.WebhookGone {
			t.Fatalf("deleted: %+v", r)
		}
		v, err := f.env.ExecuteActivity(f.acts.PendingWebhooks, activities.PendingWebhooksInput{EndpointID: f.endpoint.ID, Limit: 10})
		var p activities.PendingWebhooksResult
		if err != nil || v.Get(&p) != nil || !p.Ended {
			t.Fatalf("pending of a deleted endpoint: %+v, %v", p, err)
		}
		if n := f.requests(); n != 0 {
			t.Fatalf("%d requests", n)
		}
	})
	t.Run("case=a secret that cannot be opened sends nothing unsigned: the attempt fails and says why", func(t *testing.T) {
		f := newHookFixture(t)
		e, err := f.st.CreateWebhookEndpoint(context.Background(), store.WebhookEndpoint{URL: f.endpoint.URL,
			Events: []string{"*"}, SecretSealed: []byte("sealed under another key")})
		if err != nil {
			t.Fatal(err)
		}
		ev := f.event("password_changed")
		v, err := f.env.ExecuteActivity(f.acts.DeliverWebhook, activities.DeliverWebhookInput{EndpointID: e.ID, EventID: ev.ID})
		var r activities.WebhookAttemptResult
		if err != nil || v.Get(&r) != nil || r.Outcome != activities.WebhookFailed || !strings.Contains(r.Error, "secret") {
			t.Fatalf("%+v, %v", r, err)
		}
		if n := f.requests(); n != 0 {
			t.Fatalf("%d requests", n)
		}
	})
	t.Run("case=pending deliveries come in the outbox's order", func(t *testing.T) {
		f := newHookFixture(t)
		e1, e2 := f.event("login_failed"), f.event("password_changed")
		v, err := f.env.ExecuteActivity(f.acts.PendingWebhooks, activities.PendingWebhooksInput{EndpointID: f.endpoint.ID, Limit: 10})
		var p activities.PendingWebhooksResult
		if err != nil || v.Get(&p) != nil || p.Ended || len(p.EventIDs) != 2 || p.EventIDs[0] != e1.ID || p.EventIDs[1] != e2.ID {
			t.Fatalf("%+v, %v", p, err)
		}
	})
}
