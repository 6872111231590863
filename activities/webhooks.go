package activities

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
)

// The activities of the Webhook workflow (docs/design.md "Webhooks"). The
// outbox is the store's: a delivery is pending there from the event's own
// transaction until an attempt is answered with a 2xx; the workflow only
// decides when to try.

// PendingWebhooksInput asks for an endpoint's next deliveries.
type PendingWebhooksInput struct {
	EndpointID string
	Limit      int
}

// PendingWebhooksResult is the endpoint's pending deliveries, in the
// outbox's order.
type PendingWebhooksResult struct {
	// EventIDs are the deliveries' event ids (their webhook-id).
	EventIDs []string
	// Ended says the endpoint was deleted or disabled: nothing more will
	// be delivered to it.
	Ended bool
}

// PendingWebhooks reads the endpoint's next pending deliveries.
func (a *Activities) PendingWebhooks(ctx context.Context, in PendingWebhooksInput) (PendingWebhooksResult, error) {
	e, err := a.Store.WebhookEndpoint(ctx, in.EndpointID)
	if errors.Is(err, store.ErrNotFound) {
		return PendingWebhooksResult{Ended: true}, nil
	}
	if err != nil {
		return PendingWebhooksResult{}, storeErr("webhook endpoint", err)
	}
	if e.DisabledAt != nil {
		return PendingWebhooksResult{Ended: true}, nil
	}
	ds, err := a.Store.PendingWebhookDeliveries(ctx, in.EndpointID, in.Limit)
	if err != nil {
		return PendingWebhooksResult{}, storeErr("pending webhook deliveries", err)
	}
	out := PendingWebhooksResult{EventIDs: make([]string, len(ds))}
	for i, d := range ds {
		out.EventIDs[i] = d.Event.ID
	}
	return out, nil
}

// DeliverWebhookInput names one delivery.
type DeliverWebhookInput struct {
	EndpointID string
	EventID    string
}

// Outcomes of a delivery attempt.
const (
	// WebhookDelivered: the receiver answered 2xx.
	WebhookDelivered = "delivered"
	// WebhookFailed: no answer, or another status; the workflow backs off.
	WebhookFailed = "failed"
	// WebhookSkipped: the delivery is no longer pending (delivered by an
	// earlier run, or failed when its endpoint was disabled): no attempt.
	WebhookSkipped = "skipped"
	// WebhookGone: the endpoint was deleted or disabled: no attempt.
	WebhookGone = "gone"
)

// WebhookAttemptResult is an attempt as the workflow needs it: nothing of
// the payload or the secret enters the history.
type WebhookAttemptResult struct {
	Outcome    string
	Attempt    int // the attempt's number, 1 for the first
	StatusCode int // 0 when no answer came
	Error      string
}

// DeliverWebhook makes ONE attempt to deliver an event to an endpoint and
// records it: the event is read from the outbox, signed with the endpoint's
// secret (opened here, never in history) and posted by the SSRF-safe
// client. A receiver's failure is an outcome, not an error: the workflow
// backs off on its own clock. An error is the store's, and a retry of the
// activity posts again with the same webhook-id (at least once).
func (a *Activities) DeliverWebhook(ctx context.Context, in DeliverWebhookInput) (WebhookAttemptResult, error) {
	e, err := a.Store.WebhookEndpoint(ctx, in.EndpointID)
	if errors.Is(err, store.ErrNotFound) {
		return WebhookAttemptResult{Outcome: WebhookGone}, nil
	}
	if err != nil {
		return WebhookAttemptResult{}, storeErr("webhook endpoint", err)
	}
	if e.DisabledAt != nil {
		return WebhookAttemptResult{Outcome: WebhookGone}, nil
	}
	d, err := a.Store.WebhookDelivery(ctx, in.EndpointID, in.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return WebhookAttemptResult{Outcome: WebhookSkipped}, nil
	}
	if err != nil {
		return WebhookAttemptResult{}, storeErr("webhook delivery", err)
	}
	if d.Status != store.DeliveryPending {
		return WebhookAttemptResult{Outcome: WebhookSkipped}, nil
	}
	now := a.now()
	var res webhooks.Result
	if secrets, err := a.signingSecrets(e, now); err != nil {
		// Nothing unsigned, or signed with only some of the secrets, is
		// ever sent: an endpoint whose secret cannot be opened
		// (AUTHFLOW_SECRET_KEY changed) fails until it is disabled, and its
		// admin rotates the secret or makes a new endpoint.
		res = webhooks.Result{Err: err}
	} else {
		res = a.webhookClient().Send(ctx, e.URL, secrets, message(d.Event), now)
	}
	attempt := store.WebhookAttempt{At: now, StatusCode: res.StatusCode}
	if res.Err != nil {
		attempt.Error = attemptError(res.Err.Error(), 500)
	}
	rec, err := a.Store.RecordWebhookAttempt(ctx, in.EndpointID, in.EventID, attempt)
	switch {
	case errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound):
		// Delivered by another attempt meanwhile, failed by a disable, or
		// deleted with its endpoint.
		return WebhookAttemptResult{Outcome: WebhookSkipped}, nil
	case err != nil:
		return WebhookAttemptResult{}, storeErr("record webhook attempt", err)
	}
	out := WebhookAttemptResult{Outcome: WebhookDelivered, Attempt: rec.Attempts, StatusCode: res.StatusCode}
	if res.Err != nil {
		out.Outcome, out.Error = WebhookFailed, attempt.Error
		a.log(ctx).Info("webhook attempt failed", "endpoint_id", in.EndpointID, "event_id", in.EventID,
			"attempt", rec.Attempts, "status", res.StatusCode, "err", attempt.Error)
	}
	return out, nil
}

// signingSecrets opens the secrets a delivery at now is signed with: the
// endpoint's, and the one its last rotation replaced while it lasts.
func (a *Activities) signingSecrets(e store.WebhookEndpoint, now time.Time) ([]string, error) {
	sealed := e.SigningSecrets(now)
	out := make([]string, len(sealed))
	for i, s := range sealed {
		secret, err := a.Sealer.Open(webhooks.PurposeSecret, s)
		if err != nil {
			return nil, errors.New("the endpoint's signing secret cannot be opened (was AUTHFLOW_SECRET_KEY changed?)")
		}
		out[i] = string(secret)
	}
	return out, nil
}

// message is an event as a webhook carries it; data is the event's detail
// and, when the event has one, its ip.
func message(ev store.Event) webhooks.Message {
	data := maps.Clone(ev.Detail)
	if data == nil {
		data = map[string]any{}
	}
	if ev.IP != "" {
		data["ip"] = ev.IP
	}
	return webhooks.Message{ID: ev.ID, Type: ev.Type, OccurredAt: ev.At, UserID: ev.UserID, Data: data}
}

func (a *Activities) webhookClient() *webhooks.Client {
	if a.Webhooks != nil {
		return a.Webhooks
	}
	// Unconfigured: the strictest policy.
	return webhooks.NewClient(webhooks.Policy{})
}

// attemptError keeps at most n bytes of an attempt's error, valid UTF-8
// (PostgreSQL refuses anything else).
func attemptError(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// DisableWebhookInput disables an endpoint that failed for too long.
type DisableWebhookInput struct {
	EndpointID string
	Reason     string
}

// DisableWebhookEndpoint stops queueing for the endpoint and fails its
// pending deliveries; an endpoint deleted meanwhile is left alone.
func (a *Activities) DisableWebhookEndpoint(ctx context.Context, in DisableWebhookInput) error {
	err := a.Store.DisableWebhookEndpoint(ctx, in.EndpointID, in.Reason, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return storeErr("disable webhook endpoint", err)
	}
	a.log(ctx).Warn("webhook endpoint disabled", "endpoint_id", in.EndpointID, "reason", in.Reason)
	return nil
}
