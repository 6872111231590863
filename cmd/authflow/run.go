package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/codec"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/metrics"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/worker"
	"github.com/authflow/authflow/workflows"
)

// app is what every serving subcommand shares.
type app struct {
	cfg      config.Config
	log      *slog.Logger
	store    store.Store
	temporal client.Client
	hasher   *security.Hasher
	outbox   *channels.Outbox
	// metrics is the process's registry: the API serves it at /metrics.
	metrics *metrics.Metrics
}

func newLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func (a *app) close() {
	if a.temporal != nil {
		a.temporal.Close()
	}
	if a.store != nil {
		_ = a.store.Close()
	}
	if a.hasher != nil {
		a.hasher.Close()
	}
}

// newHasher is the production argon2id hasher, in hashing child processes
// unless AUTHFLOW_HASH_ISOLATION=off.
func newHasher(cfg config.Config) *security.Hasher {
	return security.NewHasherWithIsolation(security.DefaultArgon2, !cfg.HashInProcess)
}

func (a *app) openStore(ctx context.Context) error {
	st, err := opener.Open(ctx, a.cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	a.store = st
	return nil
}

// dialTemporal connects to TEMPORAL_ADDRESS and makes sure authflow's search
// attributes exist on the namespace.
func (a *app) dialTemporal(ctx context.Context) error {
	o, err := a.clientOptions()
	if err != nil {
		return err
	}
	o.HostPort, o.Namespace = a.cfg.TemporalAddress, a.cfg.TemporalNamespace
	c, err := client.DialContext(ctx, o)
	if err != nil {
		return fmt.Errorf("connect to Temporal at %s: %w", a.cfg.TemporalAddress, err)
	}
	a.temporal = c
	return ensureSearchAttributes(ctx, c, a.cfg.TemporalNamespace)
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

func (a *app) newWorker() (sdkworker.Worker, error) {
	acts, err := worker.NewActivities(a.cfg, a.store, a.outbox, a.hasher, a.log)
	if err != nil {
		return nil, err
	}
	acts.Metrics = a.metrics
	return worker.New(a.temporal, acts, worker.Options{}), nil
}

func (a *app) apiServer() (*api.Server, error) {
	sealer, err := security.NewSealer(a.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	pc, err := codec.New(a.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	return &api.Server{Cfg: a.cfg, Store: a.store, Temporal: a.temporal, Hasher: a.hasher, Sealer: sealer,
		Outbox: a.outbox, Bot: a.bot(), Log: a.log, SessionTTL: worker.SessionTTL,
		Metrics: a.metrics, Codec: pc, CodecOrigins: a.cfg.CodecOrigins}, nil
}

// serveHTTP serves until ctx ends, then drains for up to 10 s.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// clientOptions are every Temporal client's: payloads encrypted under
// AUTHFLOW_SECRET_KEY, the SDK's metrics in the process's registry.
func (a *app) clientOptions() (client.Options, error) {
	dc, err := codec.DataConverter(a.cfg.SecretKey)
	if err != nil {
		return client.Options{}, err
	}
	if a.metrics == nil {
		a.metrics = metrics.New()
	}
	return client.Options{
		Logger:         sdklog.NewStructuredLogger(a.log.With("component", "temporal-sdk")),
		DataConverter:  dc,
		MetricsHandler: a.metrics.SDKHandler(),
	}, nil
}
