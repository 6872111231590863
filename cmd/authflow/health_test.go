//go:build !nodev

package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/devserver"
	"github.com/authflow/authflow/workflows"
)

// TestWorkerIsReadyOnlyOnceItPolls runs a worker's /healthz and /readyz
// against an embedded Temporal: healthy as soon as the store and Temporal
// answer, ready only once this worker polls the task queue.
func TestWorkerIsReadyOnlyOnceItPolls(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an embedded Temporal server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ts, err := devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.NoUI, SearchAttributes: workflows.SearchAttributes})
	if err != nil {
		t.Fatal(err)
	}
	defer ts.Stop()
	cfg, err := config.LoadFrom(func(k string) string {
		if k == "AUTHFLOW_HASH_ISOLATION" {
			return "off"
		}
		return ""
	}, config.Dev, "")
	if err != nil {
		t.Fatal(err)
	}
	identity := workerIdentity()
	a, err := app.New(ctx, app.Options{Config: cfg, Outbox: channels.NewOutbox(), Dial: func(co client.Options) (client.Client, error) {
		co.Identity = identity
		return ts.NewClient(co)
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := workerHealth{store: a.Store, temporal: a.Temporal, identity: identity}
	get := func(ready bool) (int, map[string]string) {
		rec := httptest.NewRecorder()
		h.handler(ready).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		var body struct{ Checks map[string]string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("answer %q: %v", rec.Body.String(), err)
		}
		return rec.Code, body.Checks
	}

	t.Run("case=healthy but not ready before the worker polls", func(t *testing.T) {
		if code, checks := get(false); code != http.StatusOK {
			t.Errorf("/healthz = %d %v", code, checks)
		}
		code, checks := get(true)
		if code != http.StatusServiceUnavailable || !strings.Contains(checks["worker"], identity) {
			t.Errorf("/readyz = %d %v, want 503 naming this worker", code, checks)
		}
	})
	t.Run("case=ready once this worker polls", func(t *testing.T) {
		w, err := a.NewWorker()
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, checks := get(true)
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz = %d %v after the worker started", code, checks)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
