package history

import (
	"github.com/seed764c596d/mastership/events"
)

// The registration states a record may carry, as the node program prints
// them.
const (
	StateInit    = events.StateInit
	StateRefresh = events.StateRefresh
	StateOffline = events.StateOffline
)

// TSFormat is the node program's ts (events.TSFormat).
const TSFormat = events.TSFormat

// Record is one event of one member, with the fields of the node program's
// JSON line: the line the node program prints is the record the checker
// reads.
type Record = events.Line

// FromEvent returns the record of ev, emitted by member self, exactly as the
// node program prints it (events.LineOf).
func FromEvent(self string, ev events.Event) Record {
	return events.LineOf(self, ev)
}

// ParseLine decodes one line of the node program's standard output
// (events.ParseLine): exactly that line, one JSON object with the eight
// fields. Whether the fields agree with each other (an OFFLINE with a
// master, say) is not its business but Check's, which can say where in the
// history it happened.
func ParseLine(line []byte) (Record, error) {
	return events.ParseLine(line)
}
