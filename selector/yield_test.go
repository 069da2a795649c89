package selector

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/logtest"
)

// startABC starts a, b and c under prefix and reads their startup events.
func startABC(t *testing.T, cli *clientv3.Client, prefix string) (a, b, c *Selector) {
	t.Helper()
	a = join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b = join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	c = join(t, cli, prefix, "c")
	expect(t, c, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "c")
	expect(t, b, events.SlaveAdd, "c")
	return a, b, c
}

func TestYield(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, 30*time.Second)

	alone := join(t, cli, prefix+"-alone", "solo")
	expect(t, alone, events.InitMaster)
	if err := alone.Yield(ctx); !errors.Is(err, ErrNoSuccessor) {
		t.Errorf("Yield when alone: %v, want ErrNoSuccessor", err)
	}
	if !alone.IsMaster() {
		t.Errorf("a lone member that could not yield is no longer master")
	}

	a, b, c := startABC(t, cli, prefix)
	if err := b.Yield(ctx); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Yield on a slave: %v, want ErrNotMaster", err)
	}
	epochA := a.Epoch()
	aMaster := whenDone(a.MasterContext())

	if err := a.Yield(ctx); err != nil {
		t.Fatalf("a.Yield: %v", err)
	}
	if a.IsMaster() {
		t.Errorf("a.IsMaster() after Yield returned")
	}
	ev := expect(t, a, events.ChangeToSlave, "b")
	checkView(t, ev, "b", "c", "a")
	checkView(t, expect(t, a, events.SlaveDel, "b"), "b", "c", "a")
	// Yield deletes a's key and creates it again in a second transaction.
	// A member may see the two in one watch response (one view change) or
	// in two.
	bEvs := nextN(t, b, 1)
	if len(bEvs[0].View.Members) == 2 { // b saw the deletion alone
		bEvs = append(bEvs, next(t, b, waitTime))
	}
	expectOneOf(t, b, bEvs,
		"CHANGE_TO_MASTER [c] {b c}; SLAVE_ADD [a] {b c a}",
		"CHANGE_TO_MASTER [c a] {b c a}")
	took := bEvs[0]
	expectOneOf(t, c, nextN(t, c, 3),
		"MASTER_CHANGE [b] {b c}; SLAVE_DEL [b] {b c}; SLAVE_ADD [a] {b c a}",
		"MASTER_CHANGE [b] {b c a}; SLAVE_DEL [b] {b c a}; SLAVE_ADD [a] {b c a}")

	cancelAt := aMaster.wait(t, "a's MasterContext", waitTime)
	if !cancelAt.Before(took.Time) {
		t.Errorf("a's mastership ended at %v, not before b's CHANGE_TO_MASTER at %v",
			cancelAt.Format(time.StampMicro), took.Time.Format(time.StampMicro))
	}
	if a.State() != Refresh || a.IsMaster() || !b.IsMaster() {
		t.Errorf("after Yield: a State %v IsMaster %v, b IsMaster %v", a.State(), a.IsMaster(), b.IsMaster())
	}
	if e := b.Epoch(); e <= epochA || a.Epoch() != e || c.Epoch() != e {
		t.Errorf("epochs after Yield: a %d, b %d, c %d; want all equal and above %d", a.Epoch(), e, c.Epoch(), epochA)
	}
	// a is still registered, with the same lease, behind the others.
	rev, lease, ok := keyOf(t, cli, prefix+"/a")
	if !ok || lease != leaseOf(a) || rev <= epochA {
		t.Errorf("a's key after Yield: present %v, lease %x (member's %x), CreateRevision %d", ok, lease, leaseOf(a), rev)
	}
	if err := a.Yield(ctx); !errors.Is(err, ErrNotMaster) {
		t.Errorf("second Yield by a (now a slave): %v, want ErrNotMaster", err)
	}

	shutdown(t, a)
	if err := a.Yield(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Yield after Close: %v, want ErrClosed", err)
	}
}

// Yield called right after the group changed, before the master has
// necessarily applied that change from its watch, must still be a clean
// hand-over: the yielding member stays registered (no OFFLINE), and its
// next role event is CHANGE_TO_SLAVE.
func TestYieldRightAfterJoin(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	ctx := ctxFor(t, 60*time.Second)

	for round := range 20 {
		prefix := fmt.Sprintf("%s-%d", prefixOf(t), round)
		logs := &logtest.Recorder{}
		a := join(t, cli, prefix, "a", WithLogger(logs.Logger()))
		expect(t, a, events.InitMaster)
		b := join(t, cli, prefix, "b")
		expect(t, a, events.SlaveAdd, "b")
		// c's join is in a's watch, maybe not yet applied, when a yields.
		c := join(t, cli, prefix, "c")
		if err := a.Yield(ctx); err != nil {
			t.Fatalf("round %d: a.Yield: %v", round, err)
		}
		var seen []events.Event
		for {
			ev := next(t, a, waitTime)
			seen = append(seen, ev)
			if ev.Type == events.Offline || (ev.Type.IsRole() && ev.Type != events.ChangeToSlave) {
				var causes []any
				for _, r := range logs.Find("registration lost") {
					causes = append(causes, r.Attrs["cause"])
				}
				t.Fatalf("round %d: a's events after Yield: %v; want CHANGE_TO_SLAVE [b] and no OFFLINE (registration lost: %v)", round, seen, causes)
			}
			if ev.Type == events.ChangeToSlave {
				checkView(t, ev, "b", "c", "a")
				break
			}
		}
		if a.State() != Refresh {
			t.Fatalf("round %d: a's state after Yield: %v", round, a.State())
		}
		for _, s := range []*Selector{a, b, c} {
			shutdown(t, s)
		}
	}
}

// nextN reads s's next n events.
func nextN(t *testing.T, s *Selector, n int) []events.Event {
	t.Helper()
	got := make([]events.Event, n)
	for i := range got {
		got[i] = next(t, s, waitTime)
	}
	return got
}

// sig writes events as "TYPE [nodes] {view}; ...".
func sig(evs []events.Event) string {
	parts := make([]string, len(evs))
	for i, ev := range evs {
		parts[i] = fmt.Sprintf("%v %v {%s}", ev.Type, ids(ev.Nodes), strings.Join(ev.View.IDs(), " "))
	}
	return strings.Join(parts, "; ")
}

func expectOneOf(t *testing.T, s *Selector, evs []events.Event, want ...string) {
	t.Helper()
	got := sig(evs)
	if !slices.Contains(want, got) {
		t.Fatalf("%s: events %q, want one of %q", s.ID(), got, want)
	}
}

// A Yield whose delete fails, with the key left in place, must not leave
// the group without a master. Yield ends the mastership before it sends the
// delete, so when etcd answers the delete with an error the member is no
// longer master while its key is still the first: every other member sees
// it as master. Nothing changes in etcd after that, so a member that
// waited for its watch to tell it what became of its key would leave the
// group masterless for good. It must give up its registration instead, as
// when the re-creation fails: Offline, its lease revoked, the next member
// master with a later epoch, and this one back as a slave.
//
// The fault: a's client reaches etcd through a proxy that flags the gRPC
// message of the delete as compressed, which etcd's gRPC server refuses
// (codes.Internal) without running it, and without breaking the
// connection: a's keep-alives and watch go on.
func TestYieldFailedDelete(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	p := newProxy(t, shared.Members[0])
	a := join(t, p.Client(t), prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	createRev, _, ok := keyOf(t, cli, a.Key())
	if !ok {
		t.Fatal("a's key missing")
	}

	spoil := p.SpoilNext([]byte(a.Key()))
	before := a.MasterContext()
	err := a.Yield(ctxFor(t, waitTime))
	n := spoil()
	if n != 1 || err == nil {
		t.Fatalf("Yield: %v after %d spoiled requests; want an error after one", err, n)
	}
	t.Logf("Yield: %v", err)
	if before.Err() == nil {
		t.Error("a's mastership lives on after its Yield failed; it should have ended before the delete")
	}
	expect(t, a, events.Offline)
	ev, skipped := waitFor(t, b, events.ChangeToMaster, waitTime)
	if len(skipped) > 0 {
		t.Errorf("b emitted %v before CHANGE_TO_MASTER", skipped)
	}
	if ev.View.Epoch() <= createRev {
		t.Errorf("b master with epoch %d, want one above a's %d", ev.View.Epoch(), createRev)
	}
	expectWithin(t, a, waitTime, events.InitSlave, "b")
	if a.IsMaster() || !b.IsMaster() {
		t.Errorf("after the failed Yield: a master %v, b master %v; want b alone", a.IsMaster(), b.IsMaster())
	}
}
