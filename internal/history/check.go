package history

import (
	"fmt"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// Rule names one rule of the contract that a history must keep.
type Rule string

// The rules, in the order Check reports them.
const (
	// RuleReplay: each incarnation's records, replayed in order, rebuild the
	// views they carry, with the events, order and nodes of the contract.
	RuleReplay Rule = "replay"
	// RuleEpoch: epochs only grow, from one mastership to the next and
	// within what one registration sees.
	RuleEpoch Rule = "epoch"
	// RuleOneMaster: no two incarnations are master at the same instant.
	RuleOneMaster Rule = "one-master"
	// RuleFrozen: a member frozen while registered, and thawed past its
	// safe deadline, emits OFFLINE before anything else.
	RuleFrozen Rule = "frozen"
	// RuleWork: no two incarnations do master work at the same instant,
	// and the epochs master work runs under only grow, the same epoch only
	// for the same member. It judges the spans the code under test reports
	// (History.BeginWork, EndWork), which must stay apart whatever the
	// records say.
	RuleWork Rule = "work"
	// RuleConvergence: once faults stop, every live member agrees with etcd.
	RuleConvergence Rule = "convergence"
)

// Violation is one breach of a rule.
type Violation struct {
	// Rule is the rule broken.
	Rule Rule
	// Incarnations are the incarnations involved, and Members their member
	// ids, in the same order.
	Incarnations []string
	Members      []string
	// Times are the instants the violation is about, earliest first: the
	// offending record's, or where an overlap begins and ends.
	Times []time.Time
	// Message says what is wrong, naming incarnations and times.
	Message string
	// Excerpt is the slice of the history around the violation, one entry
	// per line in time order, the offending ones marked with ">".
	Excerpt string
}

// String formats v for a human: the rule and message, then the excerpt,
// indented.
func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s\n", v.Rule, v.Message)
	for line := range strings.Lines(v.Excerpt) {
		b.WriteString("    " + line)
	}
	return b.String()
}

// Format formats violations one after the other, for a failing run to print
// with its seed. It returns "" for none.
func Format(vs []Violation) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteString("\n")
		}
		b.WriteString(v.String())
	}
	return b.String()
}

// DefaultContext is how many records of an incarnation an excerpt shows on
// each side of an offending one, unless Options say otherwise.
const DefaultContext = 3

// Options tune Check.
type Options struct {
	// Context is how many records of the same incarnation an excerpt shows
	// on each side of an offending record: 0 means DefaultContext, a
	// negative number none.
	Context int
	// TTL is the members' lease TTL. A freeze (History.Freeze, Thaw) that
	// lasts at least TTL outlasts the member's safe deadline, which comes
	// at most TTL minus the safety margin after its last acknowledged
	// keep-alive, so before the freeze ends: RuleFrozen judges the first
	// record after it. A shorter freeze may end before the deadline, and the
	// member may carry on. Zero counts every freeze as past the deadline.
	TTL time.Duration
}

func (o Options) excerpter(incs []*incarnation) excerpter {
	n := o.Context
	switch {
	case n == 0:
		n = DefaultContext
	case n < 0:
		n = 0
	}
	return excerpter{incs: incs, context: n}
}

// Check returns every violation of the rules replay, epoch, one-master,
// frozen and work in h, in that order, or none. It judges the history as it stands:
// call it once every process has ended or been waited for, or an
// incarnation that is still running counts as master to the end.
//
// Overlaps that a deletion by hand explains (History.DeletedKey) are no
// violations; ExternalOverlaps returns them.
func Check(h *History, opts Options) []Violation {
	incs := h.snapshot()
	x := opts.excerpter(incs)
	var vs []Violation
	for _, inc := range incs {
		vs = append(vs, x.perRecord(RuleReplay, inc, replay(inc))...)
	}
	for _, inc := range incs {
		vs = append(vs, x.perRecord(RuleEpoch, inc, registrationEpochs(inc))...)
	}
	ms := masterships(incs, opts.TTL)
	vs = append(vs, epochOrder(ms, x)...)
	ov, _ := overlaps(ms, x)
	vs = append(vs, ov...)
	for _, inc := range incs {
		vs = append(vs, x.perRecord(RuleFrozen, inc, thawedFirst(inc, opts.TTL))...)
	}
	return append(vs, workRules(spans(incs), x)...)
}

// ExternalOverlaps returns the overlaps of masterships that Check leaves
// out because a deletion of the older master's key by hand explains them
// (History.DeletedKey), by start: what a test measures and logs.
func ExternalOverlaps(h *History, opts Options) []Overlap {
	incs := h.snapshot()
	_, ext := overlaps(masterships(incs, opts.TTL), opts.excerpter(incs))
	return ext
}

// thawedFirst checks what inc emitted first after each freeze that it
// spent registered and that lasted at least ttl (any, if ttl is 0): past
// the safe deadline, OFFLINE comes first. A freeze with nothing after it
// yet, or one the member spent unregistered, is left alone.
func thawedFirst(inc *incarnation, ttl time.Duration) []finding {
	var fs []finding
	for _, f := range inc.freezes {
		if !f.thawed || f.to.Sub(f.from) < ttl {
			continue
		}
		i := firstAfter(inc.records, f.from)
		if i == 0 || i == len(inc.records) {
			continue // not registered yet when it froze, or nothing since
		}
		before, first := inc.records[i-1], inc.records[i]
		if before.Type == events.Offline || first.Type == events.Offline {
			continue
		}
		role := "a slave of " + before.Master
		if before.Master == before.Self {
			role = fmt.Sprintf("master (epoch %d)", before.Epoch)
		}
		fs = append(fs, finding{i, fmt.Sprintf("frozen at %s while %s, thawed %v later at %s, past its safe deadline; its first event after the thaw is %v, not OFFLINE",
			stamp(f.from), role, f.to.Sub(f.from), stamp(f.to), first.Type)})
	}
	return fs
}

// finding is one problem with one record of an incarnation.
type finding struct {
	idx int
	msg string
}

// perRecord turns the findings of one incarnation into violations, one per
// offending record, so that a record that breaks several parts of a rule is
// shown once.
func (x excerpter) perRecord(rule Rule, inc *incarnation, fs []finding) []Violation {
	var vs []Violation
	for i := 0; i < len(fs); {
		j := i
		var msgs []string
		for ; j < len(fs) && fs[j].idx == fs[i].idx; j++ {
			msgs = append(msgs, fs[j].msg)
		}
		idx := fs[i].idx
		at := inc.end
		if idx < len(inc.records) {
			at = inc.records[idx].TS
		}
		vs = append(vs, Violation{
			Rule:         rule,
			Incarnations: []string{inc.name},
			Members:      []string{inc.self()},
			Times:        []time.Time{at},
			Message:      fmt.Sprintf("%s, record %d at %s: %s", inc.label(), idx+1, at.UTC().Format(TSFormat), strings.Join(msgs, "; ")),
			Excerpt:      x.show(ref{inc, idx}),
		})
		i = j
	}
	return vs
}
