package history

import (
	"slices"
	"strings"
	"testing"
)

// workedLines is the design note's worked example as the node program
// prints it: a, b and c join in that order (keys at revisions 10, 11, 12),
// then a stops.
var workedLines = map[string][]string{
	"a#1": {
		`{"ts":"2026-11-21T22:00:00.100000000Z","type":"INIT_MASTER","self":"a","nodes":[],"master":"a","members":["a"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:00.300000000Z","type":"SLAVE_ADD","self":"a","nodes":["b"],"master":"a","members":["a","b"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:00.500000000Z","type":"SLAVE_ADD","self":"a","nodes":["c"],"master":"a","members":["a","b","c"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:01.000000000Z","type":"OFFLINE","self":"a","nodes":[],"master":"","members":[],"epoch":0,"state":"OFFLINE"}`,
	},
	"b#1": {
		`{"ts":"2026-11-21T22:00:00.200000000Z","type":"INIT_SLAVE","self":"b","nodes":["a"],"master":"a","members":["a","b"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:00.600000000Z","type":"SLAVE_ADD","self":"b","nodes":["c"],"master":"a","members":["a","b","c"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:01.100000000Z","type":"CHANGE_TO_MASTER","self":"b","nodes":["c"],"master":"b","members":["b","c"],"epoch":11,"state":"REFRESH"}`,
	},
	"c#1": {
		`{"ts":"2026-11-21T22:00:00.400000000Z","type":"INIT_SLAVE","self":"c","nodes":["a"],"master":"a","members":["a","b","c"],"epoch":10,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:01.200000000Z","type":"MASTER_CHANGE","self":"c","nodes":["b"],"master":"b","members":["b","c"],"epoch":11,"state":"REFRESH"}`,
		`{"ts":"2026-11-21T22:00:01.200000000Z","type":"SLAVE_DEL","self":"c","nodes":["b"],"master":"b","members":["b","c"],"epoch":11,"state":"REFRESH"}`,
	},
}

// workedEnd is when a's process exits, after printing its OFFLINE.
var workedEnd = ms(1001)

// workedFromLines builds the worked example from the node program's lines.
func workedFromLines(t *testing.T) *History {
	t.Helper()
	h := &History{}
	for _, name := range []string{"a#1", "b#1", "c#1"} {
		for _, l := range workedLines[name] {
			if err := h.AddLine(name, []byte(l+"\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
	h.End("a#1", workedEnd)
	return h
}

// workedFromDiff builds the worked example from hand-made views through
// events.Diff, at the same times as workedLines.
func workedFromDiff() *History {
	a, b, c := nd("a", 10), nd("b", 11), nd("c", 12)
	wa, wb, wc := newWatcher("a"), newWatcher("b"), newWatcher("c")
	h := &History{}
	add := func(name string, recs []Record) {
		for _, r := range recs {
			h.Add(name, r)
		}
	}
	add("a#1", wa.see(ms(100), a))
	add("b#1", wb.see(ms(200), a, b))
	add("a#1", wa.see(ms(300), a, b))
	add("c#1", wc.see(ms(400), a, b, c))
	add("a#1", wa.see(ms(500), a, b, c))
	add("b#1", wb.see(ms(600), a, b, c))
	add("a#1", wa.see(ms(1000))) // a stops
	h.End("a#1", workedEnd)
	add("b#1", wb.see(ms(1100), b, c))
	add("c#1", wc.see(ms(1200), b, c))
	return h
}

func TestWorkedExampleFromLines(t *testing.T) {
	h := workedFromLines(t)
	clean(t, h, Check(h, Options{}))
	clean(t, h, CheckConvergence(h, []string{"b", "c"}, "b"))
}

func TestWorkedExampleFromDiff(t *testing.T) {
	h := workedFromDiff()
	// The design note's events, to be sure the views were drawn right.
	want := map[string]string{
		"a#1": "INIT_MASTER [] · SLAVE_ADD [b] · SLAVE_ADD [c] · OFFLINE []",
		"b#1": "INIT_SLAVE [a] · SLAVE_ADD [c] · CHANGE_TO_MASTER [c]",
		"c#1": "INIT_SLAVE [a] · MASTER_CHANGE [b] · SLAVE_DEL [b]",
	}
	for name, w := range want {
		var got []string
		for _, r := range h.Records(name) {
			got = append(got, r.Type.String()+" ["+strings.Join(r.Nodes, " ")+"]")
		}
		if g := strings.Join(got, " · "); g != w {
			t.Errorf("%s: %s, want %s", name, g, w)
		}
	}
	clean(t, h, Check(h, Options{}))
	clean(t, h, CheckConvergence(h, []string{"b", "c"}, "b"))
}

// The lines written by hand and the records of events.Diff are the same
// history.
func TestWorkedExampleLinesMatchDiff(t *testing.T) {
	fromLines, fromDiff := workedFromLines(t), workedFromDiff()
	if g, w := fromDiff.Incarnations(), []string{"a#1", "b#1", "c#1"}; !slices.Equal(g, w) {
		t.Fatalf("incarnations %v, want %v", g, w)
	}
	for _, name := range fromDiff.Incarnations() {
		l, d := fromLines.Records(name), fromDiff.Records(name)
		if len(l) != len(d) {
			t.Fatalf("%s: %d records from lines, %d from Diff", name, len(l), len(d))
		}
		for i := range l {
			if !recordsEqual(l[i], d[i]) {
				t.Errorf("%s record %d:\nline %v\ndiff %v", name, i, l[i], d[i])
			}
			if got := string(printLine(t, d[i])); got != workedLines[name][i] {
				t.Errorf("%s record %d prints\n%s\nwant\n%s", name, i, got, workedLines[name][i])
			}
		}
	}
}

// Without its End, a's mastership is closed by its OFFLINE all the same;
// without the OFFLINE either (a killed a), it would never end.
func TestWorkedExampleKilledMaster(t *testing.T) {
	h := &History{}
	for _, name := range []string{"a#1", "b#1", "c#1"} {
		for _, l := range workedLines[name] {
			if strings.Contains(l, "OFFLINE") {
				continue
			}
			if err := h.AddLine(name, []byte(l)); err != nil {
				t.Fatal(err)
			}
		}
	}
	v := wantViolation(t, h, Check(h, Options{}), RuleOneMaster, "a#1 (a)", "b#1 (b)", "to the end of the history")
	if !slices.Equal(v.Incarnations, []string{"a#1", "b#1"}) || !v.Times[0].Equal(ms(1100)) {
		t.Errorf("violation names %v at %v", v.Incarnations, v.Times)
	}
	h.End("a#1", ms(1050)) // killed between its last line and b's takeover
	clean(t, h, Check(h, Options{}))
}
