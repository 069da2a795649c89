package events_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// nd returns the node of member id whose key was created at revision rev.
// The value is derived from both, so that a node from an old view and the
// node of a re-created key never compare equal by accident.
func nd(id string, rev int64) events.Node {
	return events.Node{ID: id, Value: "addr-" + id + "-" + strconv.FormatInt(rev, 10), CreateRevision: rev}
}

// ns is shorthand for a node list.
func ns(nodes ...events.Node) []events.Node { return nodes }

// vw returns the view of self read at revision rev. Members must be given in
// join order; the tests never sort them, so that what Diff sees is exactly
// what the test wrote.
func vw(self string, rev int64, members ...events.Node) events.View {
	return events.View{Self: self, Members: members, Revision: rev}
}

// render formats events the way the design note writes them, for example
// "SLAVE_ADD [b c]".
func render(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		ids := make([]string, len(e.Nodes))
		for j, n := range e.Nodes {
			ids[j] = n.ID
		}
		out[i] = e.Type.String() + " [" + strings.Join(ids, " ") + "]"
	}
	return out
}

// dump formats events with their views, for failure messages.
func dump(evs []events.Event) string {
	var b strings.Builder
	for i, e := range evs {
		if i > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "%s view=%v@%d/%s", render([]events.Event{e})[0], e.View.IDs(), e.View.Revision, e.View.Self)
	}
	return "[" + b.String() + "]"
}

// viewEqual compares views field by field; a nil and an empty member list are
// the same view.
func viewEqual(a, b events.View) bool {
	return a.Self == b.Self && a.Revision == b.Revision && slices.Equal(a.Members, b.Members)
}

// cloneEvents returns a deep copy of evs.
func cloneEvents(evs []events.Event) []events.Event {
	out := make([]events.Event, len(evs))
	for i, e := range evs {
		e.Nodes = slices.Clone(e.Nodes)
		e.View = e.View.Clone()
		out[i] = e
	}
	return out
}

// eventsEqual compares event lists exactly, except that nil and empty node
// or member lists are equal ("INIT_MASTER []" may carry either).
func eventsEqual(a, b []events.Event) bool {
	return slices.EqualFunc(a, b, func(x, y events.Event) bool {
		return x.Type == y.Type && slices.Equal(x.Nodes, y.Nodes) &&
			viewEqual(x.View, y.View) && x.Time.Equal(y.Time)
	})
}

// withSpare returns a copy of v whose member slice has spare capacity, so
// that a Diff that appended to or resliced its input would be caught when the
// test scribbles over the whole backing array.
func withSpare(v events.View) events.View {
	m := make([]events.Node, len(v.Members), len(v.Members)+4)
	copy(m, v.Members)
	v.Members = m
	return v
}

// scribble overwrites the whole backing array of v's members.
func scribble(v events.View) {
	full := v.Members[:cap(v.Members)]
	for i := range full {
		full[i] = events.Node{ID: "scribbled", Value: "scribbled", CreateRevision: -1}
	}
}

type wantEvent struct {
	typ   events.Type
	nodes []events.Node
}

// diffTests has one row per transition of the contract ("Views and events"
// in the design note). Revisions are small numbers; in every row the members
// are listed in join order.
var diffTests = []struct {
	name       string
	prev, next events.View
	// want lists the events; each must carry next as its view, except
	// OFFLINE which carries the zero View.
	want []wantEvent
}{
	// Not registered → registered.
	{
		name: "not registered to master alone",
		prev: events.View{},
		next: vw("a", 10, nd("a", 10)),
		want: []wantEvent{{events.InitMaster, nil}},
	},
	{
		name: "not registered to master of slaves: nodes are S(new), no SLAVE_ADD",
		prev: events.View{},
		next: vw("a", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		want: []wantEvent{{events.InitMaster, ns(nd("b", 11), nd("c", 12))}},
	},
	{
		name: "not registered with others listed to master (self re-registers after OFFLINE, old master gone)",
		prev: vw("a", 30, nd("b", 11)),
		next: vw("a", 40, nd("a", 31), nd("c", 35)),
		want: []wantEvent{{events.InitMaster, ns(nd("c", 35))}},
	},
	{
		name: "not registered to slave: nodes are the master, no SLAVE_ADD",
		prev: events.View{},
		next: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12), nd("d", 13)),
		want: []wantEvent{{events.InitSlave, ns(nd("a", 10))}},
	},
	{
		name: "not registered with others listed to slave",
		prev: vw("c", 15, nd("a", 10), nd("b", 11)),
		next: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 16)),
		want: []wantEvent{{events.InitSlave, ns(nd("a", 10))}},
	},

	// Registered → not registered.
	{
		name: "master to zero view",
		prev: vw("a", 20, nd("a", 10), nd("b", 11)),
		next: events.View{},
		want: []wantEvent{{events.Offline, nil}},
	},
	{
		name: "slave to a view without self: OFFLINE alone, zero view, no MASTER_CHANGE nor SLAVE_DEL",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("b", 30, nd("c", 12)),
		want: []wantEvent{{events.Offline, nil}},
	},

	// Not registered → not registered.
	{
		name: "zero view to zero view",
		prev: events.View{},
		next: events.View{},
		want: nil,
	},
	{
		name: "not registered, others change",
		prev: vw("a", 20, nd("b", 11)),
		next: vw("a", 30, nd("c", 12), nd("d", 25)),
		want: nil,
	},
	{
		name: "zero view to view without self",
		prev: events.View{},
		next: vw("a", 30, nd("b", 11)),
		want: nil,
	},

	// Slave → master.
	{
		name: "slave to master alone",
		prev: vw("b", 20, nd("a", 10), nd("b", 11)),
		next: vw("b", 30, nd("b", 11)),
		want: []wantEvent{{events.ChangeToMaster, nil}},
	},
	{
		name: "slave to master of the remaining slaves: nodes are S(new)",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12), nd("d", 13)),
		next: vw("b", 30, nd("b", 11), nd("c", 12), nd("d", 13)),
		want: []wantEvent{{events.ChangeToMaster, ns(nd("c", 12), nd("d", 13))}},
	},
	{
		name: "slave to master when the old master yields: old master is added as a slave",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("b", 30, nd("b", 11), nd("c", 12), nd("a", 25)),
		want: []wantEvent{
			{events.ChangeToMaster, ns(nd("c", 12), nd("a", 25))},
			{events.SlaveAdd, ns(nd("a", 25))},
		},
	},

	// Master → slave: only by Yield, self's key is re-created with a larger
	// CreateRevision.
	{
		name: "master yields to its only slave",
		prev: vw("a", 20, nd("a", 10), nd("b", 11)),
		next: vw("a", 30, nd("b", 11), nd("a", 25)),
		want: []wantEvent{
			{events.ChangeToSlave, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11))},
		},
	},
	{
		name: "master yields: new master leaves S",
		prev: vw("a", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("a", 30, nd("b", 11), nd("c", 12), nd("a", 25)),
		want: []wantEvent{
			{events.ChangeToSlave, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11))},
		},
	},

	// Slave → slave of another master.
	{
		name: "slave of a new master (worked example, c)",
		prev: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("c", 30, nd("b", 11), nd("c", 12)),
		want: []wantEvent{
			{events.MasterChange, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11))},
		},
	},
	{
		name: "slave of a master it never saw as a slave: MASTER_CHANGE alone",
		prev: vw("c", 20, nd("a", 10), nd("c", 12)),
		next: vw("c", 30, nd("b", 11), nd("c", 12)),
		want: []wantEvent{{events.MasterChange, ns(nd("b", 11))}},
	},
	{
		name: "master yields, self stays slave: old master is added back",
		prev: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("c", 30, nd("b", 11), nd("c", 12), nd("a", 25)),
		want: []wantEvent{
			{events.MasterChange, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11))},
			{events.SlaveAdd, ns(nd("a", 25))},
		},
	},

	// SLAVE_DEL and SLAVE_ADD. The ids are chosen so that join order differs
	// from alphabetical order.
	{
		name: "SLAVE_DEL alone, in old order",
		prev: vw("a", 20, nd("a", 10), nd("d", 11), nd("c", 12), nd("b", 13)),
		next: vw("a", 30, nd("a", 10), nd("c", 12)),
		want: []wantEvent{{events.SlaveDel, ns(nd("d", 11), nd("b", 13))}},
	},
	{
		name: "SLAVE_ADD alone, in new order",
		prev: vw("a", 20, nd("a", 10)),
		next: vw("a", 30, nd("a", 10), nd("f", 21), nd("e", 22)),
		want: []wantEvent{{events.SlaveAdd, ns(nd("f", 21), nd("e", 22))}},
	},
	{
		name: "SLAVE_DEL in old order then SLAVE_ADD in new order",
		prev: vw("a", 20, nd("a", 10), nd("d", 11), nd("c", 12), nd("b", 13)),
		next: vw("a", 30, nd("a", 10), nd("c", 12), nd("f", 21), nd("e", 22)),
		want: []wantEvent{
			{events.SlaveDel, ns(nd("d", 11), nd("b", 13))},
			{events.SlaveAdd, ns(nd("f", 21), nd("e", 22))},
		},
	},
	{
		name: "slave sees other slaves come and go, not itself",
		prev: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("c", 30, nd("a", 10), nd("c", 12), nd("d", 21)),
		want: []wantEvent{
			{events.SlaveDel, ns(nd("b", 11))},
			{events.SlaveAdd, ns(nd("d", 21))},
		},
	},
	{
		name: "SLAVE_ADD with a tie on CreateRevision, in id order",
		prev: vw("a", 20, nd("a", 10)),
		next: vw("a", 30, nd("a", 10), nd("b", 21), nd("c", 21)),
		want: []wantEvent{{events.SlaveAdd, ns(nd("b", 21), nd("c", 21))}},
	},

	// Role event, SLAVE_DEL and SLAVE_ADD together, in that order.
	{
		name: "MASTER_CHANGE, SLAVE_DEL, SLAVE_ADD",
		prev: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12), nd("d", 13)),
		next: vw("c", 30, nd("b", 11), nd("c", 12), nd("e", 21)),
		want: []wantEvent{
			{events.MasterChange, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11), nd("d", 13))},
			{events.SlaveAdd, ns(nd("e", 21))},
		},
	},
	{
		name: "CHANGE_TO_MASTER, SLAVE_DEL, SLAVE_ADD",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12), nd("d", 13)),
		next: vw("b", 30, nd("b", 11), nd("d", 13), nd("e", 21)),
		want: []wantEvent{
			{events.ChangeToMaster, ns(nd("d", 13), nd("e", 21))},
			{events.SlaveDel, ns(nd("c", 12))},
			{events.SlaveAdd, ns(nd("e", 21))},
		},
	},
	{
		name: "CHANGE_TO_SLAVE, SLAVE_DEL, SLAVE_ADD",
		prev: vw("a", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("a", 30, nd("b", 11), nd("d", 21), nd("a", 25)),
		want: []wantEvent{
			{events.ChangeToSlave, ns(nd("b", 11))},
			{events.SlaveDel, ns(nd("b", 11), nd("c", 12))},
			{events.SlaveAdd, ns(nd("d", 21))},
		},
	},

	// Values changed in place: VALUE_CHANGE, last, self included.
	{
		name: "VALUE_CHANGE of a slave and of self, after SLAVE_ADD",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("b", 30, nd("a", 10), events.Node{ID: "b", Value: "new-b", CreateRevision: 11},
			events.Node{ID: "c", Value: "new-c", CreateRevision: 12}, nd("d", 25)),
		want: []wantEvent{
			{events.SlaveAdd, ns(nd("d", 25))},
			{events.ValueChange, ns(events.Node{ID: "b", Value: "new-b", CreateRevision: 11}, events.Node{ID: "c", Value: "new-c", CreateRevision: 12})},
		},
	},
	{
		name: "VALUE_CHANGE of the master: no role event",
		prev: vw("b", 20, nd("a", 10), nd("b", 11)),
		next: vw("b", 30, events.Node{ID: "a", Value: "new-a", CreateRevision: 10}, nd("b", 11)),
		want: []wantEvent{{events.ValueChange, ns(events.Node{ID: "a", Value: "new-a", CreateRevision: 10})}},
	},

	// No change of role, master or S: no events.
	{
		name: "same view at a later revision",
		prev: vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("b", 30, nd("a", 10), nd("b", 11), nd("c", 12)),
		want: nil,
	},
	{
		name: "identical views",
		prev: vw("a", 20, nd("a", 10), nd("b", 11)),
		next: vw("a", 20, nd("a", 10), nd("b", 11)),
		want: nil,
	},
	{
		name: "a slave's key is re-created: same id, another member",
		prev: vw("a", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("a", 30, nd("a", 10), nd("b", 11), nd("c", 25)),
		want: []wantEvent{{events.SlaveDel, ns(nd("c", 12))}, {events.SlaveAdd, ns(nd("c", 25))}},
	},
	{
		name: "self re-created as a slave: no event",
		prev: vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12)),
		next: vw("c", 30, nd("a", 10), nd("b", 11), nd("c", 25)),
		want: nil,
	},
}

func TestDiff(t *testing.T) {
	for _, tt := range diffTests {
		t.Run(tt.name, func(t *testing.T) {
			got := events.Diff(tt.prev, tt.next)
			want := make([]events.Event, len(tt.want))
			for i, w := range tt.want {
				want[i] = events.Event{Type: w.typ, Nodes: w.nodes, View: tt.next}
				if w.typ == events.Offline {
					want[i].View = events.View{}
				}
			}
			if !eventsEqual(got, want) {
				t.Errorf("Diff(%v, %v)\n got %s\nwant %s", tt.prev.IDs(), tt.next.IDs(), dump(got), dump(want))
			}
			// Strictly the zero View for OFFLINE, not merely an empty one.
			for _, e := range got {
				if e.Type == events.Offline && !reflect.DeepEqual(e.View, events.View{}) {
					t.Errorf("OFFLINE carries %#v, want the zero View", e.View)
				}
			}
		})
	}
}

// TestDiffIsolation checks that Diff does not modify its arguments and that
// the events it returns share no memory with them: a consumer may keep the
// events while the caller reuses its views.
func TestDiffIsolation(t *testing.T) {
	for _, tt := range diffTests {
		t.Run(tt.name, func(t *testing.T) {
			prev, next := withSpare(tt.prev), withSpare(tt.next)
			got := events.Diff(prev, next)
			if !viewEqual(prev, tt.prev) || !viewEqual(next, tt.next) {
				t.Fatalf("Diff modified its arguments: prev %v, next %v", prev, next)
			}
			saved := cloneEvents(got)
			scribble(prev)
			scribble(next)
			if !eventsEqual(got, saved) {
				t.Errorf("events changed when the caller overwrote its views:\n got %s\nwant %s", dump(got), dump(saved))
			}
		})
	}
}

// TestDiffWorkedExample reproduces the worked example of the design note:
// members a, b, c join in that order, then a stops. Each member sees the
// group from its own registration on, one view per change.
func TestDiffWorkedExample(t *testing.T) {
	a, b, c := nd("a", 10), nd("b", 11), nd("c", 12)
	// The group after each change, at the revision of the change.
	group := []struct {
		rev     int64
		members []events.Node
	}{
		{10, ns(a)},
		{11, ns(a, b)},
		{12, ns(a, b, c)},
		{13, ns(b, c)}, // a stops: its key is deleted
	}
	tests := []struct {
		self  string
		from  int // the change at which self registered
		until int // the last change self sees (a sees none after it stops)
		// One line per view, as the design note writes them.
		want [][]string
	}{
		{"a", 0, 2, [][]string{{"INIT_MASTER []"}, {"SLAVE_ADD [b]"}, {"SLAVE_ADD [c]"}}},
		{"b", 1, 3, [][]string{{"INIT_SLAVE [a]"}, {"SLAVE_ADD [c]"}, {"CHANGE_TO_MASTER [c]"}}},
		{"c", 2, 3, [][]string{{"INIT_SLAVE [a]"}, {"MASTER_CHANGE [b]", "SLAVE_DEL [b]"}}},
	}
	for _, tt := range tests {
		t.Run(tt.self, func(t *testing.T) {
			var got [][]string
			prev := events.View{}
			for _, g := range group[tt.from : tt.until+1] {
				next := vw(tt.self, g.rev, g.members...)
				evs := events.Diff(prev, next)
				for _, e := range evs {
					if !viewEqual(e.View, next) {
						t.Errorf("at revision %d, %v carries view %v@%d, want %v@%d",
							g.rev, e.Type, e.View.IDs(), e.View.Revision, next.IDs(), next.Revision)
					}
				}
				got = append(got, render(evs))
				prev = next
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s emits\n %q\nwant\n %q", tt.self, got, tt.want)
			}
		})
	}
}

// allTypes are the nine event types with their contract names.
var allTypes = []struct {
	typ  events.Type
	name string
}{
	{events.InitMaster, "INIT_MASTER"},
	{events.InitSlave, "INIT_SLAVE"},
	{events.ChangeToMaster, "CHANGE_TO_MASTER"},
	{events.ChangeToSlave, "CHANGE_TO_SLAVE"},
	{events.MasterChange, "MASTER_CHANGE"},
	{events.SlaveAdd, "SLAVE_ADD"},
	{events.SlaveDel, "SLAVE_DEL"},
	{events.Offline, "OFFLINE"},
	{events.ValueChange, "VALUE_CHANGE"},
}

func TestTypeString(t *testing.T) {
	for _, tt := range allTypes {
		if got := tt.typ.String(); got != tt.name {
			t.Errorf("Type(%d).String() = %q, want %q", int(tt.typ), got, tt.name)
		}
	}
	// An unknown value must not pass for one of the contract names, and
	// should say which value it is.
	for _, typ := range []events.Type{0, -1, events.ValueChange + 1, 100} {
		got := typ.String()
		if _, err := events.ParseType(got); err == nil {
			t.Errorf("Type(%d).String() = %q, a contract name", int(typ), got)
		}
		if !strings.Contains(got, strconv.Itoa(int(typ))) {
			t.Errorf("Type(%d).String() = %q, does not show the value", int(typ), got)
		}
	}
}

func TestParseType(t *testing.T) {
	for _, tt := range allTypes {
		got, err := events.ParseType(tt.name)
		if err != nil || got != tt.typ {
			t.Errorf("ParseType(%q) = %v, %v; want %v, nil", tt.name, got, err, tt.typ)
		}
		// Round trip from the Type side too.
		if got, err := events.ParseType(tt.typ.String()); err != nil || got != tt.typ {
			t.Errorf("ParseType(%v.String()) = %v, %v", tt.typ, got, err)
		}
	}
	for _, s := range []string{"", "init_master", "Init_Master", " INIT_MASTER", "INIT_MASTER ", "INIT", "Type(1)", "Type(0)", "1", "UNKNOWN"} {
		if got, err := events.ParseType(s); err == nil {
			t.Errorf("ParseType(%q) = %v, nil; want an error", s, got)
		}
	}
}

// TestTypes: Types lists every type of the contract, in order, and Valid
// holds for them and no other value; a type added to the contract but not
// to Types would fail here.
func TestTypes(t *testing.T) {
	var want []events.Type
	for _, tt := range allTypes {
		want = append(want, tt.typ)
	}
	if got := events.Types(); !slices.Equal(got, want) {
		t.Errorf("Types() = %v, want %v", got, want)
	}
	for _, typ := range want {
		if !typ.Valid() {
			t.Errorf("%v.Valid() = false", typ)
		}
	}
	for _, typ := range []events.Type{0, -1, want[len(want)-1] + 1} {
		if typ.Valid() {
			t.Errorf("%v.Valid() = true", typ)
		}
	}
}

// TestCompare: the master order, by CreateRevision, ties by id.
func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		a, b events.Node
		want int
	}{
		{nd("a", 1), nd("b", 2), -1},
		{nd("b", 1), nd("a", 2), -1},
		{nd("a", 2), nd("b", 1), 1},
		{nd("a", 5), nd("b", 5), -1},
		{nd("b", 5), nd("a", 5), 1},
		{nd("a", 5), nd("a", 5), 0},
	} {
		if got := events.Compare(tc.a, tc.b); got != tc.want {
			t.Errorf("Compare(%v, %v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestTypePredicates(t *testing.T) {
	role := map[events.Type]bool{
		events.InitMaster: true, events.InitSlave: true, events.ChangeToMaster: true,
		events.ChangeToSlave: true, events.MasterChange: true,
	}
	master := map[events.Type]bool{events.InitMaster: true, events.ChangeToMaster: true}
	for _, tt := range allTypes {
		if got := tt.typ.IsRole(); got != role[tt.typ] {
			t.Errorf("%v.IsRole() = %v", tt.typ, got)
		}
		if got := tt.typ.MakesMaster(); got != master[tt.typ] {
			t.Errorf("%v.MakesMaster() = %v", tt.typ, got)
		}
	}
	for _, typ := range []events.Type{0, events.ValueChange + 1} {
		if typ.IsRole() || typ.MakesMaster() {
			t.Errorf("unknown %v is a role event or makes a master", typ)
		}
	}
}

func TestEventString(t *testing.T) {
	v := vw("a", 20, nd("a", 10), nd("b", 11), nd("c", 12))
	tests := []struct {
		e    events.Event
		want string
	}{
		// The example of the doc comment.
		{events.Event{Type: events.SlaveAdd, Nodes: ns(nd("b", 11), nd("c", 12)), View: v}, "SLAVE_ADD [b c] (master a)"},
		{events.Event{Type: events.InitMaster, View: vw("a", 10, nd("a", 10))}, "INIT_MASTER [] (master a)"},
		{events.Event{Type: events.Offline}, "OFFLINE"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestViewMasterEpoch(t *testing.T) {
	tests := []struct {
		name  string
		v     events.View
		want  events.Node
		epoch int64
	}{
		{"zero view", events.View{}, events.Node{}, 0},
		{"self alone", vw("a", 10, nd("a", 10)), nd("a", 10), 10},
		{"self master", vw("a", 20, nd("a", 10), nd("b", 11)), nd("a", 10), 10},
		{"self slave", vw("b", 20, nd("a", 15), nd("b", 16)), nd("a", 15), 15},
		{"self absent", vw("c", 20, nd("b", 12), nd("a", 13)), nd("b", 12), 12},
	}
	for _, tt := range tests {
		if got := tt.v.Master(); got != tt.want {
			t.Errorf("%s: Master() = %v, want %v", tt.name, got, tt.want)
		}
		if got := tt.v.Epoch(); got != tt.epoch {
			t.Errorf("%s: Epoch() = %d, want %d", tt.name, got, tt.epoch)
		}
	}
}

func TestViewRoles(t *testing.T) {
	tests := []struct {
		name               string
		v                  events.View
		master, registered bool
		slaves             []string
	}{
		{"zero view", events.View{}, false, false, nil},
		{"self with no members", vw("a", 10), false, false, nil},
		{"self alone", vw("a", 10, nd("a", 10)), true, true, nil},
		{"self master", vw("a", 20, nd("a", 10), nd("d", 11), nd("c", 12), nd("b", 13)), true, true, []string{"d", "c", "b"}},
		{"self first slave", vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12)), false, true, []string{"c"}},
		{"self last slave", vw("c", 20, nd("a", 10), nd("b", 11), nd("c", 12)), false, true, []string{"b"}},
		{"self only slave", vw("b", 20, nd("a", 10), nd("b", 11)), false, true, nil},
		{"self absent", vw("z", 20, nd("a", 10), nd("b", 11), nd("c", 12)), false, false, []string{"b", "c"}},
	}
	for _, tt := range tests {
		if got := tt.v.IsMaster(); got != tt.master {
			t.Errorf("%s: IsMaster() = %v", tt.name, got)
		}
		if got := tt.v.Registered(); got != tt.registered {
			t.Errorf("%s: Registered() = %v", tt.name, got)
		}
		s := tt.v.Slaves()
		ids := make([]string, len(s))
		for i, n := range s {
			ids[i] = n.ID
			// The nodes themselves, not just their ids.
			if m, ok := tt.v.Node(n.ID); !ok || m != n {
				t.Errorf("%s: Slaves()[%d] = %v, not a member of the view", tt.name, i, n)
			}
		}
		if !slices.Equal(ids, tt.slaves) {
			t.Errorf("%s: Slaves() = %v, want %v", tt.name, ids, tt.slaves)
		}
	}
}

func TestViewNodeIDsClone(t *testing.T) {
	v := vw("b", 20, nd("a", 10), nd("b", 11), nd("c", 12))
	if n, ok := v.Node("c"); !ok || n != nd("c", 12) {
		t.Errorf("Node(c) = %v, %v", n, ok)
	}
	if n, ok := v.Node("x"); ok || n != (events.Node{}) {
		t.Errorf("Node(x) = %v, %v; want the zero Node, false", n, ok)
	}
	if got, want := v.IDs(), []string{"a", "b", "c"}; !slices.Equal(got, want) {
		t.Errorf("IDs() = %v, want %v", got, want)
	}
	if got := (events.View{}).IDs(); len(got) != 0 {
		t.Errorf("zero View IDs() = %v", got)
	}
	c := v.Clone()
	if !reflect.DeepEqual(c, v) {
		t.Fatalf("Clone() = %v, want %v", c, v)
	}
	c.Members[0].ID = "changed"
	if v.Members[0].ID != "a" {
		t.Errorf("Clone shares members with the original")
	}
}

func TestSort(t *testing.T) {
	// Join order: by CreateRevision, ties (one transaction) by id.
	want := ns(nd("e", 1), nd("x", 3), nd("a", 5), nd("b", 5), nd("c", 5), nd("d", 7))
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		nodes := slices.Clone(want)
		r.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
		in := slices.Clone(nodes)
		events.Sort(nodes)
		if !slices.Equal(nodes, want) {
			t.Fatalf("Sort(%v) = %v, want %v", in, nodes, want)
		}
	}
	events.Sort(nil) // must not panic
}

// TestSortedViewDiff checks that Sort and Diff agree on who is master when
// two keys tie: the smaller id wins, as in concurrency.Election.
func TestSortedViewDiff(t *testing.T) {
	members := ns(nd("b", 10), nd("a", 10))
	events.Sort(members)
	got := events.Diff(events.View{}, vw("a", 10, members...))
	if want := []string{"INIT_MASTER [b]"}; !slices.Equal(render(got), want) {
		t.Errorf("a in a tie with b: %q, want %q", render(got), want)
	}
	got = events.Diff(events.View{}, vw("b", 10, members...))
	if want := []string{"INIT_SLAVE [a]"}; !slices.Equal(render(got), want) {
		t.Errorf("b in a tie with a: %q, want %q", render(got), want)
	}
	for _, e := range got {
		if !e.Time.Equal(time.Time{}) {
			t.Errorf("Diff set Time to %v, want zero", e.Time)
		}
	}
}
