// Package app builds authflow from its configuration — the store, the
// password hasher, the sealer, the metrics, the Temporal client, the
// activities and the API server, and a worker on demand — in one
// constructor. The binary's serving subcommands (`server`, `api`,
// `worker`, `dev`), the tests' stack (internal/stack) and the bench all
// build it here, so what they run is wired the same way; they differ only
// in the Options they pass.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/activities"
	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/channels/telegram"
	"github.com/authflow/authflow/codec"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/metrics"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/worker"
	"github.com/authflow/authflow/workflows"
)

// Options say how a process's app differs from production's. The zero
// value (with a Config) is production: external Temporal at
// TEMPORAL_ADDRESS, encrypted payloads, argon2id with the production
// parameters, hashing as AUTHFLOW_HASH_ISOLATION says.
type Options struct {
	Config config.Config
	// Log receives authflow's logs (nil: discarded); SDKLog the Temporal
	// SDK's (nil: Log, as component temporal-sdk).
	Log, SDKLog *slog.Logger
	// Dial connects to Temporal with the options every client of the app
	// uses (data converter, logger, metrics). Nil: DialTemporal, the
	// external cluster of TEMPORAL_ADDRESS. `authflow dev` and the tests
	// dial their embedded server.
	Dial func(client.Options) (client.Client, error)
	// Outbox stands in for the channels without a provider (dev only).
	Outbox *channels.Outbox
	// Argon2 replaces the production hashing parameters (the bench's
	// --hash-cost, cheaper tests).
	Argon2 *security.Argon2Params
	// PlainPayloads leaves payloads unencrypted and serves no codec: tests
	// that record and read histories.
	PlainPayloads bool
	// Limits replace the default limits (and AUTHFLOW_PHONE_SENDS_PER_HOUR)
	// for the worker and the API alike.
	Limits *rules.Limits
	// APIOnly builds no activities: `authflow api` needs no channel
	// providers and runs no worker.
	APIOnly bool
}

// App is a built authflow. Close releases it.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Store    store.Store
	Hasher   *security.Hasher
	Sealer   *security.Sealer
	Metrics  *metrics.Metrics
	Outbox   *channels.Outbox
	Temporal client.Client
	// Activities are the worker's (nil with APIOnly).
	Activities *activities.Activities
	// API is the HTTP API; its Handler serves it.
	API *api.Server
}

// New builds the app. On an error, what was opened is closed again.
func New(ctx context.Context, o Options) (_ *App, err error) {
	cfg := o.Config
	a := &App{Config: cfg, Log: o.Log, Outbox: o.Outbox, Metrics: metrics.New()}
	if a.Log == nil {
		a.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	params := security.DefaultArgon2
	if o.Argon2 != nil {
		params = *o.Argon2
	}
	a.Hasher = security.NewHasherWithIsolation(params, !cfg.HashInProcess)
	if a.Sealer, err = security.NewSealer(cfg.SecretKey); err != nil {
		return nil, err
	}
	if a.Store, err = opener.Open(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	limits := rules.DefaultLimits
	if o.Limits != nil {
		limits = *o.Limits
	}
	if !o.APIOnly {
		if a.Activities, err = worker.NewActivities(cfg, a.Store, a.Outbox, a.Hasher, a.Log); err != nil {
			return nil, err
		}
		if o.Limits != nil {
			a.Activities.Limits = *o.Limits
		}
		limits = a.Activities.Limits
		a.Activities.Metrics = a.Metrics
	}
	co, err := a.clientOptions(o)
	if err != nil {
		return nil, err
	}
	dial := o.Dial
	if dial == nil {
		dial = func(co client.Options) (client.Client, error) { return DialTemporal(ctx, cfg, co) }
	}
	if a.Temporal, err = dial(co); err != nil {
		return nil, err
	}
	var pc converter.PayloadCodec
	if !o.PlainPayloads {
		if pc, err = codec.New(cfg.SecretKey); err != nil {
			return nil, err
		}
	}
	a.API = &api.Server{Cfg: cfg, Store: a.Store, Temporal: a.Temporal, Hasher: a.Hasher, Sealer: a.Sealer,
		Outbox: a.Outbox, Bot: Bot(cfg, a.Outbox), Log: a.Log, SessionTTL: worker.SessionTTL, Metrics: a.Metrics,
		Codec: pc, CodecOrigins: cfg.CodecOrigins, Limits: limits}
	return a, nil
}

// clientOptions are every Temporal client's: payloads encrypted under
// AUTHFLOW_SECRET_KEY (unless PlainPayloads), the SDK's logs, and its
// metrics in the app's registry.
func (a *App) clientOptions(o Options) (client.Options, error) {
	sdkLog := o.SDKLog
	if sdkLog == nil {
		sdkLog = a.Log.With("component", "temporal-sdk")
	}
	co := client.Options{Logger: sdklog.NewStructuredLogger(sdkLog), MetricsHandler: a.Metrics.SDKHandler()}
	if !o.PlainPayloads {
		dc, err := codec.DataConverter(a.Config.SecretKey)
		if err != nil {
			return client.Options{}, err
		}
		co.DataConverter = dc
	}
	return co, nil
}

// NewWorker is a worker of the app's workflows and activities on its
// Temporal client, not started yet.
func (a *App) NewWorker() (sdkworker.Worker, error) {
	if a.Activities == nil {
		return nil, errors.New("the app was built without activities (APIOnly): it runs no worker")
	}
	return worker.New(a.Temporal, a.Activities, worker.Options{WebhookRetention: a.Config.WebhookRetention}), nil
}

// Close releases the Temporal client, the store and the hashing children.
func (a *App) Close() {
	if a.Temporal != nil {
		a.Temporal.Close()
	}
	if a.Store != nil {
		_ = a.Store.Close()
	}
	if a.Hasher != nil {
		a.Hasher.Close()
	}
}

// Bot is the Telegram bot the API answers button presses and /start
// messages with: the real one when TELEGRAM_BOT_TOKEN is set, else the
// dev outbox (nil without one).
func Bot(cfg config.Config, outbox *channels.Outbox) channels.TelegramBot {
	if cfg.TelegramBotToken != "" {
		return telegram.New(cfg.TelegramBotToken, cfg.TelegramAPIURL)
	}
	if outbox != nil {
		return outbox
	}
	return nil
}

// DialTemporal connects to TEMPORAL_ADDRESS in TEMPORAL_NAMESPACE and makes
// sure authflow's search attributes exist there.
func DialTemporal(ctx context.Context, cfg config.Config, o client.Options) (client.Client, error) {
	o.HostPort, o.Namespace = cfg.TemporalAddress, cfg.TemporalNamespace
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.TemporalAddress, err)
	}
	if err := ensureSearchAttributes(ctx, c, cfg.TemporalNamespace); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// ClientOptions are the options of a client outside an app (`authflow
// flows`): payloads encrypted under AUTHFLOW_SECRET_KEY, the SDK's logs.
func ClientOptions(cfg config.Config, log *slog.Logger) (client.Options, error) {
	a := &App{Config: cfg, Log: log, Metrics: metrics.New()}
	return a.clientOptions(Options{})
}

// ensureSearchAttributes registers the missing attributes (idempotent).
func ensureSearchAttributes(ctx context.Context, c client.Client, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	have, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes {
		if _, ok := have.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
	if err != nil {
		return fmt.Errorf("register search attributes %v: %w", missing, err)
	}
	return nil
}
