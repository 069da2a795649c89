package events_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// refDiff is Diff as the package documentation states it, written plainly
// with sets of members (id and CreateRevision): the reference that Diff's walk over the views must
// match.
func refDiff(prev, next events.View) []events.Event {
	was, is := prev.Registered(), next.Registered()
	switch {
	case !is && !was:
		return nil
	case !is:
		return []events.Event{{Type: events.Offline}}
	case !was && next.IsMaster():
		return []events.Event{{Type: events.InitMaster, Nodes: next.Slaves(), View: next}}
	case !was:
		return []events.Event{{Type: events.InitSlave, Nodes: []events.Node{next.Master()}, View: next}}
	}
	var out []events.Event
	switch {
	case !prev.IsMaster() && next.IsMaster():
		out = append(out, events.Event{Type: events.ChangeToMaster, Nodes: next.Slaves(), View: next})
	case prev.IsMaster() && !next.IsMaster():
		out = append(out, events.Event{Type: events.ChangeToSlave, Nodes: []events.Node{next.Master()}, View: next})
	case !next.IsMaster() && prev.Master().ID+"@"+fmt.Sprint(prev.Master().CreateRevision) != next.Master().ID+"@"+fmt.Sprint(next.Master().CreateRevision):
		out = append(out, events.Event{Type: events.MasterChange, Nodes: []events.Node{next.Master()}, View: next})
	}
	missing := func(a, b []events.Node) []events.Node {
		type member struct {
			id  string
			rev int64
		}
		in := map[member]bool{}
		for _, n := range b {
			in[member{n.ID, n.CreateRevision}] = true
		}
		var out []events.Node
		for _, n := range a {
			if !in[member{n.ID, n.CreateRevision}] {
				out = append(out, n)
			}
		}
		return out
	}
	if del := missing(prev.Slaves(), next.Slaves()); len(del) > 0 {
		out = append(out, events.Event{Type: events.SlaveDel, Nodes: del, View: next})
	}
	if add := missing(next.Slaves(), prev.Slaves()); len(add) > 0 {
		out = append(out, events.Event{Type: events.SlaveAdd, Nodes: add, View: next})
	}
	var changed []events.Node
	for _, n := range next.Members {
		for _, p := range prev.Members {
			if p.ID == n.ID && p.CreateRevision == n.CreateRevision && p.Value != n.Value {
				changed = append(changed, n)
				break
			}
		}
	}
	if len(changed) > 0 {
		out = append(out, events.Event{Type: events.ValueChange, Nodes: changed, View: next})
	}
	return out
}

// TestDiffMatchesReference compares Diff with refDiff on random pairs of
// views of groups of up to 40 members, where many members may join, leave
// or have their keys re-created at once (more than Diff looks up one by
// one), on views in join order and, more rarely, shuffled or with an id
// twice, which Diff must get right too, if more slowly.
func TestDiffMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 1000))
	ids := make([]string, 40)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%02d", i)
	}
	for trial := range 5000 {
		// A group, then a change of each member with some probability.
		size := 1 + r.IntN(len(ids))
		change := r.Float64() * r.Float64() // mostly few changes
		rev := int64(1)
		var prev []events.Node
		for _, id := range ids[:size] {
			if r.IntN(4) > 0 {
				prev = append(prev, events.Node{ID: id, Value: "v", CreateRevision: rev})
			}
			if r.IntN(3) > 0 { // ties, now and then
				rev++
			}
		}
		var next []events.Node
		for _, n := range prev {
			switch {
			case r.Float64() >= change:
				next = append(next, n)
			case r.IntN(2) == 0: // re-created behind the others
				next = append(next, events.Node{ID: n.ID, Value: "w", CreateRevision: rev + int64(r.IntN(5))})
			}
			// else: gone
		}
		for _, id := range ids[size:] {
			if r.Float64() < change {
				next = append(next, events.Node{ID: id, Value: "v", CreateRevision: rev + int64(r.IntN(5))})
			}
		}
		events.Sort(prev)
		events.Sort(next)
		for _, v := range [][]events.Node{prev, next} {
			switch r.IntN(20) {
			case 0:
				r.Shuffle(len(v), func(i, j int) { v[i], v[j] = v[j], v[i] })
			case 1:
				if len(v) > 1 {
					v[r.IntN(len(v))].ID = v[r.IntN(len(v))].ID
				}
			}
		}
		// Self: one of the group, sometimes absent from one view.
		self := ids[r.IntN(size)]
		pv := events.View{Self: self, Members: prev, Revision: rev}
		nv := events.View{Self: self, Members: next, Revision: rev + 10}
		got, want := events.Diff(pv, nv), refDiff(pv, nv)
		if !eventsEqual(got, want) {
			t.Fatalf("trial %d: Diff(%v, %v) as %s:\n got %s\nwant %s", trial, pv.Members, nv.Members, self, dump(got), dump(want))
		}
	}
}

// TestDiffLargeGroup checks Diff on a group of 1000 against refDiff for the
// changes of the benchmark, and for a change of half the group at once.
func TestDiffLargeGroup(t *testing.T) {
	prev := group("m0001", 1000)
	half := prev.Clone()
	half.Members = slices.DeleteFunc(half.Members, func(n events.Node) bool { return n.CreateRevision%2 == 0 && n.ID != "m0001" })
	for i := range 500 {
		half.Members = append(half.Members, events.Node{ID: fmt.Sprintf("n%04d", i), CreateRevision: int64(2000 + i)})
	}
	half.Revision = 3000
	join := prev.Clone()
	join.Members = append(join.Members, events.Node{ID: "joiner", CreateRevision: 1001})
	for _, next := range []events.View{half, join, {Self: "m0001", Members: prev.Members[1:]}} {
		got, want := events.Diff(prev, next), refDiff(prev, next)
		if !eventsEqual(got, want) {
			t.Fatalf("Diff(group of 1000, %d members) = %s, want %s", len(next.Members), dump(got), dump(want))
		}
	}
}
