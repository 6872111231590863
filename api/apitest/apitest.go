// Package apitest runs the whole authflow stack in one test process — an
// embedded Temporal server, a worker, the store and the API on a loopback
// port — for end-to-end tests. Start it once per test binary (TestMain):
// the Temporal server is the expensive part.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authflow/authflow/channels"
	"github.com/authflow/authflow/client"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/internal/stack"
	"github.com/authflow/authflow/internal/syncbuf"
	"github.com/authflow/authflow/rules"
	"github.com/authflow/authflow/security"
)

// Env is a running stack (internal/stack) with helpers to call its API.
type Env struct {
	*stack.Stack
	// flowSecrets remembers the flow_secret of every flow this Env started
	// (flow id → secret) and sends it with the flow's later calls, as a
	// browser's flow cookie would.
	flowSecrets sync.Map
	logs        *syncbuf.Buffer
	// contract checks every answer against api/openapi.yaml (contract.go).
	contract *contract
}

// FlowSecretHeader carries a flow's secret (docs/security.md "Flow secret").
const FlowSecretHeader = "X-Flow-Secret"

// FlowSecret is the secret of a flow this Env started ("" if none).
func (e *Env) FlowSecret(flowID string) string {
	v, _ := e.flowSecrets.Load(flowID)
	s, _ := v.(string)
	return s
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
	// Limits overrides rules.DefaultLimits.
	Limits *rules.Limits
	// EncryptPayloads gives every client the production data converter
	// (payloads encrypted under the secret key) and serves the codec at
	// /codec. Off by default: recorded replay histories stay readable.
	EncryptPayloads bool
}

// Start brings the stack up.
func Start(ctx context.Context, o Options) (*Env, error) {
	dbURL := o.DatabaseURL
	if dbURL == "" {
		dbURL = os.Getenv("AUTHFLOW_TEST_STACK_DATABASE_URL")
	}
	contract, err := loadContract()
	if err != nil {
		return nil, err
	}
	logs := &syncbuf.Buffer{}
	s, err := stack.Start(ctx, stack.Options{DatabaseURL: dbURL, Argon2: o.Argon2, Configure: o.Configure,
		Limits: o.Limits, EncryptPayloads: o.EncryptPayloads,
		// Warnings to stderr; every line, debug included, to Logs() for
		// tests that check what a log reader could learn.
		Log: slog.New(slog.NewMultiHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}),
			slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		// Expected failures (a rate-limited send) are logged by the SDK as
		// errors; the tests assert them through the API instead.
		SDKLog: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	return &Env{Stack: s, logs: logs, contract: contract}, nil
}

// Logs returns every line the stack logged so far, at every level.
func (e *Env) Logs() string { return e.logs.String() }

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
// encoded unless it is a string or []byte, which is sent as is. A call
// under a flow this Env started carries the flow's secret.
func (e *Env) Do(t testing.TB, method, path, token string, body any) Response {
	t.Helper()
	h := http.Header{}
	if secret := e.flowSecretFor(path); secret != "" {
		h.Set(FlowSecretHeader, secret)
	}
	return e.DoHeaders(t, method, path, token, body, h)
}

// flowSecretFor is the secret of the flow a path is under, if this Env
// started it.
func (e *Env) flowSecretFor(path string) string {
	for _, prefix := range []string{"/v1/login/", "/v1/recovery/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			id, _, _ := strings.Cut(rest, "/")
			return e.FlowSecret(id)
		}
	}
	return ""
}

// answered checks an answer against api/openapi.yaml, failing the test
// that got it when the document does not describe it, and remembers the
// flow secret it carries.
func (e *Env) answered(t testing.TB, method, path string, status int, header http.Header, raw []byte) Response {
	t.Helper()
	r := Response{Status: status, Header: header, Raw: raw}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &r.Body)
	}
	if err := e.contract.check(method, path, status, header, raw); err != nil {
		t.Errorf("%s %s → %d: the answer does not match api/openapi.yaml: %v\nanswer: %s", method, path, status, err, truncate(raw))
	}
	if id, secret := r.Str("flow_id"), r.Str("flow_secret"); id != "" && secret != "" {
		e.flowSecrets.Store(id, secret)
	}
	return r
}

// Client is the typed client (package client, generated from
// api/openapi.yaml) on this stack. Its answers are checked against the
// document as Do's are, and a call under a flow this Env started carries
// the flow's secret unless the call sets one: the document, the server and
// the client cannot drift apart.
func (e *Env) Client(t testing.TB) *client.ClientWithResponses {
	t.Helper()
	c, err := client.NewClientWithResponses(e.URL, client.WithHTTPClient(&http.Client{Transport: &checkedTransport{e: e, t: t}}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkedTransport is the typed client's transport: Do's flow secrets and
// contract check around http.DefaultTransport.
type checkedTransport struct {
	e *Env
	t testing.TB
}

func (c *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get(FlowSecretHeader) == "" {
		if secret := c.e.flowSecretFor(req.URL.Path); secret != "" {
			req = req.Clone(req.Context())
			req.Header.Set(FlowSecretHeader, secret)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	c.e.answered(c.t, req.Method, req.URL.Path, resp.StatusCode, resp.Header, raw)
	return resp, nil
}

// DoHeaders is Do with exactly the given extra headers (no flow secret
// added): for tests of what a caller without the secret gets.
func (e *Env) DoHeaders(t testing.TB, method, path, token string, body any, headers http.Header) Response {
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
	for k, vs := range headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return e.answered(t, method, req.URL.Path, resp.StatusCode, resp.Header, raw)
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

// NewUser creates a user through the admin API (with the typed client)
// and returns its id.
func (e *Env) NewUser(t testing.TB, email, password string) string {
	t.Helper()
	r, err := e.Client(t).AdminCreateUserWithResponse(context.Background(),
		client.AdminCreateUserJSONRequestBody{Email: email, Password: password}, client.Bearer(e.AdminToken))
	if err != nil {
		t.Fatal(err)
	}
	if r.JSON201 == nil {
		t.Fatalf("create user: status %d, want 201: %s", r.StatusCode(), r.Body)
	}
	return r.JSON201.Id
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(prefix string) string {
	return fmt.Sprintf("%s-%s@example.com", prefix, security.RandomToken()[:10])
}

// Login posts the password (with the typed client) and returns the
// answer.
func (e *Env) Login(t testing.TB, email, password string) Response {
	t.Helper()
	r, err := e.Client(t).LoginWithResponse(context.Background(), client.LoginJSONRequestBody{Email: email, Password: password})
	if err != nil {
		t.Fatalf("POST /v1/login: %v", err)
	}
	out := Response{Status: r.StatusCode(), Header: r.HTTPResponse.Header, Raw: r.Body}
	_ = json.Unmarshal(r.Body, &out.Body)
	return out
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
