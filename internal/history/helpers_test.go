package history

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// t0 is when every test history begins.
var t0 = time.Date(2026, 11, 21, 22, 0, 0, 0, time.UTC)

// ms returns the instant n milliseconds after t0.
func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// list splits a space-separated list of ids; "" is the empty list.
func list(s string) []string { return append([]string{}, strings.Fields(s)...) }

// rec returns the record member self emits at ms(at): an event of type typ
// with nodes and members given as space-separated ids. The master is the
// first member; an OFFLINE takes "" for both lists and epoch 0.
func rec(at int, self string, typ events.Type, nodes, members string, epoch int64) Record {
	r := Record{TS: ms(at), Type: typ, Self: self, Nodes: list(nodes), Members: list(members), Epoch: epoch, State: StateRefresh}
	if len(r.Members) > 0 {
		r.Master = r.Members[0]
	}
	if typ == events.Offline {
		r.State = StateOffline
	}
	return r
}

// build returns a history of one incarnation per argument list: inc names
// the incarnation, and its records follow.
func build(incs ...[]any) *History {
	h := &History{}
	for _, inc := range incs {
		name := inc[0].(string)
		for _, r := range inc[1:] {
			h.Add(name, r.(Record))
		}
	}
	return h
}

// inc is shorthand for one argument of build.
func inc(name string, recs ...Record) []any {
	out := []any{name}
	for _, r := range recs {
		out = append(out, r)
	}
	return out
}

// nodeLine mirrors the node program's printer (examples/node), so that
// tests feed ParseLine what the program prints.
type nodeLine struct {
	TS      string   `json:"ts"`
	Type    string   `json:"type"`
	Self    string   `json:"self"`
	Nodes   []string `json:"nodes"`
	Master  string   `json:"master"`
	Members []string `json:"members"`
	Epoch   int64    `json:"epoch"`
	State   string   `json:"state"`
}

// printLine returns r as the node program prints it, without the newline.
func printLine(t testing.TB, r Record) []byte {
	t.Helper()
	orEmpty := func(s []string) []string {
		if s == nil {
			return []string{}
		}
		return s
	}
	b, err := json.Marshal(nodeLine{
		TS: r.TS.UTC().Format(TSFormat), Type: r.Type.String(), Self: r.Self, Nodes: orEmpty(r.Nodes),
		Master: r.Master, Members: orEmpty(r.Members), Epoch: r.Epoch, State: r.State,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recordsEqual compares records field by field; times by instant.
func recordsEqual(a, b Record) bool {
	return a.TS.Equal(b.TS) && a.Type == b.Type && a.Self == b.Self && slices.Equal(a.Nodes, b.Nodes) &&
		a.Master == b.Master && slices.Equal(a.Members, b.Members) && a.Epoch == b.Epoch && a.State == b.State
}

// nd returns the node of member id whose key was created at revision rev.
func nd(id string, rev int64) events.Node {
	return events.Node{ID: id, Value: "addr-" + id, CreateRevision: rev}
}

// watcher turns the views one member sees into its records, through
// events.Diff, as the selector does: every event of one change gets the
// same time, and a master that finds itself master again under a new epoch
// (after a Yield whose successor left) says OFFLINE and INIT_MASTER, since
// the contract has no other event for it.
type watcher struct {
	view events.View
}

func newWatcher(self string) *watcher { return &watcher{view: events.View{Self: self}} }

// see returns the records of the change to a view of members at t; no
// members means not registered.
func (w *watcher) see(t time.Time, members ...events.Node) []Record {
	next := events.View{Self: w.view.Self, Members: slices.Clone(members)}
	evs := events.Diff(w.view, next)
	if w.view.IsMaster() && next.IsMaster() && w.view.Epoch() != next.Epoch() {
		evs = append([]events.Event{{Type: events.Offline}}, events.Diff(events.View{}, next)...)
	}
	w.view = next
	out := make([]Record, len(evs))
	for i, ev := range evs {
		ev.Time = t
		out[i] = FromEvent(w.view.Self, ev)
	}
	return out
}

// clean fails t unless vs is empty.
func clean(t *testing.T, h *History, vs []Violation) {
	t.Helper()
	if len(vs) > 0 {
		t.Fatalf("%d violations:\n%s\nhistory:\n%s", len(vs), Format(vs), h)
	}
}

// wantViolation fails t unless vs holds a violation of rule whose message
// holds every one of subs, and returns it.
func wantViolation(t *testing.T, h *History, vs []Violation, rule Rule, subs ...string) Violation {
	t.Helper()
	for _, v := range vs {
		if v.Rule != rule {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(v.Message, s)
		}
		if ok {
			return v
		}
	}
	t.Fatalf("no %s violation with %q among %d:\n%s\nhistory:\n%s", rule, subs, len(vs), Format(vs), h)
	return Violation{}
}

// onlyRule fails t if vs holds a violation of another rule than rule.
func onlyRule(t *testing.T, vs []Violation, rule Rule) {
	t.Helper()
	for _, v := range vs {
		if v.Rule != rule {
			t.Errorf("unexpected violation:\n%s", v)
		}
	}
}
