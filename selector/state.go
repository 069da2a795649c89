package selector

import "github.com/seed764c596d/mastership/status"

// State is the state of a member's registration. It is the status
// package's State, so that health checks and metrics read a selector
// member and an election candidate alike.
type State = status.State

// The registration states.
const (
	// Init: granting a lease and creating the member's key.
	Init = status.Init
	// Refresh: registered; the lease is being kept alive.
	Refresh = status.Refresh
	// Offline: not registered, and in no role. A member waits here before
	// it registers again, and ends here when closed.
	Offline = status.Offline
)

// Role is a member's role in its group: the status package's Role.
type Role = status.Role

// The roles.
const (
	// NoRole: the member is not registered (its State is Init or Offline,
	// or its safe deadline has passed).
	NoRole = status.NoRole
	// Slave: registered, and not master.
	Slave = status.Slave
	// Master: registered, and master; IsMaster is true.
	Master = status.Master
)
