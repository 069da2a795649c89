package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func n(port int) Node { return Node{Host: "10.0.0.1", Port: port} }

func TestPlan(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := grace{left: 10 * time.Second, expired: time.Minute}
	for _, tc := range []struct {
		name       string
		live       []Node
		leaving    []Node
		registered []Node
		missing    map[Node]time.Time // before
		now        time.Time
		add        []Node
		remove     []removal
		next       time.Time
		after      map[Node]time.Time // missing after
	}{
		{name: "nothing", now: t0, after: map[Node]time.Time{}},
		{name: "in step", live: []Node{n(1), n(2)}, registered: []Node{n(2), n(1)}, now: t0, after: map[Node]time.Time{}},
		{
			name: "new workers are added, sorted", live: []Node{n(3), n(1), n(2)}, registered: []Node{n(2)}, now: t0,
			add: []Node{n(1), n(3)}, after: map[Node]time.Time{},
		},
		{
			name: "a missing node's clock starts now", registered: []Node{n(1)}, now: t0,
			next: t0.Add(time.Minute), after: map[Node]time.Time{n(1): t0},
		},
		{
			name: "a leaving marker shortens the grace", registered: []Node{n(1)}, leaving: []Node{n(1)}, now: t0,
			next: t0.Add(10 * time.Second), after: map[Node]time.Time{n(1): t0},
		},
		{
			name: "expired, one instant before its grace ends", registered: []Node{n(1)},
			missing: map[Node]time.Time{n(1): t0}, now: t0.Add(time.Minute - 1),
			next: t0.Add(time.Minute), after: map[Node]time.Time{n(1): t0},
		},
		{
			name: "expired, grace over", registered: []Node{n(1)},
			missing: map[Node]time.Time{n(1): t0}, now: t0.Add(time.Minute),
			remove: []removal{{n(1), expired}}, after: map[Node]time.Time{n(1): t0},
		},
		{
			name: "left, grace over; the other still waits", registered: []Node{n(2), n(1)}, leaving: []Node{n(1)},
			missing: map[Node]time.Time{n(1): t0, n(2): t0}, now: t0.Add(10 * time.Second),
			remove: []removal{{n(1), left}}, next: t0.Add(time.Minute), after: map[Node]time.Time{n(1): t0, n(2): t0},
		},
		{
			name: "a worker that comes back is forgotten", live: []Node{n(1)}, registered: []Node{n(1)},
			missing: map[Node]time.Time{n(1): t0}, now: t0.Add(time.Hour), after: map[Node]time.Time{},
		},
		{
			name: "a node gone from the target is forgotten", missing: map[Node]time.Time{n(1): t0},
			now: t0.Add(time.Hour), after: map[Node]time.Time{},
		},
		{
			name: "a marker of a live worker changes nothing", live: []Node{n(1)}, leaving: []Node{n(1)},
			now: t0, add: []Node{n(1)}, after: map[Node]time.Time{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			missing := map[Node]time.Time{}
			for k, v := range tc.missing {
				missing[k] = v
			}
			leaving := map[Node]bool{}
			for _, l := range tc.leaving {
				leaving[l] = true
			}
			s := plan(tc.live, leaving, tc.registered, missing, tc.now, g)
			if !slices.Equal(s.Add, tc.add) {
				t.Errorf("Add = %v, want %v", s.Add, tc.add)
			}
			if !slices.Equal(s.Remove, tc.remove) {
				t.Errorf("Remove = %v, want %v", s.Remove, tc.remove)
			}
			if !s.Next.Equal(tc.next) {
				t.Errorf("Next = %v, want %v", s.Next, tc.next)
			}
			if fmt.Sprint(missing) != fmt.Sprint(tc.after) {
				t.Errorf("missing = %v, want %v", missing, tc.after)
			}
		})
	}
}

// FuzzPlan drives plan through random rounds and checks what must always
// hold: it adds only live workers the target lacks, removes only nodes of the
// target without a live worker, and never before their grace, counted from
// the first round that saw them missing, has passed.
func FuzzPlan(f *testing.F) {
	f.Add(uint64(1), uint8(10))
	f.Add(uint64(42), uint8(50))
	f.Fuzz(func(t *testing.T, seed uint64, rounds uint8) {
		r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		g := grace{left: time.Duration(r.IntN(5)) * time.Second, expired: time.Duration(r.IntN(10)) * time.Second}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		missing := map[Node]time.Time{}
		firstSeen := map[Node]time.Time{} // by the checker, independently
		registered := map[Node]bool{}
		for range rounds {
			live, leaving := []Node{}, map[Node]bool{}
			isLive := map[Node]bool{}
			for p := 1; p <= 6; p++ {
				switch r.IntN(3) {
				case 0:
					live = append(live, n(p))
					isLive[n(p)] = true
				case 1:
					if r.IntN(2) == 0 {
						leaving[n(p)] = true
					}
				}
				if r.IntN(10) == 0 { // someone edits the target by hand
					registered[n(p)] = !registered[n(p)]
				}
			}
			var reg []Node
			for k, ok := range registered {
				if ok {
					reg = append(reg, k)
				}
			}
			for k := range firstSeen {
				if isLive[k] || !registered[k] {
					delete(firstSeen, k)
				}
			}
			for _, k := range reg {
				if _, ok := firstSeen[k]; !ok && !isLive[k] {
					firstSeen[k] = now
				}
			}
			s := plan(live, leaving, reg, missing, now, g)
			for _, a := range s.Add {
				if !isLive[a] || registered[a] {
					t.Fatalf("added %v: live %v, registered %v", a, isLive[a], registered[a])
				}
				registered[a] = true
			}
			for _, rm := range s.Remove {
				if isLive[rm.Node] || !registered[rm.Node] {
					t.Fatalf("removed %v: live %v, registered %v", rm.Node, isLive[rm.Node], registered[rm.Node])
				}
				want := expired
				if leaving[rm.Node] {
					want = left
				}
				if rm.Reason != want {
					t.Fatalf("removed %v as %s, want %s", rm.Node, rm.Reason, want)
				}
				if now.Sub(firstSeen[rm.Node]) < g.of(rm.Reason) {
					t.Fatalf("removed %v after %v, before its grace %v", rm.Node, now.Sub(firstSeen[rm.Node]), g.of(rm.Reason))
				}
				if r.IntN(4) > 0 { // the removal may fail
					registered[rm.Node] = false
				}
			}
			if !s.Next.IsZero() && !s.Next.After(now) {
				t.Fatalf("Next %v is not after now %v", s.Next, now)
			}
			now = now.Add(time.Duration(r.IntN(3000)) * time.Millisecond)
		}
	})
}
