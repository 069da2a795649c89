package events_test

import (
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// TestLineJSON: a Line is the contract's object, field for field and in
// its order; an OFFLINE line has empty arrays, never null; and ParseLine
// reads back what MarshalJSON wrote.
func TestLineJSON(t *testing.T) {
	ts := time.Date(2026, 11, 21, 22, 0, 0, 123456789, time.UTC)
	b, c := events.Node{ID: "b", CreateRevision: 1042}, events.Node{ID: "c", CreateRevision: 1050}
	for _, tc := range []struct {
		ev   events.Event
		want string
	}{
		{
			events.Event{Type: events.ChangeToMaster, Nodes: []events.Node{c}, View: events.View{Self: "b", Members: []events.Node{b, c}}, Time: ts},
			`{"ts":"2026-11-21T22:00:00.123456789Z","type":"CHANGE_TO_MASTER","self":"b","nodes":["c"],"master":"b","members":["b","c"],"epoch":1042,"state":"REFRESH"}`,
		},
		{
			events.Event{Type: events.Offline, Time: ts.In(time.FixedZone("x", 3600))},
			`{"ts":"2026-11-21T22:00:00.123456789Z","type":"OFFLINE","self":"b","nodes":[],"master":"","members":[],"epoch":0,"state":"OFFLINE"}`,
		},
	} {
		l := events.LineOf("b", tc.ev)
		got, err := l.MarshalJSON()
		if err != nil || string(got) != tc.want {
			t.Errorf("MarshalJSON = %s, %v\nwant            %s", got, err, tc.want)
			continue
		}
		back, err := events.ParseLine(got)
		if err != nil {
			t.Fatalf("ParseLine(%s): %v", got, err)
		}
		if back.String() != l.String() || !back.TS.Equal(l.TS) {
			t.Errorf("ParseLine(MarshalJSON(l)) = %v, want %v", back, l)
		}
	}
}
