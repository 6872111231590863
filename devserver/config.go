package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"regexp"
	"strconv"
	"sync/atomic"
	"time"

	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"
	temporalschema "go.temporal.io/server/schema"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"google.golang.org/protobuf/types/known/durationpb"
)

const (
	clusterName = "active"
	// loopback is where the internal services listen: nothing outside this
	// process needs to reach them.
	loopback = "127.0.0.1"
	// namespaceRefresh is how often every service re-reads namespaces; it
	// bounds how long a search attribute added to an existing namespace
	// takes to become usable everywhere.
	namespaceRefresh = time.Second
)

// ports are the TCP ports one server listens on. With static membership
// (no ringpop) there are no membership ports; the frontend's HTTP API, the
// metrics endpoint and pprof are left disabled, so these are all.
type ports struct {
	frontend, history, matching, worker int
	ui                                  int // 0 when there is no UI
}

func pickPorts(o Options) (ports, error) {
	var p ports
	taken := map[int]bool{}
	pick := func(dst *int, ip string, fixed int) error {
		if fixed != 0 {
			// The UI server exits the process when it cannot bind, and
			// Temporal only logs a fatal error; say clearly which port is busy
			// before either tries.
			if err := probePort(ip, fixed); err != nil {
				return err
			}
			*dst, taken[fixed] = fixed, true
			return nil
		}
		for {
			port, err := freePort(ip)
			if err != nil {
				return err
			}
			if !taken[port] {
				*dst, taken[port] = port, true
				return nil
			}
		}
	}
	err := errors.Join(
		pick(&p.frontend, o.IP, o.Port),
		pick(&p.history, loopback, 0),
		pick(&p.matching, loopback, 0),
		pick(&p.worker, loopback, 0),
	)
	if o.UIPort != NoUI {
		err = errors.Join(err, pick(&p.ui, o.IP, o.UIPort))
	}
	if err != nil {
		return ports{}, fmt.Errorf("devserver: ports: %w", err)
	}
	return p, nil
}

// freePort asks the kernel for an unused port on ip. Between this call and
// the server binding the port another process could take it; to make that
// unlikely the port is left in TIME_WAIT (the accepted side closes first),
// which keeps the kernel from handing it out again for a while, while an
// explicit bind (SO_REUSEADDR, Go's default) still succeeds.
func freePort(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	c, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	accepted, err := l.Accept()
	if err != nil {
		return 0, err
	}
	_ = accepted.Close()
	return addr.Port, nil
}

func probePort(ip string, port int) error {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d is not available: %w", port, err)
	}
	return l.Close()
}

// memoryDBs numbers in-memory databases: SQLite shares a named in-memory
// database between connections of one process, so each ephemeral server
// needs a name no other server in the process uses.
var memoryDBs atomic.Int64

// prepareDatabase returns the SQLite config for o, creating the schema of a
// new database file and the namespace if missing. Pre-creating the namespace
// in the database (rather than over the API after start) means it is in every
// service's namespace cache from the first moment, so Start does not wait for
// a cache refresh.
func prepareDatabase(o Options, dbPath string) (*config.SQL, error) {
	cfg := &config.SQL{PluginName: sqliteplugin.PluginName}
	if o.Ephemeral {
		cfg.DatabaseName = fmt.Sprintf("authflow-devserver-%d-%d", os.Getpid(), memoryDBs.Add(1))
		cfg.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
	} else {
		cfg.DatabaseName = dbPath
		cfg.ConnectAttributes = map[string]string{
			"mode": "rwc",
			// WAL with synchronous=NORMAL avoids an fsync per Temporal write
			// (much faster on laptops) and still survives a process crash;
			// only a power loss can drop the last transactions.
			"journal_mode": "wal",
			"synchronous":  "NORMAL",
		}
		if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
			if err := sqliteschema.SetupSchema(cfg); err != nil {
				return nil, fmt.Errorf("devserver: create schema in %s: %w", dbPath, err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("devserver: %w", err)
		}
	}

	ns, err := sqliteschema.NewNamespaceConfig(clusterName, o.Namespace, false, o.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("devserver: namespace %s: %w", o.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(o.Retention)
	// A no-op when the namespace exists; search attributes and retention of
	// an existing namespace are reconciled over the API once the server runs.
	if err := sqliteschema.CreateNamespaces(cfg, ns); err != nil {
		return nil, fmt.Errorf("devserver: namespace %s: %w", o.Namespace, err)
	}
	if err := trimVisibilityIndexes(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// visibilityIndexPattern finds the visibility table's indexes in the
// schema the server creates.
var visibilityIndexPattern = regexp.MustCompile(`(?m)^CREATE INDEX\s+(\w+)\s+ON executions_visibility\b`)

// visibilityIndexes lists the visibility table's indexes from the server
// module's own SQLite schema (the one SetupSchema ran).
func visibilityIndexes() ([]string, error) {
	raw, err := fs.ReadFile(temporalschema.Assets(), "sqlite/v3/visibility/schema.sql")
	if err != nil {
		return nil, fmt.Errorf("devserver: visibility schema: %w", err)
	}
	var names []string
	for _, m := range visibilityIndexPattern.FindAllSubmatch(raw, -1) {
		names = append(names, string(m[1]))
	}
	if len(names) == 0 {
		return nil, errors.New("devserver: no index found in the visibility schema")
	}
	return names, nil
}

// keptVisibilityIndexes are the visibility indexes the embedded server
// keeps: the UI's default list and its filters by id, type and status.
var keptVisibilityIndexes = map[string]bool{
	"default_idx": true, "by_execution_time": true, "by_workflow_id": true, "by_workflow_type": true, "by_status": true,
}

// trimVisibilityIndexes drops the other B-tree indexes of the visibility
// table: 53 of its 58 indexes cover search-attribute columns (Bool01,
// Keyword07, TemporalScheduledById, …) that a laptop's few thousand flows
// never need an index for, and every visibility write — one per flow state
// change — rewrote all of them twice (the write is a REPLACE), on the one
// connection every Temporal write shares. Queries on those columns stay
// correct and scan instead; the full-text tables behind Text and
// KeywordList search attributes are untouched. Idempotent: an existing
// data dir loses the indexes at its next start.
func trimVisibilityIndexes(cfg *config.SQL) error {
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, cfg, resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("devserver: visibility indexes: %w", err)
	}
	defer func() { _ = db.Close() }()
	names, err := visibilityIndexes()
	if err != nil {
		return err
	}
	for _, name := range names {
		if keptVisibilityIndexes[name] {
			continue
		}
		if err := db.Exec(`DROP INDEX IF EXISTS "` + name + `"`); err != nil {
			return fmt.Errorf("devserver: drop visibility index %s: %w", name, err)
		}
	}
	return nil
}

// preparePersistence returns the server's persistence config: PostgreSQL
// (schemas set up or updated) when o.Postgres is set, else the SQLite
// database of prepareDatabase.
func preparePersistence(o Options, dbPath string) (config.Persistence, error) {
	p := config.Persistence{NumHistoryShards: int32(o.HistoryShards)}
	if o.Postgres == nil {
		sqlCfg, err := prepareDatabase(o, dbPath)
		if err != nil {
			return p, err
		}
		p.DefaultStore, p.VisibilityStore = "sqlite", "sqlite"
		p.DataStores = map[string]config.DataStore{"sqlite": {SQL: sqlCfg}}
		return p, nil
	}
	if err := PreparePostgres(*o.Postgres); err != nil {
		return p, err
	}
	main, err := o.Postgres.sqlConfig(o.Postgres.Database)
	if err != nil {
		return p, err
	}
	vis, err := o.Postgres.sqlConfig(o.Postgres.VisibilityDatabase)
	if err != nil {
		return p, err
	}
	p.DefaultStore, p.VisibilityStore = "postgresql", "postgresql-visibility"
	p.DataStores = map[string]config.DataStore{"postgresql": {SQL: main}, "postgresql-visibility": {SQL: vis}}
	return p, nil
}

func newTemporalServer(o Options, p ports, persistence config.Persistence, muted *atomic.Bool) (srv temporal.Server, err error) {
	frontendAddr := net.JoinHostPort(dialHost(o.IP), strconv.Itoa(p.frontend))
	internal := func(port int) string { return net.JoinHostPort(loopback, strconv.Itoa(port)) }

	cfg := &config.Config{
		Global: config.Global{
			Membership: config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: loopback},
		},
		// One shard by default: a laptop has no load to spread, and each
		// shard costs start-up time.
		Persistence: persistence,
		ClusterMetadata: &cluster.Config{
			EnableGlobalNamespace:    false,
			FailoverVersionIncrement: 10,
			MasterClusterName:        clusterName,
			CurrentClusterName:       clusterName,
			ClusterInformation: map[string]cluster.ClusterInformation{
				clusterName: {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontendAddr},
			},
		},
		DCRedirectionPolicy: config.DCRedirectionPolicy{Policy: "noop"},
		Services: map[string]config.Service{
			string(primitives.FrontendService): {RPC: config.RPC{GRPCPort: p.frontend, BindOnIP: o.IP}},
			string(primitives.HistoryService):  {RPC: config.RPC{GRPCPort: p.history, BindOnIP: loopback}},
			string(primitives.MatchingService): {RPC: config.RPC{GRPCPort: p.matching, BindOnIP: loopback}},
			string(primitives.WorkerService):   {RPC: config.RPC{GRPCPort: p.worker, BindOnIP: loopback}},
		},
		Archival: config.Archival{
			History:    config.HistoryArchival{State: "disabled"},
			Visibility: config.VisibilityArchival{State: "disabled"},
		},
		NamespaceDefaults: config.NamespaceDefaults{
			Archival: config.ArchivalNamespaceDefaults{
				History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
				Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
			},
		},
		// The worker service (schedules, batch operations) is a client of
		// the frontend like any other.
		PublicClient: config.PublicClient{HostPort: frontendAddr},
	}

	srv, err = catchFatal(func() (temporal.Server, error) {
		return temporal.NewServer(
			temporal.WithConfig(cfg),
			temporal.ForServices(temporal.DefaultServices),
			// Static membership instead of ringpop: no membership ports, and
			// no gossip round before the services can talk to each other.
			temporal.WithStaticHosts(map[primitives.ServiceName]static.Hosts{
				primitives.FrontendService: static.SingleLocalHost(frontendAddr),
				primitives.HistoryService:  static.SingleLocalHost(internal(p.history)),
				primitives.MatchingService: static.SingleLocalHost(internal(p.matching)),
				primitives.WorkerService:   static.SingleLocalHost(internal(p.worker)),
			}),
			temporal.WithLogger(newServerLogger(o.Logger, muted)),
			temporal.WithDynamicConfigClient(dynamicConfig(o.DynamicConfig)),
		)
	})
	if err != nil {
		return nil, fmt.Errorf("devserver: create server: %w", err)
	}
	return srv, nil
}

func startTemporal(srv temporal.Server) error {
	_, err := catchFatal(func() (struct{}, error) { return struct{}{}, srv.Start() })
	if err != nil {
		return fmt.Errorf("devserver: start server: %w", err)
	}
	return nil
}

// dynamicConfig returns the server's dynamic config: the features authflow
// relies on switched on explicitly (so a changed server default cannot turn
// them off), and limits sized for one developer rather than a fleet.
func dynamicConfig(overrides map[string]any) dynamicconfig.StaticClient {
	dc := dynamicconfig.StaticClient{
		// The API submits every user step as a workflow update and starts
		// flows with Update-With-Start.
		dynamicconfig.FrontendEnableUpdateWorkflowExecution.Key():              true,
		dynamicconfig.FrontendEnableUpdateWorkflowExecutionAsyncAccepted.Key(): true,
		dynamicconfig.EnableEagerWorkflowStart.Key():                           true,
		// The default of 10/s is shared by the UI, `authflow flows` and tests
		// polling visibility; throttling them only slows development down.
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		dynamicconfig.NamespaceCacheRefreshInterval.Key():                namespaceRefresh,
		// History polls its task queues at most 20 times a second by
		// default: every new flow then waits ~50 ms before its first
		// workflow task. A laptop server has nothing to protect by that.
		dynamicconfig.MakeKey("history.transferProcessorMaxPollRPS"):   1000,
		dynamicconfig.MakeKey("history.timerProcessorMaxPollRPS"):      1000,
		dynamicconfig.MakeKey("history.visibilityProcessorMaxPollRPS"): 1000,
		// One partition per task queue instead of four: with one matching
		// host, more partitions only forward tasks and polls between
		// themselves. With four, a new flow's first workflow task now and
		// then waited ~100 ms for a poller on another partition (the p99
		// of a bare Update-With-Start at concurrency 1: 100 ms → 12 ms),
		// and at concurrency 40 a login's p99 fell from ~3 s to ~1.7 s.
		dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  1,
		dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): 1,
		// Payloads stored outside history are never used here; the
		// feature still walked every event batch for them (2 % of the
		// server's CPU at concurrency 40).
		dynamicconfig.ExternalPayloadsEnabled.Key(): false,
	}
	for k, v := range overrides {
		dc[dynamicconfig.MakeKey(k)] = v
	}
	return dc
}
