package status

import (
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
	// Slave: registered, and not master (for an election candidate: a
	// live session that does not lead).
	Slave
	// Master: registered, and master (for an election candidate: leader).
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

// State is the state of a member's registration.
type State int

// The registration states. Their names are those of the node program's
// lines (events.StateInit and the others).
const (
	// Init: granting a lease and creating the member's key.
	Init State = iota
	// Refresh: registered; the lease is being kept alive.
	Refresh
	// Offline: not registered, and in no role. A member waits here before
	// it registers again, and ends here when closed.
	Offline
)

// String returns INIT, REFRESH or OFFLINE.
func (s State) String() string {
	switch s {
	case Init:
		return events.StateInit
	case Refresh:
		return events.StateRefresh
	case Offline:
		return events.StateOffline
	}
	return "State(?)"
}

// Lease is the state of a member's lease, as its keep-alives left it.
type Lease struct {
	// TTL is the lease TTL etcd granted to the current registration, or
	// to the last one while not registered.
	TTL time.Duration
	// KeepAliveRTT is the round trip of the last acknowledged keep-alive
	// of the current or last registration's lease; the grant of the lease
	// counts as its first keep-alive.
	KeepAliveRTT time.Duration
	// LastKeepAlive is when that keep-alive was acknowledged. It does not
	// move while etcd is unreachable or the member is not registered, so
	// the snapshot's Time minus LastKeepAlive tells how long the member has
	// been without news from etcd. The zero Time before the first grant.
	LastKeepAlive time.Time
	// SafeDeadline is the instant the registration, and any mastership,
	// end unless another keep-alive is acknowledged first: the send time
	// of the last acknowledged keep-alive, plus TTL, minus the safety
	// margin. It is the zero Time while not registered.
	SafeDeadline time.Time
	// UntilDeadline is SafeDeadline minus the snapshot's Time: how long the
	// member lasts if etcd stops answering now. 0 while not registered.
	UntilDeadline time.Duration
}

// Status is a snapshot of a member of a group. Its fields agree with one
// another: they are read together, at Time.
type Status struct {
	// Prefix is the group's prefix, with its trailing "/".
	Prefix string
	// ID is the member's id. An election candidate has none (its key
	// changes with each session): its ID is "".
	ID string
	// Role is the member's role. It is Master only while the member is
	// master and its safe deadline has not passed, even in the
	// microseconds before the deadline's timer ends the mastership.
	Role Role
	// State is the state of the registration; it is Offline once the safe
	// deadline has passed.
	State State
	// Epoch is the epoch of the master in the member's view, itself if it
	// is master: the master key's CreateRevision, a fencing token that
	// only grows. 0 while not registered, or while the member sees no
	// master.
	Epoch int64
	// Lease is the state of the member's lease; its fields are promoted,
	// so st.TTL reads st.Lease.TTL.
	Lease
	// Time is when the snapshot was taken.
	Time time.Time
}

// Source is anything that gives snapshots of a member: a
// *selector.Selector or an *election.Election. Its Status must be cheap
// (no etcd call) and safe for concurrent use, as theirs are.
type Source interface {
	// Status returns a snapshot of the member.
	Status() Status
}
