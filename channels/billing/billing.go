// Package billing tells the billing system what authflow did to an
// account's cards: a webhook (BILLING_WEBHOOK_URL) that each call POSTs to
// with an Idempotency-Key header, so a retried call is one event.
package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/authflow/authflow/channels"
)

// Webhook POSTs to URL with an Idempotency-Key header.
type Webhook struct {
	URL string
	// Client sends the requests; nil: one with a 10 s timeout.
	Client *http.Client
}

var _ channels.BillingNotifier = (*Webhook)(nil)

// CardsUnlinked posts {"event":"bank_cards_unlinked","user_id","count"}.
// 4xx other than 408/429 will never succeed and is a
// channels.PermanentError; anything else may be retried.
func (b *Webhook) CardsUnlinked(ctx context.Context, userID string, count int, key string) error {
	body, _ := json.Marshal(map[string]any{"event": "bank_cards_unlinked", "user_id": userID, "count": count})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, bytes.NewReader(body))
	if err != nil {
		return &channels.PermanentError{Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	c := b.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("billing webhook: %w", err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != 408 && resp.StatusCode != 429:
		return &channels.PermanentError{Err: fmt.Errorf("billing webhook answered %s", resp.Status)}
	}
	return fmt.Errorf("billing webhook answered %s", resp.Status)
}
