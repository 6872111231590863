package bench

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/api"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/codec"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/devserver"
	"github.com/authflow/authflow/metrics"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/store/opener"
	"github.com/authflow/authflow/worker"
	"github.com/authflow/authflow/workflows"
)

// stack is the embedded production shape in one process: an ephemeral
// Temporal server, authflow's worker (and the floor's), the store and the
// HTTP API on a loopback port, wired as `authflow dev` wires them (payload
// codec, metrics).
type stack struct {
	url      string
	dbURL    string
	cfg      config.Config
	store    store.Store
	temporal client.Client
	hasher   *security.Hasher
	sealer   *security.Sealer

	dir     string
	server  *devserver.Server
	workers []sdkworker.Worker
	http    *http.Server
}

func startStack(ctx context.Context, databaseURL string, params security.Argon2Params, hashInProcess bool, logOut io.Writer) (_ *stack, err error) {
	s := &stack{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "authflow-bench-"); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.url = "http://" + ln.Addr().String()
	s.dbURL = databaseURL
	if s.dbURL == "" {
		s.dbURL = "sqlite://" + filepath.Join(s.dir, "authflow.db")
	}
	env := map[string]string{
		"AUTHFLOW_DATABASE_URL": s.dbURL,
		"AUTHFLOW_PUBLIC_URL":   "http://localhost:8080",
		"AUTHFLOW_SECRET_KEY":   hex.EncodeToString([]byte(security.RandomToken()[:32])),
		"AUTHFLOW_ADMIN_TOKEN":  security.RandomToken(),
	}
	if s.cfg, err = config.LoadFrom(func(k string) string { return env[k] }, config.Dev, s.dir); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelError}))
	if s.store, err = opener.Open(ctx, s.dbURL); err != nil {
		return nil, err
	}
	if s.server, err = devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.NoUI,
		SearchAttributes: workflows.SearchAttributes, Logger: log}); err != nil {
		return nil, err
	}
	m := metrics.New()
	dc, err := codec.DataConverter(s.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	if s.temporal, err = s.server.NewClient(client.Options{Logger: sdklog.NewStructuredLogger(log),
		DataConverter: dc, MetricsHandler: m.SDKHandler(),
		// Loopback: gzip would cost CPU for nothing (as in authflow dev).
		ConnectionOptions: client.ConnectionOptions{GrpcCompression: &client.GrpcCompressionNone{}}}); err != nil {
		return nil, err
	}
	if hashInProcess {
		s.hasher = security.NewHasher(params)
	} else {
		s.hasher = security.NewIsolatedHasher(params)
	}
	if s.sealer, err = security.NewSealer(s.cfg.SecretKey); err != nil {
		return nil, err
	}
	outbox := channels.NewOutbox()
	acts, err := worker.NewActivities(s.cfg, s.store, outbox, s.hasher, log)
	if err != nil {
		return nil, err
	}
	acts.Metrics = m
	for _, w := range []sdkworker.Worker{worker.New(s.temporal, acts, worker.Options{}), newFloorWorker(s.temporal)} {
		if err := w.Start(); err != nil {
			return nil, fmt.Errorf("start worker: %w", err)
		}
		s.workers = append(s.workers, w)
	}
	pc, err := codec.New(s.cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	srv := &api.Server{Cfg: s.cfg, Store: s.store, Temporal: s.temporal, Hasher: s.hasher, Sealer: s.sealer,
		Outbox: outbox, Bot: outbox, Log: log, SessionTTL: worker.SessionTTL, Metrics: m, Codec: pc}
	s.http = &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, s.waitReady(ctx)
}

// waitReady waits for /readyz: the workers poll their task queues.
func (s *stack) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.New("the embedded stack did not become ready within a minute")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpu is the CPU time the stack used so far: this process's and that of
// the hashing children.
func (s *stack) cpu() time.Duration {
	return cpuTime() + s.hasher.ChildCPU()
}

func (s *stack) close() {
	if s.http != nil {
		_ = s.http.Close()
	}
	for _, w := range s.workers {
		w.Stop()
	}
	if s.temporal != nil {
		s.temporal.Close()
	}
	if s.server != nil {
		_ = s.server.Stop()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
	if s.hasher != nil {
		s.hasher.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
