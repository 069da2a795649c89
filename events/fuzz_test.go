package events_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// genIDs are the members a generated group draws from: few, so that members
// often leave and come back.
var genIDs = [...]string{"a", "b", "c", "d", "e"}

// genSelf is the member whose views are generated. The generator treats all
// ids alike, so one self loses nothing.
const genSelf = "a"

// Bits of one byte of generator input.
const (
	genIDMask    = 0x07 // which member: genIDs[b&genIDMask % len(genIDs)]
	genOpShift   = 3    // (b>>genOpShift)&3 is the operation, see viewsFromBytes
	genNoView    = 0x20 // no view after this change: it coalesces with the next
	genZeroView  = 0x40 // while self is not registered, show the zero View
	genSameAgain = 0x80 // then a second view with the same members, later
)

// viewsFromBytes turns data into the views member genSelf sees of its group,
// one byte per change of the group. The operation of a byte is
//
//	0, 1  the member joins if it is absent, or leaves
//	2     the member's key is re-created at a new revision: a Yield, or a
//	      leave and a join seen in one view; a join if it was absent
//	3     a join, as 0, 1, but reusing the revision of the previous
//	      change, which gives ties on CreateRevision; if the member is
//	      there, a new value in place (same key, same CreateRevision)
//
// Revisions never go down. A view in which self is absent is "not
// registered"; it lists the others, or is the zero View (genZeroView).
func viewsFromBytes(data []byte) []events.View {
	live := make(map[string]events.Node)
	var rev int64
	var views []events.View
	snapshot := func(zero bool) events.View {
		if _, ok := live[genSelf]; !ok && zero {
			return events.View{}
		}
		members := slices.Collect(maps.Values(live))
		events.Sort(members)
		return events.View{Self: genSelf, Members: members, Revision: rev}
	}
	for _, b := range data {
		id := genIDs[int(b&genIDMask)%len(genIDs)]
		op := (b >> genOpShift) & 3
		_, present := live[id]
		if op != 3 || present || rev == 0 {
			rev++
		}
		switch {
		case op == 3 && present:
			n := live[id]
			n.Value = fmt.Sprintf("%s@%d/v%d", id, n.CreateRevision, rev)
			live[id] = n
		case op == 2 || !present:
			live[id] = events.Node{ID: id, Value: fmt.Sprintf("%s@%d", id, rev), CreateRevision: rev}
		default:
			delete(live, id)
		}
		if b&genNoView != 0 {
			continue
		}
		views = append(views, snapshot(b&genZeroView != 0))
		if b&genSameAgain != 0 {
			rev++ // a change elsewhere in etcd
			views = append(views, snapshot(b&genZeroView != 0))
		}
	}
	return views
}

// model is what a consumer knows of its group if it reads only the events.
// Init events set it from their view (INIT_SLAVE's nodes do not list the
// other slaves; the contract puts them in its view); every other event is
// applied from its Type and Nodes alone, so that the model checks that the
// events, not their views, tell the whole story.
type model struct {
	registered bool
	master     string
	slaves     map[string]bool // S: slaves other than self
}

// checker replays a sequence of views through Diff and checks every call
// against the contract.
type checker struct {
	t     testing.TB
	label string // how to reproduce a failure
	seen  map[events.Type]int

	// The call under check.
	step       int
	prev, next events.View
	evs        []events.Event
}

func (c *checker) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s, step %d: Diff(%v@%d, %v@%d) = %s: %s", c.label, c.step,
		c.prev.IDs(), c.prev.Revision, c.next.IDs(), c.next.Revision, dump(c.evs), fmt.Sprintf(format, args...))
}

// run checks Diff over the views, starting from not registered.
func (c *checker) run(views []events.View) {
	c.t.Helper()
	m := model{slaves: map[string]bool{}}
	c.prev = events.View{}
	for i, next := range views {
		c.step, c.next = i, next
		c.evs = c.diff()
		for _, e := range c.evs {
			c.seen[e.Type]++
		}
		c.checkShape()
		c.apply(&m)
		c.compare(&m)
		c.prev = next
	}
}

// diff calls Diff on copies of the views, checks that it left them alone,
// then overwrites the copies: the events must not change, since they are
// checked against the untouched originals afterwards.
func (c *checker) diff() []events.Event {
	c.t.Helper()
	prev, next := withSpare(c.prev), withSpare(c.next)
	evs := events.Diff(prev, next)
	if !viewEqual(prev, c.prev) || !viewEqual(next, c.next) {
		c.evs = evs
		c.fatalf("Diff modified its arguments: %v, %v", prev, next)
	}
	scribble(prev)
	scribble(next)
	return evs
}

// rank orders the event kinds within one Diff call.
func rank(t events.Type) int {
	switch {
	case t.IsRole():
		return 0
	case t == events.SlaveDel:
		return 1
	case t == events.SlaveAdd:
		return 2
	case t == events.ValueChange:
		return 3
	case t == events.Offline:
		return 4
	}
	return -1
}

// checkShape checks one call's events against properties (b), (c) and (d):
// order and multiplicity, the view each event carries, and which nodes it
// may name, taken from which view.
func (c *checker) checkShape() {
	c.t.Helper()
	last := -1
	for i, e := range c.evs {
		r := rank(e.Type)
		switch {
		case r < 0:
			c.fatalf("event %d has unknown type %v", i, e.Type)
		case r <= last:
			c.fatalf("event %d: %v out of order or repeated (role, SLAVE_DEL, SLAVE_ADD, each at most once)", i, e.Type)
		}
		last = r
		if !e.Time.IsZero() {
			c.fatalf("event %d: Time is %v, want zero", i, e.Time)
		}

		switch e.Type {
		case events.Offline, events.InitMaster, events.InitSlave:
			// OFFLINE alone; an Init never followed by SLAVE_DEL/SLAVE_ADD.
			if len(c.evs) != 1 {
				c.fatalf("%v not alone", e.Type)
			}
		}
		if e.Type == events.Offline {
			if !reflect.DeepEqual(e.View, events.View{}) || len(e.Nodes) != 0 {
				c.fatalf("OFFLINE carries view %#v and nodes %v, want the zero View and none", e.View, e.Nodes)
			}
			continue
		}
		if !reflect.DeepEqual(e.View, c.next) {
			c.fatalf("event %d: view %#v, want the next view %#v", i, e.View, c.next)
		}

		switch e.Type {
		case events.InitSlave, events.ChangeToSlave, events.MasterChange:
			if len(e.Nodes) != 1 {
				c.fatalf("%v has %d nodes, want the master alone", e.Type, len(e.Nodes))
			}
		case events.SlaveAdd, events.SlaveDel, events.ValueChange:
			if len(e.Nodes) == 0 {
				c.fatalf("%v with no nodes", e.Type)
			}
		}
		if e.Type == events.ValueChange {
			// Members of both views, the same member in both, whose value
			// changed, in new order; self may be one.
			at := -1
			for _, n := range e.Nodes {
				j := slices.Index(c.next.Members, n)
				k := slices.IndexFunc(c.prev.Members, func(p events.Node) bool {
					return p.ID == n.ID && p.CreateRevision == n.CreateRevision
				})
				switch {
				case j < 0:
					c.fatalf("VALUE_CHANGE names %v, not a member of the next view", n)
				case k < 0:
					c.fatalf("VALUE_CHANGE names %v, which is new", n)
				case c.prev.Members[k].Value == n.Value:
					c.fatalf("VALUE_CHANGE names %v, whose value did not change", n)
				case j <= at:
					c.fatalf("VALUE_CHANGE nodes not in join order")
				}
				at = j
			}
			// And every such member is named.
			for _, n := range c.next.Members {
				k := slices.IndexFunc(c.prev.Members, func(p events.Node) bool {
					return p.ID == n.ID && p.CreateRevision == n.CreateRevision
				})
				if k >= 0 && c.prev.Members[k].Value != n.Value && !slices.Contains(e.Nodes, n) {
					c.fatalf("VALUE_CHANGE leaves out %v, whose value changed", n)
				}
			}
			continue
		}

		// SLAVE_DEL names members of the old view in old order; every other
		// event names members of the new view in new order. Nodes are the
		// members' nodes exactly, value and revision included.
		from := c.next
		if e.Type == events.SlaveDel {
			from = c.prev
		}
		at := -1
		for _, n := range e.Nodes {
			if n.ID == genSelf {
				c.fatalf("%v names self", e.Type)
			}
			j := slices.Index(from.Members, n)
			if j < 0 {
				c.fatalf("%v names %v, not a member of its view", e.Type, n)
			}
			if j <= at {
				c.fatalf("%v nodes not in join order of their view", e.Type)
			}
			at = j
		}
	}
}

// apply updates m from the call's events, checking that each event is
// allowed in the state m is in.
func (c *checker) apply(m *model) {
	c.t.Helper()
	var toMaster []events.Node // CHANGE_TO_MASTER's nodes, to check at the end
	changedToMaster := false
	deleted := map[string]bool{}
	for _, e := range c.evs {
		if e.Type != events.InitMaster && e.Type != events.InitSlave && !m.registered {
			c.fatalf("%v while not registered", e.Type)
		}
		switch e.Type {
		case events.Offline:
			*m = model{slaves: map[string]bool{}}

		case events.InitMaster, events.InitSlave:
			if m.registered {
				c.fatalf("%v while registered", e.Type)
			}
			m.registered = true
			m.slaves = map[string]bool{}
			if e.Type == events.InitMaster {
				m.master = genSelf
				for _, n := range e.Nodes {
					m.slaves[who(n)] = true
				}
			} else {
				m.master = who(e.Nodes[0])
				for _, n := range e.View.Slaves() {
					m.slaves[who(n)] = true
				}
			}

		case events.ChangeToMaster:
			if m.master == genSelf {
				c.fatalf("CHANGE_TO_MASTER while master")
			}
			// Its nodes are S(new), and SLAVE_DEL/SLAVE_ADD still follow,
			// computed from S(old): keep S(old) in the model for them and
			// check the nodes against the result.
			m.master, toMaster, changedToMaster = genSelf, e.Nodes, true

		case events.ChangeToSlave:
			if m.master != genSelf {
				c.fatalf("CHANGE_TO_SLAVE while slave of %s", m.master)
			}
			m.master = who(e.Nodes[0])

		case events.MasterChange:
			if m.master == genSelf {
				c.fatalf("MASTER_CHANGE while master")
			}
			if who(e.Nodes[0]) == m.master {
				c.fatalf("MASTER_CHANGE to the same master %s", m.master)
			}
			m.master = who(e.Nodes[0])

		case events.SlaveDel:
			for _, n := range e.Nodes {
				if !m.slaves[who(n)] {
					c.fatalf("SLAVE_DEL of %s, not a slave", who(n))
				}
				delete(m.slaves, who(n))
				deleted[who(n)] = true
			}

		case events.SlaveAdd:
			for _, n := range e.Nodes {
				if m.slaves[who(n)] {
					c.fatalf("SLAVE_ADD of %s, already a slave", who(n))
				}
				// A member removed and added back in one call would be a
				// spurious pair: S(old)\S(new) and S(new)\S(old) are disjoint.
				// (The same id with another CreateRevision is another
				// member, and may be.)
				if deleted[who(n)] {
					c.fatalf("%s both deleted and added", who(n))
				}
				m.slaves[who(n)] = true
			}
		}
	}
	if changedToMaster {
		ids := map[string]bool{}
		for _, n := range toMaster {
			ids[who(n)] = true
		}
		if !maps.Equal(ids, m.slaves) {
			c.fatalf("CHANGE_TO_MASTER nodes %v are not S(new) = %v", toMaster, m.slaves)
		}
	}
}

// compare checks that the model, built from the events, knows what the next
// view says: registration, master and S.
func (c *checker) compare(m *model) {
	c.t.Helper()
	want := model{slaves: map[string]bool{}}
	if c.next.Registered() {
		want.registered = true
		want.master = who(c.next.Members[0])
		if c.next.Members[0].ID == genSelf {
			want.master = genSelf
		}
		for _, n := range c.next.Members[1:] {
			if n.ID != genSelf {
				want.slaves[who(n)] = true
			}
		}
	}
	if m.registered != want.registered || m.master != want.master || !maps.Equal(m.slaves, want.slaves) {
		c.fatalf("replayed events give registered=%v master=%q slaves=%v; the view gives registered=%v master=%q slaves=%v",
			m.registered, m.master, slices.Sorted(maps.Keys(m.slaves)),
			want.registered, want.master, slices.Sorted(maps.Keys(want.slaves)))
	}
}

// who names member n as the model knows it: its id and CreateRevision,
// since a key created again under the same id is another member.
func who(n events.Node) string { return fmt.Sprintf("%s@%d", n.ID, n.CreateRevision) }

// TestDiffProperties runs the contract checks over seeded random sequences
// of views.
func TestDiffProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(0x764c596d, 0x5eed))
	c := &checker{t: t, seen: map[events.Type]int{}}
	const sequences = 2000
	for i := range sequences {
		data := make([]byte, r.IntN(48))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		c.label = fmt.Sprintf("sequence %d (data %x)", i, data)
		c.run(viewsFromBytes(data))
	}
	// The generator must reach every event type, or the checks above prove
	// little.
	for _, tt := range allTypes {
		if c.seen[tt.typ] == 0 {
			t.Errorf("no %v in %d sequences", tt.typ, sequences)
		}
	}
}

func FuzzDiff(f *testing.F) {
	// Seeds, one byte per change (see viewsFromBytes); self is a.
	f.Add([]byte{})
	f.Add([]byte{0x00, 0x01, 0x02, 0x00})             // a, b, c join, then a leaves
	f.Add([]byte{0x01, 0x00, 0x02, 0x01})             // b, a, c join, then b (master) leaves
	f.Add([]byte{0x00, 0x01, 0x02, 0x10})             // a yields to b
	f.Add([]byte{0x01, 0x00, 0x02, 0x11})             // b yields, a becomes master
	f.Add([]byte{0x01, 0x18, 0x02, 0x01})             // a joins in b's transaction: tie
	f.Add([]byte{0x01, 0x22, 0x00, 0x23, 0x24, 0x02}) // coalesced changes
	f.Add([]byte{0x00, 0x01, 0x40, 0x00, 0x81, 0x02}) // zero View, repeated views
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 256 {
			data = data[:256] // longer inputs find nothing new, only run slower
		}
		c := &checker{t: t, label: fmt.Sprintf("data %x", data), seen: map[events.Type]int{}}
		c.run(viewsFromBytes(data))
	})
}
