package events_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"unsafe"

	"github.com/seed764c596d/mastership/events"
)

// changesOf returns the changes between prev and next, one per id whose
// node differs, found by comparing the views id by id: what a caller of
// DiffChanges learns from etcd's watch, computed the slow way.
func changesOf(prev, next events.View) []events.Change {
	before := make(map[string]events.Node)
	for _, n := range prev.Members {
		before[n.ID] = n
	}
	var out []events.Change
	for _, n := range next.Members {
		if b := before[n.ID]; b != n {
			out = append(out, events.Change{Before: b, After: n})
		}
		delete(before, n.ID)
	}
	for _, n := range prev.Members {
		if _, gone := before[n.ID]; gone {
			out = append(out, events.Change{Before: n})
		}
	}
	return out
}

// diffChangesMismatch calls DiffChanges(prev, next, changes) and returns
// how its events differ from Diff(prev, next), or "" if they do not. It
// also checks that the events' View is next itself, and that the events'
// Nodes share no memory with changes nor with each other.
func diffChangesMismatch(prev, next events.View, changes []events.Change) string {
	want := events.Diff(prev, next)
	// A copy of changes, scribbled over below: the events must not see it.
	cs := slices.Clone(changes)
	got := events.DiffChanges(prev, next, cs)
	if msg := compareToDiff(got, want, next); msg != "" {
		return msg
	}
	for i := range cs {
		cs[i] = events.Change{Before: nd("scribbled", -1), After: nd("scribbled", -2)}
	}
	if msg := compareToDiff(got, want, next); msg != "" {
		return "after changes were overwritten: " + msg
	}
	// Appending to one event's Nodes must leave the others alone.
	for i := range got {
		_ = append(got[i].Nodes, nd("appended", -3))
	}
	if msg := compareToDiff(got, want, next); msg != "" {
		return "after appending to Nodes: " + msg
	}
	return ""
}

// compareToDiff compares DiffChanges's events got with Diff's want: the
// same Types and Nodes, and as View next itself rather than a copy.
func compareToDiff(got, want []events.Event, next events.View) string {
	if len(got) != len(want) {
		return fmt.Sprintf("DiffChanges = %v, Diff = %v", render(got), render(want))
	}
	for i, g := range got {
		w := want[i]
		if g.Type != w.Type || !reflect.DeepEqual(g.Nodes, w.Nodes) {
			return fmt.Sprintf("event %d: DiffChanges = %v %v, Diff = %v %v", i, g.Type, g.Nodes, w.Type, w.Nodes)
		}
		if !viewEqual(g.View, next) || !viewEqual(w.View, next) {
			return fmt.Sprintf("event %d: view %v, want next %v", i, g.View, next)
		}
		if unsafe.SliceData(g.View.Members) != unsafe.SliceData(next.Members) || len(g.View.Members) != len(next.Members) {
			return fmt.Sprintf("event %d: view's Members are a copy, not next's", i)
		}
		if !g.Time.IsZero() {
			return fmt.Sprintf("event %d: Time %v, want zero", i, g.Time)
		}
	}
	return ""
}

// reversed returns a reversed copy of cs.
func reversed(cs []events.Change) []events.Change {
	out := slices.Clone(cs)
	slices.Reverse(out)
	return out
}

func TestDiffChanges(t *testing.T) {
	tests := []struct {
		name       string
		prev, next events.View
		want       []wantEvent
	}{
		{
			name: "a slave joins",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("b", 11, nd("a", 1), nd("b", 2), nd("c", 3), nd("d", 11)),
			want: []wantEvent{{events.SlaveAdd, ns(nd("d", 11))}},
		},
		{
			name: "a slave leaves",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3), nd("d", 4)),
			next: vw("b", 11, nd("a", 1), nd("b", 2), nd("d", 4)),
			want: []wantEvent{{events.SlaveDel, ns(nd("c", 3))}},
		},
		{
			name: "self joins the view of a master",
			prev: vw("a", 10, nd("a", 1)),
			next: vw("a", 11, nd("a", 1), nd("b", 11)),
			want: []wantEvent{{events.SlaveAdd, ns(nd("b", 11))}},
		},
		{
			name: "master leaves, self becomes master",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("b", 11, nd("b", 2), nd("c", 3)),
			want: []wantEvent{{events.ChangeToMaster, ns(nd("c", 3))}},
		},
		{
			name: "master leaves, another becomes master and leaves S",
			prev: vw("c", 10, nd("a", 1), nd("b", 2), nd("c", 3), nd("d", 4)),
			next: vw("c", 11, nd("b", 2), nd("c", 3), nd("d", 4)),
			want: []wantEvent{
				{events.MasterChange, ns(nd("b", 2))},
				{events.SlaveDel, ns(nd("b", 2))},
			},
		},
		{
			name: "self's key re-created: self yields and moves to the end",
			prev: vw("a", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("a", 12, nd("b", 2), nd("c", 3), nd("a", 12)),
			want: []wantEvent{
				{events.ChangeToSlave, ns(nd("b", 2))},
				{events.SlaveDel, ns(nd("b", 2))},
			},
		},
		{
			name: "master's key re-created: it becomes a slave, the next one master",
			prev: vw("c", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("c", 12, nd("b", 2), nd("c", 3), nd("a", 12)),
			want: []wantEvent{
				{events.MasterChange, ns(nd("b", 2))},
				{events.SlaveDel, ns(nd("b", 2))},
				{events.SlaveAdd, ns(nd("a", 12))},
			},
		},
		{
			name: "a master yields to self: the old master joins S",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("b", 12, nd("b", 2), nd("c", 3), nd("a", 12)),
			want: []wantEvent{
				{events.ChangeToMaster, ns(nd("c", 3), nd("a", 12))},
				{events.SlaveAdd, ns(nd("a", 12))},
			},
		},
		{
			name: "self's value changes",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("b", 11, nd("a", 1), events.Node{ID: "b", Value: "new", CreateRevision: 2}, nd("c", 3)),
			want: []wantEvent{{events.ValueChange, ns(events.Node{ID: "b", Value: "new", CreateRevision: 2})}},
		},
		{
			name: "the master's and a slave's values change",
			prev: vw("b", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("b", 11, events.Node{ID: "a", Value: "new", CreateRevision: 1}, nd("b", 2), events.Node{ID: "c", Value: "new", CreateRevision: 3}),
			want: []wantEvent{{events.ValueChange, ns(
				events.Node{ID: "a", Value: "new", CreateRevision: 1},
				events.Node{ID: "c", Value: "new", CreateRevision: 3},
			)}},
		},
		{
			name: "a join and a leave in one change",
			prev: vw("a", 10, nd("a", 1), nd("b", 2), nd("c", 3), nd("d", 4)),
			next: vw("a", 12, nd("a", 1), nd("b", 2), nd("d", 4), nd("e", 12)),
			want: []wantEvent{
				{events.SlaveDel, ns(nd("c", 3))},
				{events.SlaveAdd, ns(nd("e", 12))},
			},
		},
		{
			name: "a slave deleted and re-created under the same id",
			prev: vw("a", 10, nd("a", 1), nd("b", 2), nd("c", 3)),
			next: vw("a", 12, nd("a", 1), nd("c", 3), nd("b", 12)),
			want: []wantEvent{
				{events.SlaveDel, ns(nd("b", 2))},
				{events.SlaveAdd, ns(nd("b", 12))},
			},
		},
		{
			name: "a tie on CreateRevision: a smaller id joins first in the order",
			prev: vw("c", 10, nd("b", 5), nd("c", 6)),
			next: vw("c", 11, nd("a", 5), nd("b", 5), nd("c", 6)),
			want: []wantEvent{
				{events.MasterChange, ns(nd("a", 5))},
				{events.SlaveAdd, ns(nd("b", 5))},
			},
		},
		{
			name: "nothing changed",
			prev: vw("a", 10, nd("a", 1), nd("b", 2)),
			next: vw("a", 11, nd("a", 1), nd("b", 2)),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes := changesOf(tt.prev, tt.next)
			// The events must not depend on the order of changes.
			for _, cs := range [][]events.Change{changes, reversed(changes)} {
				got := events.DiffChanges(tt.prev, tt.next, cs)
				if !slices.EqualFunc(got, tt.want, func(g events.Event, w wantEvent) bool {
					return g.Type == w.typ && slices.Equal(g.Nodes, w.nodes)
				}) {
					t.Errorf("DiffChanges(%v) = %v, want %v", cs, dump(got), tt.want)
				}
				if msg := diffChangesMismatch(tt.prev, tt.next, cs); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// pairIDs are the ids a generated pair of views draws from: few, so that
// ids often stay, leave, join or come back under a new key. pairIDs[0] is
// Self, in both views.
var pairIDs = [...]string{"a", "b", "c", "d", "e", "f", "g", "h"}

// pairFromBytes turns data into two views of Self pairIDs[0], prev and
// next, both in join order, and the changes between them in an order taken
// from data. Each id reads two bytes (zeros once data runs out):
//
//	byte 0, bit 0      the id is in prev (always, for Self)
//	byte 0, bit 1      the id is in next (always, for Self)
//	byte 0, bits 2-3   if in both: 0 the same node, 1 another value,
//	                   2 the key re-created (another CreateRevision),
//	                   3 re-created with the same value
//	byte 0, bits 4-7   the CreateRevision in prev, 1 to 16
//	byte 1, bits 0-3   the CreateRevision in next if the key is new
//	byte 1, bit 4      list the id in changes even if its node is the same
//	byte 1, bits 5-7   where the id's Change goes in changes
//
// CreateRevisions come from a small range, so that keys often tie on it and
// the order falls back to the ids.
func pairFromBytes(data []byte) (prev, next events.View, changes []events.Change) {
	at := func(i int) byte {
		if i < len(data) {
			return data[i]
		}
		return 0
	}
	prev = events.View{Self: pairIDs[0], Revision: 100}
	next = events.View{Self: pairIDs[0], Revision: 101}
	type placed struct {
		c   events.Change
		key byte
	}
	var cs []placed
	for i, id := range pairIDs {
		b0, b1 := at(2*i), at(2*i+1)
		inP, inN := b0&1 != 0 || i == 0, b0&2 != 0 || i == 0
		var before, after events.Node
		if inP {
			rev := int64(b0>>4) + 1
			before = events.Node{ID: id, Value: fmt.Sprintf("%s@%d", id, rev), CreateRevision: rev}
		}
		if inN {
			rev := int64(b1&0x0f) + 1
			after = events.Node{ID: id, Value: fmt.Sprintf("%s@%d", id, rev), CreateRevision: rev}
			if inP {
				after = before
				switch (b0 >> 2) & 3 {
				case 1:
					after.Value += "/new"
				case 2, 3:
					if rev == before.CreateRevision {
						rev = rev%16 + 1
					}
					after.CreateRevision = rev
					if (b0>>2)&3 == 2 {
						after.Value = fmt.Sprintf("%s@%d", id, rev)
					}
				}
			}
		}
		if before.ID != "" {
			prev.Members = append(prev.Members, before)
		}
		if after.ID != "" {
			next.Members = append(next.Members, after)
		}
		if before != after || b1&0x10 != 0 {
			cs = append(cs, placed{events.Change{Before: before, After: after}, b1 >> 5})
		}
	}
	events.Sort(prev.Members)
	events.Sort(next.Members)
	slices.SortStableFunc(cs, func(x, y placed) int { return int(x.key) - int(y.key) })
	for _, p := range cs {
		changes = append(changes, p.c)
	}
	return prev, next, changes
}

// TestDiffChangesProperty checks DiffChanges against Diff over seeded
// random pairs of views.
func TestDiffChangesProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(0x764c596d, 0xc4a6e5))
	seen := map[events.Type]int{}
	promoted := 0 // a slave became master and is in SlaveDel
	const cases = 5000
	for i := range cases {
		data := make([]byte, 2*len(pairIDs))
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		prev, next, changes := pairFromBytes(data)
		if msg := diffChangesMismatch(prev, next, changes); msg != "" {
			t.Fatalf("case %d (data %x):\nprev %v\nnext %v\nchanges %v\n%s", i, data, prev.Members, next.Members, changes, msg)
		}
		for _, e := range events.DiffChanges(prev, next, changes) {
			seen[e.Type]++
			if e.Type == events.SlaveDel && slices.Contains(e.Nodes, next.Master()) {
				promoted++
			}
		}
	}
	// The generator must reach every event type of two registered views,
	// and the promotion of a slave, or the check above proves little.
	for _, typ := range []events.Type{events.ChangeToMaster, events.ChangeToSlave, events.MasterChange, events.SlaveDel, events.SlaveAdd, events.ValueChange} {
		if seen[typ] == 0 {
			t.Errorf("no %v in %d cases", typ, cases)
		}
	}
	if promoted == 0 {
		t.Errorf("no slave promoted to master in %d cases", cases)
	}
	t.Logf("events seen: %v; promotions: %d", seen, promoted)
}

func FuzzDiffChanges(f *testing.F) {
	// Seeds, two bytes per id (see pairFromBytes); Self is a.
	f.Add([]byte{})
	f.Add([]byte{0x13, 0x00, 0x23, 0x00, 0x02, 0x05})             // b, c; d joins
	f.Add([]byte{0x23, 0x00, 0x13, 0x00, 0x33, 0x00})             // the master b leaves
	f.Add([]byte{0x03, 0x00, 0x11, 0x00, 0x23, 0x00})             // a takes over from b
	f.Add([]byte{0x0b, 0x09, 0x23, 0x00, 0x33, 0x00})             // a yields
	f.Add([]byte{0x13, 0x00, 0x27, 0x00, 0x3b, 0x0f, 0x43, 0x10}) // values, re-creation
	f.Fuzz(func(t *testing.T, data []byte) {
		prev, next, changes := pairFromBytes(data)
		if msg := diffChangesMismatch(prev, next, changes); msg != "" {
			t.Fatalf("prev %v\nnext %v\nchanges %v\n%s", prev.Members, next.Members, changes, msg)
		}
	})
}

// TestDiffChangesAllocs checks that DiffChanges allocates only the events
// and their nodes, whatever the size of the group.
func TestDiffChangesAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts")
	}
	prev := group("m0001", 1000)
	next := prev.Clone()
	joiner := events.Node{ID: "joiner", CreateRevision: 1001}
	next.Members = append(next.Members, joiner)
	changes := []events.Change{{After: joiner}}
	// One event with one node: the events, and one array of nodes.
	if n := testing.AllocsPerRun(100, func() { events.DiffChanges(prev, next, changes) }); n != 2 {
		t.Errorf("DiffChanges allocates %v times for a join, want 2", n)
	}
}
