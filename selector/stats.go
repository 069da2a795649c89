package selector

import (
	"sync/atomic"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/status"
)

// Stats is a snapshot of a member's state and counters, taken by
// Selector.Stats, for metrics and health checks. Role, State, Epoch,
// Members and the lease's fields agree with one another: they are read
// together, at Time. The counters are read just before.
type Stats struct {
	// Status holds the prefix, the id, the role, the state, the epoch and
	// the lease, as Status returns them; its fields are promoted, so
	// st.Role reads st.Status.Role. Role is Master while IsMaster is true
	// and the safe deadline has not passed: between the deadline and the
	// moment its timer ends the mastership, IsMaster may still be true for
	// a few microseconds, and Stats is the stricter of the two. State is
	// as State returns it, except that it is Offline once the safe
	// deadline has passed.
	status.Status
	// Members is the number of members in this member's view, itself
	// included; 0 while not registered.
	Members int
	// Transitions counts the events this member has emitted since New, by
	// type. It holds every type of events.Types, counted or not, and is the
	// caller's to keep.
	Transitions map[events.Type]uint64
	// Resyncs counts the times this member's group was read afresh, while
	// it followed it, after the watch failed (a compaction, a lost etcd
	// leader, a closed stream). Members of one group on one client share
	// the read, and each counts it.
	Resyncs uint64
}

// counters are the Selector's counts for Stats, written by the run loop
// without taking s.mu.
type counters struct {
	// transitions counts each event type, indexed by events.Type (index 0,
	// no type, stays unused).
	transitions []atomic.Uint64
	resyncs     atomic.Uint64
}

// newCounters returns counters with room for every event type.
func newCounters() counters {
	types := events.Types()
	return counters{transitions: make([]atomic.Uint64, int(types[len(types)-1])+1)}
}

// Stats returns a snapshot of this member's state and counters. It is
// cheap (a lock, no etcd call), so health checks and metric scrapes may
// call it as often as they like.
func (s *Selector) Stats() Stats {
	st := Stats{
		Resyncs:     s.stats.resyncs.Load(),
		Transitions: make(map[events.Type]uint64, len(s.stats.transitions)),
	}
	for _, t := range events.Types() {
		st.Transitions[t] = s.stats.transitions[t].Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Status = s.statusLocked()
	if st.Role != NoRole {
		st.Members = len(s.view.Members)
	}
	return st
}

// Status returns a snapshot of this member's role, state, epoch and lease,
// the part of Stats that package health and package metrics read of a
// selector member and an election candidate alike. It is cheap (a lock,
// no etcd call) and safe for concurrent use.
func (s *Selector) Status() status.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statusLocked()
}

// statusLocked takes the snapshot of Status; the caller holds s.mu, so that
// the role, the state, the epoch and the lease are read together.
func (s *Selector) statusLocked() status.Status {
	st := status.Status{Prefix: s.prefix, ID: s.id, Time: time.Now(), State: s.state}
	if s.state == Refresh && !s.live(s.reg) {
		st.State = Offline
	}
	if s.reg != nil {
		var shown bool
		st.Lease, shown = s.reg.lease.Status(st.Time, st.State == Refresh)
		if st.State == Refresh && !shown {
			// The deadline has passed and its timer is about to end the
			// registration: it has ended already.
			st.State = Offline
		}
	}
	switch {
	case st.State == Refresh && s.masterCtx != nil && s.masterCtx.Err() == nil:
		st.Role = Master
	case st.State == Refresh && s.view.Registered():
		st.Role = Slave
	}
	if st.Role != NoRole {
		st.Epoch = s.view.Epoch()
	}
	return st
}
