package election

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed764c596d/mastership/internal/lease"
)

// Stats is a snapshot of a candidate's state and counters, taken by
// Election.Stats, for metrics and health checks.
type Stats struct {
	// Prefix is the election's prefix, with its trailing "/".
	Prefix string
	// Leader reports whether this candidate is leader, as IsLeader does,
	// except that it is false once the safe deadline has passed, even in
	// the microseconds before its timer ends the leadership.
	Leader bool
	// Epoch is this candidate's leadership's epoch, as Epoch returns it; 0
	// when it is not leader.
	Epoch int64
	// Observed is the leader as Run last saw it, as Observed returns it.
	Observed Leader
	// Sessions counts the sessions (each with a lease of its own) Run has
	// started: one, plus one for each session lost.
	Sessions uint64
	// Terms counts the leaderships this candidate has begun.
	Terms uint64
	// TTL is the lease TTL etcd granted to the current or last session.
	TTL time.Duration
	// KeepAliveRTT is the round trip of the last acknowledged keep-alive of
	// the current or last session's lease; the grant counts as the first.
	KeepAliveRTT time.Duration
	// LastKeepAlive is when that keep-alive was acknowledged.
	LastKeepAlive time.Time
	// SafeDeadline is the instant the session, and any leadership, end
	// unless another keep-alive is acknowledged first. It is the zero Time
	// while no session lives.
	SafeDeadline time.Time
	// UntilDeadline is SafeDeadline minus Time; 0 while no session lives.
	UntilDeadline time.Duration
	// Time is when the snapshot was taken.
	Time time.Time
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
	// The lease first, then the epoch: if a session ends and the next one
	// leads between the two reads, the leadership read is paired with the
	// ended lease and reported as over, never the other way round (a
	// leadership that has ended shown with the next session's deadline).
	e.stats.mu.Lock()
	l := e.stats.lease
	e.stats.mu.Unlock()
	epoch := e.Epoch()
	st := Stats{
		Prefix:   e.prefix,
		Leader:   epoch != 0, // read with Epoch, so that the two agree
		Epoch:    epoch,
		Observed: e.Observed(),
		Sessions: e.stats.sessions.Load(),
		Terms:    e.stats.terms.Load(),
	}
	st.Time = time.Now()
	if l != nil {
		st.TTL = l.TTL
		st.LastKeepAlive, st.KeepAliveRTT = l.LastAck()
		if l.Err() == nil {
			st.SafeDeadline = l.Deadline()
			st.UntilDeadline = st.SafeDeadline.Sub(st.Time)
		}
	}
	if st.UntilDeadline <= 0 {
		// No session, or one past its deadline whose timer is about to
		// end it, and the leadership with it: it has ended already.
		st.SafeDeadline, st.UntilDeadline = time.Time{}, 0
		st.Leader, st.Epoch = false, 0
	}
	return st
}
