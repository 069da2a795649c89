package events

import "slices"

// Change is what happened to one member id between two views of a group.
type Change struct {
	// Before is the id's node in the earlier view; the zero Node (empty
	// ID) if it was no member there.
	Before Node
	// After is the id's node in the later view; the zero Node if it is no
	// member there.
	After Node
}

// DiffChanges returns the events that Diff(prev, next) returns, given the
// members that changed between the two views, at a cost in proportion to
// the change rather than to the size of the group.
//
// The caller promises that prev and next are views of the same Self, that
// Self is a member of both (both are registered), that both are in join
// order, as views are, and that they differ only in the ids that changes
// names. Changes names each id at most once, in any order; the Before of a
// Change is exactly prev's node of its id, or the zero Node if prev has
// none, and its After is exactly next's node of that id, or the zero Node.
// A Change whose Before and After are equal is allowed and changes nothing.
// Members whose ids changes does not name are the same in both views. For a
// view from or to "not registered", callers use Diff. DiffChanges does not
// check these promises, since checking them would cost a pass over the
// views; when they are broken, its events are wrong.
//
// The events are those of Diff, in the same order, of the same Types and
// with the same Nodes in the same order, with one difference: their View is
// next itself, not a copy, so that they share next's Members with the
// caller. Views are shared and read only: neither the caller nor a reader
// of the events may modify next's Members. The Nodes are fresh slices,
// which share no memory with changes, and appending to one event's Nodes
// does not change another's. The events' Time is left zero. When nothing
// changed, DiffChanges returns nil where Diff returns an empty slice.
//
// DiffChanges reads prev and next only for their first members (the
// masters) and, on ChangeToMaster, for next.Slaves(), which the event
// lists by definition; everything else it learns from changes. It costs
// O(k log k) for k changes, plus O(N) for a group of N members on
// ChangeToMaster only, and allocates only the events and their Nodes.
func DiffChanges(prev, next View, changes []Change) []Event {
	s := sides{pm: prev.Master(), nm: next.Master(), self: next.Self}

	// Role events depend only on Self and the two masters (see Diff).
	wasMaster, isMaster := s.pm.ID == s.self, s.nm.ID == s.self
	var role Type
	switch {
	case !wasMaster && isMaster:
		role = ChangeToMaster
	case wasMaster && !isMaster:
		role = ChangeToSlave
	case !isMaster && !same(s.pm, s.nm):
		role = MasterChange
	}

	// Only the changed members and the two masters can be in S(prev) and
	// not in S(next), or the other way round, where S(v) is v's slaves but
	// Self: a member that did not change is in both views, and is left out
	// of S only by being the master or Self. So the slaves that left are
	// changed members that were in S(prev) and next's master if it was in
	// S(prev); the slaves that joined are changed members now in S(next)
	// and prev's master if it is now in S(next). An unchanged master is the
	// same node in both views, which lets it be decided here; a changed one
	// is decided with its Change below.
	nDel, nAdd, nVal := 0, 0, 0
	pmChanged, nmChanged := false, false
	for _, c := range changes {
		del, add, val := s.classify(c)
		nDel, nAdd, nVal = nDel+b2i(del), nAdd+b2i(add), nVal+b2i(val)
		id := c.id()
		pmChanged = pmChanged || id == s.pm.ID
		nmChanged = nmChanged || id == s.nm.ID
	}
	delNM := !nmChanged && s.nm.ID != s.pm.ID && s.nm.ID != s.self
	addPM := !pmChanged && s.pm.ID != s.nm.ID && s.pm.ID != s.self
	nDel, nAdd = nDel+b2i(delNM), nAdd+b2i(addPM)

	nEvents := b2i(role != 0) + b2i(nDel > 0) + b2i(nAdd > 0) + b2i(nVal > 0)
	if nEvents == 0 {
		return nil
	}
	// The nodes of all events but ChangeToMaster share one allocation, in
	// regions whose sizes are counted above, filled in one more pass over
	// changes; each event's Nodes is capped at its own region, so that
	// appending to it copies rather than overwrite the next event's.
	first := b2i(role == ChangeToSlave || role == MasterChange)
	delAt, addAt, valAt := first, first+nDel, first+nDel+nAdd
	nodes := make([]Node, valAt+nVal)
	if first > 0 {
		nodes[0] = s.nm
	}
	d, a, v := delAt, addAt, valAt
	for _, c := range changes {
		del, add, val := s.classify(c)
		if del {
			nodes[d], d = c.Before, d+1
		}
		if add {
			nodes[a], a = c.After, a+1
		}
		if val {
			nodes[v], v = c.After, v+1
		}
	}
	if delNM {
		nodes[d] = s.nm
	}
	if addPM {
		nodes[a] = s.pm
	}
	region := func(start, end int) []Node {
		r := nodes[start:end:end]
		// Nodes of one view have distinct ids, so that sorting the few
		// changed ones in join order puts them in their view's order.
		slices.SortFunc(r, Compare)
		return r
	}
	out := make([]Event, 0, nEvents)
	switch role {
	case ChangeToMaster:
		out = append(out, Event{Type: role, Nodes: next.Slaves(), View: next})
	case ChangeToSlave, MasterChange:
		out = append(out, Event{Type: role, Nodes: nodes[0:1:1], View: next})
	}
	if nDel > 0 {
		out = append(out, Event{Type: SlaveDel, Nodes: region(delAt, addAt), View: next})
	}
	if nAdd > 0 {
		out = append(out, Event{Type: SlaveAdd, Nodes: region(addAt, valAt), View: next})
	}
	if nVal > 0 {
		out = append(out, Event{Type: ValueChange, Nodes: region(valAt, len(nodes)), View: next})
	}
	return out
}

// sides is what DiffChanges knows of the two views besides the changes:
// their masters (pm of prev, nm of next) and Self.
type sides struct {
	pm, nm Node
	self   string
}

// classify tells whether the member of one Change left S(prev) (del),
// joined S(next) (add), or kept its key with another value (val). Its
// Before is in S(prev) unless it is prev's master or Self, and its After
// likewise in S(next); since ids are unique in a view, the After is the
// only node of next that can be the same member as the Before.
func (s sides) classify(c Change) (del, add, val bool) {
	b, a := c.Before, c.After
	inP := b.ID != "" && b.ID != s.pm.ID && b.ID != s.self
	inN := a.ID != "" && a.ID != s.nm.ID && a.ID != s.self
	kept := b.ID != "" && a.ID != "" && same(b, a)
	return inP && !(kept && inN), inN && !(kept && inP), kept && b.Value != a.Value
}

// id returns the id the Change is about.
func (c Change) id() string {
	if c.Before.ID != "" {
		return c.Before.ID
	}
	return c.After.ID
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
