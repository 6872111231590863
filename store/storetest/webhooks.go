package storetest

import (
	"bytes"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/authflow/authflow/store"
)

func newEndpoint(t *testing.T, s store.Store, events ...string) store.WebhookEndpoint {
	t.Helper()
	e, err := s.CreateWebhookEndpoint(t.Context(), store.WebhookEndpoint{
		URL: "https://hooks.example.com/" + RandomString(), Events: events, Description: "panel",
		SecretSealed: RandomBytes(40),
	})
	mustNil(t, err)
	return e
}

// addFailedLogin records a login_failed event of the user: a delivery
// for each endpoint its filter matches.
func addFailedLogin(t *testing.T, s store.Store, userID string) store.Event {
	t.Helper()
	ev := store.Event{ID: RandomString(), UserID: userID, Type: "login_failed"}
	mustNil(t, s.AddEvent(t.Context(), ev))
	return ev
}

// pendingIDs lists the event ids pending for an endpoint, in order.
func pendingIDs(t *testing.T, s store.Store, endpointID string) []string {
	t.Helper()
	ds, err := s.PendingWebhookDeliveries(t.Context(), endpointID, 100)
	mustNil(t, err)
	return ids(ds, func(d store.WebhookDelivery) string { return d.Event.ID })
}

func testWebhookEndpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	sealed := RandomBytes(40)
	before := time.Now()
	e, err := s.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{
		URL: "https://hooks.example.com/a", Events: []string{"login_failed", "password_changed"},
		Description: "panel", SecretSealed: sealed,
	})
	mustNil(t, err)
	if e.ID == "" || e.DisabledAt != nil {
		t.Fatalf("created endpoint = %+v", e)
	}
	near(t, "CreatedAt", e.CreatedAt, before, 5*time.Second)
	got, err := s.WebhookEndpoint(ctx, e.ID)
	mustNil(t, err)
	if got.URL != e.URL || !slices.Equal(got.Events, e.Events) || got.Description != "panel" ||
		!bytes.Equal(got.SecretSealed, sealed) || got.DisabledAt != nil || got.DisabledReason != "" {
		t.Errorf("read back %+v, want %+v", got, e)
	}
	sameTime(t, "CreatedAt read back", got.CreatedAt, e.CreatedAt)
	all := newEndpoint(t, s, "*")
	list, err := s.ListWebhookEndpoints(ctx)
	mustNil(t, err)
	sameIDs(t, "endpoints", ids(list, func(e store.WebhookEndpoint) string { return e.ID }), []string{e.ID, all.ID})
	if !slices.Equal(list[1].Events, []string{"*"}) {
		t.Errorf("filter * read back as %q", list[1].Events)
	}

	mustNil(t, s.DeleteWebhookEndpoint(ctx, e.ID))
	_, err = s.WebhookEndpoint(ctx, e.ID)
	wantErr(t, "endpoint after delete", err, store.ErrNotFound)
	wantErr(t, "delete again", s.DeleteWebhookEndpoint(ctx, e.ID), store.ErrNotFound)
	wantErr(t, "disable unknown", s.DisableWebhookEndpoint(ctx, "no-such", "x", time.Now()), store.ErrNotFound)
	_, err = s.CreateWebhookEndpoint(ctx, store.WebhookEndpoint{URL: "https://x", Events: []string{"a,b"}, SecretSealed: sealed})
	if err == nil {
		t.Error("an event type with a comma was stored")
	}
}

func testWebhookQueueing(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	all := newEndpoint(t, s, "*")
	failed := newEndpoint(t, s, "login_failed", "password_changed")
	// Event types hold underscores, LIKE's one-character wildcard: a
	// filter of "loginXfailed" must not match login_failed.
	lookalike := newEndpoint(t, s, "loginXfailed")
	off := newEndpoint(t, s, "*")
	mustNil(t, s.DisableWebhookEndpoint(ctx, off.ID, "test", time.Now()))

	now := time.Now()
	evs := []store.Event{
		{ID: RandomString(), UserID: u.ID, Type: "login_failed", At: now.Add(-2 * time.Minute), Detail: map[string]any{"reason": "wrong_password"}},
		{ID: RandomString(), UserID: u.ID, Type: "login_succeeded", At: now.Add(-time.Minute)},
		// Added later but stamped earlier: the outbox keeps the order of
		// adding, which is the order the user's events happened in.
		{ID: RandomString(), UserID: u.ID, Type: "password_changed", At: now.Add(-3 * time.Minute)},
	}
	for _, e := range evs {
		mustNil(t, s.AddEvent(ctx, e))
	}
	// A retried activity adds the same event again: queued once.
	mustNil(t, s.AddEvent(ctx, evs[0]))

	sameIDsOrdered(t, "pending of *", pendingIDs(t, s, all.ID), []string{evs[0].ID, evs[1].ID, evs[2].ID})
	sameIDsOrdered(t, "pending of login_failed,password_changed", pendingIDs(t, s, failed.ID), []string{evs[0].ID, evs[2].ID})
	sameIDsOrdered(t, "pending of loginXfailed", pendingIDs(t, s, lookalike.ID), []string{})
	sameIDsOrdered(t, "pending of a disabled endpoint", pendingIDs(t, s, off.ID), []string{})

	d, err := s.WebhookDelivery(ctx, failed.ID, evs[0].ID)
	mustNil(t, err)
	if d.EndpointID != failed.ID || d.Status != store.DeliveryPending || d.Attempts != 0 || d.LastAttemptAt != nil ||
		d.Event.UserID != u.ID || d.Event.Type != "login_failed" || d.Event.Detail["reason"] != "wrong_password" {
		t.Errorf("delivery = %+v", d)
	}
	sameTime(t, "event At", d.Event.At, evs[0].At)
	_, err = s.WebhookDelivery(ctx, failed.ID, evs[1].ID)
	wantErr(t, "an event the filter left out", err, store.ErrNotFound)
	_, err = s.WebhookDelivery(ctx, lookalike.ID, evs[0].ID)
	wantErr(t, "another endpoint's delivery", err, store.ErrNotFound)

	list, err := s.ListWebhookDeliveries(ctx, all.ID, 2)
	mustNil(t, err)
	sameIDsOrdered(t, "listed newest first", ids(list, func(d store.WebhookDelivery) string { return d.Event.ID }), []string{evs[2].ID, evs[1].ID})

	// An event replayed after an endpoint was added is not queued for it:
	// the replay adds nothing, and only what it adds is queued.
	later := newEndpoint(t, s, "*")
	mustNil(t, s.AddEvent(ctx, evs[1]))
	sameIDsOrdered(t, "pending of an endpoint added before a replay", pendingIDs(t, s, later.ID), []string{})
}

func testWebhookAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ep := newEndpoint(t, s, "*")
	e1 := addFailedLogin(t, s, u.ID)
	e2 := store.Event{ID: RandomString(), UserID: u.ID, Type: "login_succeeded"}
	mustNil(t, s.AddEvent(ctx, e2))

	t0 := time.Now().Add(-time.Hour)
	d, err := s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{At: t0, StatusCode: 503, Error: "answered 503"})
	mustNil(t, err)
	if d.Status != store.DeliveryPending || d.Attempts != 1 || d.LastStatus != 503 || d.LastError != "answered 503" || d.DeliveredAt != nil {
		t.Errorf("after a failed attempt: %+v", d)
	}
	sameIDsOrdered(t, "pending after a failure", pendingIDs(t, s, ep.ID), []string{e1.ID, e2.ID})

	t1 := t0.Add(5 * time.Second)
	d, err = s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{At: t1, StatusCode: 204})
	mustNil(t, err)
	if d.Status != store.DeliveryDelivered || d.Attempts != 2 || d.LastStatus != 204 || d.LastError != "" || d.DeliveredAt == nil {
		t.Fatalf("after a delivery: %+v", d)
	}
	sameTime(t, "DeliveredAt", *d.DeliveredAt, t1)
	sameIDsOrdered(t, "pending after a delivery", pendingIDs(t, s, ep.ID), []string{e2.ID})

	_, err = s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{At: t1, StatusCode: 204})
	wantErr(t, "attempt of a delivered delivery", err, store.ErrConflict)
	_, err = s.RecordWebhookAttempt(ctx, ep.ID, "no-such-event", store.WebhookAttempt{At: t1})
	wantErr(t, "attempt of an unknown delivery", err, store.ErrNotFound)

	as, err := s.WebhookAttempts(ctx, ep.ID, e1.ID)
	mustNil(t, err)
	if len(as) != 2 || as[0].N != 1 || as[0].StatusCode != 503 || as[0].Error != "answered 503" || as[1].N != 2 || as[1].Error != "" {
		t.Fatalf("attempts = %+v", as)
	}
	sameTime(t, "first attempt At", as[0].At, t0)

	// An admin's retry makes it pending again, keeping its attempts.
	mustNil(t, s.RetryWebhookDelivery(ctx, ep.ID, e1.ID))
	sameIDsOrdered(t, "pending after a retry", pendingIDs(t, s, ep.ID), []string{e1.ID, e2.ID})
	d, err = s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{StatusCode: 200})
	mustNil(t, err)
	if d.Attempts != 3 || d.Status != store.DeliveryDelivered {
		t.Errorf("after the retry: %+v", d)
	}
	wantErr(t, "retry unknown", s.RetryWebhookDelivery(ctx, ep.ID, "no-such-event"), store.ErrNotFound)
	wantErr(t, "retry through another endpoint", s.RetryWebhookDelivery(ctx, newEndpoint(t, s, "*").ID, e1.ID), store.ErrNotFound)

	// Deleting the endpoint forgets its deliveries and attempts.
	mustNil(t, s.DeleteWebhookEndpoint(ctx, ep.ID))
	_, err = s.WebhookDelivery(ctx, ep.ID, e2.ID)
	wantErr(t, "delivery of a deleted endpoint", err, store.ErrNotFound)
	as, err = s.WebhookAttempts(ctx, ep.ID, e1.ID)
	mustNil(t, err)
	if len(as) != 0 {
		t.Errorf("attempts of a deleted endpoint: %+v", as)
	}
	// The events themselves stay.
	evs, err := s.ListEvents(ctx, u.ID, 0)
	mustNil(t, err)
	if len(evs) != 2 {
		t.Errorf("events after deleting the endpoint: %d, want 2", len(evs))
	}
}

func testWebhookDisable(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ep := newEndpoint(t, s, "*")
	e1 := addFailedLogin(t, s, u.ID)
	e2 := addFailedLogin(t, s, u.ID)
	_, err := s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{Error: "connection refused"})
	mustNil(t, err)

	at := time.Now().Add(-time.Minute)
	mustNil(t, s.DisableWebhookEndpoint(ctx, ep.ID, "failing for 72h0m0s: connection refused", at))
	got, err := s.WebhookEndpoint(ctx, ep.ID)
	mustNil(t, err)
	if got.DisabledAt == nil || got.DisabledReason != "failing for 72h0m0s: connection refused" {
		t.Fatalf("disabled endpoint = %+v", got)
	}
	sameTime(t, "DisabledAt", *got.DisabledAt, at)
	sameIDsOrdered(t, "pending of a disabled endpoint", pendingIDs(t, s, ep.ID), []string{})
	d1, err := s.WebhookDelivery(ctx, ep.ID, e1.ID)
	mustNil(t, err)
	d2, err := s.WebhookDelivery(ctx, ep.ID, e2.ID)
	mustNil(t, err)
	if d1.Status != store.DeliveryFailed || d1.LastError != "connection refused" || d2.Status != store.DeliveryFailed || d2.LastError != "endpoint disabled" {
		t.Errorf("deliveries after disabling: %+v / %+v", d1, d2)
	}
	_, err = s.RecordWebhookAttempt(ctx, ep.ID, e2.ID, store.WebhookAttempt{StatusCode: 200})
	wantErr(t, "attempt of a failed delivery", err, store.ErrConflict)

	// Nothing more is queued, and disabling again keeps the first reason.
	e3 := addFailedLogin(t, s, u.ID)
	_, err = s.WebhookDelivery(ctx, ep.ID, e3.ID)
	wantErr(t, "event after disabling", err, store.ErrNotFound)
	mustNil(t, s.DisableWebhookEndpoint(ctx, ep.ID, "again", time.Now()))
	got, err = s.WebhookEndpoint(ctx, ep.ID)
	mustNil(t, err)
	if got.DisabledReason != "failing for 72h0m0s: connection refused" {
		t.Errorf("reason after disabling again = %q", got.DisabledReason)
	}
}

func testWebhookEnable(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ep := newEndpoint(t, s, "*")
	other := newEndpoint(t, s, "*")
	e1 := addFailedLogin(t, s, u.ID)
	e2 := addFailedLogin(t, s, u.ID)
	_, err := s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{Error: "connection refused"})
	mustNil(t, err)
	mustNil(t, s.DisableWebhookEndpoint(ctx, ep.ID, "failing for 72h0m0s", time.Now()))
	mustNil(t, s.DisableWebhookEndpoint(ctx, other.ID, "failing for 72h0m0s", time.Now()))
	// Queued for no endpoint: both are disabled.
	e3 := addFailedLogin(t, s, u.ID)

	n, err := s.EnableWebhookEndpoint(ctx, ep.ID, true)
	mustNil(t, err)
	if n != 2 {
		t.Errorf("requeued %d deliveries, want 2", n)
	}
	got, err := s.WebhookEndpoint(ctx, ep.ID)
	mustNil(t, err)
	if got.DisabledAt != nil || got.DisabledReason != "" {
		t.Fatalf("enabled endpoint = %+v", got)
	}
	// What failed is pending again in its events' order, with the attempt
	// it had; what happened while disabled was never queued.
	sameIDsOrdered(t, "pending after enabling", pendingIDs(t, s, ep.ID), []string{e1.ID, e2.ID})
	as, err := s.WebhookAttempts(ctx, ep.ID, e1.ID)
	mustNil(t, err)
	if len(as) != 1 {
		t.Errorf("attempts of a redelivered delivery = %+v, want the one it had", as)
	}
	_, err = s.WebhookDelivery(ctx, ep.ID, e3.ID)
	wantErr(t, "event while disabled", err, store.ErrNotFound)
	d, err := s.RecordWebhookAttempt(ctx, ep.ID, e1.ID, store.WebhookAttempt{StatusCode: 204})
	mustNil(t, err)
	if d.Status != store.DeliveryDelivered || d.Attempts != 2 {
		t.Errorf("redelivered = %+v", d)
	}
	// Queued again from now on; the other endpoint stays disabled.
	e4 := addFailedLogin(t, s, u.ID)
	sameIDsOrdered(t, "pending after a new event", pendingIDs(t, s, ep.ID), []string{e2.ID, e4.ID})
	sameIDsOrdered(t, "pending of the endpoint still disabled", pendingIDs(t, s, other.ID), []string{})
	if o, err := s.WebhookEndpoint(ctx, other.ID); err != nil || o.DisabledAt == nil {
		t.Errorf("the other endpoint = %+v, %v: enabling one enabled another", o, err)
	}

	// Without redeliverFailed, what failed stays failed; enabling an
	// enabled endpoint changes nothing.
	n, err = s.EnableWebhookEndpoint(ctx, other.ID, false)
	mustNil(t, err)
	if n != 0 {
		t.Errorf("requeued %d without being asked", n)
	}
	sameIDsOrdered(t, "pending when not asked to redeliver", pendingIDs(t, s, other.ID), []string{})
	if d, err := s.WebhookDelivery(ctx, other.ID, e1.ID); err != nil || d.Status != store.DeliveryFailed {
		t.Errorf("a failed delivery after enabling without redelivery = %+v, %v", d, err)
	}
	n, err = s.EnableWebhookEndpoint(ctx, ep.ID, false)
	mustNil(t, err)
	if n != 0 {
		t.Errorf("enabling an enabled endpoint requeued %d", n)
	}
	sameIDsOrdered(t, "pending after enabling again", pendingIDs(t, s, ep.ID), []string{e2.ID, e4.ID})

	_, err = s.EnableWebhookEndpoint(ctx, "no-such-endpoint", true)
	wantErr(t, "enable an unknown endpoint", err, store.ErrNotFound)
}

func testWebhookRotate(t *testing.T, s store.Store) {
	ctx := t.Context()
	ep := newEndpoint(t, s, "*")
	other := newEndpoint(t, s, "*")
	if ep.PreviousSecretSealed != nil || ep.PreviousSecretUntil != nil {
		t.Fatalf("a new endpoint has a previous secret: %+v", ep)
	}
	until := time.Now().Add(24 * time.Hour)
	got, err := s.RotateWebhookSecret(ctx, ep.ID, []byte("second"), &until)
	mustNil(t, err)
	if string(got.SecretSealed) != "second" || !bytes.Equal(got.PreviousSecretSealed, ep.SecretSealed) || got.PreviousSecretUntil == nil {
		t.Fatalf("after a rotation: %+v", got)
	}
	sameTime(t, "PreviousSecretUntil", *got.PreviousSecretUntil, until)
	if read, err := s.WebhookEndpoint(ctx, ep.ID); err != nil || string(read.SecretSealed) != "second" || !bytes.Equal(read.PreviousSecretSealed, ep.SecretSealed) {
		t.Fatalf("read back: %+v, %v", read, err)
	}
	if n := len(got.SigningSecrets(time.Now())); n != 2 {
		t.Errorf("%d signing secrets while the previous lasts, want 2", n)
	}
	if n := len(got.SigningSecrets(until)); n != 1 {
		t.Errorf("%d signing secrets at the previous one's end, want 1", n)
	}

	// Again within the window: the replaced one is kept, the oldest dropped.
	got, err = s.RotateWebhookSecret(ctx, ep.ID, []byte("third"), &until)
	mustNil(t, err)
	if string(got.SecretSealed) != "third" || string(got.PreviousSecretSealed) != "second" {
		t.Fatalf("after a second rotation: %+v", got)
	}
	// Without an end (a leaked secret): none kept.
	got, err = s.RotateWebhookSecret(ctx, ep.ID, []byte("fourth"), nil)
	mustNil(t, err)
	if string(got.SecretSealed) != "fourth" || got.PreviousSecretSealed != nil || got.PreviousSecretUntil != nil {
		t.Fatalf("after a rotation that keeps nothing: %+v", got)
	}
	if n := len(got.SigningSecrets(time.Now())); n != 1 {
		t.Errorf("%d signing secrets, want 1", n)
	}
	if o, err := s.WebhookEndpoint(ctx, other.ID); err != nil || !bytes.Equal(o.SecretSealed, other.SecretSealed) || o.PreviousSecretSealed != nil {
		t.Errorf("the other endpoint = %+v, %v: a rotation changed it", o, err)
	}
	_, err = s.RotateWebhookSecret(ctx, "no-such-endpoint", []byte("x"), nil)
	wantErr(t, "rotate an unknown endpoint", err, store.ErrNotFound)
}

func testWebhookCancel(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ep := newEndpoint(t, s, "*")
	var ids []string
	for range 3 {
		ev := addFailedLogin(t, s, u.ID)
		ids = append(ids, ev.ID)
	}
	_, err := s.RecordWebhookAttempt(ctx, ep.ID, ids[0], store.WebhookAttempt{StatusCode: 400, Error: "answered 400"})
	mustNil(t, err)
	d, err := s.CancelWebhookDelivery(ctx, ep.ID, ids[0], "cancelled by an admin")
	mustNil(t, err)
	if d.Status != store.DeliveryFailed || d.LastError != "cancelled by an admin" || d.Attempts != 1 {
		t.Fatalf("cancelled = %+v", d)
	}
	sameIDsOrdered(t, "pending after a cancel", pendingIDs(t, s, ep.ID), ids[1:])
	// An attempt in flight when it was cancelled is not recorded.
	_, err = s.RecordWebhookAttempt(ctx, ep.ID, ids[0], store.WebhookAttempt{StatusCode: 204})
	wantErr(t, "attempt of a cancelled delivery", err, store.ErrConflict)
	// Cancelled again: as it was.
	d, err = s.CancelWebhookDelivery(ctx, ep.ID, ids[0], "again")
	mustNil(t, err)
	if d.Status != store.DeliveryFailed || d.LastError != "cancelled by an admin" {
		t.Errorf("cancelled twice = %+v", d)
	}
	_, err = s.RecordWebhookAttempt(ctx, ep.ID, ids[1], store.WebhookAttempt{StatusCode: 204})
	mustNil(t, err)
	_, err = s.CancelWebhookDelivery(ctx, ep.ID, ids[1], "too late")
	wantErr(t, "cancel a delivered delivery", err, store.ErrConflict)
	if d, err := s.WebhookDelivery(ctx, ep.ID, ids[1]); err != nil || d.Status != store.DeliveryDelivered {
		t.Errorf("a delivered delivery after a refused cancel = %+v, %v", d, err)
	}
	_, err = s.CancelWebhookDelivery(ctx, ep.ID, "no-such-event", "x")
	wantErr(t, "cancel an unknown delivery", err, store.ErrNotFound)
	_, err = s.CancelWebhookDelivery(ctx, "no-such-endpoint", ids[2], "x")
	wantErr(t, "cancel on an unknown endpoint", err, store.ErrNotFound)
	// A retry makes it pending again, in its place.
	mustNil(t, s.RetryWebhookDelivery(ctx, ep.ID, ids[0]))
	sameIDsOrdered(t, "pending after a retry of the cancelled one", pendingIDs(t, s, ep.ID), []string{ids[0], ids[2]})
}

func testWebhookPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	ep := newEndpoint(t, s, "*")
	other := newEndpoint(t, s, "*")
	now := time.Now().UTC().Truncate(time.Second)
	var evs []store.Event
	for range 6 {
		ev := addFailedLogin(t, s, u.ID)
		evs = append(evs, ev)
	}
	// ep: 0-3 delivered 40, 39, 38 and 1 day(s) ago, 0 after a failed
	// attempt; 4 failed once and pending; 5 pending. other: 0 delivered 40
	// days ago.
	day := 24 * time.Hour
	_, err := s.RecordWebhookAttempt(ctx, ep.ID, evs[0].ID, store.WebhookAttempt{At: now.Add(-41 * day), Error: "503"})
	mustNil(t, err)
	for i, ago := range []time.Duration{40 * day, 39 * day, 38 * day, day} {
		_, err := s.RecordWebhookAttempt(ctx, ep.ID, evs[i].ID, store.WebhookAttempt{At: now.Add(-ago), StatusCode: 204})
		mustNil(t, err)
	}
	_, err = s.RecordWebhookAttempt(ctx, ep.ID, evs[4].ID, store.WebhookAttempt{At: now.Add(-50 * day), Error: "503"})
	mustNil(t, err)
	_, err = s.RecordWebhookAttempt(ctx, other.ID, evs[0].ID, store.WebhookAttempt{At: now.Add(-40 * day), StatusCode: 204})
	mustNil(t, err)

	// Bounded: the two oldest (ep's 0 and other's 0, both 40 days ago, tie
	// included) go first.
	n, err := s.PruneWebhookDeliveries(ctx, now.Add(-30*day), 1)
	mustNil(t, err)
	if n != 2 {
		t.Errorf("pruned %d with a limit of 1 and a tie, want 2", n)
	}
	gone := func(endpoint, event string) bool {
		_, err := s.WebhookDelivery(ctx, endpoint, event)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		as, aerr := s.WebhookAttempts(ctx, endpoint, event)
		mustNil(t, aerr)
		if errors.Is(err, store.ErrNotFound) && len(as) != 0 {
			t.Errorf("the attempts of a pruned delivery stay: %+v", as)
		}
		return errors.Is(err, store.ErrNotFound)
	}
	if !gone(ep.ID, evs[0].ID) || !gone(other.ID, evs[0].ID) || gone(ep.ID, evs[1].ID) {
		t.Error("the first batch is not the oldest deliveries")
	}
	n, err = s.PruneWebhookDeliveries(ctx, now.Add(-30*day), 100)
	mustNil(t, err)
	if n != 2 {
		t.Errorf("pruned %d, want the other two older than 30 days", n)
	}
	for i, want := range []bool{true, true, true, false, false, false} {
		if got := gone(ep.ID, evs[i].ID); got != want {
			t.Errorf("delivery %d gone: %v, want %v", i, got, want)
		}
	}
	sameIDsOrdered(t, "pending after pruning", pendingIDs(t, s, ep.ID), []string{evs[4].ID, evs[5].ID})
	if as, err := s.WebhookAttempts(ctx, ep.ID, evs[4].ID); err != nil || len(as) != 1 {
		t.Errorf("the attempts of a pending delivery: %+v, %v", as, err)
	}

	// A failed delivery (its endpoint disabled) is kept for a redelivery.
	mustNil(t, s.DisableWebhookEndpoint(ctx, ep.ID, "failing", now))
	n, err = s.PruneWebhookDeliveries(ctx, now.Add(time.Hour), 100)
	mustNil(t, err)
	if n != 1 || !gone(ep.ID, evs[3].ID) || gone(ep.ID, evs[4].ID) || gone(ep.ID, evs[5].ID) {
		t.Errorf("pruned %d: want the delivered one alone, never the failed ones", n)
	}
}

func testWebhookPendingEndpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := newUser(t, s)
	pending := func() map[string]store.PendingWebhooks {
		t.Helper()
		ps, err := s.PendingWebhookEndpoints(ctx)
		mustNil(t, err)
		out := map[string]store.PendingWebhooks{}
		for i, p := range ps {
			if i > 0 && ps[i-1].EndpointID >= p.EndpointID {
				t.Errorf("not listed by id: %+v", ps)
			}
			out[p.EndpointID] = p
		}
		return out
	}
	if got := pending(); len(got) != 0 {
		t.Fatalf("pending with no endpoint: %+v", got)
	}
	a, b, quiet := newEndpoint(t, s, "*"), newEndpoint(t, s, "password_changed"), newEndpoint(t, s, "recovery_started")
	e1 := addFailedLogin(t, s, u.ID)
	e2 := store.Event{ID: RandomString(), UserID: u.ID, Type: "password_changed"}
	mustNil(t, s.AddEvent(ctx, e2))
	got := pending()
	if len(got) != 2 || got[a.ID].Pending != 2 || got[b.ID].Pending != 1 || got[a.ID].Newest != got[b.ID].Newest {
		t.Fatalf("pending = %+v (a %s, b %s)", got, a.ID, b.ID)
	}
	if _, ok := got[quiet.ID]; ok {
		t.Errorf("an endpoint with nothing queued is listed")
	}
	before := got[a.ID]

	// A new event moves Newest; a delivery lowers Pending; a retry raises it.
	addFailedLogin(t, s, u.ID)
	if p := pending()[a.ID]; p.Pending != 3 || p.Newest <= before.Newest {
		t.Errorf("after a new event: %+v, before %+v", p, before)
	}
	_, err := s.RecordWebhookAttempt(ctx, a.ID, e1.ID, store.WebhookAttempt{StatusCode: 200})
	mustNil(t, err)
	if p := pending()[a.ID]; p.Pending != 2 {
		t.Errorf("after a delivery: %+v", p)
	}
	_, err = s.RecordWebhookAttempt(ctx, b.ID, e2.ID, store.WebhookAttempt{StatusCode: 204})
	mustNil(t, err)
	if _, ok := pending()[b.ID]; ok {
		t.Errorf("an endpoint with every delivery made is listed")
	}
	mustNil(t, s.RetryWebhookDelivery(ctx, a.ID, e1.ID))
	if p := pending()[a.ID]; p.Pending != 3 {
		t.Errorf("after a retry: %+v", p)
	}
	mustNil(t, s.DisableWebhookEndpoint(ctx, a.ID, "test", time.Now()))
	if got := pending(); len(got) != 0 {
		t.Errorf("after disabling a: %+v", got)
	}
}

func sameIDsOrdered(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}
