package history

import (
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// contractLine is the design note's example line.
const contractLine = `{"ts":"2026-11-21T22:00:00.123456789Z","type":"CHANGE_TO_MASTER","self":"b","nodes":["c"],"master":"b","members":["b","c"],"epoch":1042,"state":"REFRESH"}`

func TestParseLine(t *testing.T) {
	r, err := ParseLine([]byte(contractLine + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Record{
		TS: t0.Add(123456789), Type: events.ChangeToMaster, Self: "b", Nodes: list("c"),
		Master: "b", Members: list("b c"), Epoch: 1042, State: StateRefresh,
	}
	if !recordsEqual(r, want) {
		t.Errorf("ParseLine = %v, want %v", r, want)
	}
	if got := string(printLine(t, r)); got != contractLine {
		t.Errorf("printed back as\n%s\nwant\n%s", got, contractLine)
	}
	off, err := ParseLine([]byte(`{"ts":"2026-11-21T22:00:00.000000000Z","type":"OFFLINE","self":"a","nodes":[],"master":"","members":[],"epoch":0,"state":"OFFLINE"}`))
	if err != nil {
		t.Fatal(err)
	}
	if off.Nodes == nil || off.Members == nil || len(off.Nodes)+len(off.Members) != 0 {
		t.Errorf("OFFLINE's lists: %#v %#v, want empty and not nil", off.Nodes, off.Members)
	}
}

func TestParseLineRejects(t *testing.T) {
	good := contractLine
	with := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q not in the line", old)
		}
		return strings.Replace(good, old, new, 1)
	}
	cases := map[string]string{
		"empty":                "",
		"not an object":        `["ts"]`,
		"a string":             `"x"`,
		"truncated":            good[:len(good)-1],
		"trailing data":        good + ` {}`,
		"two objects":          good + good,
		"unknown field":        with(`"state":"REFRESH"`, `"state":"REFRESH","extra":1`),
		"field spelt in caps":  with(`"ts"`, `"TS"`),
		"missing field":        with(`,"epoch":1042`, ``),
		"field given twice":    with(`"self":"b"`, `"self":"b","self":"c"`),
		"ts not RFC 3339":      with(`2026-11-21T22:00:00.123456789Z`, `yesterday`),
		"ts date only":         with(`2026-11-21T22:00:00.123456789Z`, `2026-11-21`),
		"ts without nanos":     with(`22:00:00.123456789Z`, `22:00:00Z`),
		"ts with millis":       with(`22:00:00.123456789Z`, `22:00:00.123Z`),
		"ts not UTC":           with(`22:00:00.123456789Z`, `23:00:00.123456789+01:00`),
		"ts zero offset":       with(`22:00:00.123456789Z`, `22:00:00.123456789+00:00`),
		"ts a number":          with(`"2026-11-21T22:00:00.123456789Z"`, `1`),
		"unknown type":         with(`CHANGE_TO_MASTER`, `BECOME_MASTER`),
		"type in lower case":   with(`CHANGE_TO_MASTER`, `change_to_master`),
		"unknown state":        with(`"REFRESH"`, `"ALIVE"`),
		"null nodes":           with(`"nodes":["c"]`, `"nodes":null`),
		"null in nodes":        with(`"nodes":["c"]`, `"nodes":[null]`),
		"number in members":    with(`"members":["b","c"]`, `"members":["b",3]`),
		"members a string":     with(`"members":["b","c"]`, `"members":"b c"`),
		"null master":          with(`"master":"b"`, `"master":null`),
		"null epoch":           with(`1042`, `null`),
		"negative epoch":       with(`1042`, `-1`),
		"fractional epoch":     with(`1042`, `1042.5`),
		"exponent epoch":       with(`1042`, `1e3`),
		"string epoch":         with(`1042`, `"1042"`),
		"epoch out of range":   with(`1042`, `99999999999999999999`),
		"self an object":       with(`"self":"b"`, `"self":{}`),
		"type a number":        with(`"CHANGE_TO_MASTER"`, `3`),
		"state an empty array": with(`"REFRESH"`, `[]`),
	}
	for name, line := range cases {
		if r, err := ParseLine([]byte(line)); err == nil {
			t.Errorf("%s: ParseLine(%s) = %v, want an error", name, line, r)
		}
	}
}

func TestFromEvent(t *testing.T) {
	a, b, c := nd("a", 10), nd("b", 11), nd("c", 12)
	ev := events.Event{Type: events.SlaveAdd, Nodes: []events.Node{c}, View: events.View{Self: "b", Members: []events.Node{a, b, c}}, Time: ms(5)}
	want := rec(5, "b", events.SlaveAdd, "c", "a b c", 10)
	if got := FromEvent("b", ev); !recordsEqual(got, want) {
		t.Errorf("FromEvent = %v, want %v", got, want)
	}
	off := FromEvent("b", events.Event{Type: events.Offline, Time: ms(6)})
	if want := rec(6, "b", events.Offline, "", "", 0); !recordsEqual(off, want) {
		t.Errorf("FromEvent(Offline) = %v, want %v", off, want)
	}
	if got, want := string(printLine(t, off)), `{"ts":"2026-11-21T22:00:00.006000000Z","type":"OFFLINE","self":"b","nodes":[],"master":"","members":[],"epoch":0,"state":"OFFLINE"}`; got != want {
		t.Errorf("printed as\n%s\nwant\n%s", got, want)
	}
}

func TestRecordString(t *testing.T) {
	r := rec(0, "b", events.ChangeToMaster, "c", "b c", 1042)
	want := "2026-11-21T22:00:00.000000000Z b CHANGE_TO_MASTER [c] master=b members=[b c] epoch=1042 REFRESH"
	if got := r.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestAddLine(t *testing.T) {
	h := &History{}
	if err := h.AddLine("b#1", []byte(contractLine)); err != nil {
		t.Fatal(err)
	}
	if err := h.AddLine("b#1", []byte("panic: oops")); err == nil {
		t.Error("AddLine took a line that is not JSON")
	}
	if n := len(h.Records("b#1")); n != 1 {
		t.Errorf("%d records, want 1", n)
	}
}

// FuzzParseLine: ParseLine never panics, and whatever it accepts is a
// record the node program could print, which parses back to itself.
func FuzzParseLine(f *testing.F) {
	f.Add([]byte(contractLine))
	f.Add([]byte(contractLine + "\n"))
	for _, lines := range workedLines {
		for _, l := range lines {
			f.Add([]byte(l))
		}
	}
	f.Add([]byte(`{"ts":"2026-11-21T22:00:00.123456789Z","type":"SLAVE_ADD","self":"\u00e9","nodes":["a","b"],"master":"","members":[],"epoch":9223372036854775807,"state":"INIT"}`))
	f.Add([]byte(`{"ts":null}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line)
		if err != nil {
			return
		}
		if r.Type < events.InitMaster || r.Type > events.Offline || r.Epoch < 0 || r.Nodes == nil || r.Members == nil {
			t.Fatalf("ParseLine(%q) = %#v", line, r)
		}
		switch r.State {
		case StateInit, StateRefresh, StateOffline:
		default:
			t.Fatalf("ParseLine(%q): state %q", line, r.State)
		}
		again, err := ParseLine(printLine(t, r))
		if err != nil || !recordsEqual(again, r) {
			t.Fatalf("ParseLine(%q) = %v, printed back and parsed = %v, %v", line, r, again, err)
		}
		// Check copes with anything ParseLine accepts.
		h := &History{}
		h.Add("x#1", r)
		h.Add("x#1", r)
		_ = Check(h, Options{})
		_ = CheckConvergence(h, r.Members, r.Master)
	})
}
