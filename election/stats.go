package election

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/status"
)

// Stats is a snapshot of a candidate's state and counters, taken by
// Election.Stats, for metrics and health checks.
type Stats struct {
	// Status holds the prefix, the role, the state, the epoch and the
	// lease, as Status returns them; its fields are promoted, so st.Role
	// reads st.Status.Role.
	status.Status
	// Observed is the leader as Run last saw it, as Observed returns it.
	Observed Leader
	// Sessions counts the sessions (each with a lease of its own) Run has
	// started: one, plus one for each session lost.
	Sessions uint64
	// Terms counts the leaderships this candidate has begun.
	Terms uint64
}

// counters are the Election's counts for Stats.
type counters struct {
	terms    atomic.Uint64
	sessions atomic.Uint64
	mu       sync.Mutex
	lease    *lease.Lease // the current or last session's
}

// setSession records the lease of a session that Run starts.
func (e *Election) setSession(l *lease.Lease) {
	e.stats.sessions.Add(1)
	e.stats.mu.Lock()
	e.stats.lease = l
	e.stats.mu.Unlock()
}

// Stats returns a snapshot of this candidate's state and counters. It is
// cheap (locks, no etcd call), so health checks and metric scrapes may call
// it as often as they like.
func (e *Election) Stats() Stats {
	return Stats{
		Status:   e.Status(),
		Observed: e.Observed(),
		Sessions: e.stats.sessions.Load(),
		Terms:    e.stats.terms.Load(),
	}
}

// Status returns a snapshot of this candidate, the part of Stats that
// package health and package metrics read of an election candidate and a
// selector member alike. A candidate is registered (State Refresh) while
// Run has a session whose safe deadline is ahead, and Offline otherwise;
// its Role is Master while it leads, Slave while registered and not
// leading; its Epoch is its leadership's while it leads, and otherwise the
// epoch of the leader it last saw (0 for none, or while not registered).
// It has no id: ID is "". Status is cheap and safe for concurrent use.
func (e *Election) Status() status.Status {
	// The lease first, then the epoch: if a session ends and the next one
	// leads between the two reads, the leadership read is paired with the
	// ended lease and reported as over, never the other way round (a
	// leadership that has ended shown with the next session's deadline).
	e.stats.mu.Lock()
	l := e.stats.lease
	e.stats.mu.Unlock()
	epoch := e.Epoch()
	observed := e.Observed()
	st := status.Status{Prefix: e.prefix, State: status.Offline, Time: time.Now()}
	var live bool
	if l != nil {
		st.Lease, live = l.Status(st.Time, true)
	}
	if !live {
		// No session, or one past its deadline whose timer is about to
		// end it, and the leadership with it: it has ended already.
		return st
	}
	st.State, st.Role, st.Epoch = status.Refresh, status.Slave, observed.Epoch
	if epoch != 0 {
		st.Role, st.Epoch = status.Master, epoch
	}
	return st
}
