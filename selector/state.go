package selector

import "github.com/seed764c596d/mastership/events"

// State is the state of a member's registration.
type State int

// The registration states.
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
