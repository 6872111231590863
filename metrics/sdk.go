package metrics

import (
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
)

// SDKHandler adapts the registry to the Temporal SDK's metrics interface:
// pass it as client.Options.MetricsHandler. Counters become <name>_total,
// timers histograms <name>_seconds, gauges gauges; tags become labels.
//
// Prometheus wants one label set per family, the SDK does not promise one:
// a family takes the tag keys of its first use, later uses fill a missing
// key with "" and drop keys the family does not have.
func (m *Metrics) SDKHandler() client.MetricsHandler { return sdkHandler{m: m} }

type sdkHandler struct {
	m    *Metrics
	tags map[string]string
}

var _ client.MetricsHandler = sdkHandler{}

func (h sdkHandler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	for k, v := range h.tags {
		merged[k] = v
	}
	for k, v := range tags {
		merged[sanitize(k)] = v
	}
	return sdkHandler{m: h.m, tags: merged}
}

func (h sdkHandler) Counter(name string) client.MetricsCounter {
	f := h.m.sdkFamily(sdkName(name, "_total"), kindCounter, h.tags)
	if f == nil {
		return client.MetricsNopHandler.Counter(name)
	}
	c := f.counter.WithLabelValues(f.values(h.tags)...)
	return counterFunc(func(d int64) { c.Add(float64(d)) })
}

func (h sdkHandler) Gauge(name string) client.MetricsGauge {
	f := h.m.sdkFamily(sdkName(name, ""), kindGauge, h.tags)
	if f == nil {
		return client.MetricsNopHandler.Gauge(name)
	}
	g := f.gauge.WithLabelValues(f.values(h.tags)...)
	return gaugeFunc(g.Set)
}

func (h sdkHandler) Timer(name string) client.MetricsTimer {
	f := h.m.sdkFamily(sdkName(name, "_seconds"), kindTimer, h.tags)
	if f == nil {
		return client.MetricsNopHandler.Timer(name)
	}
	o := f.hist.WithLabelValues(f.values(h.tags)...)
	return timerFunc(func(d time.Duration) { o.Observe(d.Seconds()) })
}

type counterFunc func(int64)

func (f counterFunc) Inc(d int64) { f(d) }

type gaugeFunc func(float64)

func (f gaugeFunc) Update(v float64) { f(v) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }

type sdkKind int

const (
	kindCounter sdkKind = iota
	kindGauge
	kindTimer
)

// sdkFamily is one registered family of SDK metrics.
type sdkFamily struct {
	kind    sdkKind
	labels  []string
	counter *prometheus.CounterVec
	gauge   *prometheus.GaugeVec
	hist    *prometheus.HistogramVec
}

func (f *sdkFamily) values(tags map[string]string) []string {
	out := make([]string, len(f.labels))
	for i, k := range f.labels {
		out[i] = tags[k]
	}
	return out
}

// sdkFamily returns the family called name, registering it on first use; nil
// when the name is taken by a family of another kind.
func (m *Metrics) sdkFamily(name string, kind sdkKind, tags map[string]string) *sdkFamily {
	m.sdkMu.Lock()
	defer m.sdkMu.Unlock()
	if f, ok := m.sdkVec[name]; ok {
		if f.kind != kind {
			return nil
		}
		return f
	}
	labels := make([]string, 0, len(tags))
	for k := range tags {
		labels = append(labels, k)
	}
	sort.Strings(labels)
	f := &sdkFamily{kind: kind, labels: labels}
	help := "Temporal SDK metric " + name + "."
	var c prometheus.Collector
	switch kind {
	case kindCounter:
		f.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
		c = f.counter
	case kindGauge:
		f.gauge = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
		c = f.gauge
	case kindTimer:
		f.hist = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets}, labels)
		c = f.hist
	}
	if err := m.reg.Register(c); err != nil {
		m.sdkVec[name] = &sdkFamily{kind: -1}
		return nil
	}
	m.sdkVec[name] = f
	return f
}

// sdkName makes a Prometheus name of an SDK metric name and a unit suffix.
func sdkName(name, suffix string) string {
	name = sanitize(name)
	if suffix != "" && !strings.HasSuffix(name, suffix) {
		name += suffix
	}
	return name
}

// sanitize keeps [a-zA-Z0-9_] and maps everything else to '_'.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
			return r
		}
		return '_'
	}, s)
}
