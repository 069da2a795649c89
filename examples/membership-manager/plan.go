package main

import (
	"cmp"
	"slices"
	"time"
)

// Why a node that is in the target has no live worker.
type reason string

const (
	// left: the worker wrote its leaving marker before it closed.
	left reason = "left"
	// expired: no marker; the worker's lease ran out (a crash, a cut-off),
	// or this manager has never seen it alive (a node registered by hand, or
	// a worker that has not come back yet after a restart of everything).
	expired reason = "expired"
)

// grace is how long a node must have been missing before it is removed.
type grace struct {
	left, expired time.Duration
}

func (g grace) of(r reason) time.Duration {
	if r == left {
		return g.left
	}
	return g.expired
}

// removal is a node to remove from the target, and why.
type removal struct {
	Node   Node
	Reason reason
}

// steps is what one reconciliation must do.
type steps struct {
	// Add are the live workers the target lacks, sorted.
	Add []Node
	// Remove are the target's nodes that have had no live worker for their
	// grace period, sorted.
	Remove []removal
	// Next is when the grace period of the first node still waiting ends;
	// zero when none waits.
	Next time.Time
}

// plan compares the live workers with the target's nodes. It is a pure
// function but for missing, which it updates: missing holds, for each of the
// target's nodes without a live worker, when this manager first saw it so.
// The grace period of a node counts from then, so it never starts before the
// worker was really gone: a manager that has just taken over starts every
// missing node's clock afresh. A node that comes back, or leaves the target,
// is forgotten.
func plan(live []Node, leaving map[Node]bool, registered []Node, missing map[Node]time.Time, now time.Time, g grace) steps {
	isLive := make(map[Node]bool, len(live))
	for _, n := range live {
		isLive[n] = true
	}
	inTarget := make(map[Node]bool, len(registered))
	for _, n := range registered {
		inTarget[n] = true
	}
	var s steps
	for n := range isLive {
		if !inTarget[n] {
			s.Add = append(s.Add, n)
		}
	}
	for n := range missing {
		if isLive[n] || !inTarget[n] {
			delete(missing, n)
		}
	}
	for n := range inTarget {
		if isLive[n] {
			continue
		}
		since, ok := missing[n]
		if !ok {
			since = now
			missing[n] = now
		}
		r := expired
		if leaving[n] {
			r = left
		}
		end := since.Add(g.of(r))
		if !now.Before(end) {
			s.Remove = append(s.Remove, removal{Node: n, Reason: r})
			continue
		}
		if s.Next.IsZero() || end.Before(s.Next) {
			s.Next = end
		}
	}
	slices.SortFunc(s.Add, compareNodes)
	slices.SortFunc(s.Remove, func(a, b removal) int { return compareNodes(a.Node, b.Node) })
	return s
}

func compareNodes(a, b Node) int {
	return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Port, b.Port))
}
