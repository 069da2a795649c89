package events

import (
	"cmp"
	"slices"
)

// Node is one live member of a group.
type Node struct {
	// ID is the member's id: its key with the group prefix and "/" removed.
	ID string
	// Value is the value of the member's key, for example its address.
	Value string
	// CreateRevision is the etcd revision that created the member's key. It
	// orders the members: the smallest is the master.
	CreateRevision int64
}

// View is one member's view of its group at one etcd revision.
//
// The zero View is the view of a member that is not registered.
type View struct {
	// Self is the id of the member whose view this is.
	Self string
	// Members are the live members in join order (see Sort): the master
	// first, then the slaves.
	Members []Node
	// Revision is the etcd revision the view was read at.
	Revision int64
}

// Compare compares two members in join order, the master order: by
// CreateRevision, ties by ID. The member that compares smallest among the
// live members of a group is its master. It is the one definition of that
// order; everything that orders members uses it.
func Compare(a, b Node) int {
	if c := cmp.Compare(a.CreateRevision, b.CreateRevision); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// Sort orders nodes in join order (see Compare).
func Sort(nodes []Node) {
	slices.SortFunc(nodes, Compare)
}

// Master returns the master of the view, or the zero Node if the view is
// empty.
func (v View) Master() Node {
	if len(v.Members) == 0 {
		return Node{}
	}
	return v.Members[0]
}

// Epoch returns the master's CreateRevision, or 0 if the view is empty.
func (v View) Epoch() int64 {
	return v.Master().CreateRevision
}

// IsMaster reports whether Self is the master of the view.
func (v View) IsMaster() bool {
	return len(v.Members) > 0 && v.Members[0].ID == v.Self
}

// Registered reports whether Self is a member of the view.
func (v View) Registered() bool {
	_, ok := v.Node(v.Self)
	return ok
}

// Node returns the member with the given id.
func (v View) Node(id string) (Node, bool) {
	for _, n := range v.Members {
		if n.ID == id {
			return n, true
		}
	}
	return Node{}, false
}

// Slaves returns the slaves of the view other than Self, in join order.
func (v View) Slaves() []Node {
	if len(v.Members) == 0 {
		return nil
	}
	// Counted first, so that a group of thousands costs one allocation.
	count := 0
	for _, n := range v.Members[1:] {
		if n.ID != v.Self {
			count++
		}
	}
	if count == 0 {
		return nil
	}
	s := make([]Node, 0, count)
	for _, n := range v.Members[1:] {
		if n.ID != v.Self {
			s = append(s, n)
		}
	}
	return s
}

// IDs returns the ids of the members in join order.
func (v View) IDs() []string { return IDs(v.Members) }

// IDs returns the ids of nodes, in their order. It never returns nil, so
// that JSON shows an empty list as [] rather than null.
func IDs(nodes []Node) []string {
	ids := make([]string, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	return ids
}

// Clone returns a copy of v that shares no memory with it.
func (v View) Clone() View {
	v.Members = slices.Clone(v.Members)
	return v
}
