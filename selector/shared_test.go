package selector

import (
	"fmt"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// Members of one group on one client share one view: the events of a join
// carry the same members, not a copy each, so that a member's memory does
// not grow with its group's. Members on another client have their own.
func TestMembersOnOneClientShareTheView(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	var members []*Selector
	for i := range 5 {
		s := join(t, cli, prefix, fmt.Sprintf("m%d", i))
		members = append(members, s)
		if i == 0 {
			expect(t, s, events.InitMaster)
		} else {
			expect(t, s, events.InitSlave, "m0")
		}
		for _, o := range members[:i] {
			expect(t, o, events.SlaveAdd, s.ID())
		}
	}
	other := join(t, shared.Client(t), prefix, "x")
	expect(t, other, events.InitSlave, "m0")
	var views [][]events.Node
	for _, s := range members {
		ev := expect(t, s, events.SlaveAdd, "x")
		checkView(t, ev, "m0", "m1", "m2", "m3", "m4", "x")
		views = append(views, ev.View.Members)
	}
	for i, v := range views[1:] {
		if &v[0] != &views[0][0] {
			t.Errorf("m%d's view of the join is a copy of m0's, not m0's own", i+1)
		}
	}
	// The view of a member on another client is its client's.
	y := join(t, cli, prefix, "y")
	expect(t, y, events.InitSlave, "m0")
	ev := expect(t, other, events.SlaveAdd, "y")
	if mine := expect(t, members[0], events.SlaveAdd, "y"); &ev.View.Members[0] == &mine.View.Members[0] {
		t.Error("members on two clients share a view")
	}
}
