package selector

import (
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// TestWithoutEvents: a member made WithoutEvents has no channel (Events is
// nil) and keeps no events, while it is still a full member: master, seen by
// the others, its mastership ended by Close with its MasterContext, its
// lease revoked so that the next member takes over at once, and its
// transitions still counted in Stats.
func TestWithoutEvents(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a", WithoutEvents())
	if a.Events() != nil {
		t.Fatal("Events() of a member made WithoutEvents is not nil")
	}
	if !a.IsMaster() {
		t.Fatal("a, alone, is not master")
	}
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	// A few changes a would have had to queue.
	c := join(t, cli, prefix, "c")
	expect(t, b, events.SlaveAdd, "c")
	expect(t, c, events.InitSlave, "a")
	eventually(t, "a sees b and c", waitTime, func() bool { return len(a.View().Members) == 3 })
	if n := a.Stats().Transitions[events.SlaveAdd]; n != 2 {
		t.Errorf("a counted %d SLAVE_ADD, want 2 (events are counted, not kept)", n)
	}
	if a.q != nil {
		t.Error("a keeps an event queue")
	}

	mctx := a.MasterContext()
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if mctx.Err() == nil {
		t.Error("a's MasterContext lives on after Close")
	}
	ev := expect(t, b, events.ChangeToMaster, "c")
	if d := ev.Time.Sub(closed); d > time.Second {
		t.Errorf("b master %v after a's Close, want at once (a's lease revoked)", d)
	}
	if a.IsMaster() || a.State() != Offline {
		t.Errorf("after Close: IsMaster %v, State %v", a.IsMaster(), a.State())
	}
}
