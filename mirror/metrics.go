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
	descProb     = statDesc("sessions_probation", "Sync sessions on probation now (admitted past the general pool, for a few seconds).")
	descBusy     = statDesc("busy_total", "Peers' requests refused, and own answers given up, because a node-wide byte budget was full.")
	descBadReq   = statDesc("bad_requests_total", "Peers' requests refused as malformed, unknown or too large.")
	descFull     = statDesc("sessions_refused_total", "Sessions refused because every slot they could take was taken.")
	descPromoted = statDesc("sessions_promoted_total", "Sessions promoted to a reserved slot (a configured peer, or a push that brought a newer checkpoint).")
	descClosed   = statDesc("sessions_closed_total", "Sessions closed at the end of their probation, or idle.")
)

// counter is one counter of a node's Stats and its description.
type counter struct {
	d *prometheus.Desc
	n uint64
}

func (c *syncCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessions, descSyncs, descAnnounce, descLeaves, descBundles, descForks, descRefused, descStale, descRateLim, descIPRef, descProb, descBusy, descBadReq, descFull, descPromoted, descClosed} {
		ch <- d
	}
}

func (c *syncCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.n.Stats()
	ch <- prometheus.MustNewConstMetric(descSessions, prometheus.GaugeValue, float64(s.Sessions))
	ch <- prometheus.MustNewConstMetric(descProb, prometheus.GaugeValue, float64(s.Session.Probation))
	for _, v := range []counter{
		{descSyncs, s.Syncs}, {descAnnounce, s.Announces}, {descLeaves, s.LeavesAdded}, {descBundles, s.BundlesAdded},
		{descForks, s.Forks}, {descRefused, s.Refused}, {descStale, s.Stale}, {descRateLim, s.RateLimited}, {descIPRef, s.IPRefused},
		{descBusy, s.Session.Busy}, {descBadReq, s.Session.BadRequests}, {descFull, s.Session.Refused},
		{descPromoted, s.Session.Promoted}, {descClosed, s.Session.Closed},
	} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n))
	}
}
