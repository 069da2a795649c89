package history

import (
	"fmt"
	"slices"

	"github.com/seed764c596d/mastership/events"
)

// replay checks the records of one incarnation against a model of what its
// member knows, rebuilt from the events' types and nodes alone: whether it
// is registered, its master, and its slaves other than itself (S in the
// contract).
//
// The contract emits, for one change of view, a role event, then SLAVE_DEL
// of S(old)\S(new), then SLAVE_ADD of S(new)\S(old), all carrying the new
// view. So in the middle of a change the model may rightly differ from the
// view its records carry; it must match only once the change's last record
// is applied. The records of one change are consecutive and carry the same
// view, and two consecutive changes never do (a change with neither a new
// master nor a new set of members emits nothing), so records that carry the
// same view as the one before belong to its change.
func replay(inc *incarnation) []finding {
	rs := inc.records
	if len(rs) == 0 {
		return nil
	}
	var fs []finding
	report := func(i int, msgs ...string) {
		for _, m := range msgs {
			fs = append(fs, finding{i, m})
		}
	}
	m := model{self: rs[0].Self}
	for i, r := range rs {
		report(i, shape(r, m.self)...)
		if i > 0 && r.TS.Before(rs[i-1].TS) {
			report(i, fmt.Sprintf("ts goes back from %s", rs[i-1].TS.UTC().Format(TSFormat)))
		}
		if inc.ended && r.TS.After(inc.end) {
			report(i, fmt.Sprintf("emitted after its process ended at %s", inc.end.UTC().Format(TSFormat)))
		}
		if i > 0 && sameChange(rs[i-1], r) {
			report(i, orderInChange(rs[i-1].Type, r.Type)...)
		}
		report(i, m.apply(r)...)
		if m.registered && (i == len(rs)-1 || !sameChange(r, rs[i+1])) {
			report(i, m.settle(r)...)
		}
	}
	return fs
}

// sameChange reports whether b, the record after a, belongs to the same
// change of view as a: the events of one change carry one time and one
// view. The time tells apart two changes whose views have the same ids (a
// slave's key created again under its id).
func sameChange(a, b Record) bool {
	return a.Type != events.Offline && b.Type != events.Offline && a.TS.Equal(b.TS) &&
		a.Master == b.Master && a.Epoch == b.Epoch && slices.Equal(a.Members, b.Members)
}

// rank is the place of an event type in the order of one change.
func rank(t events.Type) int {
	switch t {
	case events.SlaveDel:
		return 1
	case events.SlaveAdd:
		return 2
	case events.ValueChange:
		return 3
	}
	return 0
}

func isInit(t events.Type) bool { return t == events.InitMaster || t == events.InitSlave }

// orderInChange checks that an event of type cur may follow one of type
// prev in the same change.
func orderInChange(prev, cur events.Type) []string {
	switch {
	case prev.IsRole() && cur.IsRole():
		return []string{fmt.Sprintf("two role events in one change: %s, then %s", prev, cur)}
	case isInit(prev):
		return []string{fmt.Sprintf("%s follows %s for the same view: an INIT's view already holds every member", cur, prev)}
	case rank(cur) <= rank(prev):
		return []string{fmt.Sprintf("%s follows %s in one change: the order is role event, SLAVE_DEL, SLAVE_ADD, VALUE_CHANGE, each at most once", cur, prev)}
	}
	return nil
}

// shape checks what a record must be on its own: its fields agree with its
// type and with each other.
func shape(r Record, self string) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	if !r.Type.Valid() {
		bad("unknown type %v", r.Type)
		return msgs
	}
	switch {
	case r.Self == "":
		bad("self is empty")
	case r.Self != self:
		bad("self is %q, but the incarnation's first record's is %q", r.Self, self)
	}
	if dup := duplicate(r.Nodes); dup != "" {
		bad("nodes name %s twice", dup)
	}
	if r.Type == events.Offline {
		if r.Master != "" || len(r.Members) > 0 || r.Epoch != 0 || len(r.Nodes) > 0 || r.State != StateOffline {
			bad("OFFLINE must have no nodes, master \"\", members [], epoch 0 and state OFFLINE")
		}
		return msgs
	}
	switch {
	case r.State == StateOffline:
		bad("state OFFLINE for a %s: only the OFFLINE event is emitted unregistered", r.Type)
	case r.State != StateInit && r.State != StateRefresh:
		bad("unknown state %q", r.State)
	}
	if len(r.Members) == 0 || r.Master != r.Members[0] {
		bad("master %q is not the first of members %v", r.Master, r.Members)
	}
	if dup := duplicate(r.Members); dup != "" {
		bad("members name %s twice", dup)
	}
	if !slices.Contains(r.Members, r.Self) {
		bad("self %q is not among members %v", r.Self, r.Members)
	}
	if r.Epoch <= 0 {
		bad("epoch %d: a registered member's view has a master with a CreateRevision", r.Epoch)
	}
	msgs = append(msgs, nodesShape(r)...)
	return msgs
}

// nodesShape checks a record's nodes against the contract's table.
func nodesShape(r Record) []string {
	var msgs []string
	bad := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	switch r.Type {
	case events.InitMaster, events.ChangeToMaster:
		if r.Master != r.Self {
			bad("%s, but the master is %q", r.Type, r.Master)
		} else if len(r.Members) > 0 && !slices.Equal(r.Nodes, r.Members[1:]) {
			bad("nodes %v are not the slaves %v", r.Nodes, r.Members[1:])
		}
	case events.InitSlave, events.ChangeToSlave, events.MasterChange:
		if r.Master == r.Self {
			bad("%s, but self is the master", r.Type)
		}
		if len(r.Nodes) != 1 || r.Nodes[0] != r.Master {
			bad("nodes %v are not the master [%s]", r.Nodes, r.Master)
		}
	case events.SlaveAdd:
		if len(r.Nodes) == 0 {
			bad("SLAVE_ADD of nobody")
		}
		for _, n := range r.Nodes {
			if n == r.Self || n == r.Master || !slices.Contains(r.Members, n) {
				bad("SLAVE_ADD of %q, which is not a slave other than self in members %v", n, r.Members)
			}
		}
		if !inOrder(r.Nodes, r.Members) {
			bad("SLAVE_ADD nodes %v are not in the join order of members %v", r.Nodes, r.Members)
		}
	case events.ValueChange:
		// Any member may change its value, self and the master included.
		if len(r.Nodes) == 0 {
			bad("VALUE_CHANGE of nobody")
		}
		for _, n := range r.Nodes {
			if !slices.Contains(r.Members, n) {
				bad("VALUE_CHANGE of %q, which is not in members %v", n, r.Members)
			}
		}
		if !inOrder(r.Nodes, r.Members) {
			bad("VALUE_CHANGE nodes %v are not in the join order of members %v", r.Nodes, r.Members)
		}
	case events.SlaveDel:
		if len(r.Nodes) == 0 {
			bad("SLAVE_DEL of nobody")
		}
		// A deleted id may still be in members: a key deleted and created
		// again under the same id is a member that left and one that
		// joined, named again by the SLAVE_ADD of the same change. Whether
		// the change as a whole leaves the view the events make is
		// settle's to judge.
		for _, n := range r.Nodes {
			if n == r.Self {
				bad("SLAVE_DEL of self %q", n)
			}
		}
	}
	return msgs
}

// model is what the replayed events tell about a member's view.
type model struct {
	self       string
	registered bool
	master     string
	slaves     []string // S: the slaves other than self
}

// apply updates m with r and returns what r does wrong to it. A record that
// cannot apply (one before INIT) leaves m as it is.
func (m *model) apply(r Record) []string {
	switch {
	case r.Type == events.Offline:
		if !m.registered {
			return []string{"OFFLINE while not registered: it is emitted once, on losing a registration"}
		}
		*m = model{self: m.self}
		return nil
	case isInit(r.Type):
		var msgs []string
		if m.registered {
			msgs = append(msgs, fmt.Sprintf("%s while registered: no OFFLINE since the last INIT", r.Type))
		}
		m.registered = true
		if r.Type == events.InitMaster {
			m.master, m.slaves = m.self, slices.Clone(r.Nodes)
		} else {
			m.master = only(r.Nodes, r.Master)
			m.slaves = others(r.Members, m.master, m.self)
		}
		return msgs
	case !m.registered:
		return []string{fmt.Sprintf("%s before the INIT_MASTER or INIT_SLAVE of a registration", r.Type)}
	}
	switch r.Type {
	case events.ChangeToMaster:
		return m.changeMaster(m.master != m.self, "CHANGE_TO_MASTER while master", m.self)
	case events.ChangeToSlave:
		return m.changeMaster(m.master == m.self, "CHANGE_TO_SLAVE while a slave", only(r.Nodes, r.Master))
	case events.MasterChange:
		to := only(r.Nodes, r.Master)
		if m.master == m.self {
			return m.changeMaster(false, "MASTER_CHANGE while master: a master that steps down emits CHANGE_TO_SLAVE", to)
		}
		return m.changeMaster(to != m.master, fmt.Sprintf("MASTER_CHANGE to %s, which already is the master", to), to)
	case events.SlaveDel:
		return m.del(r.Nodes)
	case events.SlaveAdd:
		return m.add(r.Nodes)
	}
	return nil
}

// changeMaster makes to the master, reporting msg unless ok.
func (m *model) changeMaster(ok bool, msg, to string) []string {
	m.master = to
	if !ok {
		return []string{msg}
	}
	return nil
}

// del removes nodes from the slaves, which must hold them.
//
// The contract lists them in the old view's order, but that order cannot be
// checked: a member that left and came back between two views moves to the
// end of the join order without any event, so the last view a record shows
// may order the slaves otherwise than the view the member last read.
func (m *model) del(nodes []string) []string {
	var msgs []string
	for _, n := range nodes {
		if !slices.Contains(m.slaves, n) {
			msgs = append(msgs, fmt.Sprintf("SLAVE_DEL of %s, which is not a slave (slaves %v)", n, m.slaves))
		}
	}
	m.slaves = slices.DeleteFunc(m.slaves, func(s string) bool { return slices.Contains(nodes, s) })
	return msgs
}

// add appends nodes to the slaves, which must not hold them yet.
func (m *model) add(nodes []string) []string {
	var msgs []string
	for _, n := range nodes {
		switch {
		case slices.Contains(m.slaves, n):
			msgs = append(msgs, fmt.Sprintf("SLAVE_ADD of %s, which already is a slave (slaves %v)", n, m.slaves))
		case n == m.self:
			msgs = append(msgs, "SLAVE_ADD of self")
		case n == m.master:
			msgs = append(msgs, fmt.Sprintf("SLAVE_ADD of %s, the master", n))
		default:
			m.slaves = append(m.slaves, n)
		}
	}
	return msgs
}

// settle compares m, after the last record of a change, with the view that
// change carries, then takes the view's content, so that one mistake is
// reported once rather than at every later change.
func (m *model) settle(r Record) []string {
	var msgs []string
	if m.master != r.Master {
		msgs = append(msgs, fmt.Sprintf("the events make %s the master, the view %s", m.master, r.Master))
	}
	if slices.Contains(m.slaves, m.master) {
		msgs = append(msgs, fmt.Sprintf("the events keep the master %s among the slaves: no SLAVE_DEL of it", m.master))
	}
	known := append([]string{m.master, m.self}, m.slaves...)
	if extra := minus(known, r.Members); len(extra) > 0 {
		msgs = append(msgs, fmt.Sprintf("the events keep %v, which the view %v does not have", extra, r.Members))
	}
	if missing := minus(r.Members, known); len(missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("the view %v has %v, which the events never added", r.Members, missing))
	}
	m.master = r.Master
	m.slaves = others(r.Members, r.Master, m.self)
	return msgs
}

// only returns the one node of a role event about a master, or fallback if
// there is not exactly one (which shape reports).
func only(nodes []string, fallback string) string {
	if len(nodes) == 1 {
		return nodes[0]
	}
	return fallback
}

// others returns members without master and self: S of a view.
func others(members []string, master, self string) []string {
	var out []string
	for _, id := range members {
		if id != master && id != self {
			out = append(out, id)
		}
	}
	return out
}

// minus returns the ids of a that are not in b, in the order of a, once
// each.
func minus(a, b []string) []string {
	var out []string
	for _, id := range a {
		if !slices.Contains(b, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// duplicate returns an id that ids holds twice, or "".
func duplicate(ids []string) string {
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return id
		}
	}
	return ""
}

// inOrder reports whether sub appears in all in the same order.
func inOrder(sub, all []string) bool {
	last := -1
	for _, id := range sub {
		i := slices.Index(all, id)
		if i < 0 {
			continue // reported elsewhere
		}
		if i < last {
			return false
		}
		last = i
	}
	return true
}
