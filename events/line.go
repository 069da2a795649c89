package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The registration states a Line may carry, as the node program prints
// them (and as the selector's State says them).
const (
	StateInit    = "INIT"
	StateRefresh = "REFRESH"
	StateOffline = "OFFLINE"
)

// TSFormat is a Line's ts: RFC 3339 with all nine digits of nanoseconds, in
// UTC, so that every line has the same shape. ParseLine accepts no other
// form.
const TSFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Line is one event of one member as a line of JSON: the node program
// (examples/node) prints one per event, and history checkers read them
// back. Its JSON object has exactly the fields ts, type, self, nodes,
// master, members, epoch and state, in that order (see MarshalJSON).
type Line struct {
	// TS is when the library emitted the event.
	TS time.Time
	// Type is the event's kind.
	Type Type
	// Self is the id of the member that emitted the event.
	Self string
	// Nodes are the ids of the event's nodes.
	Nodes []string
	// Master is the master's id in the view after the change; "" for
	// OFFLINE.
	Master string
	// Members are the ids of the view after the change, in join order; empty
	// for OFFLINE.
	Members []string
	// Epoch is the master's CreateRevision; 0 for OFFLINE.
	Epoch int64
	// State is the registration state at the time of the event: StateInit,
	// StateRefresh or StateOffline.
	State string
}

// LineOf returns the line of ev, emitted by member self. State is
// StateOffline for an Offline event and StateRefresh for any other, since a
// member emits the others only while registered.
func LineOf(self string, ev Event) Line {
	l := Line{
		TS:      ev.Time,
		Type:    ev.Type,
		Self:    self,
		Nodes:   IDs(ev.Nodes),
		Master:  ev.View.Master().ID,
		Members: ev.View.IDs(),
		Epoch:   ev.View.Epoch(),
		State:   StateRefresh,
	}
	if ev.Type == Offline {
		l.State = StateOffline
	}
	return l
}

// String formats l on one line for humans, for example
// "2026-11-21T22:00:00.123456789Z b CHANGE_TO_MASTER [c] master=b members=[b c] epoch=1042 REFRESH".
func (l Line) String() string {
	return l.TS.UTC().Format(TSFormat) + " " + l.Self + " " + l.Event()
}

// Event formats l without its time and member: "CHANGE_TO_MASTER [c]
// master=b members=[b c] epoch=1042 REFRESH".
func (l Line) Event() string {
	return fmt.Sprintf("%s [%s] master=%s members=[%s] epoch=%d %s",
		l.Type, strings.Join(l.Nodes, " "), l.Master, strings.Join(l.Members, " "), l.Epoch, l.State)
}

// Clone returns a copy of l that shares no memory with it.
func (l Line) Clone() Line {
	l.Nodes = slices.Clone(l.Nodes)
	l.Members = slices.Clone(l.Members)
	return l
}

// jsonLine is a Line as its JSON object, in the contract's field order.
type jsonLine struct {
	TS      string   `json:"ts"`
	Type    string   `json:"type"`
	Self    string   `json:"self"`
	Nodes   []string `json:"nodes"`
	Master  string   `json:"master"`
	Members []string `json:"members"`
	Epoch   int64    `json:"epoch"`
	State   string   `json:"state"`
}

// MarshalJSON returns l as one JSON object with the fields in the
// contract's order, nodes and members as arrays (never null), ts in
// TSFormat, and every character of an id that does not print written as a
// \u escape (see the node program's documentation): ids come from etcd
// keys, which anyone who may write under the prefix chooses.
func (l Line) MarshalJSON() ([]byte, error) {
	j := jsonLine{
		TS:      l.TS.UTC().Format(TSFormat),
		Type:    l.Type.String(),
		Self:    l.Self,
		Nodes:   l.Nodes,
		Master:  l.Master,
		Members: l.Members,
		Epoch:   l.Epoch,
		State:   l.State,
	}
	if j.Nodes == nil {
		j.Nodes = []string{}
	}
	if j.Members == nil {
		j.Members = []string{}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	return EscapeNonPrinting(b), nil
}

// EscapeNonPrinting returns the JSON text b with every character that does
// not print written as a \u escape: bidirectional controls such as U+202E,
// which would reorder what a terminal shows, zero-width and other format
// characters, separators other than the ASCII space, private-use and
// unassigned code points. json.Marshal escapes only ASCII controls (and
// U+2028, U+2029); the ids come from etcd keys, which anyone with write
// access to the prefix chooses. Such characters can only be inside strings
// in b, where an escape means the same character, so a reader decodes the
// same ids. A character above U+FFFF becomes a UTF-16 surrogate pair, as
// JSON has it.
//
// Line's MarshalJSON applies it; it is exported for programs that print
// JSON lines of their own beside the node program's, such as mastership
// watch, so that both escape alike. It returns b itself when nothing needs
// an escape.
func EscapeNonPrinting(b []byte) []byte {
	var out []byte // nil until an escape is needed
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf || Printing(r) {
			if out != nil {
				out = append(out, b[i:i+size]...)
			}
			i += size
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(b)+16), b[:i]...)
		}
		if r1, r2 := utf16.EncodeRune(r); r1 != unicode.ReplacementChar {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}

// Printing reports whether r prints as itself: a graphic character that
// is no format character (such as the bidirectional control U+202E).
// EscapeNonPrinting escapes every other character above ASCII.
func Printing(r rune) bool { return unicode.IsPrint(r) && !unicode.Is(unicode.Cf, r) }

// lineFields are the node program's fields, in its order.
var lineFields = []string{"ts", "type", "self", "nodes", "master", "members", "epoch", "state"}

// ParseLine decodes one line of the node program's standard output. It
// accepts exactly that line: one JSON object with the eight fields, each
// spelt exactly (encoding/json alone would match "TS" to "ts") and given
// once, each of its JSON type (never null), nothing after the object but
// white space, a ts in TSFormat, a known type and state, and an epoch that is
// not negative. Whether the fields agree with each other (an OFFLINE with a
// master, say) is not its business but a history checker's, which can say
// where in the history it happened.
func ParseLine(line []byte) (Line, error) {
	raw, err := objectFields(line)
	if err != nil {
		return Line{}, fmt.Errorf("events: parse line %q: %w", line, err)
	}
	r, err := decodeFields(raw)
	if err != nil {
		return Line{}, fmt.Errorf("events: parse line %q: %w", line, err)
	}
	return r, nil
}

// objectFields splits a JSON object into the raw values of its fields,
// refusing unknown, repeated and missing fields, and anything after the
// object.
func objectFields(line []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil {
		return nil, err
	} else if tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	raw := make(map[string]json.RawMessage, len(lineFields))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		switch {
		case !ok:
			return nil, fmt.Errorf("unexpected %v", tok)
		case !slices.Contains(lineFields, key):
			return nil, fmt.Errorf("unknown field %q", key)
		case raw[key] != nil:
			return nil, fmt.Errorf("field %q given twice", key)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", key, err)
		}
		raw[key] = v
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON object")
	}
	for _, f := range lineFields {
		if raw[f] == nil {
			return nil, fmt.Errorf("field %q missing", f)
		}
	}
	return raw, nil
}

// decodeFields decodes the raw values of a line's fields into a Record.
func decodeFields(raw map[string]json.RawMessage) (Line, error) {
	var r Line
	var ts, typ string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ts", &ts}, {"type", &typ}, {"self", &r.Self}, {"master", &r.Master}, {"state", &r.State}} {
		if err := decodeString(raw[f.name], f.dst); err != nil {
			return Line{}, fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	var err error
	if r.Nodes, err = decodeStrings(raw["nodes"]); err != nil {
		return Line{}, fmt.Errorf("field \"nodes\": %w", err)
	}
	if r.Members, err = decodeStrings(raw["members"]); err != nil {
		return Line{}, fmt.Errorf("field \"members\": %w", err)
	}
	if r.Epoch, err = decodeEpoch(raw["epoch"]); err != nil {
		return Line{}, fmt.Errorf("field \"epoch\": %w", err)
	}
	if r.TS, err = parseTS(ts); err != nil {
		return Line{}, fmt.Errorf("field \"ts\": %w", err)
	}
	if r.Type, err = ParseType(typ); err != nil {
		return Line{}, fmt.Errorf("field \"type\": %w", err)
	}
	switch r.State {
	case StateInit, StateRefresh, StateOffline:
	default:
		return Line{}, fmt.Errorf("field \"state\": unknown state %q", r.State)
	}
	return r, nil
}

// decodeString decodes a JSON string. It refuses null, which encoding/json
// would silently read as "".
func decodeString(raw json.RawMessage, dst *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return fmt.Errorf("%s is not a string", raw)
	}
	return json.Unmarshal(raw, dst)
}

// decodeStrings decodes a JSON array of strings, never null, nor with null
// elements. It returns an empty, non-nil slice for [].
func decodeStrings(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("%s is not an array", raw)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, err
	}
	out := make([]string, len(elems))
	for i, e := range elems {
		if err := decodeString(e, &out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeEpoch decodes a JSON integer that is not negative: a CreateRevision.
func decodeEpoch(raw json.RawMessage) (int64, error) {
	var n int64
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("%d is negative", n)
	}
	return n, nil
}

// parseTS parses a ts in TSFormat exactly: RFC 3339, nine digits of
// nanoseconds, UTC.
func parseTS(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.Location() != time.UTC || t.Format(TSFormat) != s {
		return time.Time{}, fmt.Errorf("%q is not RFC 3339 with nine digits of nanoseconds in UTC, like %q", s, t.UTC().Format(TSFormat))
	}
	return t, nil
}
