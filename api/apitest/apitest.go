// Package apitest runs the whole authflow stack in one test process — an
// embedded Temporal server, a worker, the store and the API on a loopback
// port — for end-to-end tests. Start it once per test binary (TestMain):
// the Temporal server is the expensive part.
package apitest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/authflow/authflow/activities"
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

// Env is a running stack.
type Env struct {
	URL        string
	AdminToken string
	Config     config.Config
	Outbox     *channels.Outbox
	Store      store.Store
	Temporal   client.Client
	Activities *activities.Activities
	API        *api.Server
	Server     *devserver.Server
	// Metrics is the stack's registry, served at /metrics.
	Metrics *metrics.Metrics

	mu     sync.Mutex
	worker sdkworker.Worker
	http   *http.Server
}

// Options tune Start.
type Options struct {
	// DatabaseURL defaults to AUTHFLOW_TEST_STACK_DATABASE_URL, else a fresh
	// SQLite file in a temp dir.
	DatabaseURL string
	// Argon2 defaults to the production parameters.
	Argon2 *security.Argon2Params
	// Configure edits the configuration before anything starts.
	Configure func(*config.Config)
	// Limits overrides activities.DefaultLimits.
	Limits *activities.Limits
	// EncryptPayloads gives every client the production data converter
	// (payloads encrypted under the secret key) and serves the codec at
	// /codec. Off by default: recorded replay histories stay readable.
	EncryptPayloads bool
}

// Start brings the stack up.
func Start(ctx context.Context, o Options) (*Env, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	dir, err := os.MkdirTemp("", "authflow-apitest-")
	if err != nil {
		return nil, err
	}
	dbURL := o.DatabaseURL
	if dbURL == "" {
		dbURL = os.Getenv("AUTHFLOW_TEST_STACK_DATABASE_URL")
	}
	if dbURL == "" {
		dbURL = "sqlite://" + dir + "/authflow.db"
	}
	key := security.RandomToken() + security.RandomToken()
	env := map[string]string{
		"AUTHFLOW_DATABASE_URL": dbURL,
		// WebAuthn needs a domain for its relying party, not an IP.
		"AUTHFLOW_PUBLIC_URL":  strings.Replace(base, "127.0.0.1", "localhost", 1),
		"AUTHFLOW_SECRET_KEY":  hex.EncodeToString([]byte(key[:32])),
		"AUTHFLOW_ADMIN_TOKEN": "test-admin-token-" + security.RandomToken(),
		"AUTHFLOW_HTTP_ADDR":   ln.Addr().String(),
	}
	cfg, err := config.LoadFrom(func(k string) string { return env[k] }, config.Dev, dir)
	if err != nil {
		return nil, err
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	e := &Env{URL: base, AdminToken: cfg.AdminToken, Config: cfg, Outbox: channels.NewOutbox(), Metrics: metrics.New()}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if e.Store, err = opener.Open(ctx, dbURL); err != nil {
		return nil, err
	}
	if e.Server, err = devserver.Start(ctx, devserver.Options{Ephemeral: true, UIPort: devserver.NoUI,
		SearchAttributes: workflows.SearchAttributes, Logger: quiet}); err != nil {
		return nil, err
	}
	// Expected failures (a rate-limited send) are logged by the SDK as
	// errors; the tests assert them through the API instead.
	silent := slog.New(slog.NewTextHandler(io.Discard, nil))
	co := client.Options{Logger: sdklog.NewStructuredLogger(silent), MetricsHandler: e.Metrics.SDKHandler()}
	var pc converter.PayloadCodec
	if o.EncryptPayloads {
		if pc, err = codec.New(cfg.SecretKey); err != nil {
			return nil, err
		}
		if co.DataConverter, err = codec.DataConverter(cfg.SecretKey); err != nil {
			return nil, err
		}
	}
	if e.Temporal, err = e.Server.NewClient(co); err != nil {
		return nil, err
	}
	params := security.DefaultArgon2
	if o.Argon2 != nil {
		params = *o.Argon2
	}
	hasher := security.NewHasher(params)
	if e.Activities, err = worker.NewActivities(cfg, e.Store, e.Outbox, hasher, quiet); err != nil {
		return nil, err
	}
	if o.Limits != nil {
		e.Activities.Limits = *o.Limits
	}
	e.Activities.Metrics = e.Metrics
	if err := e.StartWorker(); err != nil {
		return nil, err
	}
	sealer, err := security.NewSealer(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	e.API = &api.Server{Cfg: cfg, Store: e.Store, Temporal: e.Temporal, Hasher: hasher, Sealer: sealer,
		Outbox: e.Outbox, Bot: e.Outbox, Log: quiet, SessionTTL: worker.SessionTTL, Metrics: e.Metrics, Codec: pc, CodecOrigins: cfg.CodecOrigins,
		Limits: e.Activities.Limits}
	e.http = &http.Server{Handler: e.API.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = e.http.Serve(ln) }()
	return e, nil
}

// StartWorker starts a (new) worker.
func (e *Env) StartWorker() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.worker != nil {
		return nil
	}
	w := worker.New(e.Temporal, e.Activities, worker.Options{})
	if err := w.Start(); err != nil {
		return err
	}
	e.worker = w
	return nil
}

// StopWorker stops the worker, as a crashed or redeployed worker would.
func (e *Env) StopWorker() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
}

// Close stops everything.
func (e *Env) Close() {
	if e.http != nil {
		_ = e.http.Close()
	}
	e.StopWorker()
	if e.Temporal != nil {
		e.Temporal.Close()
	}
	if e.Server != nil {
		_ = e.Server.Stop()
	}
	if e.Store != nil {
		_ = e.Store.Close()
	}
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// ErrorCode is error.code of an error answer.
func (r Response) ErrorCode() string {
	if e, ok := r.Body["error"].(map[string]any); ok {
		s, _ := e["code"].(string)
		return s
	}
	return ""
}

// Str reads a string at a dotted path ("session.token").
func (r Response) Str(path string) string {
	v, _ := r.Get(path).(string)
	return v
}

// Get reads any value at a dotted path.
func (r Response) Get(path string) any {
	var cur any = r.Body
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// Do calls the API. token is a Bearer token ("" for none); body is JSON
// encoded unless it is a string or []byte, which is sent as is.
func (e *Env) Do(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.Body)
	}
	return r
}

// Admin calls an admin endpoint.
func (e *Env) Admin(t testing.TB, method, path string, body any) Response {
	t.Helper()
	return e.Do(t, method, path, e.AdminToken, body)
}

// Expect fails the test unless the answer has the status.
func Expect(t testing.TB, r Response, status int) Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	return r
}

// ExpectError fails the test unless the answer is the error code.
func ExpectError(t testing.TB, r Response, status int, code string) Response {
	t.Helper()
	if r.Status != status || r.ErrorCode() != code {
		t.Fatalf("got %d %q, want %d %q: %s", r.Status, r.ErrorCode(), status, code, r.Raw)
	}
	return r
}

// NewUser creates a user through the admin API and returns its id.
func (e *Env) NewUser(t testing.TB, email, password string) string {
	t.Helper()
	r := Expect(t, e.Admin(t, "POST", "/v1/admin/users", map[string]string{"email": email, "password": password}), http.StatusCreated)
	return r.Str("id")
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%s@example.com", prefix, security.RandomToken()[:10])
}

// Login posts the password and returns the answer.
func (e *Env) Login(t testing.TB, email, password string) Response {
	t.Helper()
	return e.Do(t, "POST", "/v1/login", "", map[string]string{"email": email, "password": password})
}

// SessionToken logs in an account without 2FA and returns its token.
func (e *Env) SessionToken(t testing.TB, email, password string) string {
	t.Helper()
	r := Expect(t, e.Login(t, email, password), http.StatusOK)
	tok := r.Str("session.token")
	if tok == "" {
		t.Fatalf("no session in %s", r.Raw)
	}
	return tok
}

// LastOutbox returns the newest outbox entry matching the filter, waiting
// briefly for it to appear.
func (e *Env) LastOutbox(t testing.TB, match func(channels.OutboxEntry) bool) channels.OutboxEntry {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.Outbox.Entries() {
			if match(m) {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no matching outbox entry")
	return channels.OutboxEntry{}
}
