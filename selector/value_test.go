package selector

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/seed764c596d/mastership/events"
)

// TestSetValue: a member changes its value in place; every member, itself
// included, gets VALUE_CHANGE with the new value, and nothing else changes:
// not the roles, not the epoch, not the key's CreateRevision or lease.
func TestSetValue(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	epoch := a.Epoch()
	rev, lease, _ := keyOf(t, cli, a.Key())

	if err := a.SetValue(ctxFor(t, waitTime), "10.0.0.9:5432"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Selector{a, b} {
		ev := expect(t, s, events.ValueChange, "a")
		if ev.Nodes[0].Value != "10.0.0.9:5432" || ev.View.Epoch() != epoch {
			t.Errorf("%s: %v: node %+v, epoch %d; want the new value under epoch %d", s.ID(), ev, ev.Nodes[0], ev.View.Epoch(), epoch)
		}
	}
	if r, l, ok := keyOf(t, cli, a.Key()); !ok || r != rev || l != lease {
		t.Errorf("a's key after SetValue: CreateRevision %d, lease %x (present %v); want %d, %x", r, l, ok, rev, lease)
	}
	if !a.IsMaster() || a.Epoch() != epoch {
		t.Errorf("a after SetValue: master %v, epoch %d; want master under %d", a.IsMaster(), a.Epoch(), epoch)
	}

	// A slave's change reaches the master too.
	if err := b.SetValue(ctxFor(t, waitTime), "b2"); err != nil {
		t.Fatal(err)
	}
	expect(t, a, events.ValueChange, "b")
	expect(t, b, events.ValueChange, "b")

	// Too large: at once, and not kept for a later registration.
	if err := b.SetValue(ctxFor(t, waitTime), strings.Repeat("x", 2<<20)); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("SetValue of 2 MiB = %v, want ErrValueTooLarge", err)
	}
	if v := b.currentValue(); v != "b2" {
		t.Errorf("after a refused SetValue the member keeps a value of %d bytes, want b2", len(v))
	}

	a.Close()
	if err := a.SetValue(context.Background(), "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("SetValue after Close = %v, want ErrClosed", err)
	}
}
