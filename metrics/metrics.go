// Package metrics is authflow's Prometheus face: one registry per process
// holding the application's own families (logins by method and outcome, HTTP
// latency by route, rate-limit answers, saga runs and compensations), the Go
// runtime's, and the Temporal SDK's (through SDKHandler, an adapter of
// client.MetricsHandler), served at /metrics.
package metrics

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and the application's families. Its methods
// are safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	reg *prometheus.Registry

	logins        *prometheus.CounterVec
	httpLatency   *prometheus.HistogramVec
	rateLimited   *prometheus.CounterVec
	sagaRuns      prometheus.Counter
	sagaCompleted prometheus.Counter
	sagaCompens   prometheus.Counter
	phoneRefused  *prometheus.CounterVec

	sdkMu  sync.Mutex
	sdkVec map[string]*sdkFamily
}

// latencyBuckets span a cached read (1 ms) to a saga retried against a slow
// dependency (30 s); a password hash sits around 25-400 ms.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// New returns a registry with the application's families, the Go runtime's
// and the process's.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authflow_logins_total",
			Help: "Login steps by method (password, totp, email, sms, call, telegram, webauthn) and outcome (success, invalid_credentials, rate_limited, wrong_code, replay, …).",
		}, []string{"method", "outcome"}),
		httpLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authflow_http_request_duration_seconds",
			Help:    "HTTP handler latency by method, route pattern and status.",
			Buckets: latencyBuckets,
		}, []string{"method", "route", "status"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authflow_rate_limited_total",
			Help: "429 rate_limited answers by route pattern.",
		}, []string{"route"}),
		sagaRuns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authflow_saga_runs_total",
			Help: "Phone downgrade sagas whose first step (2FA disabled) succeeded.",
		}),
		sagaCompleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authflow_saga_completions_total",
			Help: "Phone downgrade sagas finished (2FA off, cards unlinked, notices sent).",
		}),
		sagaCompens: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authflow_saga_compensations_total",
			Help: "Phone downgrade sagas compensated (2FA restored after a step failed for good).",
		}),
		phoneRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authflow_phone_sends_refused_total",
			Help: "Codes and recovery notices not sent to a phone, by reason: cap (AUTHFLOW_PHONE_SENDS_PER_HOUR reached: a pumping wave may be under way), type, region, invalid, notice_budget (a number's recovery notice texts for the hour).",
		}, []string{"reason"}),
		sdkVec: map[string]*sdkFamily{},
	}
	m.reg.MustRegister(m.logins, m.httpLatency, m.rateLimited, m.sagaRuns, m.sagaCompleted, m.sagaCompens, m.phoneRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the underlying registry (to add collectors or gather in tests).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Protect requires "Authorization: Bearer token" on h (what Prometheus
// sends with a scrape config's authorization or bearer_token_file); an
// empty token leaves h open, for a scrape over an internal network.
func Protect(h http.Handler, token string) http.Handler {
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "metrics need the bearer token of AUTHFLOW_METRICS_TOKEN", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Login counts one login step's outcome.
func (m *Metrics) Login(method, outcome string) {
	if m == nil {
		return
	}
	if method == "" {
		method = "password"
	}
	m.logins.WithLabelValues(method, outcome).Inc()
}

// SagaStarted counts a phone saga whose first step succeeded.
func (m *Metrics) SagaStarted() {
	if m != nil {
		m.sagaRuns.Inc()
	}
}

// SagaCompleted counts a phone saga that finished.
func (m *Metrics) SagaCompleted() {
	if m != nil {
		m.sagaCompleted.Inc()
	}
}

// SagaCompensated counts a phone saga undone after a step failed for good.
func (m *Metrics) SagaCompensated() {
	if m != nil {
		m.sagaCompens.Inc()
	}
}

// PhoneSendRefused counts a code not sent to a phone, by reason.
func (m *Metrics) PhoneSendRefused(reason string) {
	if m != nil {
		m.phoneRefused.WithLabelValues(reason).Inc()
	}
}

// HTTP records one answered request. route is the pattern ("/v1/login/:flow_id"),
// never the path: flow ids are bearer secrets and unbounded in number.
func (m *Metrics) HTTP(method, route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if route == "" {
		route = "unmatched"
	}
	m.httpLatency.WithLabelValues(method, route, strconv.Itoa(status)).Observe(d.Seconds())
	if status == http.StatusTooManyRequests {
		m.rateLimited.WithLabelValues(route).Inc()
	}
}
