package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// ErrNilSource is returned by NewCollector when given no source.
var ErrNilSource = errors.New("metrics: nil source")

// Source is what a Collector reads: a *selector.Selector, or anything that
// takes the same snapshots.
type Source interface {
	// Stats returns a snapshot of the member; it must be cheap and safe
	// for concurrent use, as Selector.Stats is.
	Stats() selector.Stats
}

// Collector is a prometheus.Collector of one member's metrics, listed in
// the package documentation. Its methods are safe for concurrent use.
type Collector struct {
	src Source

	role, state, epoch, members, transitions, resyncs,
	ttl, rtt, age, remaining *prometheus.Desc
}

// roles and states are every value of the role and state labels, so that
// each has a series, 0 or 1, and a change of role shows as two changes of
// value rather than a series that vanishes.
var (
	roles  = []selector.Role{selector.Master, selector.Slave, selector.NoRole}
	states = []selector.State{selector.Init, selector.Refresh, selector.Offline}
)

// NewCollector returns a Collector of src's metrics. It takes one snapshot
// of src at once, for the prefix and id labels, which do not change.
func NewCollector(src Source) (*Collector, error) {
	if src == nil {
		return nil, ErrNilSource
	}
	st := src.Stats()
	labels := prometheus.Labels{"prefix": st.Prefix, "id": st.ID}
	desc := func(name, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("mastership", "", name), help, variable, labels)
	}
	return &Collector{
		src:         src,
		role:        desc("role", "1 for the member's current role (MASTER, SLAVE or NONE), 0 for the others.", "role"),
		state:       desc("state", "1 for the member's registration state (INIT, REFRESH or OFFLINE), 0 for the others.", "state"),
		epoch:       desc("epoch", "Epoch of the current master in the member's view (its key's CreateRevision); 0 while not registered."),
		members:     desc("members", "Members in the member's view, itself included; 0 while not registered."),
		transitions: desc("transitions_total", "Events the member emitted, by type.", "type"),
		resyncs:     desc("resyncs_total", "Times the member read its group afresh after its watch failed."),
		ttl:         desc("lease_ttl_seconds", "Lease TTL etcd granted to the member's current or last registration."),
		rtt:         desc("keepalive_rtt_seconds", "Round trip of the member's last acknowledged keep-alive."),
		age:         desc("keepalive_age_seconds", "Seconds since the member's last acknowledged keep-alive."),
		remaining:   desc("safe_deadline_remaining_seconds", "Seconds left before the member's safe deadline, when it goes offline unless a keep-alive is acknowledged; 0 while not registered."),
	}, nil
}

// Describe sends the descriptors of every metric of c.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.role, c.state, c.epoch, c.members, c.transitions, c.resyncs, c.ttl, c.rtt, c.age, c.remaining} {
		ch <- d
	}
}

// Collect takes one snapshot of the source and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	for _, r := range roles {
		ch <- prometheus.MustNewConstMetric(c.role, prometheus.GaugeValue, one(st.Role == r), r.String())
	}
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, one(st.State == s), s.String())
	}
	ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(st.Epoch))
	ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(st.Members))
	for t := events.InitMaster; t <= events.Offline; t++ {
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(st.Transitions[t]), t.String())
	}
	ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(st.Resyncs))
	ch <- prometheus.MustNewConstMetric(c.ttl, prometheus.GaugeValue, st.TTL.Seconds())
	ch <- prometheus.MustNewConstMetric(c.rtt, prometheus.GaugeValue, st.KeepAliveRTT.Seconds())
	age := 0.0
	if !st.LastKeepAlive.IsZero() {
		age = st.Time.Sub(st.LastKeepAlive).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, st.UntilDeadline.Seconds())
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
