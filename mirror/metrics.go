package mirror

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/samizdat-news/samizdat/mirror/replica"
)

// syncCollector exports a sync node's counters on /metrics.
type syncCollector struct{ n *replica.Node }

func statDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("samizdat_sync_"+name, help, nil, nil)
}

var (
	descSessions = statDesc("sessions", "Sync sessions open now.")
	descSyncs    = statDesc("syncs_total", "Pulls of one publisher from a peer that completed.")
	descAnnounce = statDesc("announces_total", "New checkpoints announced to peers.")
	descLeaves   = statDesc("leaves_added_total", "Catalog leaves stored from peers.")
	descBundles  = statDesc("bundles_added_total", "Bundles stored from peers.")
	descForks    = statDesc("forks_total", "Checkpoints refused as forks of a publisher's log: an alarm.")
	descRefused  = statDesc("refused_total", "Updates from peers refused: untrusted publisher or bad data.")
	descStale    = statDesc("stale_total", "Checkpoints from peers older than ours, ignored.")
	descRateLim  = statDesc("rate_limited_total", "Peers' requests refused over their rate limit.")
	descIPRef    = statDesc("ip_refused_total", "Sessions refused: too many from one address.")
)

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSyncs, descAnnounce, descLeaves, descBundles, descForks, descRefused, descStale, descRateLim, descIPRef} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(s.Sessions))
	for _, v := range []struct {
		d *prometheus.Desc
		n uint64
	}{{descSyncs, s.Syncs}, {descAnnounce, s.Announces}, {descLeaves, s.LeavesAdded}, {descBundles, s.BundlesAdded}, {descForks, s.Forks}, {descRefused, s.Refused}, {descStale, s.Stale}, {descRateLim, s.RateLimited}, {descIPRef, s.IPRefused}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
}
