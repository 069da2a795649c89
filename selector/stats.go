package selector

import (
	"sync/atomic"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// Role is a member's role in its group.
type Role int

// The roles.
const (
	// NoRole: the member is not registered (its State is Init or Offline,
	// or its safe deadline has passed).
	NoRole Role = iota
	// Slave: registered, and not master.
	Slave
	// Master: registered, and master; IsMaster is true.
	Master
)

// String returns NONE, SLAVE or MASTER.
func (r Role) String() string {
	switch r {
	case NoRole:
		return "NONE"
	case Slave:
		return "SLAVE"
	case Master:
		return "MASTER"
	}
	return "Role(?)"
}

// Stats is a snapshot of a member's state and counters, taken by
// Selector.Stats, for metrics and health checks. Role, State, Epoch,
// Members and the lease's fields agree with one another: they are read
// together, at Time. The counters are read just before.
type Stats struct {
	// Prefix is the group's prefix, with its trailing "/".
	Prefix string
	// ID is this member's id.
	ID string
	// Role is this member's role: Master while IsMaster is true and the
	// safe deadline has not passed. Between the deadline and the moment
	// its timer ends the mastership, IsMaster may still be true for a few
	// microseconds; Stats is the stricter of the two.
	Role Role
	// State is the state of the registration, as State returns it, except
	// that it is Offline once the safe deadline has passed (see Role).
	State State
	// Epoch is the current master's epoch in this member's view, as Epoch
	// returns it; 0 while not registered.
	Epoch int64
	// Members is the number of members in this member's view, itself
	// included; 0 while not registered.
	Members int
	// Transitions counts the events this member has emitted since New, by
	// type. It holds every type of events.Types, counted or not, and is the
	// caller's to keep.
	Transitions map[events.Type]uint64
	// Resyncs counts the times this member read its group afresh after its
	// watch failed (a compaction, a lost etcd leader, a closed stream).
	Resyncs uint64
	// TTL is the lease TTL etcd granted to the current registration, or to
	// the last one while not registered.
	TTL time.Duration
	// KeepAliveRTT is the round trip of the last acknowledged keep-alive of
	// the current or last registration's lease; the grant of the lease
	// counts as its first keep-alive.
	KeepAliveRTT time.Duration
	// LastKeepAlive is when that keep-alive was acknowledged. It does not
	// move while etcd is unreachable or the member is not registered, so
	// Time minus LastKeepAlive tells how long the member has been without
	// news from etcd.
	LastKeepAlive time.Time
	// SafeDeadline is the instant the registration and the mastership end
	// unless another keep-alive is acknowledged first: the send time of the
	// last acknowledged keep-alive, plus TTL, minus the safety margin. It
	// is the zero Time while not registered.
	SafeDeadline time.Time
	// UntilDeadline is SafeDeadline minus Time: how long the member lasts
	// if etcd stops answering now. 0 while not registered.
	UntilDeadline time.Duration
	// Time is when the snapshot was taken.
	Time time.Time
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
		Prefix:      s.prefix,
		ID:          s.id,
		Resyncs:     s.stats.resyncs.Load(),
		Transitions: make(map[events.Type]uint64, len(s.stats.transitions)),
	}
	for _, t := range events.Types() {
		st.Transitions[t] = s.stats.transitions[t].Load()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.Time = time.Now()
	st.State = s.state
	if s.state == Refresh && !s.live(s.reg) {
		st.State = Offline
	}
	if s.reg != nil {
		l := s.reg.lease
		st.TTL = l.TTL
		st.LastKeepAlive, st.KeepAliveRTT = l.LastAck()
		if st.State == Refresh {
			st.SafeDeadline = l.Deadline()
			st.UntilDeadline = st.SafeDeadline.Sub(st.Time)
			if st.UntilDeadline <= 0 {
				// The deadline has passed and its timer is about to end
				// the registration: it has ended already.
				st.State, st.SafeDeadline, st.UntilDeadline = Offline, time.Time{}, 0
			}
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
		st.Members = len(s.view.Members)
	}
	return st
}
