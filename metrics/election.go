package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed764c596d/mastership/election"
)

// ElectionSource is what an ElectionCollector reads: an
// *election.Election, or anything that takes the same snapshots.
type ElectionSource interface {
	// Stats returns a snapshot of the candidate; it must be cheap and safe
	// for concurrent use, as Election.Stats is.
	Stats() election.Stats
}

// ElectionCollector is a prometheus.Collector of one election candidate's
// metrics. Its methods are safe for concurrent use.
type ElectionCollector struct {
	src ElectionSource

	leader, epoch, observed, terms, sessions *prometheus.Desc
	lease                                    lease
}

// NewElectionCollector returns a Collector of an election candidate's
// metrics, with the constant labels prefix (the election's) and id. A
// candidate has no id of its own (its key changes with each session), so
// the caller names it, with a host name for one; it must not be empty, and
// two collectors in one registry need different ones. The metrics are:
//
//	mastership_election_leader                  1 while the candidate leads, else 0
//	mastership_election_epoch                   its leadership's epoch; 0 when not leader
//	mastership_election_observed_epoch          the epoch of the leader it last saw; 0 for no leader
//	mastership_election_terms_total             leaderships it began
//	mastership_election_sessions_total          sessions (leases) Run started
//	mastership_lease_ttl_seconds                as for a member
//	mastership_keepalive_rtt_seconds            as for a member
//	mastership_keepalive_age_seconds            as for a member
//	mastership_safe_deadline_remaining_seconds  as for a member; 0 while no session lives
func NewElectionCollector(src ElectionSource, id string) (*ElectionCollector, error) {
	if src == nil {
		return nil, ErrNilSource
	}
	if id == "" {
		return nil, ErrEmptyID
	}
	labels := prometheus.Labels{"prefix": src.Stats().Prefix, "id": id}
	desc := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName("mastership", "", name), help, nil, labels)
	}
	return &ElectionCollector{
		src:      src,
		leader:   desc("election_leader", "1 while the candidate leads its election, else 0."),
		epoch:    desc("election_epoch", "Epoch of the candidate's leadership (its key's CreateRevision); 0 when not leader."),
		observed: desc("election_observed_epoch", "Epoch of the leader the candidate last saw; 0 for no leader."),
		terms:    desc("election_terms_total", "Leaderships the candidate began."),
		sessions: desc("election_sessions_total", "Sessions, each with a lease of its own, that the candidate's Run started."),
		lease: lease{
			ttl:       desc("lease_ttl_seconds", helpTTL),
			rtt:       desc("keepalive_rtt_seconds", helpRTT),
			age:       desc("keepalive_age_seconds", helpAge),
			remaining: desc("safe_deadline_remaining_seconds", helpRemaining),
		},
	}, nil
}

// Describe sends the descriptors of every metric of c.
func (c *ElectionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.epoch, c.observed, c.terms, c.sessions, c.lease.ttl, c.lease.rtt, c.lease.age, c.lease.remaining} {
		ch <- d
	}
}

// Collect takes one snapshot of the source and sends its metrics.
func (c *ElectionCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.src.Stats()
	ch <- prometheus.MustNewConstMetric(c.leader, prometheus.GaugeValue, one(st.Leader))
	ch <- prometheus.MustNewConstMetric(c.epoch, prometheus.GaugeValue, float64(st.Epoch))
	ch <- prometheus.MustNewConstMetric(c.observed, prometheus.GaugeValue, float64(st.Observed.Epoch))
	ch <- prometheus.MustNewConstMetric(c.terms, prometheus.CounterValue, float64(st.Terms))
	ch <- prometheus.MustNewConstMetric(c.sessions, prometheus.CounterValue, float64(st.Sessions))
	c.lease.collect(ch, st.TTL, st.KeepAliveRTT, st.LastKeepAlive, st.UntilDeadline, st.Time)
}
