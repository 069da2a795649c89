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
	span  int // 1 + the index of the span of master work it begins or ends, or 0
}

// show returns the excerpt around focus, one entry per line, in time order;
// the focused entries are marked with ">".
func (x excerpter) show(focus ...ref) string {
	var es []entry
	for pos, inc := range x.incs {
		picked, focused := x.pick(inc, focus)
		if len(picked) == 0 && !(x.plain && len(inc.spans) > 0) {
			continue
		}
		first, last := x.window(inc, picked)
		es = append(es, x.entries(pos, inc, picked, focused, first, last)...)
	}
	return x.render(es)
}

// showWork returns the excerpt around spans of master work: the records of
// their incarnations from context records before the first span begins to
// context records after the last one ends, with every span of those
// incarnations in that stretch; the given spans are marked with ">".
func (x excerpter) showWork(focus ...work) string {
	var from, to time.Time
	for i, w := range focus {
		end := w.end
		if w.open {
			end = time.Unix(1<<62, 0) // no end: to the end of the history
		}
		if i == 0 || w.begin.Before(from) {
			from = w.begin
		}
		if i == 0 || end.After(to) {
			to = end
		}
	}
	var es []entry
	for pos, inc := range x.incs {
		if !slices.ContainsFunc(focus, func(w work) bool { return w.inc.name == inc.name }) {
			continue
		}
		picked := map[int]bool{}
		lo, hi := firstAfter(inc.records, from.Add(-1)), -1
		for i, r := range inc.records {
			if !r.TS.After(to) {
				hi = i
			}
		}
		for i := max(0, lo-x.context); i <= min(len(inc.records)-1, hi+x.context); i++ {
			picked[i] = true
		}
		if inc.ended && !inc.end.After(to) {
			picked[len(inc.records)] = true
		}
		first, last := x.window(inc, picked)
		if first.IsZero() || from.Before(first) {
			first = from
		}
		if last.IsZero() || to.After(last) {
			last = to
		}
		for _, e := range x.entries(pos, inc, picked, nil, first, last) {
			e.focus = e.span > 0 && slices.ContainsFunc(focus, func(w work) bool { return w.inc.name == inc.name && w.n == e.span-1 })
			es = append(es, e)
		}
	}
	return x.render(es)
}

// render sorts the entries of an excerpt by time and formats them, one per
// line.
func (x excerpter) render(es []entry) string {
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

// window returns the instants of the first and last picked entries of inc.
func (x excerpter) window(inc *incarnation, picked map[int]bool) (first, last time.Time) {
	n := len(inc.records)
	for i := 0; i < n; i++ {
		if picked[i] {
			if first.IsZero() {
				first = inc.records[i].TS
			}
			last = inc.records[i].TS
		}
	}
	if picked[n] {
		last = inc.end
		if first.IsZero() {
			first = inc.end
		}
	}
	return first, last
}

// entries turns the picked entries of inc into lines, adding the reported
// mastership ends, freezes, deletions and spans of master work that fall
// between first and last.
func (x excerpter) entries(pos int, inc *incarnation, picked, focused map[int]bool, first, last time.Time) []entry {
	n := len(inc.records)
	var es []entry
	for i := 0; i < n; i++ {
		if !picked[i] {
			continue
		}
		r := inc.records[i]
		es = append(es, entry{at: r.TS, inc: pos, seq: i, name: inc.name, text: r.Self + " " + r.Event(), focus: focused[i]})
	}
	if picked[n] {
		es = append(es, entry{at: inc.end, inc: pos, seq: n + 1, name: inc.name, text: inc.self() + " (process ended)", focus: focused[n]})
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
	// Work begins after the record of its instant, which led to it, and
	// ends before the record of its instant, which its end led to.
	for i, s := range inc.spans {
		if within(s.begin) {
			es = append(es, entry{at: s.begin, inc: pos, seq: n, name: inc.name, span: i + 1,
				text: fmt.Sprintf("%s began master work, epoch %d", s.member, s.epoch)})
		}
		if !s.open && within(s.end) {
			es = append(es, entry{at: s.end, inc: pos, seq: -1, name: inc.name, span: i + 1,
				text: fmt.Sprintf("%s ended master work, epoch %d", s.member, s.epoch)})
		}
	}
	return es
}
