package history_test

import (
	"fmt"
	"time"

	"github.com/seed764c596d/mastership/internal/history"
)

// A chaos harness feeds each process's standard output to AddLine, tells
// End when it kills a process, and prints the violations with its seed.
// Here a is killed, but its End comes after b took over: two masters.
func ExampleCheck() {
	var h history.History
	lines := map[string][]string{
		"a#1": {`{"ts":"2026-11-21T22:00:00.100000000Z","type":"INIT_MASTER","self":"a","nodes":["b"],"master":"a","members":["a","b"],"epoch":10,"state":"REFRESH"}`},
		"b#1": {
			`{"ts":"2026-11-21T22:00:00.200000000Z","type":"INIT_SLAVE","self":"b","nodes":["a"],"master":"a","members":["a","b"],"epoch":10,"state":"REFRESH"}`,
			`{"ts":"2026-11-21T22:00:01.000000000Z","type":"CHANGE_TO_MASTER","self":"b","nodes":[],"master":"b","members":["b"],"epoch":11,"state":"REFRESH"}`,
		},
	}
	for _, inc := range []string{"a#1", "b#1"} {
		for _, l := range lines[inc] {
			if err := h.AddLine(inc, []byte(l)); err != nil {
				fmt.Println(err)
			}
		}
	}
	h.End("a#1", time.Date(2026, 11, 21, 22, 0, 1, 250_000_000, time.UTC))

	const seed = 42
	if vs := history.Check(&h, history.Options{}); len(vs) > 0 {
		fmt.Printf("seed %d:\n%s", seed, history.Format(vs))
	}
	// Output:
	// seed 42:
	// [one-master] two masters at once, from 2026-11-21T22:00:01.000000000Z for 250ms, to 2026-11-21T22:00:01.250000000Z: a#1 (a) master from 2026-11-21T22:00:00.100000000Z to 2026-11-21T22:00:01.250000000Z (process end), epoch 10; b#1 (b) master from 2026-11-21T22:00:01.000000000Z to the end of the history (still master), epoch 11
	//     > 22:00:00.100000000  a#1  a INIT_MASTER [b] master=a members=[a b] epoch=10 REFRESH
	//       22:00:00.200000000  b#1  b INIT_SLAVE [a] master=a members=[a b] epoch=10 REFRESH
	//     > 22:00:01.000000000  b#1  b CHANGE_TO_MASTER [] master=b members=[b] epoch=11 REFRESH
	//     > 22:00:01.250000000  a#1  a (process ended)
}
