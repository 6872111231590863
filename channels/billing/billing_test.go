package billing_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/billing"
)

func TestWebhook(t *testing.T) {
	var status int
	var got struct {
		key  string
		body map[string]any
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.key = r.Header.Get("Idempotency-Key")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &got.body)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	b := &billing.Webhook{URL: srv.URL}
	ctx := context.Background()

	t.Run("case=the event is posted with the idempotency key", func(t *testing.T) {
		status = http.StatusAccepted
		if err := b.CardsUnlinked(ctx, "u1", 2, "login/f1/cards"); err != nil {
			t.Fatal(err)
		}
		if got.key != "login/f1/cards" || got.body["event"] != "bank_cards_unlinked" || got.body["user_id"] != "u1" || got.body["count"] != 2.0 {
			t.Fatalf("posted %+v", got)
		}
	})
	for _, c := range []struct {
		status    int
		permanent bool
	}{{400, true}, {404, true}, {408, false}, {429, false}, {500, false}, {503, false}} {
		t.Run("case=answered "+http.StatusText(c.status), func(t *testing.T) {
			status = c.status
			err := b.CardsUnlinked(ctx, "u1", 1, "k")
			var perm *channels.PermanentError
			if err == nil || errors.As(err, &perm) != c.permanent {
				t.Fatalf("err = %v, permanent %v, want permanent %v", err, errors.As(err, &perm), c.permanent)
			}
		})
	}
}
