// Package group reads mastership groups from etcd: it decodes member keys
// into events.Node values, in the key layout of the selector package, and
// follows a prefix with a snapshot, then a watch from the snapshot's
// revision + 1, reading afresh whenever the watch fails. It is shared by the
// selector (its members following their group), the election package (a
// candidate or observer following its election) and the gRPC resolver and
// its Directory (clients following groups).
//
// Subscribe shares one follower between the members of a group on one
// client: one snapshot, one watch, and one view in join order, updated from
// each change and handed to every subscriber with the change itself, so
// that a member's work and memory follow the change, not the group's size.
//
// Key layout: the members of the group at prefix P are the keys P + "/" + id
// (a P that ends in "/" gets no second one), with any non-empty id, "/"
// included: "/services/db/a/b" is member "a/b" of "/services/db". The key
// P + "/" itself names no member. The master is the live member with the
// smallest CreateRevision, ties going to the smaller id (events.Sort).
package group
