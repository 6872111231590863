// Package stack runs the whole of authflow in one process — an ephemeral
// embedded Temporal server, the store, a worker and the HTTP API on a
// loopback port — built by app.New, as `authflow dev` builds it. The
// end-to-end tests (api/apitest) and `authflow bench` both run on it; the
// Temporal server is the expensive part, so tests start one stack per test
// binary.
package stack

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
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/devserver"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
	"github.com/authflow/authflow/workflows"
)

// Options tune Start. The zero value is a SQLite stack hashing in process,
// with readable payloads and no logs.
type Options struct {
	// DatabaseURL defaults to a SQLite file in the stack's temporary
	// directory.
	DatabaseURL string
	// Argon2 defaults to the production parameters.
	Argon2 *security.Argon2Params
	// IsolatedHashing hashes passwords in child processes, as
	// AUTHFLOW_HASH_ISOLATION=on does in production.
	IsolatedHashing bool
	// EncryptPayloads gives every client the production data converter
	// (payloads encrypted under the secret key) and serves the codec at
	// /codec.
	EncryptPayloads bool
	// Configure edits the configuration before anything starts.
	Configure func(*config.Config)
	// Limits overrides rules.DefaultLimits, for the worker and the API.
	Limits *rules.Limits
	// Log receives the Temporal server's, the worker's and the API's logs;
	// SDKLog the Temporal SDK's, and defaults to Log. Nil discards.
	Log, SDKLog *slog.Logger
}

// Stack is a running stack: the app (store, hasher, sealer, Temporal
// client, activities, API) on an embedded Temporal server, its worker, and
// the API on a loopback port.
type Stack struct {
	*app.App
	// URL is the API's address, http://127.0.0.1:port.
	URL        string
	AdminToken string
	Server     *devserver.Server

	dir    string
	mu     sync.Mutex
	worker sdkworker.Worker
	http   *http.Server
}

// Start brings a stack up; Close takes it down. On an error, what had
// started is stopped again.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	s := &Stack{}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	if s.dir, err = os.MkdirTemp("", "authflow-stack-"); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.URL = "http://" + ln.Addr().String()
	dbURL := o.DatabaseURL
	if dbURL == "" {
		dbURL = "sqlite://" + filepath.Join(s.dir, "authflow.db")
	}
	env := map[string]string{
		"AUTHFLOW_DATABASE_URL": dbURL,
		// WebAuthn needs a domain for its relying party, not an IP.
		"AUTHFLOW_PUBLIC_URL":  "http://localhost:" + portOf(ln),
		"AUTHFLOW_SECRET_KEY":  hex.EncodeToString([]byte(security.RandomToken()[:32])),
		"AUTHFLOW_ADMIN_TOKEN": "stack-admin-" + security.RandomToken(),
		"AUTHFLOW_HTTP_ADDR":   ln.Addr().String(),
	}
	cfg, err := config.LoadFrom(func(k string) string { return env[k] }, config.Dev, s.dir)
	if err != nil {
		return nil, err
	}
	cfg.HashInProcess = !o.IsolatedHashing
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	s.AdminToken = cfg.AdminToken
	log := o.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sdkLog := o.SDKLog
	if sdkLog == nil {
		sdkLog = log
	}
	if s.Server, err = devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.NoUI,
		SearchAttributes: workflows.SearchAttributes, Logger: log}); err != nil {
		return nil, err
	}
	if s.App, err = app.New(ctx, app.Options{Config: cfg, Log: log, SDKLog: sdkLog, Outbox: channels.NewOutbox(),
		Argon2: o.Argon2, PlainPayloads: !o.EncryptPayloads, Limits: o.Limits,
		Dial: func(co client.Options) (client.Client, error) {
			// Loopback: gzip would cost CPU for nothing (as in authflow dev).
			co.ConnectionOptions.GrpcCompression = &client.GrpcCompressionNone{}
			return s.Server.NewClient(co)
		}}); err != nil {
		return nil, err
	}
	if err := s.StartWorker(); err != nil {
		return nil, err
	}
	s.http = &http.Server{Handler: s.API.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

func portOf(ln net.Listener) string {
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// StartWorker starts authflow's worker unless it runs already.
func (s *Stack) StartWorker() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		return nil
	}
	w, err := s.NewWorker()
	if err != nil {
		return err
	}
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	s.worker = w
	return nil
}

// StopWorker stops the worker, as a crashed or redeployed worker would.
func (s *Stack) StopWorker() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.worker != nil {
		s.worker.Stop()
		s.worker = nil
	}
}

// WaitReady waits up to a minute for /readyz: the worker polls its task
// queue.
func (s *Stack) WaitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/readyz", nil)
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

// Close stops everything and removes the stack's files.
func (s *Stack) Close() {
	if s.http != nil {
		_ = s.http.Close()
	}
	s.StopWorker()
	if s.App != nil {
		s.App.Close()
	}
	if s.Server != nil {
		_ = s.Server.Stop()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}
