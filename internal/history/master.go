package history

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// mastership is one stretch of time during which one incarnation was
// master: from its INIT_MASTER or CHANGE_TO_MASTER record to whatever ends
// it first.
type mastership struct {
	inc   *incarnation
	pos   int // position of inc in the history, for a stable order
	start time.Time
	first int   // index of the record that starts it
	epoch int64 // that record's epoch
	// end is when it ended; open means it had not ended when the history
	// did, and then end is unset.
	end  time.Time
	open bool
	// last is the entry that ends it, for excerpts: a record index,
	// len(records) for the process's end, or -1 for a reported end.
	last int
	how  string // what ended it, for messages
	// closedBy is the type of the record that closed it (OFFLINE or
	// CHANGE_TO_SLAVE), whatever ended it first; 0 if none did.
	closedBy events.Type
}

// masterships returns every mastership of the history, by start time.
//
// A mastership ends at the first of: the incarnation's next OFFLINE or
// CHANGE_TO_SLAVE record, an end reported by EndMastership, the end of its
// process, a freeze after which it did nothing as master (see frozeAt).
// With none of them, it lasts past the end of the history.
//
// ttl is Options.TTL: a freeze at least that long (any, if 0) is past the
// member's safe deadline.
func masterships(incs []*incarnation, ttl time.Duration) []mastership {
	var ms []mastership
	for pos, inc := range incs {
		var cur *mastership
		for i, r := range inc.records {
			switch {
			case cur == nil && r.Type.MakesMaster():
				cur = &mastership{inc: inc, pos: pos, start: r.TS, first: i, epoch: r.Epoch, open: true, last: -1}
			case cur != nil && (r.Type == events.Offline || r.Type == events.ChangeToSlave):
				cur.endAt(r.TS, i, r.Type.String())
				cur.closedBy = r.Type
				ms = append(ms, cur.cut(ttl))
				cur = nil
			}
		}
		if cur != nil {
			ms = append(ms, cur.cut(ttl))
		}
	}
	slices.SortStableFunc(ms, func(a, b mastership) int {
		if c := a.start.Compare(b.start); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	return ms
}

// endAt ends m at t, if that is before its current end.
func (m *mastership) endAt(t time.Time, last int, how string) {
	if t.Before(m.start) {
		t = m.start // a process end before its own records: replay reports it
	}
	if m.open || t.Before(m.end) {
		m.end, m.open, m.last, m.how = t, false, last, how
	}
}

// cut ends m at a reported mastership end or at its process's end, if
// either comes first, and returns it.
func (m *mastership) cut(ttl time.Duration) mastership {
	for _, t := range m.inc.masterEnds {
		if !t.Before(m.start) {
			m.endAt(t, -1, "EndMastership")
		}
	}
	if m.inc.ended {
		m.endAt(m.inc.end, len(m.inc.records), "process end")
	}
	for _, f := range m.inc.freezes {
		m.frozeAt(f, ttl)
	}
	return *m
}

// frozeAt ends m at the start of freeze f if m was held then and the
// member did nothing as master after it froze: its first record after the
// freeze is OFFLINE, or it has none because its process ended or is still
// frozen, or because it was thawed past its deadline (a freeze of at least
// ttl) so recently that it has printed nothing yet (a check during a run;
// a later check judges what it prints, and convergence a member that never
// does). Any other first record, or none after a shorter freeze, leaves m
// as it is: the member went on as master, or may have, and RuleFrozen and
// RuleOneMaster judge that.
func (m *mastership) frozeAt(f freeze, ttl time.Duration) {
	if f.from.Before(m.start) || (!m.open && !m.end.After(f.from)) {
		return
	}
	recs := m.inc.records
	i := firstAfter(recs, f.from)
	switch {
	case i < len(recs) && recs[i].Type == events.Offline:
		m.endAt(f.from, i, fmt.Sprintf("frozen, then OFFLINE first, at %s", stamp(recs[i].TS)))
	case i < len(recs):
	case m.inc.ended:
		m.endAt(f.from, len(recs), "frozen, then process end")
	case !f.thawed:
		m.endAt(f.from, -1, "frozen to the end of the history")
	case f.to.Sub(f.from) >= ttl:
		m.endAt(f.from, -1, "frozen past its deadline, and nothing printed since the thaw")
	}
}

// firstAfter returns the index of the first record stamped after t, or
// len(recs).
func firstAfter(recs []Record, t time.Time) int {
	for i, r := range recs {
		if r.TS.After(t) {
			return i
		}
	}
	return len(recs)
}

// refs returns the entries that start and end m, for excerpts.
func (m mastership) refs() []ref {
	out := []ref{{m.inc, m.first}}
	if m.last >= 0 {
		out = append(out, ref{m.inc, m.last})
	}
	return out
}

// describe names m for messages, for example
// "a#1 (a) from 22:00:00.000000000Z to 22:00:01.000000000Z (OFFLINE), epoch 10".
func (m mastership) describe() string {
	to := "the end of the history (still master)"
	if !m.open {
		to = fmt.Sprintf("%s (%s)", stamp(m.end), m.how)
	}
	return fmt.Sprintf("%s master from %s to %s, epoch %d", m.inc.label(), stamp(m.start), to, m.epoch)
}

func stamp(t time.Time) string { return t.UTC().Format(TSFormat) }

// overlaps reports every two masterships of different incarnations that
// share an instant. Masterships are half-open intervals: one that ends at
// the instant the next starts does not overlap it. An overlap that a
// deletion by hand explains (see external) is returned apart, measured.
func overlaps(ms []mastership, x excerpter) ([]Violation, []Overlap) {
	var vs []Violation
	var ext []Overlap
	for i, a := range ms {
		for _, b := range ms[i+1:] {
			if !a.open && !b.start.Before(a.end) {
				break // b, and every later one, starts after a
			}
			if a.inc == b.inc {
				continue
			}
			v, ok := overlap(a, b, x)
			if !ok {
				continue
			}
			if o, ok := external(a, b, v); ok {
				ext = append(ext, o)
				continue
			}
			if o, ok := external(b, a, v); ok {
				ext = append(ext, o)
				continue
			}
			vs = append(vs, v)
		}
	}
	return vs, ext
}

// Overlap is the overlap of two masterships that a deletion by hand
// explains: the harness deleted Old's key, or revoked its lease, at Deleted
// (History.DeletedKey), while Old was master, and New became master at
// that instant or after it, while Old was still master. Both learn of the
// deletion from watch events at about the same moment, so the safe
// deadline cannot keep them apart: only Guard or the epoch does.
type Overlap struct {
	// Old and New are the incarnations, the one whose key was deleted and
	// its successor, and OldMember and NewMember their member ids.
	Old, New             string
	OldMember, NewMember string
	// OldEpoch and NewEpoch are the epochs of the two masterships.
	OldEpoch, NewEpoch int64
	// Deleted is when the key was deleted; From and To bound the overlap.
	Deleted  time.Time
	From, To time.Time
}

// Duration is how long both were master.
func (o Overlap) Duration() time.Duration { return o.To.Sub(o.From) }

// String describes o for a test's log.
func (o Overlap) String() string {
	return fmt.Sprintf("%s (%s, epoch %d), whose key was deleted by hand at %s, and %s (%s, epoch %d) were both master for %v, from %s (%v after the deletion) to %s",
		o.Old, o.OldMember, o.OldEpoch, stamp(o.Deleted), o.New, o.NewMember, o.NewEpoch,
		o.Duration(), stamp(o.From), o.From.Sub(o.Deleted), stamp(o.To))
}

// external returns the overlap v of old and next as an Overlap if a
// deletion of old's key by hand explains it: the deletion came while old
// was master, next started at it or after, and old's mastership has ended.
func external(old, next mastership, v Violation) (Overlap, bool) {
	if old.open || len(v.Times) != 2 {
		return Overlap{}, false
	}
	for _, d := range old.inc.deleted {
		if !d.Before(old.start) && d.Before(old.end) && !next.start.Before(d) {
			return Overlap{
				Old: old.inc.name, New: next.inc.name,
				OldMember: old.inc.self(), NewMember: next.inc.self(),
				OldEpoch: old.epoch, NewEpoch: next.epoch,
				Deleted: d, From: v.Times[0], To: v.Times[1],
			}, true
		}
	}
	return Overlap{}, false
}

// overlap returns the violation of a and b, where a starts no later than
// b, if they overlap.
func overlap(a, b mastership, x excerpter) (Violation, bool) {
	from := b.start
	var to time.Time
	switch {
	case a.open && b.open:
	case a.open:
		to = b.end
	case b.open || a.end.Before(b.end):
		to = a.end
	default:
		to = b.end
	}
	if !to.IsZero() && !from.Before(to) {
		return Violation{}, false
	}
	times := []time.Time{from}
	var length string
	if to.IsZero() {
		length = "to the end of the history"
	} else {
		times = append(times, to)
		length = fmt.Sprintf("for %v, to %s", to.Sub(from), stamp(to))
	}
	return Violation{
		Rule:         RuleOneMaster,
		Incarnations: []string{a.inc.name, b.inc.name},
		Members:      []string{a.inc.self(), b.inc.self()},
		Times:        times,
		Message: fmt.Sprintf("two masters at once, from %s %s: %s; %s",
			stamp(from), length, a.describe(), b.describe()),
		Excerpt: x.show(append(a.refs(), b.refs()...)...),
	}, true
}

// epochOrder reports each mastership whose epoch is not above the epoch of
// the mastership before it: the epoch is the master key's CreateRevision,
// and only a key created later can be the next master.
//
// The one exception is a take-back (design/events.md): a member whose
// registration ended in OFFLINE while its key and lease lived on takes
// that registration back, by keep-alives alone, and is master again under
// the same epoch. That is sound only if nobody else was master in between,
// so the same epoch is allowed only for the same incarnation (only a lease
// this process granted itself can be taken back), right after a mastership
// of its own that OFFLINE closed: no mastership of anyone else started in
// between.
func epochOrder(ms []mastership, x excerpter) []Violation {
	var vs []Violation
	for i := 1; i < len(ms); i++ {
		prev, m := ms[i-1], ms[i]
		if m.epoch > prev.epoch || takenBack(prev, m) {
			continue
		}
		vs = append(vs, Violation{
			Rule:         RuleEpoch,
			Incarnations: []string{prev.inc.name, m.inc.name},
			Members:      []string{prev.inc.self(), m.inc.self()},
			Times:        []time.Time{prev.start, m.start},
			Message: fmt.Sprintf("epoch %d of a mastership is not above the epoch %d of the one before: %s; then %s%s",
				m.epoch, prev.epoch, prev.describe(), m.describe(), sameEpochHint(prev, m)),
			Excerpt: x.show(ref{prev.inc, prev.first}, ref{m.inc, m.first}),
		})
	}
	return vs
}

// sameEpochHint explains, for a repeated epoch, why it is no take-back.
func sameEpochHint(prev, m mastership) string {
	if m.epoch != prev.epoch {
		return ""
	}
	return " (a member may get its epoch back only in the same incarnation, after its own OFFLINE, with no other master in between)"
}

// takenBack reports whether m, the mastership right after prev, is a
// take-back of prev's registration: the same incarnation, the same epoch,
// after an OFFLINE.
func takenBack(prev, m mastership) bool {
	return m.inc == prev.inc && m.epoch == prev.epoch && prev.closedBy == events.Offline
}

// registrationEpochs checks the epochs one incarnation reports: while it
// stays registered they never go down, and while it is master they stay its
// own key's CreateRevision, which cannot change without an OFFLINE or a
// CHANGE_TO_SLAVE (a member alone cannot Yield, and the selector reports a
// new epoch of the same member as OFFLINE and INIT_MASTER).
func registrationEpochs(inc *incarnation) []finding {
	var fs []finding
	var seen, mine int64 // the registration's highest epoch; the mastership's, or 0
	for i, r := range inc.records {
		switch {
		case r.Type == events.Offline:
			seen, mine = 0, 0
			continue
		case isInit(r.Type):
			seen, mine = 0, 0 // a missing OFFLINE is replay's to report
		}
		if r.Epoch < seen {
			fs = append(fs, finding{i, fmt.Sprintf("epoch goes down from %d to %d while registered", seen, r.Epoch)})
		}
		seen = max(seen, r.Epoch)
		switch {
		case r.Type.MakesMaster():
			mine = r.Epoch
		case r.Type == events.ChangeToSlave:
			mine = 0
		case mine != 0 && r.Master == r.Self && r.Epoch != mine:
			fs = append(fs, finding{i, fmt.Sprintf("epoch changes from %d to %d within one mastership", mine, r.Epoch)})
		}
	}
	return fs
}
