package events_test

import (
	"fmt"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// group returns the view of member self in a group of n members, m0000
// being the master, with member keys created at revisions 1..n.
func group(self string, n int) events.View {
	v := events.View{Self: self, Revision: int64(n)}
	for i := range n {
		v.Members = append(v.Members, events.Node{ID: fmt.Sprintf("m%04d", i), Value: "10.0.0.1:5432", CreateRevision: int64(i + 1)})
	}
	return v
}

// benchSizes are the group sizes of the Diff benchmarks.
var benchSizes = []int{10, 100, 1000, 10000}

// benchCase is one change that member m0001 of a group sees, with the
// events it must give.
type benchCase struct {
	name       string
	next       events.View
	changes    []events.Change
	want       events.Type
	wantEvents int
}

// benchCases returns the changes a member of a group of n sees most: a
// member joins (what every member computes in a fan-out), a slave leaves,
// and the master leaves so that this member takes over.
func benchCases(n int) (prev events.View, cases []benchCase) {
	prev = group("m0001", n)
	joiner := events.Node{ID: "joiner", CreateRevision: int64(n + 1)}
	join := prev.Clone()
	join.Members = append(join.Members, joiner)
	join.Revision++
	leave := prev.Clone()
	leave.Members = append(leave.Members[:2:2], leave.Members[3:]...)
	leave.Revision++
	takeover := prev.Clone()
	takeover.Members = takeover.Members[1:]
	takeover.Revision++
	return prev, []benchCase{
		{"join", join, []events.Change{{After: joiner}}, events.SlaveAdd, 1},
		{"slave-leaves", leave, []events.Change{{Before: prev.Members[2]}}, events.SlaveDel, 1},
		{"takeover", takeover, []events.Change{{Before: prev.Members[0]}}, events.ChangeToMaster, 1},
	}
}

// BenchmarkDiff measures Diff for the changes of benchCases.
func BenchmarkDiff(b *testing.B) {
	for _, n := range benchSizes {
		prev, cases := benchCases(n)
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				evs := events.Diff(prev, c.next)
				if len(evs) != c.wantEvents || evs[0].Type != c.want {
					b.Fatalf("Diff gave %v, want one %v", evs, c.want)
				}
				b.ReportAllocs()
				for b.Loop() {
					events.Diff(prev, c.next)
				}
			})
		}
	}
}

// BenchmarkDiffChanges measures DiffChanges for the changes of benchCases,
// to compare with BenchmarkDiff: it should not grow with n, except on
// takeover, whose event lists every slave.
func BenchmarkDiffChanges(b *testing.B) {
	for _, n := range benchSizes {
		prev, cases := benchCases(n)
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				evs := events.DiffChanges(prev, c.next, c.changes)
				if len(evs) != c.wantEvents || evs[0].Type != c.want {
					b.Fatalf("DiffChanges gave %v, want one %v", evs, c.want)
				}
				b.ReportAllocs()
				for b.Loop() {
					events.DiffChanges(prev, c.next, c.changes)
				}
			})
		}
	}
}
