package events_test

import (
	"fmt"

	"github.com/seed764c596d/mastership/events"
)

// Member c's view as a, b and c join and then a leaves: c sees the new
// master b, and b leave the set of slaves it shares with c.
func ExampleDiff() {
	a := events.Node{ID: "a", CreateRevision: 10}
	b := events.Node{ID: "b", CreateRevision: 11}
	c := events.Node{ID: "c", CreateRevision: 12}
	views := []events.View{
		{Self: "c", Members: []events.Node{a, b, c}},
		{Self: "c", Members: []events.Node{b, c}},
	}
	var prev events.View // not registered yet
	for _, next := range views {
		for _, ev := range events.Diff(prev, next) {
			fmt.Println(ev)
		}
		prev = next
	}
	// Output:
	// INIT_SLAVE [a] (master a)
	// MASTER_CHANGE [b] (master b)
	// SLAVE_DEL [b] (master b)
}
