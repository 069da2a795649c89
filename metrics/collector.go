package metrics

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
	"github.com/seed764c596d/mastership/status"
)

// Errors of the constructors.
var (
	// ErrNilSource: NewCollector or NewElectionCollector was given no
	// source.
	ErrNilSource = errors.New("metrics: nil source")
	// ErrEmptyID: the source has no id of its own (an election candidate)
	// and NewElectionCollector was given none.
	ErrEmptyID = errors.New("metrics: empty id")
)

// Source is what a Collector reads: a *selector.Selector, an
// *election.Election, or anything else that gives the same snapshots.
// A source that also has the Stats method of a *selector.Selector or of an
// *election.Election gets that package's counters too.
type Source = status.Source

// Collector is a prometheus.Collector of one member's or candidate's
// metrics, listed in the package documentation. Its methods are safe for
// concurrent use.
type Collector struct {
	src Source
	// The counters of the source's own package, at most one of them.
	sel interface{ Stats() selector.Stats }
	ele interface{ Stats() election.Stats }

	// What every source has.
	role, state, epoch, ttl, rtt, age, remaining *prometheus.Desc
	// A selector member's.
	members, transitions, resyncs *prometheus.Desc
	// An election candidate's.
	observed, terms, sessions *prometheus.Desc
}

// roles and states are every value of the role and state labels, so that
// each has a series, 0 or 1, and a change of role shows as two changes of
// value rather than a series that vanishes.
var (
	roles  = []status.Role{status.Master, status.Slave, status.NoRole}
	states = []status.State{status.Init, status.Refresh, status.Offline}
)

// NewCollector returns a Collector of src's metrics, labelled with src's
// prefix and id. It takes one snapshot of src at once, for the labels,
// which do not change. A source without an id of its own, such as an
// election candidate, is ErrEmptyID: name it with NewElectionCollector.
func NewCollector(src Source) (*Collector, error) {
	if src == nil {
		return nil, ErrNilSource
	}
	return newCollector(src, src.Status().ID)
}

// NewElectionCollector returns a Collector of an election candidate's
// metrics, labelled with the election's prefix and id. A candidate has no
// id of its own (its key changes with each session), so the caller names
// it, with a host name for one; it must not be empty, and two collectors in
// one registry need different ones. A source that has an id of its own is
// labelled with id all the same.
func NewElectionCollector(src Source, id string) (*Collector, error) {
	if src == nil {
		return nil, ErrNilSource
	}
	return newCollector(src, id)
}

func newCollector(src Source, id string) (*Collector, error) {
	if id == "" {
		return nil, ErrEmptyID
	}
	labels := prometheus.Labels{"prefix": src.Status().Prefix, "id": id}
	desc := func(name, help string, variable ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("mastership", "", name), help, variable, labels)
	}
	c := &Collector{
		src:       src,
		role:      desc("role", "1 for the member's current role (MASTER, SLAVE or NONE), 0 for the others.", "role"),
		state:     desc("state", "1 for the member's registration state (INIT, REFRESH or OFFLINE), 0 for the others.", "state"),
		epoch:     desc("epoch", "Epoch of the current master in the member's view (its key's CreateRevision); 0 while not registered."),
		ttl:       desc("lease_ttl_seconds", "Lease TTL etcd granted to the current or last registration or session."),
		rtt:       desc("keepalive_rtt_seconds", "Round trip of the last acknowledged keep-alive."),
		age:       desc("keepalive_age_seconds", "Seconds since the last acknowledged keep-alive."),
		remaining: desc("safe_deadline_remaining_seconds", "Seconds left before the safe deadline, when the registration or session ends unless a keep-alive is acknowledged; 0 while there is none."),
	}
	switch s := src.(type) {
	case interface{ Stats() selector.Stats }:
		c.sel = s
		c.members = desc("members", "Members in the member's view, itself included; 0 while not registered.")
		c.transitions = desc("transitions_total", "Events the member emitted, by type.", "type")
		c.resyncs = desc("resyncs_total", "Times the member read its group afresh after its watch failed.")
	case interface{ Stats() election.Stats }:
		c.ele = s
		c.observed = desc("election_observed_epoch", "Epoch of the leader the candidate last saw; 0 for no leader.")
		c.terms = desc("election_terms_total", "Leaderships the candidate began.")
		c.sessions = desc("election_sessions_total", "Sessions, each with a lease of its own, that the candidate's Run started.")
	}
	return c, nil
}

// descs returns the descriptors of every metric of c.
func (c *Collector) descs() []*prometheus.Desc {
	d := []*prometheus.Desc{c.role, c.state, c.epoch, c.ttl, c.rtt, c.age, c.remaining}
	switch {
	case c.sel != nil:
		d = append(d, c.members, c.transitions, c.resyncs)
	case c.ele != nil:
		d = append(d, c.observed, c.terms, c.sessions)
	}
	return d
}

// Describe sends the descriptors of every metric of c.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

// Collect takes one snapshot of the source and sends its metrics. For a
// selector member or an election candidate the snapshot is their Stats,
// whose Status is read together with the counters.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	var st status.Status
	switch {
	case c.sel != nil:
		ss := c.sel.Stats()
		st = ss.Status
		ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(ss.Members))
		for _, t := range events.Types() {
			ch <- prometheus.MustNewConstMetric(c.transitions, prometheus.CounterValue, float64(ss.Transitions[t]), t.String())
		}
		ch <- prometheus.MustNewConstMetric(c.resyncs, prometheus.CounterValue, float64(ss.Resyncs))
	case c.ele != nil:
		es := c.ele.Stats()
		st = es.Status
		ch <- prometheus.MustNewConstMetric(c.observed, prometheus.GaugeValue, float64(es.Observed.Epoch))
		ch <- prometheus.MustNewConstMetric(c.terms, prometheus.CounterValue, float64(es.Terms))
		ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.CounterValue, float64(es.Sessions))
	default:
		st = c.src.Status()
	}
	for _, r := range roles {
		ch <- prometheus.MustNewConstMetric(c.role, prometheus.GaugeValue, one(st.Role == r), r.String())
	}
	for _, s := range states {
		ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, one(st.State == s), s.String())
	}
	ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(st.Epoch))
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
