package history

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"
)

// ref points at one entry of an incarnation: its record idx, or, for idx ==
// len(records), the end of its process.
type ref struct {
	inc *incarnation
	idx int
}

// excerpter cuts slices of a history for violations: the offending records,
// context records of the same incarnation on either side, and the process
// ends and reported mastership ends among them, merged into one timeline.
type excerpter struct {
	incs    []*incarnation
	context int
	plain   bool // no marks: the whole history, where nothing is offending
}

// entry is one line of an excerpt.
type entry struct {
	at    time.Time
	inc   int // position of the incarnation in the history, for ties
	seq   int // order within the incarnation, for ties
	name  string
	text  string
	focus bool
}

// show returns the excerpt around focus, one entry per line, in time order;
// the focused entries are marked with ">".
func (x excerpter) show(focus ...ref) string {
	var es []entry
	for pos, inc := range x.incs {
		picked, focused := x.pick(inc, focus)
		if len(picked) == 0 {
			continue
		}
		es = append(es, x.entries(pos, inc, picked, focused)...)
	}
	slices.SortStableFunc(es, func(a, b entry) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		if c := cmp.Compare(a.inc, b.inc); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	width := 0
	for _, e := range es {
		width = max(width, len(e.name))
	}
	var b strings.Builder
	for _, e := range es {
		mark := "  "
		if e.focus && !x.plain {
			mark = "> "
		}
		fmt.Fprintf(&b, "%s%s  %-*s  %s\n", mark, e.at.UTC().Format("15:04:05.000000000"), width, e.name, e.text)
	}
	return b.String()
}

// pick returns the entries of inc the excerpt shows (record indices, and
// len(records) for the end) and which of them are focused.
func (x excerpter) pick(inc *incarnation, focus []ref) (picked, focused map[int]bool) {
	n := len(inc.records)
	picked, focused = map[int]bool{}, map[int]bool{}
	for _, f := range focus {
		if f.inc.name != inc.name {
			continue
		}
		focused[f.idx] = true
		for i := max(0, f.idx-x.context); i <= min(n-1, f.idx+x.context); i++ {
			picked[i] = true
		}
		if f.idx == n || f.idx+x.context >= n-1 {
			picked[n] = inc.ended
		}
	}
	if !picked[n] {
		delete(picked, n)
	}
	return picked, focused
}

// entries turns the picked entries of inc into lines, adding the reported
// mastership ends that fall between its first and last picked record.
func (x excerpter) entries(pos int, inc *incarnation, picked, focused map[int]bool) []entry {
	n := len(inc.records)
	var es []entry
	var first, last time.Time
	for i := 0; i < n; i++ {
		if !picked[i] {
			continue
		}
		r := inc.records[i]
		if first.IsZero() {
			first = r.TS
		}
		last = r.TS
		es = append(es, entry{at: r.TS, inc: pos, seq: i, name: inc.name, text: r.Self + " " + r.Event(), focus: focused[i]})
	}
	if picked[n] {
		es = append(es, entry{at: inc.end, inc: pos, seq: n + 1, name: inc.name, text: inc.self() + " (process ended)", focus: focused[n]})
	}
	if picked[n] {
		last = inc.end
		if first.IsZero() {
			first = inc.end
		}
	}
	within := func(t time.Time) bool {
		return x.plain || (!first.IsZero() && !t.Before(first) && !t.After(last))
	}
	for _, t := range inc.masterEnds {
		if within(t) {
			es = append(es, entry{at: t, inc: pos, seq: n, name: inc.name, text: inc.self() + " (mastership ended, as reported by EndMastership)"})
		}
	}
	// A freeze comes after the records of its instant (seq n), which were
	// emitted before it; a thaw and a deletion by hand come before them
	// (seq -1).
	for _, f := range inc.freezes {
		if within(f.from) {
			es = append(es, entry{at: f.from, inc: pos, seq: n, name: inc.name, text: inc.self() + " (process frozen: SIGSTOP)"})
		}
		if f.thawed && within(f.to) {
			es = append(es, entry{at: f.to, inc: pos, seq: -1, name: inc.name,
				text: fmt.Sprintf("%s (process thawed: SIGCONT, after %v)", inc.self(), f.to.Sub(f.from))})
		}
	}
	for _, t := range inc.deleted {
		if within(t) {
			es = append(es, entry{at: t, inc: pos, seq: -1, name: inc.name, text: inc.self() + " (key deleted by hand)"})
		}
	}
	return es
}
