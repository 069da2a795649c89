// Package metrics exports a selector member's state, or an election
// candidate's, as Prometheus metrics.
//
// It is a package of its own so that importing selector, election or
// events does not pull in the Prometheus client: only programs that import
// metrics do.
//
//	s, err := selector.New(ctx, cli, "/services/db", "db-1")
//	if err != nil { ... }
//	c, err := metrics.NewCollector(s)
//	if err != nil { ... }
//	prometheus.MustRegister(c)
//
// A Collector reads the source's Stats (or its Status, for a source that
// is neither a selector member nor an election candidate) on each scrape,
// so the values are those of the moment of the scrape; it keeps no state
// and starts no goroutine.
// Every metric carries the constant labels prefix and id, the member's
// group prefix and id, so that the collectors of several members in one
// process register side by side. The metrics are:
//
//	mastership_role{role}                        1 for the member's role (MASTER, SLAVE or NONE), 0 for the others
//	mastership_state{state}                      1 for its registration state (INIT, REFRESH or OFFLINE), 0 for the others
//	mastership_epoch                             the current master's epoch in its view; 0 while not registered
//	mastership_members                           members in its view, itself included; 0 while not registered
//	mastership_transitions_total{type}           events emitted, by type (INIT_MASTER, ..., OFFLINE)
//	mastership_resyncs_total                     reads of the group afresh after a failed watch
//	mastership_lease_ttl_seconds                 the lease TTL etcd granted
//	mastership_keepalive_rtt_seconds             round trip of the last acknowledged keep-alive
//	mastership_keepalive_age_seconds             time since the last acknowledged keep-alive
//	mastership_safe_deadline_remaining_seconds   time left before the safe deadline; 0 while not registered
//
// NewElectionCollector does the same for a candidate of the election
// package, which has no id of its own: the caller names it. A candidate has
// the metrics every source has (mastership_role, where its leader is
// MASTER, mastership_state, mastership_epoch, the lease's) and, instead of
// members, transitions and resyncs, three of its own:
//
//	mastership_election_observed_epoch          the epoch of the leader it last saw; 0 for no leader
//	mastership_election_terms_total             leaderships it began
//	mastership_election_sessions_total          sessions (leases) Run started
//
// An alert on mastership_keepalive_age_seconds approaching
// mastership_lease_ttl_seconds, or on
// mastership_safe_deadline_remaining_seconds falling under a quarter of it,
// warns before a member goes offline for want of keep-alives. The members
// of a group are scraped at different instants, so during a handover the old
// and the new master may both show MASTER for one scrape interval; a sum of
// mastership_role{role="MASTER"} over a group above 1 for longer than that
// would be the fault the selector exists to prevent.
package metrics
