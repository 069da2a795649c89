package events

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
// Members are told apart by id; a member whose key was re-created (a new
// CreateRevision, as after Yield) keeps its id. Diff does not modify its
// arguments, and the returned events share no memory with them.
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

	var out []Event
	switch {
	case !prev.IsMaster() && next.IsMaster():
		out = append(out, Event{Type: ChangeToMaster, Nodes: next.Slaves(), View: next})
	case prev.IsMaster() && !next.IsMaster():
		out = append(out, Event{Type: ChangeToSlave, Nodes: []Node{next.Master()}, View: next})
	case !next.IsMaster() && prev.Master().ID != next.Master().ID:
		out = append(out, Event{Type: MasterChange, Nodes: []Node{next.Master()}, View: next})
	}
	oldS, newS := prev.Slaves(), next.Slaves()
	if del := missing(oldS, newS); len(del) > 0 {
		out = append(out, Event{Type: SlaveDel, Nodes: del, View: next})
	}
	if add := missing(newS, oldS); len(add) > 0 {
		out = append(out, Event{Type: SlaveAdd, Nodes: add, View: next})
	}
	return out
}

// missing returns the nodes of a whose id is not in b, in the order of a.
func missing(a, b []Node) []Node {
	in := make(map[string]bool, len(b))
	for _, n := range b {
		in[n.ID] = true
	}
	var out []Node
	for _, n := range a {
		if !in[n.ID] {
			out = append(out, n)
		}
	}
	return out
}
