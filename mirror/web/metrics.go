package web

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// durationBuckets are the request-duration histogram's buckets, in
// seconds: from a cached page (well under a millisecond) to a large
// bundle sent to a slow reader.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// statusClasses are the labels of status codes by their first digit.
var statusClasses = [...]string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// metrics are the handler's Prometheus metrics, on a private registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	handler  http.Handler

	mu      sync.Mutex                                  // held to add to byRoute
	byRoute atomic.Pointer[map[routeCode]*routeMetrics] // never nil; never modified once stored
}

func newMetrics(h *Handler) (*metrics, error) {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.byRoute.Store(&map[routeCode]*routeMetrics{})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samizdat_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samizdat_http_response_bytes_total",
		Help: "Response body bytes written, by route pattern.",
	}, []string{"route"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "samizdat_http_request_duration_seconds",
		Help:    "Time to serve an HTTP request, until its response is handed to the connection, by kind of route (page, entry, static, feed, log, bundle, api, ops, redirect, other, invalid) and status class (2xx...).",
		Buckets: durationBuckets,
	}, []string{"kind", "class"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "samizdat_build_info",
		Help: "Always 1: the samizdat module version and the Go version the binary was built with.",
	}, []string{"version", "goversion"})
	build.WithLabelValues(buildInfo()).Set(1)
	m.reg.MustRegister(m.requests, m.bytes, m.duration, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{h: h})
	for _, c := range h.cfg.Collectors {
		if err := m.reg.Register(c); err != nil {
			return nil, fmt.Errorf("web: Config.Collectors: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil, Registry: m.reg})
	return m, nil
}

// buildInfo returns the main module's version ("(devel)" when built from
// a checkout, "unknown" without build information) and the Go version.
func buildInfo() (version, goversion string) {
	version, goversion = "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goversion = bi.GoVersion
		}
	}
	return version, goversion
}

func (m *metrics) observe(route string, w *statusWriter, took time.Duration) {
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	rm := m.of(route, code)
	rm.requests.Inc()
	rm.bytes.Add(float64(w.bytes))
	rm.duration.Observe(took.Seconds())
}

// routeCode is a route pattern (or "other", "invalid") and a status code.
type routeCode struct {
	route string
	code  int
}

// routeMetrics are the metrics of one routeCode, looked up once.
type routeMetrics struct {
	requests, bytes prometheus.Counter
	duration        prometheus.Observer
}

// maxRouteMetrics bounds the routeCodes whose metrics are kept looked up;
// others are looked up on each request. Routes are a fixed set and the
// handler writes a few status codes, so this is never reached.
const maxRouteMetrics = 1024

// of returns the metrics of route and code: from a map that is read
// without a lock and copied to add to, so that a request allocates
// nothing and hashes no label values.
func (m *metrics) of(route string, code int) *routeMetrics {
	key := routeCode{route, code}
	if rm := (*m.byRoute.Load())[key]; rm != nil {
		return rm
	}
	kind := routeKinds[route]
	if kind == "" {
		kind = route // "other" or "invalid"
	}
	class := "5xx"
	if c := code / 100; c >= 0 && c < len(statusClasses) {
		class = statusClasses[c]
	}
	rm := &routeMetrics{
		requests: m.requests.WithLabelValues(route, strconv.Itoa(code)),
		bytes:    m.bytes.WithLabelValues(route),
		duration: m.duration.WithLabelValues(kind, class),
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.byRoute.Load()
	if len(old) < maxRouteMetrics {
		next := make(map[routeCode]*routeMetrics, len(old)+1)
		for k, v := range old {
			next[k] = v
		}
		next[key] = rm
		m.byRoute.Store(&next)
	}
	return rm
}

// Registerer returns the registry /metrics exports, so that other parts
// of the node (sync) can register their own collectors on it. It is safe
// for concurrent use.
func (h *Handler) Registerer() prometheus.Registerer { return h.metrics.reg }

// Metrics returns a handler of the Prometheus metrics that /metrics
// serves, on the same path, for a listener of their own
// (Config.NoMetricsRoute turns the route off on the main handler). Like
// /metrics, it takes GET and HEAD without a query; any other path is 404.
func (h *Handler) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["X-Content-Type-Options"] = nosniff
		hd["Content-Security-Policy"] = dataCSPValue
		switch {
		case r.URL.Path != "/metrics":
			h.fail(w, r, textKind, http.StatusNotFound, "metrics are at /metrics")
			return
		case r.Method != http.MethodGet && r.Method != http.MethodHead:
			hd.Set("Allow", "GET, HEAD")
			h.fail(w, r, textKind, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
			return
		}
		h.serveMetrics(w, r)
	})
}

func (h *Handler) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery != "" {
		h.fail(w, r, textKind, http.StatusBadRequest, "metrics take no query")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	h.metrics.handler.ServeHTTP(w, r)
}

var (
	descPublishers = prometheus.NewDesc("samizdat_publishers", "Trusted publishers the store holds.", nil, nil)
	descArticles   = prometheus.NewDesc("samizdat_articles", "Current (not retracted) articles, by publisher.", []string{"publisher"}, nil)
	descLogSize    = prometheus.NewDesc("samizdat_log_size", "Leaves in the publisher's log at its checkpoint.", []string{"publisher"}, nil)
	descCPTime     = prometheus.NewDesc("samizdat_checkpoint_timestamp_seconds", "Time of the publisher's latest checkpoint.", []string{"publisher"}, nil)
	descAlarms     = prometheus.NewDesc("samizdat_alarms", "Alarms raised for the publisher (Config.Alarms), such as forks.", []string{"publisher"}, nil)
	descStoreBytes = prometheus.NewDesc("samizdat_store_bytes", "Size of the publisher's stored bundles, in bytes.", []string{"publisher"}, nil)
	descQuota      = prometheus.NewDesc("samizdat_store_quota_bytes", "The bound on one publisher's stored bundles, in bytes (samizdat mirror --quota-mb); absent when there is none.", []string{"publisher"}, nil)
)

// storeCollector reports the store's publishers and articles when
// scraped.
type storeCollector struct{ h *Handler }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPublishers, descArticles, descLogSize, descCPTime, descAlarms, descStoreBytes, descQuota} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	infos, states := c.h.pubInfos()
	ch <- prometheus.MustNewConstMetric(descPublishers, prometheus.GaugeValue, float64(len(states)))
	quota := c.h.st.Quota()
	for _, pi := range infos {
		ch <- prometheus.MustNewConstMetric(descAlarms, prometheus.GaugeValue, float64(len(pi.Fresh.Alarms)), pi.ID)
		if !pi.Held {
			continue
		}
		ch <- prometheus.MustNewConstMetric(descArticles, prometheus.GaugeValue, float64(pi.Articles), pi.ID)
		if pi.Fresh.Size > 0 {
			ch <- prometheus.MustNewConstMetric(descLogSize, prometheus.GaugeValue, float64(pi.Fresh.Size), pi.ID)
			ch <- prometheus.MustNewConstMetric(descCPTime, prometheus.GaugeValue, float64(pi.Fresh.Time.Unix()), pi.ID)
		}
		if quota > 0 {
			ch <- prometheus.MustNewConstMetric(descQuota, prometheus.GaugeValue, float64(quota), pi.ID)
		}
	}
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(descStoreBytes, prometheus.GaugeValue, float64(s.pub.Bytes), s.id)
	}
}
