package history

import (
	"slices"
	"sync"
	"time"
)

// History is what every incarnation of a chaos run reported. An incarnation
// is one run of one member's process, named by a string unique in the run,
// for example "a#1" for the first run of member a: records of one run are
// replayed together, and a restart begins a new replay with INIT_*.
//
// The zero History is empty and ready to use. Its methods are safe for
// concurrent use, so that a harness can feed it from one goroutine per
// process.
type History struct {
	mu    sync.Mutex
	incs  map[string]*incarnation
	order []string // incarnation names in the order first mentioned
}

// incarnation is one run of a member's process.
type incarnation struct {
	name    string
	records []Record
	ended   bool
	end     time.Time
	// masterEnds are the instants the harness saw a mastership end before
	// its record did (EndMastership).
	masterEnds []time.Time
	// freezes are the times its process was stopped (Freeze, Thaw), in
	// order.
	freezes []freeze
	// deleted are the instants the harness deleted its key or revoked its
	// lease by hand (DeletedKey).
	deleted []time.Time
	// spans are the stretches of master work its code reported
	// (BeginWork, EndWork), in the order they began.
	spans []span
}

// freeze is one stop of a process: from Freeze to Thaw.
type freeze struct {
	from   time.Time
	to     time.Time
	thawed bool
}

// self returns the member id of inc, from its first record, or "?" if it
// printed none.
func (inc *incarnation) self() string {
	if len(inc.records) == 0 {
		if len(inc.spans) > 0 {
			return inc.spans[0].member
		}
		return "?"
	}
	return inc.records[0].Self
}

// label names inc and its member for messages, for example "a#1 (a)".
func (inc *incarnation) label() string {
	return inc.name + " (" + inc.self() + ")"
}

// get returns the incarnation named name, creating it. h.mu must be held.
func (h *History) get(name string) *incarnation {
	if inc, ok := h.incs[name]; ok {
		return inc
	}
	if h.incs == nil {
		h.incs = make(map[string]*incarnation)
	}
	inc := &incarnation{name: name}
	h.incs[name] = inc
	h.order = append(h.order, name)
	return inc
}

// Add appends r to the records of incarnation, in the order the
// incarnation emitted them: the order of Add calls for one incarnation is
// the order Check replays. History keeps a copy of r.
func (h *History) Add(incarnation string, r Record) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.records = append(inc.records, r.Clone())
}

// AddLine parses line, as printed by the node program, and adds it to
// incarnation. A line that does not parse is returned as an error and not
// added.
func (h *History) AddLine(incarnation string, line []byte) error {
	r, err := ParseLine(line)
	if err != nil {
		return err
	}
	h.Add(incarnation, r)
	return nil
}

// End records that the process of incarnation ended at t: it exited or was
// killed. A killed master prints no OFFLINE, so without End its mastership
// would last to the end of the history. No record of the incarnation may
// come after t. A later call replaces an earlier one.
func (h *History) End(incarnation string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.ended, inc.end = true, t
}

// EndMastership records that the mastership incarnation held at t ended at
// t, before its CHANGE_TO_SLAVE or OFFLINE record says so. It is for
// in-process members: the selector ends a mastership (cancels its master
// context) when Yield is called, but emits CHANGE_TO_SLAVE only when it sees
// its re-created key, which may be after its successor's CHANGE_TO_MASTER.
// A harness that calls it from context.AfterFunc on the master context
// checks the real end of each mastership. Calls that fall outside a
// mastership change nothing.
func (h *History) EndMastership(incarnation string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.masterEnds = append(inc.masterEnds, t)
}

// Freeze records that the process of incarnation was frozen (SIGSTOP) at
// t. t must be an instant by which the process is stopped for certain (the
// harness sees it stopped, not merely signalled), so that every record
// stamped after t was emitted after the Thaw.
//
// A mastership held at t ends at t if the first record after t is OFFLINE,
// or if there is none because the process ended or is still frozen: it
// did nothing as master after it froze. Check reports a thaw past the
// member's safe deadline whose first record is anything but OFFLINE
// (RuleFrozen).
func (h *History) Freeze(incarnation string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.freezes = append(inc.freezes, freeze{from: t})
}

// Thaw records that the process of incarnation, frozen by the last Freeze,
// was resumed (SIGCONT) at t. A Thaw without a Freeze before it changes
// nothing.
func (h *History) Thaw(incarnation string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	if n := len(inc.freezes); n > 0 && !inc.freezes[n-1].thawed {
		inc.freezes[n-1].to, inc.freezes[n-1].thawed = t, true
	}
}

// DeletedKey records that the harness deleted the key of incarnation, or
// revoked its lease, by hand (another client than the member) at t. That is
// the one case the safe deadline does not cover: the member and its
// successor learn of it from watch events at about the same moment, and
// only the epoch keeps their writes apart. So an overlap between a
// mastership of incarnation held at t and one that starts at t or later is
// not a violation: Check leaves it out and ExternalOverlaps measures it. A
// mastership that has still not ended when the history does is reported
// all the same.
func (h *History) DeletedKey(incarnation string, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.deleted = append(inc.deleted, t)
}

// Incarnations returns the names of the incarnations, in the order they
// were first added or ended.
func (h *History) Incarnations() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.order)
}

// Records returns a copy of the records of incarnation.
func (h *History) Records(incarnation string) []Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc, ok := h.incs[incarnation]
	if !ok {
		return nil
	}
	out := make([]Record, len(inc.records))
	for i, r := range inc.records {
		out[i] = r.Clone()
	}
	return out
}

// String formats the whole history as one timeline, one record per line,
// for a failing run's log.
func (h *History) String() string {
	incs := h.snapshot()
	var focus []ref
	for _, inc := range incs {
		for i := range inc.records {
			focus = append(focus, ref{inc, i})
		}
		if inc.ended {
			focus = append(focus, ref{inc, len(inc.records)})
		}
	}
	x := excerpter{incs: incs, context: 0, plain: true}
	return x.show(focus...)
}

// snapshot returns a deep copy of the incarnations, in order, so that the
// checks run without the lock while the harness may still add.
func (h *History) snapshot() []*incarnation {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*incarnation, 0, len(h.order))
	for _, name := range h.order {
		inc := *h.incs[name]
		inc.records = slices.Clone(inc.records)
		inc.masterEnds = slices.Clone(inc.masterEnds)
		inc.freezes = slices.Clone(inc.freezes)
		inc.deleted = slices.Clone(inc.deleted)
		inc.spans = slices.Clone(inc.spans)
		out = append(out, &inc)
	}
	return out
}
