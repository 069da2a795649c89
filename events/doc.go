// Package events defines what a member of a mastership group learns about
// its group, and the pure logic that turns one view of the group into the
// next as an ordered list of events.
//
// It imports nothing of etcd: a View is the ordered list of live members, and
// Diff compares two views. The selector package feeds it views built from
// etcd; tests and checkers can feed it views built by hand.
//
// # Views
//
// A View lists the live members of a group in join order, that is by the
// CreateRevision of their keys (ties go to the smaller id). The first member is
// the master; every other member is a slave. The epoch of a view is the
// master's CreateRevision: it only grows, so it works as a fencing token.
//
// # Events and their order
//
// Each time a member's view changes, Diff returns, in this order:
//
//  1. At most one role event: InitMaster or InitSlave for the first view of a
//     registration; ChangeToMaster when this member was a slave and is now
//     master; ChangeToSlave when it was master and is now a slave; MasterChange
//     when it was and still is a slave, but of another master.
//  2. SlaveDel with the slaves (other than this member) that are gone, in the
//     old order, if there are any.
//  3. SlaveAdd with the slaves (other than this member) that are new, in the
//     new order, if there are any.
//  4. ValueChange with the members of both views (the same member: see
//     below) whose value changed, in the new order, this member and the
//     master included, if there are any. A member changes its value in place
//     (selector's SetValue); a value change never changes a role or an
//     epoch.
//
// A member is its id and its key's CreateRevision: a key deleted and
// created again under the same id, even between two views with nothing in
// between, is a member that left and one that joined, in SlaveDel and in
// SlaveAdd of the same change.
//
// An Init event is never followed by SlaveDel or SlaveAdd for the same view:
// the members already there are in its view. Losing the registration is
// Offline, alone.
//
// The nodes of each event:
//
//	InitMaster, ChangeToMaster             the slaves this master must now serve
//	InitSlave, ChangeToSlave, MasterChange the master
//	SlaveAdd, SlaveDel                     the members added or removed
//	ValueChange                            the members whose value changed, with their new values
//	Offline                                none
//
// Every event carries the whole view after the change.
package events
