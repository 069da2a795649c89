package history

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// The registration states a record may carry, as the node program prints
// them.
const (
	StateInit    = "INIT"
	StateRefresh = "REFRESH"
	StateOffline = "OFFLINE"
)

// TSFormat is the node program's ts: RFC 3339 with all nine digits of
// nanoseconds, in UTC. ParseLine accepts no other form, since the contract
// fixes this one.
const TSFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Record is one event of one member, with the fields of the node program's
// JSON line.
type Record struct {
	// TS is when the library emitted the event.
	TS time.Time
	// Type is the event's kind.
	Type events.Type
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

// FromEvent returns the record of ev, emitted by member self, exactly as the
// node program would print it: State is OFFLINE for an Offline event and
// REFRESH for any other, since a member emits the others only while
// registered.
func FromEvent(self string, ev events.Event) Record {
	r := Record{
		TS:      ev.Time,
		Type:    ev.Type,
		Self:    self,
		Nodes:   events.IDs(ev.Nodes),
		Master:  ev.View.Master().ID,
		Members: ev.View.IDs(),
		Epoch:   ev.View.Epoch(),
		State:   StateRefresh,
	}
	if ev.Type == events.Offline {
		r.State = StateOffline
	}
	return r
}

// String formats r on one line for humans, for example
// "2026-11-21T22:00:00.123456789Z b CHANGE_TO_MASTER [c] master=b members=[b c] epoch=1042 REFRESH".
func (r Record) String() string {
	return r.TS.UTC().Format(TSFormat) + " " + r.Self + " " + r.event()
}

// event formats r without its time and member, as excerpts show it.
func (r Record) event() string {
	return fmt.Sprintf("%s [%s] master=%s members=[%s] epoch=%d %s",
		r.Type, strings.Join(r.Nodes, " "), r.Master, strings.Join(r.Members, " "), r.Epoch, r.State)
}

// clone returns a copy of r that shares no memory with it, so that a caller
// may reuse its slices after History.Add.
func (r Record) clone() Record {
	r.Nodes = slices.Clone(r.Nodes)
	r.Members = slices.Clone(r.Members)
	return r
}

// lineFields are the node program's fields, in its order.
var lineFields = []string{"ts", "type", "self", "nodes", "master", "members", "epoch", "state"}

// ParseLine decodes one line of the node program's standard output. It
// accepts exactly that line: one JSON object with the eight fields, each
// spelt exactly (encoding/json alone would match "TS" to "ts") and given
// once, each of its JSON type (never null), nothing after the object but
// white space, a ts in TSFormat, a known type and state, and an epoch that is
// not negative. Whether the fields agree with each other (an OFFLINE with a
// master, say) is not its business but Check's, which can say where in the
// history it happened.
func ParseLine(line []byte) (Record, error) {
	raw, err := objectFields(line)
	if err != nil {
		return Record{}, fmt.Errorf("history: parse line %q: %w", line, err)
	}
	r, err := decodeFields(raw)
	if err != nil {
		return Record{}, fmt.Errorf("history: parse line %q: %w", line, err)
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
func decodeFields(raw map[string]json.RawMessage) (Record, error) {
	var r Record
	var ts, typ string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"ts", &ts}, {"type", &typ}, {"self", &r.Self}, {"master", &r.Master}, {"state", &r.State}} {
		if err := decodeString(raw[f.name], f.dst); err != nil {
			return Record{}, fmt.Errorf("field %q: %w", f.name, err)
		}
	}
	var err error
	if r.Nodes, err = decodeStrings(raw["nodes"]); err != nil {
		return Record{}, fmt.Errorf("field \"nodes\": %w", err)
	}
	if r.Members, err = decodeStrings(raw["members"]); err != nil {
		return Record{}, fmt.Errorf("field \"members\": %w", err)
	}
	if r.Epoch, err = decodeEpoch(raw["epoch"]); err != nil {
		return Record{}, fmt.Errorf("field \"epoch\": %w", err)
	}
	if r.TS, err = parseTS(ts); err != nil {
		return Record{}, fmt.Errorf("field \"ts\": %w", err)
	}
	if r.Type, err = events.ParseType(typ); err != nil {
		return Record{}, fmt.Errorf("field \"type\": %w", err)
	}
	switch r.State {
	case StateInit, StateRefresh, StateOffline:
	default:
		return Record{}, fmt.Errorf("field \"state\": unknown state %q", r.State)
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
