package mirror

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samizdat-news/samizdat/mirror/static"
)

// exporter keeps a static export of a running mirror's store up to date
// (Config.ExportStatic).
type exporter struct {
	m    *Mirror
	sink static.Sink
	opts static.Options
	// changed holds a token once the store changed since the last export
	// began; the store's OnChange puts it, without waiting.
	changed chan struct{}

	ok, failed  atomic.Uint64
	lastSuccess atomic.Int64 // Unix seconds of the last export that completed
}

// newExporter makes the exporter of c.ExportStatic, or nil when c has
// none. It checks the target (and for S3 the endpoint and credentials)
// but does not reach it.
func newExporter(c *Config) (*exporter, error) {
	if c.ExportStatic == "" {
		return nil, nil
	}
	sink, err := static.NewSink(c.ExportStatic, &static.S3Config{Endpoint: c.S3Endpoint, AllowHTTP: c.S3AllowHTTP,
		AccessKey: c.S3AccessKey, SecretKey: c.S3SecretKey, SessionToken: c.S3SessionToken, Region: c.S3Region})
	if err != nil {
		return nil, &ConfigError{File: c.file, Key: "export_static", Err: err}
	}
	return &exporter{sink: sink, changed: make(chan struct{}, 1), opts: static.Options{IndexProofs: c.ExportIndexProofs}}, nil
}

// storeChanged notes a change of the store, for the next export.
func (x *exporter) storeChanged() {
	select {
	case x.changed <- struct{}{}:
	default: // one is pending already
	}
}

// run exports at once, then after each change of the store, starting
// exports at least every apart; a failed export is tried again after
// every. Static exports are safe to interrupt (each checkpoint is written
// after the files it names), so run returns as soon as ctx ends.
func (x *exporter) run(ctx context.Context, every time.Duration) error {
	for {
		// Changes until now are in this export; a later one leaves a
		// token for the next.
		select {
		case <-x.changed:
		default:
		}
		start := time.Now()
		stats, err := static.Export(ctx, x.m.st, x.sink, &x.opts)
		// The next export starts from what this one left, without
		// listing the sink or reading its state; after a failure, from
		// the sink itself.
		x.opts.Memo = nil
		if err == nil {
			x.opts.Memo = stats.Memo
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			x.failed.Add(1)
			x.m.log.Warn("mirror: static export failed; trying again", "to", x.sink.String(), "in", every.String(), "err", err)
			x.storeChanged()
		} else {
			x.ok.Add(1)
			x.lastSuccess.Store(time.Now().Unix())
			x.m.log.Info("mirror: static export", "to", x.sink.String(), "publishers", stats.Publishers,
				"written", stats.Written, "bytes", stats.Bytes, "unchanged", stats.Skipped, "removed", stats.Deleted,
				"left_out", len(stats.Left), "took", time.Since(start).Round(time.Millisecond).String())
		}
		select {
		case <-x.changed:
		case <-ctx.Done():
			return nil
		}
		t := time.NewTimer(time.Until(start.Add(every)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
}

var (
	descExports = prometheus.NewDesc("samizdat_static_exports_total",
		"Static exports of the store (export_static) that completed (result=ok) or failed (result=error).", []string{"result"}, nil)
	descExportTime = prometheus.NewDesc("samizdat_static_export_last_success_timestamp_seconds",
		"When the last static export that completed ended, in Unix seconds; 0 before the first.", nil, nil)
)

func (x *exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- descExports
	ch <- descExportTime
}

func (x *exporter) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descExports, prometheus.CounterValue, float64(x.ok.Load()), "ok")
	ch <- prometheus.MustNewConstMetric(descExports, prometheus.CounterValue, float64(x.failed.Load()), "error")
	ch <- prometheus.MustNewConstMetric(descExportTime, prometheus.GaugeValue, float64(x.lastSuccess.Load()))
}
