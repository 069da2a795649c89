package metrics

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// Errors of the constructors.
var (
	// ErrNilSource: NewCollector or NewElectionCollector was given no
	// source.
	ErrNilSource = errors.New("metrics: nil source")
	// ErrEmptyID: NewElectionCollector was given an empty id.
	ErrEmptyID = errors.New("metrics: empty id")
)

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

// The help of the metrics that members and candidates share. A registry
// wants one help text per metric name.
const (
	helpTTL       = "Lease TTL etcd granted to the current or last registration or session."
	helpRTT       = "Round trip of the last acknowledged keep-alive."
	helpAge       = "Seconds since the last acknowledged keep-alive."
	helpRemaining = "Seconds left before the safe deadline, when the registration or session ends unless a keep-alive is acknowledged; 0 while there is none."
)

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
		ttl:         desc("lease_ttl_seconds", helpTTL),
		rtt:         desc("keepalive_rtt_seconds", helpRTT),
		age:         desc("keepalive_age_seconds", helpAge),
		remaining:   desc("safe_deadline_remaining_seconds", helpRemaining),
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
	for _, t := range events.Types() {
		ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(st.Transitions[t]), t.String())
	}
	ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(st.Resyncs))
	lease{c.ttl, c.rtt, c.age, c.remaining}.collect(ch, st.TTL, st.KeepAliveRTT, st.LastKeepAlive, st.UntilDeadline, st.Time)
}

// lease are the descriptors of the lease metrics.
type lease struct{ ttl, rtt, age, remaining *prometheus.Desc }

func (l lease) collect(ch chan<- prometheus.Metric, ttl, rtt time.Duration, last time.Time, remaining time.Duration, now time.Time) {
	ch <- prometheus.MustNewConstMetric(l.ttl, prometheus.GaugeValue, ttl.Seconds())
	ch <- prometheus.MustNewConstMetric(l.rtt, prometheus.GaugeValue, rtt.Seconds())
	age := 0.0
	if !last.IsZero() {
		age = now.Sub(last).Seconds()
	}
	ch <- prometheus.MustNewConstMetric(l.age, prometheus.GaugeValue, age)
	ch <- prometheus.MustNewConstMetric(l.remaining, prometheus.GaugeValue, remaining.Seconds())
}

func one(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
