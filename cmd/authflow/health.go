package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/store"
	"github.com/authflow/authflow/workflows"
)

// workerHealth answers a worker process's /healthz and /readyz in the
// API's shape ({"status", "checks"}, 200 or 503).
type workerHealth struct {
	store    store.Store
	temporal client.Client
	identity string
}

// checks: the store and Temporal answer; ready adds "this worker polls
// the task queue" (another worker polling is not this one being ready).
func (h workerHealth) checks(ctx context.Context, ready bool) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := map[string]string{"store": "ok", "temporal": "ok"}
	if err := h.store.Ping(ctx); err != nil {
		out["store"] = err.Error()
	}
	if _, err := h.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		out["temporal"] = err.Error()
	}
	if ready {
		out["worker"] = "ok"
		resp, err := h.temporal.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		switch {
		case err != nil:
			out["worker"] = err.Error()
		case !slices.ContainsFunc(resp.GetPollers(), func(p *taskqueue.PollerInfo) bool { return p.GetIdentity() == h.identity }):
			out["worker"] = fmt.Sprintf("this worker (%s) does not poll task queue %s", h.identity, workflows.TaskQueue)
		}
	}
	return out
}

func (h workerHealth) handler(ready bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		checks := h.checks(r.Context(), ready)
		status, code := "ok", http.StatusOK
		for _, v := range checks {
			if v != "ok" {
				status, code = "unavailable", http.StatusServiceUnavailable
			}
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "checks": checks})
	})
}

func healthcheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "healthcheck [URL]",
		Short: "Exit 0 when URL answers 200 (default: /readyz on AUTHFLOW_HTTP_ADDR): a container's healthcheck",
		Long: `healthcheck GETs URL and exits 0 when it answers 200, 1 otherwise, printing
the answer. Without URL it asks /readyz on AUTHFLOW_HTTP_ADDR's port on
loopback. It is for container healthchecks: the production image has no
shell and no curl.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := readyzURL(os.Getenv("AUTHFLOW_HTTP_ADDR"))
			if len(args) == 1 {
				target = args[0]
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %s: %s", target, resp.Status, strings.TrimSpace(string(body)))
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSpace(string(body)))
			return nil
		},
	}
}

// readyzURL is /readyz on the port of a listen address, on loopback when
// the address is every interface.
func readyzURL(addr string) string {
	host, port, err := net.SplitHostPort(strings.TrimSpace(addr))
	if err != nil {
		host, port = "", "8080" // AUTHFLOW_HTTP_ADDR's default outside dev
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz"
}
