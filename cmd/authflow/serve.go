package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/spf13/cobra"

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
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd.Context(), serveParts{api: true, worker: true})
		},
	}
}

func apiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "api",
		Short: "Run the HTTP API only (scale out beside `authflow worker`)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), serveParts{api: true}) },
	}
}

func workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run a Temporal worker only (the workflows and their activities)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return serve(cmd.Context(), serveParts{worker: true}) },
	}
}

func serve(ctx context.Context, parts serveParts) error {
	cfg, err := config.Load(config.Production, "")
	if err != nil {
		return err
	}
	log := newLogger()
	a, err := app.New(ctx, app.Options{Config: cfg, Log: log, APIOnly: !parts.worker})
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
		log.Info("worker polling", "task_queue", "authflow", "temporal", cfg.TemporalAddress)
	}
	if !parts.api {
		if cfg.MetricsAddr == "" {
			<-ctx.Done()
			return nil
		}
		ln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen on AUTHFLOW_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", metrics.Protect(a.Metrics.Handler(), cfg.MetricsToken))
		return serveHTTP(ctx, ln, mux)
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
