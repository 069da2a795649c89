package history

import (
	"fmt"
	"slices"
	"time"
)

// span is one stretch of master work that the code under test reported:
// from BeginWork to EndWork, or to its process's end.
type span struct {
	member string
	epoch  int64
	begin  time.Time
	end    time.Time
	open   bool // not ended when the history was read
}

// BeginWork records that the code of incarnation, member member, began
// master work at t, under epoch (the fencing token it writes with). It
// returns the span's number, for EndWork. A member may have several spans at
// once; a span still open when the history is checked, and whose process
// has not ended, lasts to the end of the history; one whose process has
// ended ends with it, unless it began after that end. A span that EndWork
// ended is judged as reported, even past its process's end.
func (h *History) BeginWork(incarnation, member string, epoch int64, t time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	inc.spans = append(inc.spans, span{member: member, epoch: epoch, begin: t, open: true})
	return len(inc.spans) - 1
}

// EndWork records that the span n of incarnation, which BeginWork returned,
// ended at t. A later call for the same span changes nothing: the first end
// is the one that counts.
func (h *History) EndWork(incarnation string, n int, t time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc := h.get(incarnation)
	if n < 0 || n >= len(inc.spans) || !inc.spans[n].open {
		return
	}
	inc.spans[n].end, inc.spans[n].open = t, false
}

// Working reports whether incarnation has a span of master work that has
// not ended, while its process has not.
func (h *History) Working(incarnation string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	inc, ok := h.incs[incarnation]
	if !ok || inc.ended {
		return false
	}
	return slices.ContainsFunc(inc.spans, func(s span) bool { return s.open })
}

// work is a span with its place in the history, as the checks see it.
type work struct {
	span
	inc *incarnation
	pos int // of inc in the history, for a stable order
	n   int // of the span in inc.spans
}

// spans returns every span of the history, by beginning, a span never
// ended taken to end at its process's end. A span whose end was reported
// ends there, even past its process's end: the code that did the work said
// when it stopped, and a Recorder's run ends when Follow's channel closes,
// while the service's goroutines may work on. A span that began at or
// after its process's end is left as reported: cut to the end, it would
// end before it began, and the checks would skip every later span as
// beginning after it.
func spans(incs []*incarnation) []work {
	var ws []work
	for pos, inc := range incs {
		for n, s := range inc.spans {
			if inc.ended && s.open && s.begin.Before(inc.end) {
				s.end, s.open = inc.end, false
			}
			ws = append(ws, work{span: s, inc: inc, pos: pos, n: n})
		}
	}
	slices.SortStableFunc(ws, func(a, b work) int {
		if c := a.begin.Compare(b.begin); c != 0 {
			return c
		}
		return a.pos - b.pos
	})
	return ws
}

// describe names w for messages.
func (w work) describe() string {
	to := "the end of the history (still working)"
	if !w.open {
		to = stamp(w.end)
	}
	return fmt.Sprintf("%s (%s) worked as master from %s to %s, epoch %d", w.inc.name, w.member, stamp(w.begin), to, w.epoch)
}

// workRules reports every two spans of different incarnations that share an
// instant, unless a deletion of the older one's key by hand explains it
// (History.DeletedKey: the one case no deadline covers), and every span
// whose epoch is below the one before it, or equal to it for another
// member: a new master's key is created later, so its epoch is higher.
// Spans are half-open: one that ends at the instant the next begins does
// not overlap it.
func workRules(ws []work, x excerpter) []Violation {
	var vs []Violation
	for i, a := range ws {
		for _, b := range ws[i+1:] {
			if !a.open && !b.begin.Before(a.end) {
				break // b, and every later one, begins after a ends
			}
			if a.inc == b.inc || deletedBetween(a, b) {
				continue
			}
			// The overlap ends with the first of the two to end.
			to, bounded := a.end, !a.open
			if !b.open && (!bounded || b.end.Before(to)) {
				to, bounded = b.end, true
			}
			if bounded && !to.After(b.begin) {
				continue // an empty span, [t, t), shares no instant
			}
			times, length := []time.Time{b.begin}, "to the end of the history"
			if bounded {
				times = append(times, to)
				length = fmt.Sprintf("for %v, to %s", to.Sub(b.begin), stamp(to))
			}
			vs = append(vs, Violation{
				Rule:         RuleWork,
				Incarnations: []string{a.inc.name, b.inc.name},
				Members:      []string{a.member, b.member},
				Times:        times,
				Message: fmt.Sprintf("master work of two members at once, from %s %s: %s; %s",
					stamp(b.begin), length, a.describe(), b.describe()),
				Excerpt: x.showWork(a, b),
			})
		}
	}
	for i := 1; i < len(ws); i++ {
		prev, w := ws[i-1], ws[i]
		if w.epoch > prev.epoch || w.epoch == prev.epoch && w.member == prev.member {
			continue
		}
		vs = append(vs, Violation{
			Rule:         RuleWork,
			Incarnations: []string{prev.inc.name, w.inc.name},
			Members:      []string{prev.member, w.member},
			Times:        []time.Time{prev.begin, w.begin},
			Message: fmt.Sprintf("master work under epoch %d began after work under epoch %d: %s; then %s (a later master's epoch is higher, and only the same member works on under the same one)",
				w.epoch, prev.epoch, prev.describe(), w.describe()),
			Excerpt: x.showWork(prev, w),
		})
	}
	return vs
}

// deletedBetween reports whether a deletion of a's key by hand, while a
// worked, explains b's beginning: b began at it or after, and a's work has
// ended since. A span still open, which works on to the end of the
// history, is explained by nothing: it never stopped, as the one-master
// rule forgives no mastership that never ended (external).
func deletedBetween(a, b work) bool {
	if a.open {
		return false
	}
	for _, d := range a.inc.deleted {
		if !d.Before(a.begin) && d.Before(a.end) && !b.begin.Before(d) {
			return true
		}
	}
	return false
}
