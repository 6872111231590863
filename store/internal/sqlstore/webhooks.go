package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/authflow/authflow/store"
)

// encodeFilter stores an event filter as ",a,b," (",*," for every type),
// so that one LIKE in queueWebhookDeliveries matches a type.
func encodeFilter(types []string) string {
	return "," + strings.Join(types, ",") + ","
}

func decodeFilter(s string) []string {
	s = strings.Trim(s, ",")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// queueDeliveries is the statement that adds a pending delivery of the
// event $1 for every enabled endpoint whose filter holds "*" or the event's
// type (typePattern), with status and pattern the placeholders given. from
// names where the event is read: the events table in AddEvent's
// transaction, or the rows its insert returned where one statement does
// both (Dialect.WritableCTE).
func queueDeliveries(from, status, pattern string) string {
	return `INSERT INTO webhook_deliveries (endpoint_id, event_seq, status, created_at)
		 SELECT w.id, ev.seq, ` + status + `, ev.at FROM ` + from + ` ev, webhook_endpoints w
		 WHERE ev.id = $1 AND w.disabled_at IS NULL
		   AND (w.events LIKE '%,*,%' OR w.events LIKE ` + pattern + ` ESCAPE '\')
		 ON CONFLICT (endpoint_id, event_seq) DO NOTHING`
}

// typePattern is the LIKE pattern that finds typ in an endpoint's filter
// (escaped: event types hold underscores, LIKE's one-character wildcard).
func typePattern(typ string) string { return "%," + likeEscaper.Replace(typ) + ",%" }

const endpointCols = `id, url, events, description, secret_sealed, created_at, disabled_at, disabled_reason,
	previous_secret_sealed, previous_secret_until`

func scanEndpoint(r scanner) (store.WebhookEndpoint, error) {
	var e store.WebhookEndpoint
	var events string
	err := r.Scan(&e.ID, &e.URL, &events, &e.Description, &e.SecretSealed, timeDest{&e.CreatedAt},
		nullTimeDest{&e.DisabledAt}, &e.DisabledReason, &e.PreviousSecretSealed, nullTimeDest{&e.PreviousSecretUntil})
	e.Events = decodeFilter(events)
	return e, err
}

// CreateWebhookEndpoint stores e with a new id and CreatedAt.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, e store.WebhookEndpoint) (store.WebhookEndpoint, error) {
	const op = "create webhook endpoint"
	switch {
	case e.URL == "":
		return store.WebhookEndpoint{}, s.invalid(op, "empty url")
	case len(e.Events) == 0:
		return store.WebhookEndpoint{}, s.invalid(op, "no event types")
	case len(e.SecretSealed) == 0:
		return store.WebhookEndpoint{}, s.invalid(op, "no secret")
	}
	for _, t := range e.Events {
		if t == "" || strings.Contains(t, ",") {
			return store.WebhookEndpoint{}, s.invalid(op, fmt.Sprintf("bad event type %q", t))
		}
	}
	e.ID = NewID()
	e.CreatedAt = ts(s.now())
	e.DisabledAt, e.DisabledReason = nil, ""
	_, err := s.db.Writer().Exec(ctx,
		`INSERT INTO webhook_endpoints (id, url, events, description, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.ID, e.URL, encodeFilter(e.Events), e.Description, e.SecretSealed, e.CreatedAt)
	if err != nil {
		return store.WebhookEndpoint{}, s.wrap(op, err)
	}
	return e, nil
}

// WebhookEndpoint returns ErrNotFound for an unknown id.
func (s *Store) WebhookEndpoint(ctx context.Context, id string) (store.WebhookEndpoint, error) {
	e, err := scanEndpoint(s.db.Reader().QueryRow(ctx, `SELECT `+endpointCols+` FROM webhook_endpoints WHERE id = $1`, id))
	if err != nil {
		return store.WebhookEndpoint{}, s.wrap("webhook endpoint", err)
	}
	return e, nil
}

// ListWebhookEndpoints lists every endpoint, oldest first.
func (s *Store) ListWebhookEndpoints(ctx context.Context) ([]store.WebhookEndpoint, error) {
	out, err := list(ctx, s.db.Reader(), scanEndpoint, `SELECT `+endpointCols+` FROM webhook_endpoints ORDER BY created_at, id`)
	if err != nil {
		return nil, s.wrap("list webhook endpoints", err)
	}
	return out, nil
}

// DeleteWebhookEndpoint forgets the endpoint, its deliveries and their
// attempts; ErrNotFound for an unknown id.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, id string) error {
	const op = "delete webhook endpoint"
	var n int64
	err := s.db.Tx(ctx, func(q Querier) error {
		// Children first: the cascade is the schema's, but SQLite applies it
		// only with foreign keys on, and this must not depend on it.
		if _, err := q.Exec(ctx, `DELETE FROM webhook_attempts WHERE endpoint_id = $1`, id); err != nil {
			return err
		}
		if _, err := q.Exec(ctx, `DELETE FROM webhook_deliveries WHERE endpoint_id = $1`, id); err != nil {
			return err
		}
		var err error
		n, err = q.Exec(ctx, `DELETE FROM webhook_endpoints WHERE id = $1`, id)
		return err
	})
	return s.notFoundIfNone(op, n, err)
}

// DisableWebhookEndpoint stops queueing for the endpoint and fails its
// pending deliveries, in one transaction; ErrNotFound for an unknown id.
// An endpoint disabled already keeps its first reason.
func (s *Store) DisableWebhookEndpoint(ctx context.Context, id, reason string, now time.Time) error {
	const op = "disable webhook endpoint"
	var found bool
	err := s.db.Tx(ctx, func(q Querier) error {
		found = false
		var disabledAt *time.Time
		err := q.QueryRow(ctx, `SELECT disabled_at FROM webhook_endpoints WHERE id = $1`+s.d.ForUpdate, id).Scan(nullTimeDest{&disabledAt})
		if isNoRows(err) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if disabledAt != nil {
			return nil
		}
		if _, err := q.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = $2, disabled_reason = $3 WHERE id = $1`,
			id, ts(now), reason); err != nil {
			return err
		}
		_, err = q.Exec(ctx,
			`UPDATE webhook_deliveries SET status = $2,
			   last_error = CASE WHEN last_error = '' THEN 'endpoint disabled' ELSE last_error END
			 WHERE endpoint_id = $1 AND status = $3`,
			id, store.DeliveryFailed, store.DeliveryPending)
		return err
	})
	if err != nil {
		return s.wrap(op, err)
	}
	if !found {
		return s.wrap(op, ErrNoRows)
	}
	return nil
}

// EnableWebhookEndpoint clears the endpoint's disablement and, with
// redeliverFailed, makes its failed deliveries pending, in one
// transaction; ErrNotFound for an unknown id.
func (s *Store) EnableWebhookEndpoint(ctx context.Context, id string, redeliverFailed bool) (int, error) {
	var n, requeued int64
	err := s.db.Tx(ctx, func(q Querier) error {
		var err error
		n, err = q.Exec(ctx, `UPDATE webhook_endpoints SET disabled_at = NULL, disabled_reason = '' WHERE id = $1`, id)
		if err != nil || n == 0 || !redeliverFailed {
			return err
		}
		requeued, err = q.Exec(ctx, `UPDATE webhook_deliveries SET status = $2 WHERE endpoint_id = $1 AND status = $3`,
			id, store.DeliveryPending, store.DeliveryFailed)
		return err
	})
	if err := s.notFoundIfNone("enable webhook endpoint", n, err); err != nil {
		return 0, err
	}
	return int(requeued), nil
}

// RotateWebhookSecret replaces the endpoint's secret, keeping the one it
// replaces (and dropping an older one) until previousUntil, or not at all
// when previousUntil is nil; ErrNotFound for an unknown id. The statement
// reads secret_sealed before it is set: SQL evaluates every right-hand
// side on the row as it was.
func (s *Store) RotateWebhookSecret(ctx context.Context, id string, sealed []byte, previousUntil *time.Time) (store.WebhookEndpoint, error) {
	const op = "rotate webhook secret"
	if len(sealed) == 0 {
		return store.WebhookEndpoint{}, s.invalid(op, "no secret")
	}
	keep := `secret_sealed`
	if previousUntil == nil {
		keep = `NULL`
	}
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE webhook_endpoints SET previous_secret_sealed = `+keep+`, previous_secret_until = $3, secret_sealed = $2 WHERE id = $1`,
		id, sealed, nullTime(previousUntil))
	if err := s.notFoundIfNone(op, n, err); err != nil {
		return store.WebhookEndpoint{}, err
	}
	return s.WebhookEndpoint(ctx, id)
}

const deliveryCols = `d.endpoint_id, d.status, d.attempts, d.last_status, d.last_error, d.created_at, d.last_attempt_at, d.delivered_at,
	ev.id, ev.user_id, ev.type, ev.at, ev.ip, ev.detail`

const deliveryFrom = ` FROM webhook_deliveries d JOIN events ev ON ev.seq = d.event_seq`

func scanDelivery(r scanner) (store.WebhookDelivery, error) {
	var d store.WebhookDelivery
	var detail []byte
	err := r.Scan(&d.EndpointID, &d.Status, &d.Attempts, &d.LastStatus, &d.LastError, timeDest{&d.CreatedAt},
		nullTimeDest{&d.LastAttemptAt}, nullTimeDest{&d.DeliveredAt},
		&d.Event.ID, &d.Event.UserID, &d.Event.Type, timeDest{&d.Event.At}, &d.Event.IP, &detail)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	d.Event.Detail = map[string]any{}
	if err := json.Unmarshal(detail, &d.Event.Detail); err != nil {
		return store.WebhookDelivery{}, fmt.Errorf("decode detail of event %s: %w", d.Event.ID, err)
	}
	if d.Event.Detail == nil {
		d.Event.Detail = map[string]any{}
	}
	return d, nil
}

// PendingWebhookDeliveries lists up to limit pending deliveries of the
// endpoint, oldest event first.
func (s *Store) PendingWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]store.WebhookDelivery, error) {
	if limit <= 0 {
		limit = 1
	}
	out, err := list(ctx, s.db.Reader(), scanDelivery,
		`SELECT `+deliveryCols+deliveryFrom+` WHERE d.endpoint_id = $1 AND d.status = $2 ORDER BY d.event_seq LIMIT $3`,
		endpointID, store.DeliveryPending, limit)
	if err != nil {
		return nil, s.wrap("pending webhook deliveries", err)
	}
	return out, nil
}

// WebhookDelivery returns ErrNotFound for an unknown endpoint or event, or
// an event never queued for the endpoint.
func (s *Store) WebhookDelivery(ctx context.Context, endpointID, eventID string) (store.WebhookDelivery, error) {
	return s.webhookDelivery(ctx, s.db.Reader(), endpointID, eventID, "")
}

func (s *Store) webhookDelivery(ctx context.Context, q Querier, endpointID, eventID, forUpdate string) (store.WebhookDelivery, error) {
	d, err := scanDelivery(q.QueryRow(ctx,
		`SELECT `+deliveryCols+deliveryFrom+` WHERE d.endpoint_id = $1 AND ev.id = $2`+forUpdate, endpointID, eventID))
	if err != nil {
		return store.WebhookDelivery{}, s.wrap("webhook delivery", err)
	}
	return d, nil
}

// ListWebhookDeliveries lists up to limit deliveries of the endpoint,
// newest event first (limit <= 0: all).
func (s *Store) ListWebhookDeliveries(ctx context.Context, endpointID string, limit int) ([]store.WebhookDelivery, error) {
	query := `SELECT ` + deliveryCols + deliveryFrom + ` WHERE d.endpoint_id = $1 ORDER BY d.event_seq DESC`
	args := []any{endpointID}
	if limit > 0 {
		query += ` LIMIT $2`
		args = append(args, limit)
	}
	out, err := list(ctx, s.db.Reader(), scanDelivery, query, args...)
	if err != nil {
		return nil, s.wrap("list webhook deliveries", err)
	}
	return out, nil
}

// WebhookAttempts lists a delivery's attempts, first first (none for an
// unknown delivery).
func (s *Store) WebhookAttempts(ctx context.Context, endpointID, eventID string) ([]store.WebhookAttempt, error) {
	out, err := list(ctx, s.db.Reader(), func(r scanner) (store.WebhookAttempt, error) {
		var a store.WebhookAttempt
		err := r.Scan(&a.N, timeDest{&a.At}, &a.StatusCode, &a.Error)
		return a, err
	}, `SELECT a.n, a.at, a.status_code, a.error FROM webhook_attempts a JOIN events ev ON ev.seq = a.event_seq
	    WHERE a.endpoint_id = $1 AND ev.id = $2 ORDER BY a.n`, endpointID, eventID)
	if err != nil {
		return nil, s.wrap("webhook attempts", err)
	}
	return out, nil
}

// RecordWebhookAttempt adds the next attempt of a pending delivery and
// marks it delivered when a.Error is empty; ErrConflict when the delivery
// is no longer pending, ErrNotFound when it does not exist.
func (s *Store) RecordWebhookAttempt(ctx context.Context, endpointID, eventID string, a store.WebhookAttempt) (store.WebhookDelivery, error) {
	const op = "record webhook attempt"
	at := s.stamp(a.At)
	var out store.WebhookDelivery
	err := s.db.Tx(ctx, func(q Querier) error {
		var seq int64
		var status string
		var attempts int
		err := q.QueryRow(ctx,
			`SELECT d.event_seq, d.status, d.attempts FROM webhook_deliveries d JOIN events ev ON ev.seq = d.event_seq
			 WHERE d.endpoint_id = $1 AND ev.id = $2`+s.d.ForUpdate, endpointID, eventID).Scan(&seq, &status, &attempts)
		if err != nil {
			return err
		}
		if status != store.DeliveryPending {
			return fmt.Errorf("delivery is %s: %w", status, store.ErrConflict)
		}
		n := attempts + 1
		if _, err := q.Exec(ctx,
			`INSERT INTO webhook_attempts (endpoint_id, event_seq, n, at, status_code, error) VALUES ($1, $2, $3, $4, $5, $6)`,
			endpointID, seq, n, at, a.StatusCode, a.Error); err != nil {
			return err
		}
		newStatus, delivered := store.DeliveryPending, any(nil)
		if a.Error == "" {
			newStatus, delivered = store.DeliveryDelivered, at
		}
		if _, err := q.Exec(ctx,
			`UPDATE webhook_deliveries SET status = $3, attempts = $4, last_status = $5, last_error = $6, last_attempt_at = $7,
			   delivered_at = COALESCE($8, delivered_at)
			 WHERE endpoint_id = $1 AND event_seq = $2`,
			endpointID, seq, newStatus, n, a.StatusCode, a.Error, at, delivered); err != nil {
			return err
		}
		out, err = s.webhookDelivery(ctx, q, endpointID, eventID, "")
		return err
	})
	if err != nil {
		return store.WebhookDelivery{}, s.wrap(op, err)
	}
	return out, nil
}

// RetryWebhookDelivery makes a delivery pending again; ErrNotFound when it
// does not exist.
func (s *Store) RetryWebhookDelivery(ctx context.Context, endpointID, eventID string) error {
	n, err := s.db.Writer().Exec(ctx,
		`UPDATE webhook_deliveries SET status = $3
		 WHERE endpoint_id = $1 AND event_seq = (SELECT seq FROM events WHERE id = $2)`,
		endpointID, eventID, store.DeliveryPending)
	return s.notFoundIfNone("retry webhook delivery", n, err)
}

// PruneWebhookDeliveries deletes, in one transaction, the oldest delivered
// deliveries before deliveredBefore — the limit oldest and any delivered
// at the same instant as the last of them — with their attempts first
// (the cascade is the schema's, but SQLite applies it only with foreign
// keys on). A delivery delivered meanwhile is delivered now, after the
// bound, so both statements see the same rows.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, deliveredBefore time.Time, limit int) (int, error) {
	if limit <= 0 {
		limit = 1000
	}
	var n int64
	err := s.db.Tx(ctx, func(q Querier) error {
		bound, pred := ts(deliveredBefore), `status = $1 AND delivered_at < $2`
		var last time.Time
		err := q.QueryRow(ctx,
			`SELECT delivered_at FROM webhook_deliveries WHERE `+pred+` ORDER BY delivered_at LIMIT 1 OFFSET $3`,
			store.DeliveryDelivered, bound, limit-1).Scan(timeDest{&last})
		switch {
		case isNoRows(err): // fewer than limit: all of them
		case err != nil:
			return err
		default:
			bound, pred = last, `status = $1 AND delivered_at <= $2`
		}
		if _, err := q.Exec(ctx,
			`DELETE FROM webhook_attempts WHERE (endpoint_id, event_seq) IN
			   (SELECT endpoint_id, event_seq FROM webhook_deliveries WHERE `+pred+`)`,
			store.DeliveryDelivered, bound); err != nil {
			return err
		}
		n, err = q.Exec(ctx, `DELETE FROM webhook_deliveries WHERE `+pred, store.DeliveryDelivered, bound)
		return err
	})
	if err != nil {
		return 0, s.wrap("prune webhook deliveries", err)
	}
	return int(n), nil
}

// CancelWebhookDelivery fails a pending delivery with reason (see
// store.Webhooks): one statement changes it only while it is pending, so
// an attempt recorded at the same moment either lands first (the delivery
// is delivered: ErrConflict) or finds it failed and is not recorded.
func (s *Store) CancelWebhookDelivery(ctx context.Context, endpointID, eventID, reason string) (store.WebhookDelivery, error) {
	const op = "cancel webhook delivery"
	_, err := s.db.Writer().Exec(ctx,
		`UPDATE webhook_deliveries SET status = $3, last_error = $4
		 WHERE endpoint_id = $1 AND event_seq = (SELECT seq FROM events WHERE id = $2) AND status = $5`,
		endpointID, eventID, store.DeliveryFailed, reason, store.DeliveryPending)
	if err != nil {
		return store.WebhookDelivery{}, s.wrap(op, err)
	}
	d, err := s.WebhookDelivery(ctx, endpointID, eventID)
	if err != nil {
		return store.WebhookDelivery{}, err
	}
	if d.Status == store.DeliveryDelivered {
		return d, s.wrap(op, fmt.Errorf("%w: delivered already", store.ErrConflict))
	}
	return d, nil
}

// PendingWebhookEndpoints lists the enabled endpoints with pending
// deliveries, by id (the partial index of migration 00010 keeps this to
// the pending rows, however many were delivered before).
func (s *Store) PendingWebhookEndpoints(ctx context.Context) ([]store.PendingWebhooks, error) {
	out, err := list(ctx, s.db.Reader(), func(r scanner) (store.PendingWebhooks, error) {
		var p store.PendingWebhooks
		err := r.Scan(&p.EndpointID, &p.Pending, &p.Newest)
		return p, err
	}, `SELECT d.endpoint_id, COUNT(*), MAX(d.event_seq) FROM webhook_deliveries d
	    JOIN webhook_endpoints w ON w.id = d.endpoint_id
	    WHERE d.status = $1 AND w.disabled_at IS NULL
	    GROUP BY d.endpoint_id ORDER BY d.endpoint_id`, store.DeliveryPending)
	if err != nil {
		return nil, s.wrap("pending webhook endpoints", err)
	}
	return out, nil
}
