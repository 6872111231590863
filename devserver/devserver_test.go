package devserver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authflow/authflow/devserver"
	enums "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

const userIDAttr = "AuthflowUserID"

var userIDKey = temporal.NewSearchAttributeKeyKeyword(userIDAttr)

// shared is the one server most tests run against; starting one per test
// would multiply the suite's run time.
var (
	shared          *devserver.Server
	sharedStartTime time.Duration
)

func TestMain(m *testing.M) {
	flag.Parse() // testLogger reads -test.v
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	begin := time.Now()
	var err error
	shared, err = devserver.Start(ctx, devserver.Options{
		Ephemeral:        true,
		SearchAttributes: map[string]enums.IndexedValueType{userIDAttr: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           testLogger(),
		UICodec:          &devserver.UICodec{Endpoint: "http://localhost:8080/codec", SignInURL: "http://localhost:8080/admin/codec"},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start shared dev server:", err)
		return 1
	}
	sharedStartTime = time.Since(begin)
	defer func() {
		if err := shared.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop shared dev server:", err)
		}
	}()
	return m.Run()
}

// testLogger shows the server's errors only: its warnings are about choices
// a dev server makes on purpose (no authorizer, no archival, ...).
func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func TestStart(t *testing.T) {
	t.Run("case=ephemeral with UI answers on the frontend", func(t *testing.T) {
		t.Logf("ephemeral start (UI, 1 search attribute) took %v", sharedStartTime)
		c := newClient(t, shared)
		ns, err := c.WorkflowService().DescribeNamespace(ctx(t), &workflowservice.DescribeNamespaceRequest{Namespace: shared.Namespace()})
		if err != nil {
			t.Fatalf("describe namespace: %v", err)
		}
		if got := ns.GetNamespaceInfo().GetName(); got != devserver.DefaultNamespace {
			t.Errorf("namespace = %q, want %q", got, devserver.DefaultNamespace)
		}
		if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != devserver.DefaultRetention {
			t.Errorf("retention = %v, want %v", got, devserver.DefaultRetention)
		}
		if !strings.HasPrefix(shared.FrontendHostPort(), "127.0.0.1:") {
			t.Errorf("FrontendHostPort() = %q, want 127.0.0.1:<port>", shared.FrontendHostPort())
		}
	})

	t.Run("case=invalid options are rejected before anything starts", func(t *testing.T) {
		for name, o := range map[string]devserver.Options{
			"no data dir":           {},
			"retention below 1h":    {Ephemeral: true, Retention: time.Minute},
			"not an IP":             {Ephemeral: true, IP: "localhost"},
			"UI port below -1":      {Ephemeral: true, UIPort: -2},
			"untyped attribute":     {Ephemeral: true, SearchAttributes: map[string]enums.IndexedValueType{"X": enums.INDEXED_VALUE_TYPE_UNSPECIFIED}},
			"query string data dir": {DataDir: t.TempDir() + "/a?b"},
		} {
			if s, err := devserver.Start(ctx(t), o); err == nil {
				_ = s.Stop()
				t.Errorf("%s: Start succeeded, want an error", name)
			}
		}
	})

	t.Run("case=busy fixed port is an error, not an exit", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := l.Addr().(*net.TCPAddr).Port
		if s, err := devserver.Start(ctx(t), devserver.Options{Ephemeral: true, Port: port, UIPort: devserver.NoUI}); err == nil {
			_ = s.Stop()
			t.Fatalf("Start on busy port %d succeeded", port)
		}
	})
}

func TestSearchAttributes(t *testing.T) {
	t.Run("case=attribute set at start is found by a visibility query", func(t *testing.T) {
		c := newClient(t, shared)
		tq := taskQueue(t)
		startWorker(t, c, tq, waitForSignal)

		run, err := c.ExecuteWorkflow(ctx(t), client.StartWorkflowOptions{
			ID:                    "sa-" + tq,
			TaskQueue:             tq,
			TypedSearchAttributes: temporal.NewSearchAttributes(userIDKey.ValueSet("u1")),
		}, waitForSignal)
		if err != nil {
			t.Fatalf("start workflow: %v", err)
		}
		t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), run.GetID(), "", "test over") })

		// Visibility is written asynchronously after the start.
		deadline := time.Now().Add(15 * time.Second)
		for {
			resp, err := c.ListWorkflow(ctx(t), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: shared.Namespace(),
				Query:     userIDAttr + ` = "u1"`,
			})
			if err != nil {
				t.Fatalf("list workflows: %v", err)
			}
			// Earlier runs of this test (-count) left their own "u1" workflows.
			for _, e := range resp.GetExecutions() {
				if e.GetExecution().GetRunId() == run.GetRunID() {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s not found by %s = \"u1\"; got %d other executions", run.GetRunID(), userIDAttr, len(resp.GetExecutions()))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestUpdate(t *testing.T) {
	c := newClient(t, shared)
	tq := taskQueue(t)
	startWorker(t, c, tq, counter)
	id := "counter-" + tq

	updateWithStart := func(t *testing.T, delta int) (int, error) {
		t.Helper()
		start := c.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID:        id,
			TaskQueue: tq,
			// Update-With-Start requires a conflict policy; USE_EXISTING is
			// what the API does to resume a flow.
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, counter)
		h, err := c.UpdateWithStartWorkflow(ctx(t), client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName:   addUpdate,
				Args:         []any{delta},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		if err != nil {
			return 0, err
		}
		var n int
		err = h.Get(ctx(t), &n)
		return n, err
	}

	t.Run("case=update-with-start starts the workflow and returns the update result", func(t *testing.T) {
		n, err := updateWithStart(t, 5)
		if err != nil || n != 5 {
			t.Fatalf("update-with-start = %d, %v; want 5, nil", n, err)
		}
	})

	t.Run("case=update-with-start on a running workflow updates it", func(t *testing.T) {
		n, err := updateWithStart(t, 3)
		if err != nil || n != 8 {
			t.Fatalf("update-with-start = %d, %v; want 8, nil", n, err)
		}
	})

	t.Run("case=validator rejects a bad update", func(t *testing.T) {
		if _, err := updateWithStart(t, -1); err == nil {
			t.Fatal("update with a negative delta succeeded")
		}
	})

	t.Run("case=plain update completes the workflow", func(t *testing.T) {
		h, err := c.UpdateWorkflow(ctx(t), client.UpdateWorkflowOptions{
			WorkflowID:   id,
			UpdateName:   finishUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		if err != nil {
			t.Fatalf("update: %v", err)
		}
		if err := h.Get(ctx(t), nil); err != nil {
			t.Fatalf("update result: %v", err)
		}
		var total int
		if err := c.GetWorkflow(ctx(t), id, "").Get(ctx(t), &total); err != nil || total != 8 {
			t.Fatalf("workflow result = %d, %v; want 8, nil", total, err)
		}
	})
}

func TestUI(t *testing.T) {
	t.Run("case=GET / answers with HTML", func(t *testing.T) {
		if shared.UIURL() == "" {
			t.Fatal("UIURL() is empty")
		}
		hc := &http.Client{
			Timeout:       10 * time.Second,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
		resp, err := hc.Get(shared.UIURL() + "/")
		if err != nil {
			t.Fatalf("GET /: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			t.Logf("GET / redirects to %s", resp.Header.Get("Location"))
		case resp.StatusCode != http.StatusOK:
			t.Fatalf("GET / = %s", resp.Status)
		case !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(strings.ToLower(string(body)), "<html"):
			t.Fatalf("GET / is not HTML: Content-Type %q, body starts %q", resp.Header.Get("Content-Type"), head(body))
		}
	})

	t.Run("case=UI API reaches the frontend", func(t *testing.T) {
		resp, err := http.Get(shared.UIURL() + "/api/v1/namespaces/" + shared.Namespace())
		if err != nil {
			t.Fatalf("GET namespace through the UI: %v", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"`+shared.Namespace()+`"`) {
			t.Fatalf("GET namespace through the UI = %s, body starts %q", resp.Status, head(body))
		}
	})

	t.Run("case=the UI decodes through the configured codec with the browser's cookies", func(t *testing.T) {
		resp, err := http.Get(shared.UIURL() + "/api/v1/settings")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var settings struct {
			Codec struct {
				Endpoint            string
				IncludeCredentials  bool
				DefaultErrorLink    string
				DefaultErrorMessage string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&settings); err != nil {
			t.Fatal(err)
		}
		c := settings.Codec
		if c.Endpoint != "http://localhost:8080/codec" || !c.IncludeCredentials || c.DefaultErrorLink != "http://localhost:8080/admin/codec" || c.DefaultErrorMessage == "" {
			t.Fatalf("UI codec settings %+v", c)
		}
	})

	t.Run("case=NoUI runs no UI", func(t *testing.T) {
		s := startServer(t, devserver.Options{Ephemeral: true, UIPort: devserver.NoUI})
		if s.UIURL() != "" {
			t.Errorf("UIURL() = %q, want empty", s.UIURL())
		}
	})
}

func TestRestart(t *testing.T) {
	dir := t.TempDir()
	opts := devserver.Options{
		DataDir:          dir,
		UIPort:           devserver.NoUI,
		SearchAttributes: map[string]enums.IndexedValueType{userIDAttr: enums.INDEXED_VALUE_TYPE_KEYWORD},
		Logger:           testLogger(),
	}

	begin := time.Now()
	first, err := devserver.Start(ctx(t), opts)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	t.Logf("on-disk start, new database, took %v", time.Since(begin))
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = first.Stop()
		}
	})

	if s, err := devserver.Start(ctx(t), opts); err == nil {
		_ = s.Stop()
		t.Fatal("second server on the same data dir started")
	}

	const id = "restart-wf"
	tq := taskQueue(t)
	// Worker and client are closed by hand: they must be gone before Stop.
	c1, err := first.NewClient(client.Options{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	// The signal after the restart goes to this worker's sticky queue first;
	// nobody polls it any more, so keep the fallback to the normal queue short.
	w1 := worker.New(c1, tq, worker.Options{StickyScheduleToStartTimeout: time.Second})
	w1.RegisterWorkflow(waitForSignal)
	if err := w1.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	if _, err := c1.ExecuteWorkflow(ctx(t), client.StartWorkflowOptions{ID: id, TaskQueue: tq}, waitForSignal); err != nil {
		t.Fatalf("start workflow: %v", err)
	}
	w1.Stop()
	c1.Close()
	oldFrontend := first.FrontendHostPort()
	if err := first.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true

	t.Run("case=the visibility table keeps only the UI's indexes", func(t *testing.T) {
		db, err := sql.Open("sqlite", filepath.Join(dir, devserver.DBFileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL ORDER BY name`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		want := []string{"by_execution_time", "by_status", "by_workflow_id", "by_workflow_type", "default_idx"}
		if !slices.Equal(names, want) {
			t.Errorf("visibility indexes %v, want %v", names, want)
		}
	})

	t.Run("case=stop releases the frontend port", func(t *testing.T) {
		l, err := net.Listen("tcp", oldFrontend)
		if err != nil {
			t.Fatalf("listen on %s after Stop: %v", oldFrontend, err)
		}
		l.Close()
	})

	// The restart also adds an attribute: existing namespaces get new ones.
	const methodAttr = "AuthflowMethod"
	opts.SearchAttributes = map[string]enums.IndexedValueType{
		userIDAttr: enums.INDEXED_VALUE_TYPE_KEYWORD,
		methodAttr: enums.INDEXED_VALUE_TYPE_KEYWORD,
	}
	opts.Retention = 48 * time.Hour
	begin = time.Now()
	second := startServer(t, opts)
	t.Logf("on-disk start, existing database, one new search attribute, took %v", time.Since(begin))
	c2 := newClient(t, second)

	t.Run("case=namespace and search attributes survive and new ones are added", func(t *testing.T) {
		sas, err := c2.OperatorService().ListSearchAttributes(ctx(t), &operatorservice.ListSearchAttributesRequest{Namespace: second.Namespace()})
		if err != nil {
			t.Fatalf("list search attributes: %v", err)
		}
		for _, name := range []string{userIDAttr, methodAttr} {
			if got := sas.GetCustomAttributes()[name]; got != enums.INDEXED_VALUE_TYPE_KEYWORD {
				t.Errorf("search attribute %s = %v, want Keyword", name, got)
			}
		}
		ns, err := c2.WorkflowService().DescribeNamespace(ctx(t), &workflowservice.DescribeNamespaceRequest{Namespace: second.Namespace()})
		if err != nil {
			t.Fatalf("describe namespace: %v", err)
		}
		if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 48*time.Hour {
			t.Errorf("retention = %v, want 48h", got)
		}
	})

	t.Run("case=workflow started before the restart completes after it", func(t *testing.T) {
		startWorker(t, c2, tq, waitForSignal)
		if err := c2.SignalWorkflow(ctx(t), id, "", goSignal, "after restart"); err != nil {
			t.Fatalf("signal: %v", err)
		}
		var got string
		if err := c2.GetWorkflow(ctx(t), id, "").Get(ctx(t), &got); err != nil {
			t.Fatalf("workflow result: %v", err)
		}
		if got != "got after restart" {
			t.Fatalf("workflow result = %q", got)
		}
	})
}

func BenchmarkStartEphemeral(b *testing.B) {
	for _, bc := range []struct {
		name   string
		uiPort int
	}{{"ui=off", devserver.NoUI}, {"ui=on", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s, err := devserver.Start(context.Background(), devserver.Options{
					Ephemeral:        true,
					UIPort:           bc.uiPort,
					SearchAttributes: map[string]enums.IndexedValueType{userIDAttr: enums.INDEXED_VALUE_TYPE_KEYWORD},
					Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
				})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := s.Stop(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// Workflows used by the tests.

const (
	goSignal     = "go"
	addUpdate    = "add"
	finishUpdate = "finish"
)

func waitForSignal(ctx workflow.Context) (string, error) {
	var v string
	workflow.GetSignalChannel(ctx, goSignal).Receive(ctx, &v)
	return "got " + v, nil
}

func counter(ctx workflow.Context) (int, error) {
	total, done := 0, false
	err := workflow.SetUpdateHandlerWithOptions(ctx, addUpdate,
		func(ctx workflow.Context, delta int) (int, error) {
			total += delta
			return total, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, delta int) error {
			if delta <= 0 {
				return errors.New("delta must be positive")
			}
			return nil
		}},
	)
	if err != nil {
		return 0, err
	}
	err = workflow.SetUpdateHandler(ctx, finishUpdate, func(ctx workflow.Context) error {
		done = true
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := workflow.Await(ctx, func() bool { return done }); err != nil {
		return 0, err
	}
	return total, workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// Helpers.

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func startServer(t *testing.T, o devserver.Options) *devserver.Server {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger()
	}
	s, err := devserver.Start(ctx(t), o)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func newClient(t *testing.T, s *devserver.Server) client.Client {
	t.Helper()
	c, err := s.NewClient(client.Options{})
	if err != nil {
		t.Fatalf("dial %s: %v", s.FrontendHostPort(), err)
	}
	t.Cleanup(c.Close)
	return c
}

func startWorker(t *testing.T, c client.Client, taskQueue string, workflows ...any) worker.Worker {
	t.Helper()
	w := worker.New(c, taskQueue, worker.Options{})
	for _, wf := range workflows {
		w.RegisterWorkflow(wf)
	}
	if err := w.Start(); err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(w.Stop)
	return w
}

// taskQueue is unique per test, so workers of one test never take another's
// tasks on the shared server.
func taskQueue(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "_", "=", "_").Replace(t.Name())
}

func head(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}
