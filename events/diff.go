package events

import "slices"

// Diff returns the events a member emits when its view changes from prev to
// next, in the order of the package documentation. The events' Time is left
// zero.
//
// A view in which Self is not a member (the zero View, for one) is "not
// registered". From not registered to registered, Diff returns the Init event
// alone; from registered to not registered, Offline alone; between two views
// that are both not registered, nothing. Between two registered views it
// returns at most one role event, then SlaveDel, then SlaveAdd.
//
// A member is its id and its key's CreateRevision: a key deleted and
// created again under the same id (as after Yield), even between two views
// with nothing in between, is a member that left and one that joined, and
// shows in SlaveDel and SlaveAdd of the same change. Diff does not modify its
// arguments, and the returned events share no memory with them. The events
// of one call share one copy of next as their View.
//
// Diff costs one pass over both views, and allocates the events, their nodes
// and one copy of next, when few members changed and both views are in join
// order, as views are (see View). Views out of order get the same events,
// more slowly.
func Diff(prev, next View) []Event {
	was, is := prev.Registered(), next.Registered()
	switch {
	case !is && !was:
		return nil
	case !is:
		return []Event{{Type: Offline}}
	}
	next = next.Clone()
	if !was {
		if next.IsMaster() {
			return []Event{{Type: InitMaster, Nodes: next.Slaves(), View: next}}
		}
		return []Event{{Type: InitSlave, Nodes: []Node{next.Master()}, View: next}}
	}

	// At most four events: one role event, SlaveDel, SlaveAdd, ValueChange.
	out := make([]Event, 0, 4)
	switch {
	case !prev.IsMaster() && next.IsMaster():
		out = append(out, Event{Type: ChangeToMaster, Nodes: next.Slaves(), View: next})
	case prev.IsMaster() && !next.IsMaster():
		out = append(out, Event{Type: ChangeToSlave, Nodes: []Node{next.Master()}, View: next})
	case !next.IsMaster() && !same(prev.Master(), next.Master()):
		out = append(out, Event{Type: MasterChange, Nodes: []Node{next.Master()}, View: next})
	}
	del, add := slaveChanges(prev, next)
	if len(del) > 0 {
		out = append(out, Event{Type: SlaveDel, Nodes: del, View: next})
	}
	if len(add) > 0 {
		out = append(out, Event{Type: SlaveAdd, Nodes: add, View: next})
	}
	if changed := valueChanges(prev, next); len(changed) > 0 {
		out = append(out, Event{Type: ValueChange, Nodes: changed, View: next})
	}
	return out
}

// slaveChanges returns the members of S(prev) not in S(next), in prev's
// order, and those of S(next) not in S(prev), in next's order, where S(v)
// is v.Slaves() and a member is its id and CreateRevision (see same).
// Unless many members changed, it allocates only what it returns.
//
// It walks both lists side by side in join order: a node with the same
// place in the order (CreateRevision and id) in both is the same member in
// both. The few nodes left over on either side are then looked up in the
// other list, which makes the result exact for lists in any order; out of
// order, only more nodes are left over.
func slaveChanges(prev, next View) (del, add []Node) {
	ps, ns := slaveList{prev}, slaveList{next}
	pm, nm := prev.Members, next.Members
	// Indices in pm and nm of the nodes left over.
	var pbuf, nbuf [4]int
	onlyP, onlyN := pbuf[:0], nbuf[:0]
	i, j := ps.first(), ns.first()
	for i < len(pm) || j < len(nm) {
		c := 0
		switch {
		case j >= len(nm):
			c = -1
		case i >= len(pm):
			c = 1
		default:
			c = Compare(pm[i], nm[j])
		}
		switch {
		case c < 0:
			onlyP = append(onlyP, i)
			i = ps.next(i)
		case c > 0:
			onlyN = append(onlyN, j)
			j = ns.next(j)
		default:
			i, j = ps.next(i), ns.next(j)
		}
	}
	if len(onlyP)+len(onlyN) == 0 {
		return nil, nil
	}
	// Looking a left-over node up costs a pass over the other list; past a
	// few nodes, sets of ids are cheaper.
	const scanMax = 8
	inP, inN := ps.has, ns.has
	if len(onlyP)+len(onlyN) > scanMax {
		pi, ni := ps.members(), ns.members()
		inP = func(n Node) bool { return pi[identityOf(n)] }
		inN = func(n Node) bool { return ni[identityOf(n)] }
	}
	for _, i := range onlyP {
		if !inN(pm[i]) {
			del = append(del, pm[i])
		}
	}
	for _, j := range onlyN {
		if !inP(nm[j]) {
			add = append(add, nm[j])
		}
	}
	return del, add
}

// slaveList is S(v) of a view v: its members but the first and Self, read
// in place, as indices in v.Members.
type slaveList struct{ v View }

// first returns the index of the first node of S(v), or len(v.Members).
func (s slaveList) first() int { return s.next(0) }

// next returns the index of the node of S(v) after the one at i, or
// len(v.Members).
func (s slaveList) next(i int) int {
	for i++; i < len(s.v.Members) && s.v.Members[i].ID == s.v.Self; i++ {
	}
	return i
}

// has reports whether S(v) has member n.
func (s slaveList) has(n Node) bool {
	m := s.v.Members
	for i := s.first(); i < len(m); i = s.next(i) {
		if same(m[i], n) {
			return true
		}
	}
	return false
}

// members returns the set of the members of S(v).
func (s slaveList) members() map[identity]bool {
	m := s.v.Members
	in := make(map[identity]bool, len(m))
	for i := s.first(); i < len(m); i = s.next(i) {
		in[identityOf(m[i])] = true
	}
	return in
}

// identity is what tells members apart: the id, and the CreateRevision of
// the key, so that a key created again under the same id is another
// member.
type identity struct {
	id  string
	rev int64
}

func identityOf(n Node) identity { return identity{n.ID, n.CreateRevision} }

// same reports whether a and b are the same member: the same id and the
// same key's CreateRevision. A value change keeps a member the same.
func same(a, b Node) bool { return a.ID == b.ID && a.CreateRevision == b.CreateRevision }

// valueChanges returns the members of next that are in prev too (the same
// id and CreateRevision) with another value, in next's order, self and the
// master included. It walks both lists side by side in join order; a member
// of next left over (out of order, or new) is looked up in prev, which
// keeps the result exact for lists in any order.
func valueChanges(prev, next View) []Node {
	var out []Node
	pm, nm := prev.Members, next.Members
	// In a list in join order, a member not at its place is not there.
	ordered := slices.IsSortedFunc(pm, Compare)
	i := 0
	for _, n := range nm {
		for i < len(pm) && Compare(pm[i], n) < 0 {
			i++
		}
		var old Node
		switch {
		case i < len(pm) && same(pm[i], n):
			old = pm[i]
		case ordered:
			continue // new
		default:
			k := slices.IndexFunc(pm, func(p Node) bool { return same(p, n) })
			if k < 0 {
				continue // new
			}
			old = pm[k]
		}
		if old.Value != n.Value {
			out = append(out, n)
		}
	}
	return out
}
