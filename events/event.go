package events

import (
	"fmt"
	"time"
)

// Type is the kind of an Event.
type Type int

// The event types. Their String values are part of the contract that other
// programs read, and never change.
const (
	// InitMaster: the first view of a registration, and this member is master.
	InitMaster Type = iota + 1
	// InitSlave: the first view of a registration, and this member is a slave.
	InitSlave
	// ChangeToMaster: this member was a slave and is now master.
	ChangeToMaster
	// ChangeToSlave: this member was master and is now a slave.
	ChangeToSlave
	// MasterChange: this member is still a slave, of another master.
	MasterChange
	// SlaveAdd: slaves other than this member joined.
	SlaveAdd
	// SlaveDel: slaves other than this member left.
	SlaveDel
	// Offline: this member lost its registration and is in no role.
	Offline
	// ValueChange: members changed the values of their keys in place (the
	// same key, lease and CreateRevision), this member's own included. It
	// never changes a role or an epoch.
	ValueChange
)

// lastType is the last event type: the one bound that String, ParseType,
// Valid and Types use, so that a type added at the end is counted
// everywhere.
const lastType = ValueChange

var typeNames = [...]string{
	InitMaster:     "INIT_MASTER",
	InitSlave:      "INIT_SLAVE",
	ChangeToMaster: "CHANGE_TO_MASTER",
	ChangeToSlave:  "CHANGE_TO_SLAVE",
	MasterChange:   "MASTER_CHANGE",
	SlaveAdd:       "SLAVE_ADD",
	SlaveDel:       "SLAVE_DEL",
	Offline:        "OFFLINE",
	ValueChange:    "VALUE_CHANGE",
}

// String returns the contract name of t, for example "INIT_MASTER".
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// ParseType returns the Type whose String is s.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if typeNames[t] == s {
			return t, nil
		}
	}
	return 0, fmt.Errorf("events: unknown event type %q", s)
}

// Valid reports whether t is one of the event types.
func (t Type) Valid() bool {
	return t >= InitMaster && t <= lastType
}

// Types returns every event type, in the order of their values. Code that
// counts or lists event types ranges over it rather than over a range of
// values of its own.
func Types() []Type {
	ts := make([]Type, 0, int(lastType))
	for t := InitMaster; t <= lastType; t++ {
		ts = append(ts, t)
	}
	return ts
}

// IsRole reports whether t is a role event: one of the Init types,
// ChangeToMaster, ChangeToSlave or MasterChange.
func (t Type) IsRole() bool {
	return t >= InitMaster && t <= MasterChange
}

// MakesMaster reports whether an event of type t starts a mastership of the
// member that emits it.
func (t Type) MakesMaster() bool {
	return t == InitMaster || t == ChangeToMaster
}

// Event is one change in a member's view of its group.
type Event struct {
	// Type is the kind of change.
	Type Type
	// Nodes are the members the event is about; see the package
	// documentation for what they are for each Type.
	Nodes []Node
	// View is the whole view after the change. It is the zero View for
	// Offline. A view can be shared: between the events of one change, and,
	// from the selector, with other events and members (see DiffChanges).
	// Read it; Clone it to modify it.
	View View
	// Time is when the event was emitted. Diff leaves it zero; the selector
	// sets it.
	Time time.Time
}

// String returns a short human-readable form such as
// "SLAVE_ADD [b c] (master a)".
func (e Event) String() string {
	if e.Type == Offline {
		return e.Type.String()
	}
	return fmt.Sprintf("%s %v (master %s)", e.Type, IDs(e.Nodes), e.View.Master().ID)
}
