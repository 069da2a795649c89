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

// BenchmarkDiff measures Diff for the changes a member of a group of n
// sees most: a member joins (what every member computes in a fan-out), a
// slave leaves, and the master leaves so that this member takes over.
func BenchmarkDiff(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		prev := group("m0001", n)
		join := prev.Clone()
		join.Members = append(join.Members, events.Node{ID: "joiner", CreateRevision: int64(n + 1)})
		join.Revision++
		leave := prev.Clone()
		leave.Members = append(leave.Members[:2:2], leave.Members[3:]...)
		leave.Revision++
		takeover := prev.Clone()
		takeover.Members = takeover.Members[1:]
		takeover.Revision++
		for _, c := range []struct {
			name       string
			next       events.View
			want       events.Type
			wantEvents int
		}{
			{"join", join, events.SlaveAdd, 1},
			{"slave-leaves", leave, events.SlaveDel, 1},
			{"takeover", takeover, events.ChangeToMaster, 1},
		} {
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
