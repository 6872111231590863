package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/authflow/authflow/errkind"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/webhooks"
	"github.com/authflow/authflow/workflows"
)

// The admin API of webhook endpoints (docs/api.md "Webhooks",
// docs/design.md "Webhooks"): what to tell, where; the deliveries and
// their attempts; a redelivery.

func (s *Server) webhookRoutes(admin *gin.RouterGroup) {
	admin.POST("/webhooks", s.adminCreateWebhook)
	admin.GET("/webhooks", s.adminListWebhooks)
	admin.GET("/webhooks/:id", s.adminGetWebhook)
	admin.DELETE("/webhooks/:id", s.adminDeleteWebhook)
	admin.POST("/webhooks/:id/enable", s.adminEnableWebhook)
	admin.POST("/webhooks/:id/rotate-secret", s.adminRotateWebhookSecret)
	admin.GET("/webhooks/:id/deliveries", s.adminWebhookDeliveries)
	admin.POST("/webhooks/:id/deliveries/:delivery_id/retry", s.adminRetryWebhookDelivery)
	admin.POST("/webhooks/:id/deliveries/:delivery_id/cancel", s.adminCancelWebhookDelivery)
}

// webhookPolicy is the configuration's SSRF policy: https outside dev, no
// internal address unless AUTHFLOW_WEBHOOK_ALLOW_PRIVATE.
func (s *Server) webhookPolicy() webhooks.Policy {
	return webhooks.Policy{AllowHTTP: s.Cfg.Dev, AllowPrivate: s.Cfg.WebhookAllowPrivate}
}

// maxWebhookDescription bounds an endpoint's description (bytes).
const maxWebhookDescription = 500

// webhookJSON is an endpoint as the admin API shows it; never its secret.
type webhookJSON struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Events      []string  `json:"events"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// Enabled is false once the endpoint failed for 3 days: nothing is
	// queued for it any more, and DisabledAt and DisabledReason say when
	// and why.
	Enabled        bool       `json:"enabled"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
	// PreviousSecretExpiresAt is, after a rotation, when the secret it
	// replaced stops signing next to the current one; absent when none
	// signs any more.
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

// webhookOut is e as the admin API shows it at now.
func (s *Server) webhookOut(e store.WebhookEndpoint) webhookJSON {
	out := webhookJSON{ID: e.ID, URL: e.URL, Events: e.Events, Description: e.Description, CreatedAt: e.CreatedAt.UTC(),
		Enabled: e.DisabledAt == nil, DisabledReason: e.DisabledReason}
	if out.Events == nil {
		out.Events = []string{}
	}
	if e.DisabledAt != nil {
		t := e.DisabledAt.UTC()
		out.DisabledAt = &t
	}
	if len(e.SigningSecrets(s.now())) > 1 {
		t := e.PreviousSecretUntil.UTC()
		out.PreviousSecretExpiresAt = &t
	}
	return out
}

func (s *Server) adminCreateWebhook(c *gin.Context) {
	var req struct {
		URL         string   `json:"url"`
		Events      []string `json:"events"`
		Description string   `json:"description"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	req.URL = strings.TrimSpace(req.URL)
	if req.URL == "" {
		fail(c, badRequest("url is required: the https URL to send events to"))
		return
	}
	events, err := webhooks.ParseFilter(req.Events)
	if err != nil {
		fail(c, badRequest(err.Error()))
		return
	}
	if len(req.Description) > maxWebhookDescription || !utf8.ValidString(req.Description) {
		fail(c, badRequest(fmt.Sprintf("description: at most %d bytes of UTF-8", maxWebhookDescription)))
		return
	}
	if !s.webhookURLAccepted(c, req.URL, func(why string) string { return "url: " + why }) {
		return
	}
	secret, sealed := s.newWebhookSecret()
	e, err := s.Store.CreateWebhookEndpoint(c.Request.Context(), store.WebhookEndpoint{URL: req.URL, Events: events,
		Description: req.Description, SecretSealed: sealed})
	if err != nil {
		fail(c, err)
		return
	}
	logFrom(c).Info("webhook endpoint created", "endpoint_id", e.ID, "events", strings.Join(events, ","))
	s.answerWithSecret(c, http.StatusCreated, e, secret)
}

// webhookURLAccepted checks u against the SSRF policy, its DNS lookups
// included (5 s at most); a refused URL is 400 bad_request, refused(why)
// saying why.
func (s *Server) webhookURLAccepted(c *gin.Context, u string, refused func(why string) string) bool {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
	defer cancel()
	err := s.webhookPolicy().CheckURL(ctx, u)
	var ue *webhooks.URLError
	switch {
	case errors.As(err, &ue):
		fail(c, badRequest(refused(ue.Reason)))
		return false
	case err != nil:
		fail(c, err)
		return false
	}
	return true
}

// newWebhookSecret is a new whsec_ secret and the sealed form the store
// keeps of it.
func (s *Server) newWebhookSecret() (secret string, sealed []byte) {
	secret = webhooks.NewSecret()
	return secret, s.Sealer.Seal(webhooks.PurposeSecret, []byte(secret))
}

// answerWithSecret answers e with its secret: the only answers that show
// one (creation, rotation), which no cache may keep.
func (s *Server) answerWithSecret(c *gin.Context, status int, e store.WebhookEndpoint, secret string) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, struct {
		webhookJSON
		Secret string `json:"secret"`
	}{s.webhookOut(e), secret})
}

// failEndpoint answers a store error about the path's endpoint: 404
// not_found when there is no such endpoint.
func failEndpoint(c *gin.Context, err error) {
	if errors.Is(err, store.ErrNotFound) {
		err = newErr(errkind.NotFound, "no such webhook endpoint")
	}
	fail(c, err)
}

// wakeWebhook signals the endpoint's workflow, starting it when it is not
// running. The outbox is the truth: if Temporal does not answer, the relay
// wakes the workflow within seconds, so a failure is only logged.
func (s *Server) wakeWebhook(c *gin.Context, endpointID, signal string, arg any) {
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	if err := workflows.WakeWebhook(ctx, s.Temporal, endpointID, signal, arg, s.now()); err != nil {
		logFrom(c).Warn("webhook: the workflow was not woken; the relay will", "endpoint_id", endpointID, "signal", signal, "err", err)
	}
}

func (s *Server) adminListWebhooks(c *gin.Context) {
	es, err := s.Store.ListWebhookEndpoints(c.Request.Context())
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]webhookJSON, len(es))
	for i, e := range es {
		out[i] = s.webhookOut(e)
	}
	c.JSON(http.StatusOK, gin.H{"webhooks": out})
}

// endpoint reads the path's endpoint; an unknown one is 404 not_found.
func (s *Server) endpoint(c *gin.Context) (store.WebhookEndpoint, bool) {
	e, err := s.Store.WebhookEndpoint(c.Request.Context(), c.Param("id"))
	if err != nil {
		failEndpoint(c, err)
		return e, false
	}
	return e, true
}

func (s *Server) adminGetWebhook(c *gin.Context) {
	if e, ok := s.endpoint(c); ok {
		c.JSON(http.StatusOK, s.webhookOut(e))
	}
}

func (s *Server) adminDeleteWebhook(c *gin.Context) {
	id := c.Param("id")
	if err := s.Store.DeleteWebhookEndpoint(c.Request.Context(), id); err != nil {
		failEndpoint(c, err)
		return
	}
	// Its workflow would end at its next step by itself; one waiting out a
	// back-off ends now. Not running, or Temporal away: nothing to do.
	ctx, cancel := rpc(c, rpcTimeout)
	defer cancel()
	_ = s.Temporal.CancelWorkflow(ctx, workflows.WebhookWorkflowID(id), "")
	logFrom(c).Info("webhook endpoint deleted", "endpoint_id", id)
	c.Status(http.StatusNoContent)
}

// adminEnableWebhook lets an endpoint that was disabled (3 days of failed
// attempts) take events again, its secret unchanged; with
// redeliver_failed its failed deliveries are attempted again, in order.
// The URL is checked again, as at creation: the SSRF policy may have
// changed since. Events of the time it was disabled were never queued.
func (s *Server) adminEnableWebhook(c *gin.Context) {
	var req struct {
		RedeliverFailed bool `json:"redeliver_failed"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	e, ok := s.endpoint(c)
	if !ok {
		return
	}
	if !s.webhookURLAccepted(c, e.URL, func(why string) string {
		return "url is refused now: " + why + "; create an endpoint with another URL"
	}) {
		return
	}
	requeued, err := s.Store.EnableWebhookEndpoint(c.Request.Context(), e.ID, req.RedeliverFailed)
	if err != nil {
		failEndpoint(c, err)
		return
	}
	logFrom(c).Info("webhook endpoint enabled", "endpoint_id", e.ID, "was_disabled", e.DisabledAt != nil, "redelivered", requeued)
	if requeued > 0 {
		s.wakeWebhook(c, e.ID, workflows.SignalWebhookPending, nil)
	}
	e.DisabledAt, e.DisabledReason = nil, ""
	c.JSON(http.StatusOK, struct {
		webhookJSON
		Redelivered int `json:"redelivered"`
	}{s.webhookOut(e), requeued})
}

// defaultKeepPrevious and maxKeepPrevious bound how long a rotated-out
// secret keeps signing: a day by default, for receivers that deploy the
// new secret at their own pace; at most a week.
const (
	defaultKeepPrevious = 24 * time.Hour
	maxKeepPrevious     = 7 * 24 * time.Hour
)

// adminRotateWebhookSecret gives an endpoint a new secret, shown in this
// answer only. The secret it replaces keeps signing next to it (two
// signatures in webhook-signature) for keep_previous_for_seconds (a day by
// default); 0 stops it at once, for a secret that leaked.
func (s *Server) adminRotateWebhookSecret(c *gin.Context) {
	var req struct {
		KeepPrevious *int64 `json:"keep_previous_for_seconds"`
	}
	if err := bind(c, &req); err != nil {
		fail(c, err)
		return
	}
	keep := defaultKeepPrevious
	if req.KeepPrevious != nil {
		if *req.KeepPrevious < 0 || *req.KeepPrevious > int64(maxKeepPrevious/time.Second) {
			fail(c, badRequest(fmt.Sprintf("keep_previous_for_seconds must be 0-%d (a week)", int64(maxKeepPrevious/time.Second))))
			return
		}
		keep = time.Duration(*req.KeepPrevious) * time.Second
	}
	var until *time.Time
	if keep > 0 {
		t := s.now().Add(keep)
		until = &t
	}
	secret, sealed := s.newWebhookSecret()
	e, err := s.Store.RotateWebhookSecret(c.Request.Context(), c.Param("id"), sealed, until)
	if err != nil {
		failEndpoint(c, err)
		return
	}
	logFrom(c).Info("webhook secret rotated", "endpoint_id", e.ID, "previous_signs_for", keep.String())
	s.answerWithSecret(c, http.StatusOK, e, secret)
}

// deliveryJSON is one event queued for an endpoint, with its attempts.
type deliveryJSON struct {
	// ID is the event's id: the webhook-id every attempt carries.
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	UserID     string    `json:"user_id"`
	OccurredAt time.Time `json:"occurred_at"`
	Status     string    `json:"status"`
	// LastError is why the last attempt failed, or why the delivery was
	// given up ("endpoint disabled", "cancelled by an admin"); "" when
	// none failed or the last one was delivered.
	LastError     string        `json:"last_error"`
	QueuedAt      time.Time     `json:"queued_at"`
	LastAttemptAt *time.Time    `json:"last_attempt_at,omitempty"`
	DeliveredAt   *time.Time    `json:"delivered_at,omitempty"`
	Attempts      []attemptJSON `json:"attempts"`
}

type attemptJSON struct {
	Number     int       `json:"number"`
	At         time.Time `json:"at"`
	Outcome    string    `json:"outcome"`     // delivered | failed
	StatusCode int       `json:"status_code"` // 0: no answer came
	Error      string    `json:"error,omitempty"`
}

func (s *Server) deliveryOut(ctx context.Context, d store.WebhookDelivery) (deliveryJSON, error) {
	as, err := s.Store.WebhookAttempts(ctx, d.EndpointID, d.Event.ID)
	if err != nil {
		return deliveryJSON{}, err
	}
	out := deliveryJSON{ID: d.Event.ID, Type: d.Event.Type, UserID: d.Event.UserID, OccurredAt: d.Event.At.UTC(),
		Status: d.Status, LastError: d.LastError, QueuedAt: d.CreatedAt.UTC(), Attempts: make([]attemptJSON, len(as))}
	if d.LastAttemptAt != nil {
		t := d.LastAttemptAt.UTC()
		out.LastAttemptAt = &t
	}
	if d.DeliveredAt != nil {
		t := d.DeliveredAt.UTC()
		out.DeliveredAt = &t
	}
	for i, a := range as {
		outcome := "delivered"
		if a.Error != "" {
			outcome = "failed"
		}
		out.Attempts[i] = attemptJSON{Number: a.N, At: a.At.UTC(), Outcome: outcome, StatusCode: a.StatusCode, Error: a.Error}
	}
	return out, nil
}

// maxDeliveriesPage is the most deliveries one answer lists.
const maxDeliveriesPage = 1000

func (s *Server) adminWebhookDeliveries(c *gin.Context) {
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxDeliveriesPage {
			fail(c, badRequest(fmt.Sprintf("limit must be 1-%d", maxDeliveriesPage)))
			return
		}
		limit = n
	}
	e, ok := s.endpoint(c)
	if !ok {
		return
	}
	ds, err := s.Store.ListWebhookDeliveries(c.Request.Context(), e.ID, limit)
	if err != nil {
		fail(c, err)
		return
	}
	out := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		if out[i], err = s.deliveryOut(c.Request.Context(), d); err != nil {
			fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"deliveries": out})
}

// adminRetryWebhookDelivery makes a delivery pending again — delivered,
// failed or pending alike — and wakes the endpoint's workflow, ending a
// back-off in progress. The outbox is the truth: if Temporal does not
// answer, the relay wakes the workflow within seconds.
func (s *Server) adminRetryWebhookDelivery(c *gin.Context) {
	e, ok := s.endpoint(c)
	if !ok {
		return
	}
	if e.DisabledAt != nil {
		fail(c, newErr(errkind.Conflict, "the endpoint is disabled ("+e.DisabledReason+"): nothing is delivered to it; enable it first (POST /v1/admin/webhooks/"+e.ID+"/enable)"))
		return
	}
	eventID := c.Param("delivery_id")
	err := s.Store.RetryWebhookDelivery(c.Request.Context(), e.ID, eventID)
	if errors.Is(err, store.ErrNotFound) {
		fail(c, newErr(errkind.NotFound, "no such delivery of this endpoint"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	s.wakeWebhook(c, e.ID, workflows.SignalWebhookRetry, workflows.WebhookRetry{EventID: eventID})
	d, err := s.Store.WebhookDelivery(c.Request.Context(), e.ID, eventID)
	if err != nil {
		fail(c, err)
		return
	}
	out, err := s.deliveryOut(c.Request.Context(), d)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, out)
}

// adminCancelWebhookDelivery gives up a pending delivery — one the
// receiver refuses for good holds back every event behind it until the
// endpoint is disabled, 3 days later — and wakes the endpoint's workflow,
// which ends its back-off and goes on with the next delivery. The delivery
// stays listed as failed ("cancelled by an admin"); a retry sends it
// again.
func (s *Server) adminCancelWebhookDelivery(c *gin.Context) {
	e, ok := s.endpoint(c)
	if !ok {
		return
	}
	eventID := c.Param("delivery_id")
	d, err := s.Store.CancelWebhookDelivery(c.Request.Context(), e.ID, eventID, "cancelled by an admin")
	switch {
	case errors.Is(err, store.ErrNotFound):
		fail(c, newErr(errkind.NotFound, "no such delivery of this endpoint"))
		return
	case errors.Is(err, store.ErrConflict):
		fail(c, newErr(errkind.Conflict, "the delivery was delivered already"))
		return
	case err != nil:
		fail(c, err)
		return
	}
	logFrom(c).Info("webhook delivery cancelled", "endpoint_id", e.ID, "event_id", eventID)
	if e.DisabledAt == nil {
		// The retry signal ends a back-off; the attempt that follows finds
		// the delivery failed and moves on. Temporal away: the back-off
		// ends by itself, with the same outcome.
		ctx, cancel := rpc(c, rpcTimeout)
		defer cancel()
		if err := s.Temporal.SignalWorkflow(ctx, workflows.WebhookWorkflowID(e.ID), "", workflows.SignalWebhookRetry,
			workflows.WebhookRetry{EventID: eventID}); err != nil {
			logFrom(c).Info("webhook cancel: the workflow was not signalled (not running, or Temporal away)", "endpoint_id", e.ID, "err", err)
		}
	}
	out, err := s.deliveryOut(c.Request.Context(), d)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}
