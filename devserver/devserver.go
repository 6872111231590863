// Package devserver runs a complete Temporal server (frontend, history,
// matching and worker services, SQLite persistence and visibility, and
// optionally the Temporal UI) inside the current process. `authflow dev` uses
// it so a laptop needs nothing but Go, and tests use it to run real workflows
// against a real server.
//
// It is a development tool: one history shard, one SQLite connection, no
// authentication. Production runs against an external Temporal cluster.
//
// Ports: besides the frontend (Options.Port) and the UI (Options.UIPort), the
// history, matching and worker services each listen on a free port picked on
// 127.0.0.1. Membership is static, so there are no ringpop ports; the
// frontend's HTTP API, metrics and pprof are off.
//
// Limits of running Temporal in-process: Stop takes about a second (the
// frontend drains requests for at least 1s), and each Start/Stop cycle leaves
// some of Temporal's goroutines and, for an ephemeral server, its in-memory
// database behind until the process exits (a few MB). That is fine for a test
// binary or `authflow dev`, not for a long-lived process restarting servers
// in a loop. Run one server per process where possible.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	uiserver "github.com/temporalio/ui-server/v2/server"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporal"
)

// DefaultNamespace is the namespace registered when Options.Namespace is empty.
const DefaultNamespace = "default"

// DefaultRetention is how long closed workflows stay visible when
// Options.Retention is zero: a day keeps yesterday's failed logins inspectable
// in the UI without letting a laptop's database grow without bound.
const DefaultRetention = 24 * time.Hour

// MinRetention is the shortest retention Temporal accepts for a local
// (non-replicated) namespace; see the server's system.namespaceMinRetentionLocal.
const MinRetention = time.Hour

// DBFileName is the SQLite file created inside Options.DataDir.
const DBFileName = "temporal.db"

// NoUI is the Options.UIPort value that disables the Temporal UI.
const NoUI = -1

// Options configures an embedded server.
type Options struct {
	// DataDir is the directory for the SQLite file (DBFileName); it is created
	// if missing. Ignored when Ephemeral.
	DataDir string
	// Ephemeral keeps everything in an in-memory SQLite database: nothing
	// survives Stop.
	Ephemeral bool
	// Namespace is registered at start if missing (idempotent across
	// restarts); default DefaultNamespace.
	Namespace string
	// Retention is how long closed workflows of Namespace are kept; default
	// DefaultRetention, at least MinRetention. A changed value is applied to
	// an existing namespace at start.
	Retention time.Duration
	// IP is the address the frontend and the UI bind to; default "127.0.0.1".
	// The internal services (history, matching, worker) always bind to
	// 127.0.0.1. The server has no authentication: binding beyond loopback
	// lets anyone who can reach it read and drive every workflow.
	IP string
	// Port is the frontend gRPC port; 0 picks a free port.
	Port int
	// UIPort is the Temporal UI HTTP port; 0 picks a free port; NoUI (-1)
	// runs no UI.
	UIPort int
	// SearchAttributes are registered on Namespace (idempotent; attributes
	// are only ever added, never removed). Types come from
	// go.temporal.io/api/enums/v1.
	SearchAttributes map[string]enums.IndexedValueType
	// Logger receives the server's logs. Default: warnings and errors to
	// stderr, everything below discarded.
	Logger *slog.Logger
	// UICodec, when set, points the UI at an HTTP payload codec.
	UICodec *UICodec
	// Postgres, when set, keeps the server's persistence and visibility on
	// PostgreSQL instead of SQLite (DataDir and Ephemeral are then unused);
	// Start sets up or updates their schemas and registers Namespace over
	// the API.
	Postgres *Postgres
	// HistoryShards is the number of history shards; default 1. It is fixed
	// when a cluster's persistence is first used: a later start with another
	// number fails.
	HistoryShards int
	// DynamicConfig overrides or extends the server's dynamic config, keyed by
	// Temporal's setting names (e.g. "limit.maxIDLength"). Values apply to all
	// namespaces.
	DynamicConfig map[string]any
}

// UICodec is the payload codec the UI decodes payloads with: the UI calls
// Endpoint/decode from the operator's browser with the browser's cookies
// (a codec that authenticates by cookie), and offers SignInURL when a
// decode fails.
type UICodec struct {
	Endpoint  string
	SignInURL string
}

// Server is a running embedded Temporal server. Its methods are safe for
// concurrent use.
type Server struct {
	temporal  temporal.Server
	ui        *uiserver.Server
	hostPort  string
	uiURL     string
	namespace string
	logger    *slog.Logger
	muted     *atomic.Bool
	release   func() // frees the DataDir claim

	stopOnce sync.Once
	stopErr  error
}

// Start starts a server and returns once the frontend answers, the namespace
// exists and its search attributes are usable in visibility queries, and the
// UI (if any) answers HTTP. ctx bounds the start-up; cancelling it later has
// no effect on the running server.
func Start(ctx context.Context, o Options) (*Server, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}

	dbPath := ""
	release := func() {}
	if !o.Ephemeral && o.Postgres == nil {
		dir, err := filepath.Abs(o.DataDir)
		if err != nil {
			return nil, fmt.Errorf("devserver: data dir: %w", err)
		}
		// Owner-only: the database holds every login's history.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("devserver: data dir: %w", err)
		}
		if release, err = claimDataDir(dir); err != nil {
			return nil, err
		}
		dbPath = filepath.Join(dir, DBFileName)
	}

	s, err := start(ctx, o, dbPath)
	if err != nil {
		release()
		return nil, err
	}
	s.release = release
	return s, nil
}

func start(ctx context.Context, o Options, dbPath string) (*Server, error) {
	ports, err := pickPorts(o)
	if err != nil {
		return nil, err
	}
	persistence, err := preparePersistence(o, dbPath)
	if err != nil {
		return nil, err
	}
	muted := new(atomic.Bool)
	srv, err := newTemporalServer(o, ports, persistence, muted)
	if err != nil {
		return nil, err
	}
	if err := startTemporal(srv); err != nil {
		muted.Store(true)
		_ = srv.Stop()
		return nil, err
	}

	s := &Server{
		temporal:  srv,
		muted:     muted,
		hostPort:  net.JoinHostPort(dialHost(o.IP), strconv.Itoa(ports.frontend)),
		namespace: o.Namespace,
		logger:    o.Logger,
	}
	if err := s.waitReady(ctx, o); err != nil {
		_ = s.stopServices()
		return nil, err
	}
	if o.UIPort != NoUI {
		if err := s.startUI(ctx, o, ports.ui); err != nil {
			_ = s.stopServices()
			return nil, err
		}
	}
	return s, nil
}

// FrontendHostPort returns the address clients dial, e.g. "127.0.0.1:7233".
func (s *Server) FrontendHostPort() string { return s.hostPort }

// UIURL returns the Temporal UI's base URL, e.g. "http://127.0.0.1:8233", or
// "" when the server runs without UI.
func (s *Server) UIURL() string { return s.uiURL }

// Namespace returns the namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// NewClient dials the server. HostPort is always this server's frontend;
// Namespace defaults to the server's namespace and Logger to the server's
// logger, so SDK chatter stays as quiet as the server's.
func (s *Server) NewClient(o client.Options) (client.Client, error) {
	o.HostPort = s.hostPort
	if o.Namespace == "" {
		o.Namespace = s.namespace
	}
	if o.Logger == nil {
		o.Logger = sdkLogger(s.logger)
	}
	return client.Dial(o)
}

// Stop shuts the server down: the UI first, then the Temporal services, and
// releases their ports and the claim on DataDir. It is idempotent; later
// calls return the first call's result.
//
// The SQLite connection itself stays open until the process exits: Temporal's
// SQLite plugin keeps one process-wide connection per database and never
// closes it. A later Start on the same DataDir in the same process reuses that
// connection, which is what makes in-process restarts work.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() {
		s.stopErr = s.stopServices()
		if s.release != nil {
			s.release()
		}
	})
	return s.stopErr
}

func (s *Server) stopServices() error {
	s.muted.Store(true)
	if s.ui != nil {
		s.ui.Stop()
	}
	if err := s.temporal.Stop(); err != nil {
		return fmt.Errorf("devserver: stop: %w", err)
	}
	return nil
}

func (o Options) withDefaults() (Options, error) {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.IP == "" {
		o.IP = "127.0.0.1"
	}
	if o.HistoryShards == 0 {
		o.HistoryShards = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}

	var errs []error
	if o.HistoryShards < 0 {
		errs = append(errs, fmt.Errorf("history shards %d: at least 1", o.HistoryShards))
	}
	if !o.Ephemeral && o.Postgres == nil && o.DataDir == "" {
		errs = append(errs, errors.New("a data dir is required unless ephemeral"))
	}
	// Temporal's SQLite plugin pastes the path into a file: URI unescaped.
	if !o.Ephemeral && o.Postgres == nil && strings.ContainsAny(o.DataDir, "?#") {
		errs = append(errs, fmt.Errorf("data dir %q must not contain '?' or '#'", o.DataDir))
	}
	if o.Retention < MinRetention {
		errs = append(errs, fmt.Errorf("retention %v is below Temporal's minimum %v", o.Retention, MinRetention))
	}
	if net.ParseIP(o.IP) == nil {
		errs = append(errs, fmt.Errorf("IP %q is not an IP address", o.IP))
	}
	if o.Port < 0 || o.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", o.Port))
	}
	if o.UIPort < NoUI || o.UIPort > 65535 {
		errs = append(errs, fmt.Errorf("UI port %d out of range (-1 disables the UI)", o.UIPort))
	}
	if o.Port != 0 && o.Port == o.UIPort {
		errs = append(errs, fmt.Errorf("port and UI port are both %d", o.Port))
	}
	for name, typ := range o.SearchAttributes {
		if _, known := enums.IndexedValueType_name[int32(typ)]; !known || typ == enums.INDEXED_VALUE_TYPE_UNSPECIFIED {
			errs = append(errs, fmt.Errorf("search attribute %q has no type", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return o, fmt.Errorf("devserver: invalid options: %w", err)
	}
	return o, nil
}

// dialHost is where local clients reach a listener bound to ip: a wildcard
// bind is not a destination, so they use loopback instead.
func dialHost(ip string) string {
	parsed := net.ParseIP(ip)
	switch {
	case parsed.Equal(net.IPv4zero):
		return "127.0.0.1"
	case parsed.Equal(net.IPv6unspecified):
		return "::1"
	}
	return ip
}

// dataDirs holds the data directories of servers running in this process:
// two servers on one SQLite file would both own history shard 1 and corrupt
// it, and Temporal's plugin would even hand them the same connection.
var dataDirs = struct {
	sync.Mutex
	inUse map[string]bool
}{inUse: map[string]bool{}}

func claimDataDir(dir string) (release func(), err error) {
	dataDirs.Lock()
	defer dataDirs.Unlock()
	if dataDirs.inUse[dir] {
		return nil, fmt.Errorf("devserver: data dir %s is already used by a running server", dir)
	}
	dataDirs.inUse[dir] = true
	var once sync.Once
	return func() {
		once.Do(func() {
			dataDirs.Lock()
			delete(dataDirs.inUse, dir)
			dataDirs.Unlock()
		})
	}, nil
}
