package web

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the handler's Prometheus metrics, on a private registry.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	handler  http.Handler
}

func newMetrics(h *Handler) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samizdat_http_requests_total",
		Help: "HTTP requests served, by route pattern and status code.",
	}, []string{"route", "code"})
	m.bytes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "samizdat_http_response_bytes_total",
		Help: "Response body bytes written, by route pattern.",
	}, []string{"route"})
	m.reg.MustRegister(m.requests, m.bytes,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&storeCollector{h: h})
	for _, c := range h.cfg.Collectors {
		if err := m.reg.Register(c); err != nil {
			h.log.Warn("web: cannot register collector", "err", err)
		}
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil, Registry: m.reg})
	return m
}

func (m *metrics) observe(route string, w *statusWriter) {
	code := w.code
	if code == 0 {
		code = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.bytes.WithLabelValues(route).Add(float64(w.bytes))
}

// Registerer returns the registry /metrics exports, so that other parts
// of the node (sync) can register their own collectors on it. It is safe
// for concurrent use.
func (h *Handler) Registerer() prometheus.Registerer { return h.metrics.reg }

var (
	descPublishers = prometheus.NewDesc("samizdat_publishers", "Trusted publishers the store holds.", nil, nil)
	descArticles   = prometheus.NewDesc("samizdat_articles", "Current (not retracted) articles, by publisher.", []string{"publisher"}, nil)
	descLogSize    = prometheus.NewDesc("samizdat_log_size", "Leaves in the publisher's log at its checkpoint.", []string{"publisher"}, nil)
	descCPTime     = prometheus.NewDesc("samizdat_checkpoint_timestamp_seconds", "Time of the publisher's latest checkpoint.", []string{"publisher"}, nil)
	descAlarms     = prometheus.NewDesc("samizdat_alarms", "Alarms raised for the publisher (Config.Alarms), such as forks.", []string{"publisher"}, nil)
)

// storeCollector reports the store's publishers and articles when
// scraped.
type storeCollector struct{ h *Handler }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPublishers
	ch <- descArticles
	ch <- descLogSize
	ch <- descCPTime
	ch <- descAlarms
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	infos, states := c.h.pubInfos()
	ch <- prometheus.MustNewConstMetric(descPublishers, prometheus.GaugeValue, float64(len(states)))
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
	}
}

// Metrics returns a handler that serves the same Prometheus text as the
// /metrics route, for a separate listener that keeps metrics off the
// public addresses. Requests to it are not counted in the handler's
// request metrics. It is safe for concurrent use.
func (h *Handler) Metrics() http.Handler { return h.metrics.handler }
