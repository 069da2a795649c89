package selector

import (
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
)

// A member whose events are not read for three TTLs keeps its registration
// and its mastership, and then delivers everything it queued, in order.
func TestUnreadEventsDoNotDelayKeepAlive(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	_, aLease, _ := keyOf(t, cli, prefix+"/a")
	aMaster := whenDone(a.MasterContext())

	// From here on nobody reads a's channel.
	c := join(t, cli, prefix, "c")
	expect(t, b, events.SlaveAdd, "c")
	d := join(t, cli, prefix, "d")
	expect(t, b, events.SlaveAdd, "d")
	shutdown(t, d)
	expect(t, b, events.SlaveDel, "d")

	// Three TTLs without reading a. Had a's keep-alives stalled, its lease
	// would have expired and b would have taken over: b must see nothing.
	window := time.NewTimer(3 * testTTL)
	defer window.Stop()
	for waiting := true; waiting; {
		select {
		case ev := <-b.Events():
			t.Fatalf("b: %v while a's events were not read; want nothing", ev)
		case <-window.C:
			waiting = false
		}
	}
	if st := a.State(); st != Refresh {
		t.Errorf("a's State after 3 TTLs unread: %v, want REFRESH", st)
	}
	if !a.IsMaster() || aMaster.cancelled() {
		t.Errorf("a is no longer master after 3 TTLs unread")
	}
	if _, lease, ok := keyOf(t, cli, prefix+"/a"); !ok || lease != aLease {
		t.Errorf("a's key: present %v, lease %x; want its lease %x", ok, lease, aLease)
	}
	ttl, err := cli.TimeToLive(ctxFor(t, waitTime), aLease)
	if err != nil || ttl.TTL <= 0 {
		t.Errorf("a's lease: %v, %v; want alive", ttl, err)
	}

	// Everything queued meanwhile comes out in order, without OFFLINE.
	checkView(t, expect(t, a, events.SlaveAdd, "c"), "a", "b", "c")
	checkView(t, expect(t, a, events.SlaveAdd, "d"), "a", "b", "c", "d")
	checkView(t, expect(t, a, events.SlaveDel, "d"), "a", "b", "c")
	// And nothing else: the next event is the next change.
	shutdown(t, c)
	checkView(t, expect(t, a, events.SlaveDel, "c"), "a", "b")
}
