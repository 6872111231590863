package api

import (
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/converter"

	"github.com/authflow/authflow/metrics"
)

// mountOps adds what operators use: /metrics (when Metrics is set and
// AUTHFLOW_METRICS is not off; behind AUTHFLOW_METRICS_TOKEN, which
// config requires outside dev) and the payload codec server (when Codec is
// set).
func (s *Server) mountOps(r *gin.Engine) {
	if s.Metrics != nil && !s.Cfg.MetricsOff {
		r.GET("/metrics", gin.WrapH(metrics.Protect(s.Metrics.Handler(), s.Cfg.MetricsToken)))
	}
	if s.Codec != nil {
		// The Temporal UI's and CLI's codec server protocol: POST
		// {endpoint}/decode and /encode with {"payloads":[...]}.
		h := gin.WrapH(converter.NewPayloadCodecHTTPHandler(s.Codec))
		codec := r.Group("/codec", s.codecCORS)
		for _, op := range []string{"/decode", "/encode"} {
			codec.OPTIONS(op, func(c *gin.Context) { c.Status(http.StatusNoContent) })
			// The admin token reads every payload of every flow: the same
			// trust as the admin API (or its cookie, see codecauth.go).
			codec.POST(op, s.requireCodecAuth, h)
		}
	}
}

// codecCORS lets the Temporal UI (a page on another origin, listed in
// CodecOrigins) call the codec server from the operator's browser.
func (s *Server) codecCORS(c *gin.Context) {
	origin := c.GetHeader("Origin")
	if origin == "" || !slices.Contains(s.CodecOrigins, origin) {
		c.Next()
		return
	}
	h := c.Writer.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Namespace")
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Max-Age", "600")
	c.Next()
}

// observe records the request's latency by route and gives the handlers a
// logger carrying the flow id of the path, if any.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	l := s.logger()
	if id := c.Param("flow_id"); id != "" {
		l = l.With("flow_id", id)
	}
	c.Set("log", l)
	c.Next()
	s.Metrics.HTTP(c.Request.Method, c.FullPath(), c.Writer.Status(), time.Since(start))
}
