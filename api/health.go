package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/authflow/authflow/workflows"
)

// checks runs the health checks; ready adds "a worker polls the task queue".
func (s *Server) checks(ctx context.Context, ready bool) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	out := map[string]string{"store": "ok", "temporal": "ok"}
	if err := s.Store.Ping(ctx); err != nil {
		out["store"] = err.Error()
	}
	if _, err := s.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		out["temporal"] = err.Error()
	}
	if ready {
		out["worker"] = "ok"
		resp, err := s.Temporal.DescribeTaskQueue(ctx, workflows.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
		switch {
		case err != nil:
			out["worker"] = err.Error()
		case len(resp.GetPollers()) == 0:
			out["worker"] = "no worker polls task queue " + workflows.TaskQueue
		}
	}
	return out
}

func (s *Server) health(c *gin.Context, ready bool) {
	checks := s.checks(c.Request.Context(), ready)
	for _, v := range checks {
		if v != "ok" {
			c.JSON(http.StatusServiceUnavailable, gin.H{"status": "unavailable", "checks": checks})
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "checks": checks})
}

func (s *Server) healthz(c *gin.Context) { s.health(c, false) }
func (s *Server) readyz(c *gin.Context)  { s.health(c, true) }
