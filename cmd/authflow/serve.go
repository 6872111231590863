package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/app"
	"github.com/authflow/authflow/config"
	"github.com/authflow/authflow/metrics"
)

// serveParts says which parts a production subcommand runs.
type serveParts struct{ api, worker bool }

func serverCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "server",
		Short: "Run the API and a worker in one process against an external Temporal and database",
		Long: `server runs the API (with its pages) and a worker in one process, against the
Temporal of TEMPORAL_ADDRESS and the database of AUTHFLOW_DATABASE_URL.

` + config.Help(config.ForAPI|config.ForWorker),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, serveParts{api: true, worker: true})
		},
	}
}

func apiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "api",
		Short: "Run the HTTP API only (scale out beside `authflow worker`)",
		Long: `api runs the HTTP API and the pages, against the Temporal of TEMPORAL_ADDRESS
and the database of AUTHFLOW_DATABASE_URL; workers run the flows.

` + config.Help(config.ForAPI),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, serveParts{api: true}) },
	}
}

func workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker only (the workflows and their activities)",
		Long: `worker polls the Temporal of TEMPORAL_ADDRESS and runs the workflows and their
activities. With AUTHFLOW_HTTP_ADDR set it serves /healthz (the store and
Temporal answer) and /readyz (and this worker polls the task queue) there;
with AUTHFLOW_METRICS_ADDR, /metrics.

` + config.Help(config.ForWorker),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return serve(cmd, serveParts{worker: true}) },
	}
}

func serve(cmd *cobra.Command, parts serveParts) error {
	ctx := cmd.Context()
	cfg, err := config.Load(config.Production, "")
	if err != nil {
		return err
	}
	log := newLogger(cmd.ErrOrStderr())
	if msg := cfg.PublicURLMismatch(); msg != "" && parts.api {
		log.Warn(msg)
	}
	identity := workerIdentity()
	a, err := app.New(ctx, app.Options{Config: cfg, Log: log, APIOnly: !parts.worker,
		Dial: func(co client.Options) (client.Client, error) {
			co.Identity = identity
			return app.DialTemporal(ctx, cfg, co)
		}})
	if err != nil {
		return err
	}
	defer a.Close()
	if parts.worker {
		w, err := a.NewWorker()
		if err != nil {
			return err
		}
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
		log.Info("worker polling", "task_queue", "authflow", "temporal", cfg.TemporalAddress, "identity", identity)
	}
	if !parts.api {
		return serveWorker(ctx, cfg, a, identity)
	}
	srv := a.API
	stopTelegram, err := startTelegram(ctx, cfg, log, srv)
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	defer stopTelegram()
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on AUTHFLOW_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	log.Info("API listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL)
	return serveHTTP(ctx, ln, srv.Handler())
}

// serveWorker serves what a worker process has on HTTP until ctx ends:
// /healthz and /readyz on AUTHFLOW_HTTP_ADDR when it is set, /metrics on
// AUTHFLOW_METRICS_ADDR when that is (one listener when both are the same).
func serveWorker(ctx context.Context, cfg config.Config, a *app.App, identity string) error {
	muxes := map[string]*http.ServeMux{}
	vars := map[string]string{}
	mux := func(addr, variable string) *http.ServeMux {
		if muxes[addr] == nil {
			muxes[addr] = http.NewServeMux()
			vars[addr] = variable
		} else {
			vars[addr] += " and " + variable
		}
		return muxes[addr]
	}
	if cfg.HTTPAddrSet {
		h := workerHealth{store: a.Store, temporal: a.Temporal, identity: identity}
		m := mux(cfg.HTTPAddr, "AUTHFLOW_HTTP_ADDR")
		m.Handle("GET /healthz", h.handler(false))
		m.Handle("GET /readyz", h.handler(true))
	}
	if cfg.MetricsAddr != "" {
		mux(cfg.MetricsAddr, "AUTHFLOW_METRICS_ADDR").Handle("GET /metrics", metrics.Protect(a.Metrics.Handler(), cfg.MetricsToken))
	}
	if len(muxes) == 0 {
		<-ctx.Done()
		return nil
	}
	lns := map[string]net.Listener{}
	for addr := range muxes {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("listen on %s %s: %w", vars[addr], addr, err)
		}
		lns[addr] = ln
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(lns))
	for addr, ln := range lns {
		go func() { errc <- serveHTTP(ctx, ln, muxes[addr]) }()
	}
	var errs []error
	for range lns {
		if err := <-errc; err != nil {
			errs = append(errs, err)
			cancel() // one listener failed: stop the other too
		}
	}
	return errors.Join(errs...)
}

// workerIdentity is the Temporal SDK's default identity (pid@host@), set
// explicitly so a worker's /readyz can find itself among the task queue's
// pollers.
func workerIdentity() string {
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	return fmt.Sprintf("%d@%s@", os.Getpid(), host)
}
