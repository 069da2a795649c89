package history

import (
	"fmt"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// CheckConvergence checks that the live members agree with etcd, once faults
// have stopped and every member has had the time to see the last change.
// want are the member ids etcd holds under the group's prefix, in join
// order, and master the one etcd names master (the first of want, by the
// contract's rule; a master that is not is reported too).
//
// A live incarnation is one whose process has not ended and whose last
// record is not OFFLINE. The last record of each must show the master and
// the members of want, and each id of want must be exactly one live
// incarnation: etcd holding the key of a member whose process is gone or
// offline has not converged either.
//
// Members are compared as sets, with the master apart: a member that left
// and came back between two views another member read (one watch response
// may hold both) moves to the end of the join order without any event, so
// the last record may rightly show an older order of the same members.
func CheckConvergence(h *History, want []string, master string) []Violation {
	incs := h.snapshot()
	x := Options{}.excerpter(incs)
	var vs []Violation
	if first := firstOf(want); master != first {
		vs = append(vs, Violation{
			Rule:    RuleConvergence,
			Message: fmt.Sprintf("etcd names %q master, but the first of its members %v is %q", master, want, first),
		})
	}
	live := map[string][]*incarnation{}
	for _, inc := range incs {
		if inc.ended || len(inc.records) == 0 || inc.records[len(inc.records)-1].Type == events.Offline {
			continue
		}
		live[inc.self()] = append(live[inc.self()], inc)
		if msg := disagreement(inc.records[len(inc.records)-1], want, master); msg != "" {
			vs = append(vs, x.atLast(inc, msg))
		}
	}
	for _, id := range want {
		switch incs := live[id]; len(incs) {
		case 0:
			vs = append(vs, Violation{
				Rule:    RuleConvergence,
				Members: []string{id},
				Message: fmt.Sprintf("etcd holds member %s, but no live process of %s is registered", id, id),
			})
		case 1:
		default:
			v := x.atLast(incs[0], fmt.Sprintf("%d live incarnations of member %s are registered", len(incs), id))
			var lasts []ref
			for _, inc := range incs {
				lasts = append(lasts, ref{inc, len(inc.records) - 1})
			}
			for _, inc := range incs[1:] {
				v.Incarnations = append(v.Incarnations, inc.name)
				v.Members = append(v.Members, id)
			}
			v.Excerpt = x.show(lasts...)
			vs = append(vs, v)
		}
	}
	return vs
}

func firstOf(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// disagreement says how the view of r differs from etcd's, or returns "".
func disagreement(r Record, want []string, master string) string {
	switch {
	case r.Master != master:
		return fmt.Sprintf("last view has master %q, etcd %q (members %v, etcd %v)", r.Master, master, r.Members, want)
	case len(r.Members) != len(want) || len(minus(want, r.Members)) > 0 || len(minus(r.Members, want)) > 0:
		return fmt.Sprintf("last view has members %v, etcd %v", r.Members, want)
	}
	return ""
}

// atLast returns a convergence violation about the last record of inc.
func (x excerpter) atLast(inc *incarnation, msg string) Violation {
	last := len(inc.records) - 1
	return Violation{
		Rule:         RuleConvergence,
		Incarnations: []string{inc.name},
		Members:      []string{inc.self()},
		Times:        []time.Time{inc.records[last].TS},
		Message:      inc.label() + ": " + msg,
		Excerpt:      x.show(ref{inc, last}),
	}
}
