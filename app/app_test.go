package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

func loadConfig(t *testing.T, mode config.Mode, env map[string]string) config.Config {
	t.Helper()
	base := map[string]string{
		"AUTHFLOW_DATABASE_URL":   "sqlite://:memory:",
		"AUTHFLOW_SECRET_KEY":     strings.Repeat("ab", 32),
		"AUTHFLOW_ADMIN_TOKEN":    "admin-token-0123456789",
		"AUTHFLOW_METRICS":        "off",
		"AUTHFLOW_HASH_ISOLATION": "off",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.LoadFrom(func(k string) string { return base[k] }, mode, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// build is app.New with a client that never connects; dialed receives the
// options the app dialed with.
func build(t *testing.T, o app.Options, dialed *client.Options) (*app.App, error) {
	t.Helper()
	o.Argon2 = &security.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}
	o.Dial = func(co client.Options) (client.Client, error) {
		if dialed != nil {
			*dialed = co
		}
		return client.NewLazyClient(co)
	}
	a, err := app.New(context.Background(), o)
	if a != nil {
		t.Cleanup(a.Close)
	}
	return a, err
}

func TestNew(t *testing.T) {
	t.Run("case=the worker and the API share the store, the hasher, the client and the limits", func(t *testing.T) {
		cfg := loadConfig(t, config.Dev, map[string]string{"AUTHFLOW_PHONE_SENDS_PER_HOUR": "77", "AUTHFLOW_WEBHOOK_RETENTION": "48h"})
		var co client.Options
		a, err := build(t, app.Options{Config: cfg, Outbox: channels.NewOutbox()}, &co)
		if err != nil {
			t.Fatal(err)
		}
		if a.Activities == nil || a.Activities.Store != a.Store || a.API.Store != a.Store || a.Activities.Hasher != a.Hasher ||
			a.API.Hasher != a.Hasher || a.API.Temporal != a.Temporal || a.Activities.Metrics == nil || a.API.Metrics != a.Metrics {
			t.Fatalf("not one wiring: %+v", a)
		}
		if a.Activities.Limits.PhoneSendsPerHour != 77 || a.API.Limits != a.Activities.Limits {
			t.Fatalf("limits: worker %+v, API %+v", a.Activities.Limits, a.API.Limits)
		}
		if co.DataConverter == nil || a.API.Codec == nil {
			t.Fatal("payloads are encrypted by default, and the codec is served")
		}
		w, err := a.NewWorker()
		if err != nil {
			t.Fatal(err)
		}
		if r, ok := w.(interface{ WebhookRetention() time.Duration }); !ok || r.WebhookRetention() != 48*time.Hour {
			t.Fatalf("the worker's relay does not prune after AUTHFLOW_WEBHOOK_RETENTION (%T)", w)
		}
	})
	t.Run("case=limits given replace the defaults for both", func(t *testing.T) {
		l := rules.DefaultLimits
		l.FailuresBeforeLock = 3
		a, err := build(t, app.Options{Config: loadConfig(t, config.Dev, nil), Outbox: channels.NewOutbox(), Limits: &l}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Activities.Limits.FailuresBeforeLock != 3 || a.API.Limits.FailuresBeforeLock != 3 {
			t.Fatalf("limits: worker %+v, API %+v", a.Activities.Limits, a.API.Limits)
		}
	})
	t.Run("case=plain payloads: no data converter, no codec", func(t *testing.T) {
		var co client.Options
		a, err := build(t, app.Options{Config: loadConfig(t, config.Dev, nil), Outbox: channels.NewOutbox(), PlainPayloads: true}, &co)
		if err != nil {
			t.Fatal(err)
		}
		if co.DataConverter != nil || a.API.Codec != nil {
			t.Fatal("plain payloads were encrypted")
		}
	})
	t.Run("case=an API-only process needs no channel provider and runs no worker", func(t *testing.T) {
		cfg := loadConfig(t, config.Production, map[string]string{"AUTHFLOW_METRICS": "off"})
		if _, err := build(t, app.Options{Config: cfg}, nil); err == nil || !strings.Contains(err.Error(), "email") {
			t.Fatalf("a worker without email: %v", err)
		}
		a, err := build(t, app.Options{Config: cfg, APIOnly: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if a.Activities != nil || a.API == nil || a.API.Limits != rules.DefaultLimits {
			t.Fatalf("API only: activities %v, API %v", a.Activities, a.API)
		}
		if _, err := a.NewWorker(); err == nil {
			t.Fatal("an API-only app made a worker")
		}
	})
	t.Run("case=the bot is Telegram's with a token, else the outbox", func(t *testing.T) {
		out := channels.NewOutbox()
		if _, ok := app.Bot(config.Config{TelegramBotToken: "1:tok"}, out).(*telegram.Client); !ok {
			t.Fatal("a token gets the real bot")
		}
		if app.Bot(config.Config{}, out) != channels.TelegramBot(out) || app.Bot(config.Config{}, nil) != nil {
			t.Fatal("without a token: the outbox, or no bot")
		}
	})
}
