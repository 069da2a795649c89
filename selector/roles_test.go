package selector

import (
	"errors"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// The worked example of the design note: a, b, c join in that order.
func TestStartupRoles(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	ev := expect(t, a, events.InitMaster)
	checkView(t, ev, "a")
	aRev, aLease, ok := keyOf(t, cli, prefix+"/a")
	if !ok {
		t.Fatalf("key %s/a missing after New", prefix)
	}
	if aLease != leaseOf(a) {
		t.Errorf("key %s/a has lease %x, want the member's lease %x", prefix, aLease, leaseOf(a))
	}
	if n := ev.View.Members[0]; n.Value != "v-a" || n.CreateRevision != aRev {
		t.Errorf("a's node in its view: %+v, want value v-a, CreateRevision %d", n, aRev)
	}

	b := join(t, cli, prefix, "b")
	ev = expect(t, b, events.InitSlave, "a")
	checkView(t, ev, "a", "b")
	if ev.Nodes[0].Value != "v-a" {
		t.Errorf("b's INIT_SLAVE node: %+v, want value v-a", ev.Nodes[0])
	}
	ev = expect(t, a, events.SlaveAdd, "b")
	checkView(t, ev, "a", "b")
	if ev.Nodes[0].Value != "v-b" {
		t.Errorf("a's SLAVE_ADD node: %+v, want value v-b", ev.Nodes[0])
	}

	c := join(t, cli, prefix, "c")
	ev = expect(t, c, events.InitSlave, "a")
	checkView(t, ev, "a", "b", "c")
	ev = expect(t, a, events.SlaveAdd, "c")
	checkView(t, ev, "a", "b", "c")
	ev = expect(t, b, events.SlaveAdd, "c")
	checkView(t, ev, "a", "b", "c")
	if ev.Nodes[0].Value != "v-c" {
		t.Errorf("b's SLAVE_ADD node: %+v, want value v-c", ev.Nodes[0])
	}

	for _, s := range []*Selector{a, b, c} {
		if st := s.State(); st != Refresh {
			t.Errorf("%s: State() = %v, want REFRESH", s.ID(), st)
		}
		if got := s.View().IDs(); len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
			t.Errorf("%s: View() = %v, want [a b c]", s.ID(), got)
		}
		if v := s.View(); v.Self != s.ID() {
			t.Errorf("%s: View().Self = %q", s.ID(), v.Self)
		}
		if e := s.Epoch(); e != aRev {
			t.Errorf("%s: Epoch() = %d, want a's CreateRevision %d", s.ID(), e, aRev)
		}
		if s.Key() != prefix+"/"+s.ID() {
			t.Errorf("%s: Key() = %q", s.ID(), s.Key())
		}
	}
	if !a.IsMaster() || a.MasterContext().Err() != nil {
		t.Errorf("a: IsMaster() = %v, MasterContext().Err() = %v; want master with a live context", a.IsMaster(), a.MasterContext().Err())
	}
	for _, s := range []*Selector{b, c} {
		if s.IsMaster() || s.MasterContext().Err() == nil {
			t.Errorf("%s: IsMaster() = %v, MasterContext().Err() = %v; want a slave with a cancelled context", s.ID(), s.IsMaster(), s.MasterContext().Err())
		}
	}
}

// A prefix given with its trailing "/" is the same group, and a group never
// sees the members of another group whose prefix merely starts the same.
func TestPrefixBoundary(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	other := join(t, cli, prefix+"2", "x") // "/TestPrefixBoundary2/x"
	expect(t, other, events.InitMaster)
	b := join(t, cli, prefix+"/", "b")
	if b.Key() != prefix+"/b" {
		t.Errorf("Key() = %q, want %q", b.Key(), prefix+"/b")
	}
	ev := expect(t, b, events.InitSlave, "a")
	checkView(t, ev, "a", "b")
	// Nothing from the other group came before b's join.
	expect(t, a, events.SlaveAdd, "b")
}

// Close hands the mastership over at once: a closes, b takes over, c
// follows, and a's channel ends with OFFLINE.
func TestGracefulCloseHandsOver(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	c := join(t, cli, prefix, "c")
	expect(t, c, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "c")
	expect(t, b, events.SlaveAdd, "c")
	epochA := a.Epoch()
	aMaster := whenDone(a.MasterContext())

	closeAt := time.Now()
	if err := a.Close(); err != nil {
		t.Fatalf("a.Close: %v", err)
	}
	closed := time.Now()

	ev := expect(t, b, events.ChangeToMaster, "c")
	checkView(t, ev, "b", "c")
	handover := ev.Time.Sub(closeAt)
	t.Logf("handover: %v from a.Close to b's CHANGE_TO_MASTER (Close returned after %v)", handover, closed.Sub(closeAt))
	if handover >= time.Second {
		t.Errorf("handover took %v, want under 1s", handover)
	}
	ev2 := expect(t, c, events.MasterChange, "b")
	checkView(t, ev2, "b", "c")
	checkView(t, expect(t, c, events.SlaveDel, "b"), "b", "c")

	left := drain(t, a, waitTime)
	if len(left) != 1 || left[0].Type != events.Offline {
		t.Fatalf("a's events after Close: %v, want [OFFLINE] then closed", left)
	}
	cancelAt := aMaster.wait(t, "a's MasterContext", waitTime)
	if !cancelAt.Before(ev.Time) {
		t.Errorf("a's mastership ended at %v, not before b's CHANGE_TO_MASTER at %v", cancelAt.Format(time.StampMicro), ev.Time.Format(time.StampMicro))
	}
	// The history a member leaves must say the same: its OFFLINE comes
	// before the next master's first event (the chaos suite once caught
	// Close emitting it after the revoke).
	if !left[0].Time.Before(ev.Time) {
		t.Errorf("a's OFFLINE at %v, not before b's CHANGE_TO_MASTER at %v", left[0].Time.Format(time.StampMicro), ev.Time.Format(time.StampMicro))
	}
	if a.IsMaster() || a.State() != Offline || a.Epoch() != 0 || len(a.View().Members) != 0 {
		t.Errorf("a after Close: IsMaster %v, State %v, Epoch %d, View %v; want not master, OFFLINE, 0, empty",
			a.IsMaster(), a.State(), a.Epoch(), a.View().IDs())
	}
	if _, _, ok := keyOf(t, cli, prefix+"/a"); ok {
		t.Errorf("a's key still in etcd after Close")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v, want the first's result (nil)", err)
	}
	if !b.IsMaster() || b.Epoch() <= epochA {
		t.Errorf("b: IsMaster %v, Epoch %d; want master with an epoch above a's %d", b.IsMaster(), b.Epoch(), epochA)
	}
	if err := a.Yield(ctxFor(t, waitTime)); !errors.Is(err, ErrClosed) {
		t.Errorf("Yield after Close: %v, want ErrClosed", err)
	}
}
