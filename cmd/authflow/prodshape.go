//go:build !nodev

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/authflow/authflow/devserver"
	"github.com/authflow/authflow/workflows"
)

// HistoryShards is the production shape's history shard count, the same as
// docker-compose.yml's NUM_HISTORY_SHARDS: fixed at a cluster's first start
// (README "Production" says why this number and when to pick more).
const HistoryShards = 16

func temporalServerCmd() *cobra.Command {
	var o struct {
		url, db, visDB, ip, namespace string
		port, shards                  int
	}
	cmd := &cobra.Command{
		Use:   "temporal-server --database-url postgres://user@host:5432/",
		Short: "Run a Temporal server (all four services, no UI) on PostgreSQL, as the production shape's cluster",
		Long: `temporal-server creates its two databases on the PostgreSQL of --database-url if
missing, sets up or updates their schemas (what temporal-sql-tool's
create-database, setup-schema and update-schema do), starts the Temporal
server of go.temporal.io/server on them with --shards history shards, and
registers the namespace and authflow's search attributes. It runs until
interrupted. The shard count cannot change after the first start.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.url == "" {
				return errors.New("--database-url is required")
			}
			log := newLogger(cmd.ErrOrStderr())
			ctx := cmd.Context()
			startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			defer cancel()
			srv, err := devserver.Start(startCtx, devserver.Options{
				Postgres:         &devserver.Postgres{URL: o.url, Database: o.db, VisibilityDatabase: o.visDB},
				HistoryShards:    o.shards,
				Namespace:        o.namespace,
				IP:               o.ip,
				Port:             o.port,
				UIPort:           devserver.NoUI,
				SearchAttributes: workflows.SearchAttributes,
				Logger:           log,
			})
			if err != nil {
				return err
			}
			log.Info(temporalReady, "address", srv.FrontendHostPort(), "namespace", srv.Namespace(), "shards", o.shards)
			<-ctx.Done()
			return srv.Stop()
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.url, "database-url", "", "the PostgreSQL server, postgres://user[:password]@host:port/?sslmode=disable (its database name is ignored)")
	f.StringVar(&o.db, "database", "authflow_temporal", "the server's persistence database")
	f.StringVar(&o.visDB, "visibility-database", "authflow_temporal_visibility", "the server's visibility database")
	f.IntVar(&o.shards, "shards", HistoryShards, "history shards: fixed at the cluster's first start")
	f.StringVar(&o.ip, "ip", "127.0.0.1", "address the frontend binds to (no authentication: keep it private)")
	f.IntVar(&o.port, "port", 7233, "frontend gRPC port (0: a free one)")
	f.StringVar(&o.namespace, "namespace", devserver.DefaultNamespace, "namespace to register")
	return cmd
}

// temporalReady is what temporal-server logs once it serves the namespace.
const temporalReady = "temporal server ready"

// Shape is what `prodshape up` writes to DIR/shape.json (mode 0600: it
// holds the secret key) and keeps current as it restarts processes.
type Shape struct {
	SupervisorPID   int            `json:"supervisor_pid"`
	TemporalAddress string         `json:"temporal_address"`
	Namespace       string         `json:"namespace"`
	StoreURL        string         `json:"store_url"`
	APIURLs         []string       `json:"api_urls"`
	Shards          int            `json:"shards"`
	SecretKey       string         `json:"secret_key"`
	AdminToken      string         `json:"admin_token"`
	Processes       []ShapeProcess `json:"processes"`
}

// ShapeProcess is one supervised process.
type ShapeProcess struct {
	Name     string `json:"name"` // temporal, worker-1, api-1, …
	PID      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	Log      string `json:"log"`
}

// ShapeFile is the state file's name inside --dir.
const ShapeFile = "shape.json"

func prodshapeCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "prodshape",
		Short: "Run the production shape on this machine without Docker: Temporal on PostgreSQL, 2 workers, 2 APIs",
	}
	var o shapeOptions
	up := &cobra.Command{
		Use:   "up --database-url postgres://user@127.0.0.1:5432/ [--dir DIR]",
		Short: "Bring the shape up and supervise it until interrupted (or `prodshape down`)",
		Long: `up creates the databases <prefix>_temporal, <prefix>_temporal_visibility and
<prefix>_store on the PostgreSQL of --database-url when missing, starts
` + "`authflow temporal-server`" + ` on the first two (schemas set up or updated,
--shards history shards), applies authflow's migrations to the third, then
starts --workers ` + "`authflow worker`" + ` and --apis ` + "`authflow api`" + ` processes on loopback.
A process that exits is restarted after --restart-delay (a second), as
compose's restart: unless-stopped does, except that one exiting three times
before the shape is ready stops up with the end of its log; should the supervisor itself die,
its processes get SIGTERM (Linux). DIR/shape.json says where everything is
(addresses, pids, the secret key: mode 0600) and DIR/*.log hold each
process's output. SIGINT/SIGTERM stops the APIs, then the workers, then
Temporal. The environment is passed to every process (SMTP_URL, TWILIO_*,
…); AUTHFLOW_SECRET_KEY and AUTHFLOW_ADMIN_TOKEN are generated when unset,
and /metrics is off unless AUTHFLOW_METRICS_TOKEN is set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return shapeUp(cmd, o) },
	}
	f := up.Flags()
	f.StringVar(&o.url, "database-url", "", "the PostgreSQL server, postgres://user[:password]@host:port/?sslmode=disable")
	f.StringVar(&o.prefix, "prefix", "authflow", "database name prefix")
	f.StringVar(&o.dir, "dir", "./prodshape", "state and log directory")
	f.IntVar(&o.shards, "shards", HistoryShards, "history shards (fixed at the cluster's first start)")
	f.IntVar(&o.workers, "workers", 2, "worker processes")
	f.IntVar(&o.apis, "apis", 2, "API processes")
	f.IntVar(&o.temporalPort, "temporal-port", 0, "Temporal frontend port (0: a free one)")
	f.IntVar(&o.apiPort, "api-port", 0, "first API's port, the others follow (0: free ones)")
	f.DurationVar(&o.restartDelay, "restart-delay", time.Second, "wait before restarting a process that exited")
	var dir string
	down := &cobra.Command{
		Use:   "down [--dir DIR]",
		Short: "Stop a shape brought up with the same --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := ReadShape(filepath.Join(dir, ShapeFile))
			if err != nil {
				return err
			}
			if err := syscall.Kill(s.SupervisorPID, syscall.SIGTERM); err != nil {
				return fmt.Errorf("stop supervisor %d: %w", s.SupervisorPID, err)
			}
			for range 600 {
				if syscall.Kill(s.SupervisorPID, 0) != nil {
					fmt.Fprintln(cmd.OutOrStdout(), "stopped")
					return nil
				}
				time.Sleep(100 * time.Millisecond)
			}
			return fmt.Errorf("supervisor %d still runs after 60 s", s.SupervisorPID)
		},
	}
	down.Flags().StringVar(&dir, "dir", "./prodshape", "state directory of `prodshape up`")
	root.AddCommand(up, down)
	return root
}

type shapeOptions struct {
	url, prefix, dir                             string
	shards, workers, apis, temporalPort, apiPort int
	restartDelay                                 time.Duration
}

// ReadShape reads a shape's state file.
func ReadShape(path string) (Shape, error) {
	var s Shape
	raw, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(raw, &s)
}

// member is one supervised process.
type member struct {
	name string
	args []string
	env  []string
	log  string
	url  string // an API's base URL, else ""

	mu       sync.Mutex
	cmd      *exec.Cmd
	restarts int
}

type supervisor struct {
	bin   string
	delay time.Duration // before a restart
	path  string        // shape.json
	shape Shape
	mu    sync.Mutex
	all   []*member
}

func shapeUp(cmd *cobra.Command, o shapeOptions) error {
	ctx, cancel := context.WithCancel(cmd.Context())
	defer cancel()
	log := newLogger(cmd.ErrOrStderr())
	if o.url == "" {
		return errors.New("--database-url is required")
	}
	if o.workers < 1 || o.apis < 1 {
		return errors.New("at least one worker and one API")
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	storeURL, err := databaseURL(o.url, o.prefix+"_store")
	if err != nil {
		return err
	}
	if err := createDatabase(ctx, o.url, o.prefix+"_store"); err != nil {
		return err
	}
	port := func(fixed int) (int, error) {
		if fixed != 0 {
			return fixed, nil
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port, nil
	}
	tport, err := port(o.temporalPort)
	if err != nil {
		return err
	}
	secret, admin := os.Getenv("AUTHFLOW_SECRET_KEY"), os.Getenv("AUTHFLOW_ADMIN_TOKEN")
	if secret == "" {
		secret = randomHex(32)
	}
	if admin == "" {
		admin = randomHex(24)
	}
	s := &supervisor{bin: bin, delay: o.restartDelay, path: filepath.Join(o.dir, ShapeFile), shape: Shape{
		SupervisorPID: os.Getpid(), TemporalAddress: net.JoinHostPort("127.0.0.1", strconv.Itoa(tport)),
		Namespace: devserver.DefaultNamespace, StoreURL: storeURL, Shards: o.shards, SecretKey: secret, AdminToken: admin,
	}}
	logPath := func(name string) string { return filepath.Join(o.dir, name+".log") }

	// Temporal first; it logs temporalReady once the namespace and the
	// search attributes are usable.
	temporal := &member{name: "temporal", log: logPath("temporal"), env: os.Environ(), args: []string{"temporal-server",
		"--database-url", o.url, "--database", o.prefix + "_temporal", "--visibility-database", o.prefix + "_temporal_visibility",
		"--shards", strconv.Itoa(o.shards), "--port", strconv.Itoa(tport)}}
	defer s.stopAll(log)
	// Cancelled before stopAll runs (defers run last first), so that a
	// process it stops is not restarted, also when up fails.
	defer cancel()
	s.supervise(ctx, log, temporal)
	if err := waitLog(ctx, temporal.log, temporalReady, 3*time.Minute, s.failedToStart); err != nil {
		return err
	}
	log.Info("temporal ready", "address", s.shape.TemporalAddress, "shards", o.shards)

	env := shapeEnv(storeURL, s.shape.TemporalAddress, secret, admin)
	migrate := exec.CommandContext(ctx, bin, "migrate")
	migrate.Env = env
	if out, err := migrate.CombinedOutput(); err != nil {
		return fmt.Errorf("authflow migrate: %w\n%s", err, out)
	}
	var apis []*member
	for i := range o.apis {
		p, err := port(map[bool]int{true: 0, false: o.apiPort + i}[o.apiPort == 0])
		if err != nil {
			return err
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		apis = append(apis, &member{name: fmt.Sprintf("api-%d", i+1), args: []string{"api"}, url: "http://" + addr,
			env: append(append([]string(nil), env...), "AUTHFLOW_HTTP_ADDR="+addr)})
		// localhost, not the IP: WebAuthn's relying party must be a domain.
		s.shape.APIURLs = append(s.shape.APIURLs, fmt.Sprintf("http://localhost:%d", p))
	}
	if os.Getenv("AUTHFLOW_PUBLIC_URL") == "" {
		for _, a := range apis {
			a.env = append(a.env, "AUTHFLOW_PUBLIC_URL="+s.shape.APIURLs[0])
		}
	}
	for i := range o.workers {
		w := &member{name: fmt.Sprintf("worker-%d", i+1), args: []string{"worker"}, env: env}
		if os.Getenv("AUTHFLOW_PUBLIC_URL") == "" {
			w.env = append(append([]string(nil), env...), "AUTHFLOW_PUBLIC_URL="+s.shape.APIURLs[0])
		}
		w.log = logPath(w.name)
		s.supervise(ctx, log, w)
	}
	for _, a := range apis {
		a.log = logPath(a.name)
		s.supervise(ctx, log, a)
	}
	for _, a := range apis {
		if err := waitReady(ctx, a.url+"/readyz", 2*time.Minute, s.failedToStart); err != nil {
			var fe *startError
			if errors.As(err, &fe) {
				return err
			}
			return fmt.Errorf("%s: %w (see %s)", a.name, err, a.log)
		}
	}
	log.Info("production shape ready", "apis", strings.Join(s.shape.APIURLs, " "), "temporal", s.shape.TemporalAddress,
		"store", redactURL(storeURL), "state", s.path)
	fmt.Fprintln(cmd.OutOrStdout(), "ready:", s.path)
	<-ctx.Done()
	return nil
}

// shapeEnv is the environment of the workers and APIs: this process's,
// with the shape's store, Temporal and secrets in place of any set.
func shapeEnv(storeURL, temporal, secret, admin string) []string {
	set := map[string]string{
		"AUTHFLOW_DATABASE_URL": storeURL, "TEMPORAL_ADDRESS": temporal, "TEMPORAL_NAMESPACE": devserver.DefaultNamespace,
		"AUTHFLOW_SECRET_KEY": secret, "AUTHFLOW_ADMIN_TOKEN": admin,
	}
	if os.Getenv("AUTHFLOW_METRICS_TOKEN") == "" && os.Getenv("AUTHFLOW_METRICS") == "" {
		set["AUTHFLOW_METRICS"] = "off"
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if _, ok := set[k]; !ok && k != "AUTHFLOW_HTTP_ADDR" {
			env = append(env, kv)
		}
	}
	for k, v := range set {
		env = append(env, k+"="+v)
	}
	return env
}

// supervise starts m and restarts it s.delay after it exits, until ctx
// ends.
func (s *supervisor) supervise(ctx context.Context, log interface{ Info(string, ...any) }, m *member) {
	s.mu.Lock()
	s.all = append(s.all, m)
	s.mu.Unlock()
	started := make(chan struct{})
	go func() {
		first := true
		for ctx.Err() == nil {
			out, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
			if err != nil {
				log.Info("cannot open log", "process", m.name, "err", err)
				return
			}
			c := exec.Command(s.bin, m.args...)
			c.Env, c.Stdout, c.Stderr = m.env, out, out
			// Its own process group: a terminal's ^C reaches the supervisor
			// only, which stops the processes in order.
			c.SysProcAttr = childProcAttr()
			err = c.Start()
			if err == nil {
				m.mu.Lock()
				m.cmd = c
				m.mu.Unlock()
				s.writeState()
			}
			if first {
				close(started)
				first = false
			}
			if err == nil {
				err = c.Wait()
			}
			out.Close()
			if ctx.Err() != nil {
				return
			}
			log.Info("process exited; restarting it", "process", m.name, "err", err, "in", s.delay)
			select {
			case <-ctx.Done():
				return
			case <-time.After(s.delay):
			}
			m.mu.Lock()
			m.restarts++
			m.mu.Unlock()
		}
	}()
	<-started
}

// writeState rewrites shape.json (atomically: a reader never sees half).
func (s *supervisor) writeState() {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shape
	sh.Processes = nil
	for _, m := range s.all {
		m.mu.Lock()
		p := ShapeProcess{Name: m.name, Restarts: m.restarts, Log: m.log}
		if m.cmd != nil && m.cmd.Process != nil {
			p.PID = m.cmd.Process.Pid
		}
		m.mu.Unlock()
		sh.Processes = append(sh.Processes, p)
	}
	raw, _ := json.MarshalIndent(sh, "", "  ")
	tmp := s.path + ".tmp"
	if os.WriteFile(tmp, raw, 0o600) == nil {
		_ = os.Rename(tmp, s.path)
	}
}

// stopAll stops the APIs, then the workers, then Temporal: SIGTERM, and
// SIGKILL after 15 s.
func (s *supervisor) stopAll(log interface{ Info(string, ...any) }) {
	s.mu.Lock()
	all := append([]*member(nil), s.all...)
	s.mu.Unlock()
	for _, prefix := range []string{"api-", "worker-", "temporal"} {
		var wg sync.WaitGroup
		for _, m := range all {
			if !strings.HasPrefix(m.name, prefix) {
				continue
			}
			m.mu.Lock()
			c := m.cmd
			m.mu.Unlock()
			if c == nil || c.Process == nil {
				continue
			}
			wg.Go(func() {
				_ = c.Process.Signal(syscall.SIGTERM)
				for range 150 {
					if syscall.Kill(c.Process.Pid, 0) != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
				_ = c.Process.Kill()
			})
		}
		wg.Wait()
	}
	log.Info("production shape stopped")
}

// startupExits is how many times a process may exit before the shape is
// ready: one that cannot start (no SMTP_URL for a worker, a bad variable)
// would otherwise be restarted until the readiness wait ran out, minutes
// later, with its reason only in its log.
const startupExits = 3

// startError is a process that kept exiting before the shape was ready.
type startError struct {
	name, log, tail string
	exits           int
}

func (e *startError) Error() string {
	return fmt.Sprintf("%s exited %d times while the shape was starting; the end of %s:\n%s", e.name, e.exits, e.log, e.tail)
}

// failedToStart is a startError for the first process that exited
// startupExits times, else nil. It is checked while up waits for the
// shape to be ready, not after: then a restart is what a crash gets.
func (s *supervisor) failedToStart() error {
	s.mu.Lock()
	all := append([]*member(nil), s.all...)
	s.mu.Unlock()
	for _, m := range all {
		m.mu.Lock()
		exits := m.restarts
		m.mu.Unlock()
		if exits >= startupExits {
			return &startError{name: m.name, log: m.log, tail: logTail(m.log, 5), exits: exits}
		}
	}
	return nil
}

// logTail is the last n lines of the file at path ("" when unreadable).
func logTail(path string, n int) string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// waitLog waits until the file at path holds line, for d at most; failed
// (non-nil) ends the wait with its error.
func waitLog(ctx context.Context, path, line string, d time.Duration, failed func() error) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if raw, _ := os.ReadFile(path); strings.Contains(string(raw), line) {
			return nil
		}
		if err := failed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("no %q in %s within %s", line, path, d)
}

// waitReady waits until u answers 200, for d at most; failed (non-nil)
// ends the wait with its error.
func waitReady(ctx context.Context, u string, d time.Duration, failed func() error) error {
	deadline := time.Now().Add(d)
	c := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := failed(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready within %s", u, d)
}

// databaseURL is base with its database replaced by name.
func databaseURL(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		return "", fmt.Errorf("--database-url %q is not a postgres:// URL", redactURL(base))
	}
	u.Path = "/" + name
	return u.String(), nil
}

// createDatabase creates name on base's server unless it exists.
func createDatabase(ctx context.Context, base, name string) error {
	admin, err := databaseURL(base, "postgres")
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize())
	return err
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
