package selector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/lease"
)

// A master whose client dies without revoking its lease is replaced within
// TTL + 1s, and it gives up its mastership by its safe deadline, before the
// successor starts.
func TestCrashedMasterReplaced(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	acli := newClient(t, shared.Endpoints()...)
	a := join(t, acli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	c := join(t, cli, prefix, "c")
	expect(t, c, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "c")
	expect(t, b, events.SlaveAdd, "c")
	aMaster := whenDone(a.MasterContext())
	a.mu.Lock()
	aLease := a.reg.lease
	a.mu.Unlock()
	granted, margin := aLease.TTL, aLease.Margin

	crashAt := time.Now()
	acli.Close() // no revoke: etcd expires a's lease after its TTL

	took := expectWithin(t, b, granted+3*time.Second, events.ChangeToMaster, "c")
	checkView(t, took, "b", "c")
	failover := took.Time.Sub(crashAt)
	t.Logf("failover: %v after the crash (granted TTL %v)", failover, granted)
	if failover >= granted+time.Second {
		t.Errorf("b took over %v after the crash, want under granted TTL + 1s = %v", failover, granted+time.Second)
	}
	expect(t, c, events.MasterChange, "b")
	expect(t, c, events.SlaveDel, "b")

	off := expectWithin(t, a, granted, events.Offline)
	cancelAt := aMaster.wait(t, "a's MasterContext", waitTime)
	deadline := aLease.Deadline()
	t.Logf("a: safe deadline %v after the crash, master context cancelled %v after it, OFFLINE %v after it",
		deadline.Sub(crashAt), cancelAt.Sub(deadline), off.Time.Sub(deadline))
	if limit := crashAt.Add(granted - margin); deadline.After(limit) {
		t.Errorf("a's safe deadline %v is after crash + TTL - margin = %v", deadline.Format(time.StampMicro), limit.Format(time.StampMicro))
	}
	// The timer fires at the deadline; allow for the scheduling of the
	// callback that records the moment.
	if late := cancelAt.Sub(deadline); late > 100*time.Millisecond {
		t.Errorf("a's MasterContext cancelled %v after its safe deadline", late)
	}
	if !cancelAt.Before(took.Time) {
		t.Errorf("a's mastership ended at %v, not before b's CHANGE_TO_MASTER at %v", cancelAt.Format(time.StampMicro), took.Time.Format(time.StampMicro))
	}
	if !errors.Is(aLease.Err(), lease.ErrDeadline) {
		t.Errorf("a's lease ended with %v, want the safe deadline", aLease.Err())
	}
	if a.IsMaster() || a.State() == Refresh {
		t.Errorf("a after the crash: IsMaster %v, State %v", a.IsMaster(), a.State())
	}
	// The dead member emits nothing more until closed.
	if left := shutdown(t, a); len(left) != 0 {
		t.Errorf("a emitted %v after OFFLINE, with a dead client", left)
	}
}

// Member a reaches etcd through a proxy that holds its traffic: a goes
// offline, and ends its mastership, before b takes over; once the proxy
// heals a rejoins as a new slave.
func TestPartitionedMasterStepsDownFirst(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	p := newProxy(t, shared.Members[0])
	a := join(t, p.Client(t), prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	c := join(t, cli, prefix, "c")
	expect(t, c, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "c")
	expect(t, b, events.SlaveAdd, "c")
	aMaster := whenDone(a.MasterContext())

	cutAt := time.Now()
	// Held, not dropped, as a real partition holds a live connection's
	// bytes: a blackhole drops them inside it, which can leave the
	// connection unusable after the heal.
	p.Hold()
	off := expectWithin(t, a, 2*testTTL, events.Offline)
	took := expectWithin(t, b, 3*testTTL, events.ChangeToMaster, "c")
	checkView(t, took, "b", "c")
	expect(t, c, events.MasterChange, "b")
	expect(t, c, events.SlaveDel, "b")
	cancelAt := aMaster.wait(t, "a's MasterContext", waitTime)
	t.Logf("after the cut: a's mastership ended at +%v, a OFFLINE at +%v, b CHANGE_TO_MASTER at +%v",
		cancelAt.Sub(cutAt), off.Time.Sub(cutAt), took.Time.Sub(cutAt))
	if !off.Time.Before(took.Time) {
		t.Errorf("a's OFFLINE at %v is not before b's CHANGE_TO_MASTER at %v",
			off.Time.Format(time.StampMicro), took.Time.Format(time.StampMicro))
	}
	if !cancelAt.Before(took.Time) {
		t.Errorf("a's MasterContext cancelled at %v, not before b's CHANGE_TO_MASTER at %v",
			cancelAt.Format(time.StampMicro), took.Time.Format(time.StampMicro))
	}
	if a.IsMaster() {
		t.Errorf("a still IsMaster after OFFLINE")
	}

	healAt := time.Now()
	p.Release()
	ev := expectWithin(t, a, 20*time.Second, events.InitSlave, "b")
	checkView(t, ev, "b", "c", "a")
	t.Logf("a rejoined %v after the heal", ev.Time.Sub(healAt))
	checkView(t, expect(t, b, events.SlaveAdd, "a"), "b", "c", "a")
	checkView(t, expect(t, c, events.SlaveAdd, "a"), "b", "c", "a")
	if a.State() != Refresh || a.IsMaster() {
		t.Errorf("a after rejoining: State %v, IsMaster %v; want REFRESH, slave", a.State(), a.IsMaster())
	}
}

// Someone deletes a's key: a goes offline at once and registers again;
// the others see it leave and come back.
func TestExternalKeyDelete(t *testing.T) {
	t.Parallel()
	testRegistrationLost(t, func(t *testing.T, prefix string) {
		cli := shared.Client(t)
		if _, err := cli.Delete(ctxFor(t, waitTime), prefix+"/a"); err != nil {
			t.Fatalf("delete a's key: %v", err)
		}
	})
}

// Someone revokes a's lease: the same as a deleted key.
func TestExternalLeaseRevoke(t *testing.T) {
	t.Parallel()
	testRegistrationLost(t, func(t *testing.T, prefix string) {
		cli := shared.Client(t)
		_, lease, ok := keyOf(t, cli, prefix+"/a")
		if !ok || lease == 0 {
			t.Fatalf("a's key: present %v, lease %x", ok, lease)
		}
		if _, err := cli.Revoke(ctxFor(t, waitTime), lease); err != nil {
			t.Fatalf("revoke a's lease: %v", err)
		}
	})
}

func testRegistrationLost(t *testing.T, lose func(t *testing.T, prefix string)) {
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
	oldRev, oldLease, _ := keyOf(t, cli, prefix+"/a")
	aMaster := whenDone(a.MasterContext())

	at := time.Now()
	lose(t, prefix)
	off := expectWithin(t, a, time.Second, events.Offline)
	t.Logf("a OFFLINE %v after losing its key", off.Time.Sub(at))
	if !aMaster.cancelled() {
		t.Errorf("a's MasterContext not cancelled at OFFLINE")
	}
	ev := expect(t, a, events.InitSlave, "b")
	checkView(t, ev, "b", "c", "a")
	checkView(t, expect(t, b, events.ChangeToMaster, "c"), "b", "c")
	checkView(t, expect(t, b, events.SlaveAdd, "a"), "b", "c", "a")
	checkView(t, expect(t, c, events.MasterChange, "b"), "b", "c")
	checkView(t, expect(t, c, events.SlaveDel, "b"), "b", "c")
	checkView(t, expect(t, c, events.SlaveAdd, "a"), "b", "c", "a")

	rev, lease, ok := keyOf(t, cli, prefix+"/a")
	if !ok || rev <= oldRev || lease == oldLease || lease != leaseOf(a) {
		t.Errorf("a's key after re-registering: present %v, CreateRevision %d (was %d), lease %x (was %x, member's %x)",
			ok, rev, oldRev, lease, oldLease, leaseOf(a))
	}
	if a.State() != Refresh || a.IsMaster() {
		t.Errorf("a after re-registering: State %v, IsMaster %v", a.State(), a.IsMaster())
	}
}

// A second live member with the same id is refused once the holder's TTL,
// read again, shows keep-alives (it rose in one raft term), and the holder
// is undisturbed.
func TestDuplicateID(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	rev, lease, _ := keyOf(t, cli, prefix+"/a")

	cli2 := shared.Client(t)
	start := time.Now()
	dup, err := New(ctxFor(t, 30*time.Second), cli2, prefix, "a", WithTTL(testTTL))
	took := time.Since(start)
	if err == nil {
		shutdown(t, dup)
		t.Fatalf("second New with id a succeeded while a lives")
	}
	t.Logf("duplicate refused after %v: %v", took, err)
	if !errors.Is(err, ErrDuplicateID) {
		t.Errorf("error %v is not ErrDuplicateID", err)
	}
	// etcd's TTLs are whole seconds: a rise is told from the truncation
	// only after more than a second, and before the bound of the wait.
	if took < time.Second || took > maxDuplicateWait(testTTL) {
		t.Errorf("refused after %v, want after a second and within %v", took, maxDuplicateWait(testTTL))
	}

	if rev2, lease2, ok := keyOf(t, cli, prefix+"/a"); !ok || rev2 != rev || lease2 != lease || lease2 != leaseOf(a) {
		t.Errorf("a's key after the duplicate: present %v, CreateRevision %d (was %d), lease %x (was %x)", ok, rev2, rev, lease2, lease)
	}
	if !a.IsMaster() || a.State() != Refresh {
		t.Errorf("a after the duplicate: IsMaster %v, State %v", a.IsMaster(), a.State())
	}

	// A New that gives up waiting for the id returns its context's error.
	start = time.Now()
	shortCtx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	dup, err = New(shortCtx, cli2, prefix, "a", WithTTL(testTTL))
	if err == nil {
		shutdown(t, dup)
		t.Fatalf("second New with id a succeeded while a lives")
	}
	if took := time.Since(start); !errors.Is(err, context.DeadlineExceeded) || took > 2*time.Second {
		t.Errorf("New with a 300ms context on a taken id: %v after %v; want context.DeadlineExceeded at its deadline", err, took)
	}
	// a emitted nothing meanwhile: its next event is b's arrival.
	join(t, cli, prefix, "b")
	expect(t, a, events.SlaveAdd, "b")
}

// A member that crashed (no revoke) and restarts at once under the same id,
// on a new client, comes back once the old lease has run out.
func TestRestartAfterCrashSameID(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	m := join(t, cli, prefix, "m")
	expect(t, m, events.InitMaster)

	old := newClient(t, shared.Endpoints()...)
	r := join(t, old, prefix, "r")
	expect(t, r, events.InitSlave, "m")
	expect(t, m, events.SlaveAdd, "r")
	oldRev, oldLease, _ := keyOf(t, cli, prefix+"/r")
	old.Close()

	start := time.Now()
	r2 := join(t, shared.Client(t), prefix, "r")
	t.Logf("restarted member registered after %v", time.Since(start))
	ev := expect(t, r2, events.InitSlave, "m")
	checkView(t, ev, "m", "r")
	rev, lease, ok := keyOf(t, cli, prefix+"/r")
	if !ok || rev <= oldRev || lease == oldLease || lease != leaseOf(r2) {
		t.Errorf("r's key after the restart: present %v, CreateRevision %d (was %d), lease %x (was %x)", ok, rev, oldRev, lease, oldLease)
	}
	// m saw the old r expire and the new one join.
	expect(t, m, events.SlaveDel, "r")
	expect(t, m, events.SlaveAdd, "r")
	// The crashed instance went offline on its own.
	expectWithin(t, r, testTTL, events.Offline)
}

// Yield on a member that has lost its registration is a Yield on a member
// that is not master: it returns ErrNotMaster, promptly, whatever the member
// is doing to get back (here: registering again, with etcd unreachable).
func TestYieldWhileOffline(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	p := newProxy(t, shared.Members[0])
	a := join(t, p.Client(t), prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	epoch := a.Epoch()

	// Hold everything between a and etcd (bytes are kept, not dropped, as
	// in a TCP connection through a network partition).
	p.PauseTx()
	p.PauseRx()
	paused := true
	unpause := func() {
		if paused {
			paused = false
			p.UnpauseTx()
			p.UnpauseRx()
		}
	}
	defer unpause()
	expectWithin(t, a, 2*testTTL, events.Offline)
	if err := a.Yield(ctxFor(t, 3*time.Second)); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Yield right after OFFLINE: %v, want ErrNotMaster", err)
	}
	// a tries to register again, and waits for etcd.
	eventually(t, "a in INIT", waitTime, func() bool { return a.State() == Init })
	// (A short wait: the partition must end before the grant a is waiting
	// for outlives its safe deadline, which TestRejoinAfterLongPartition
	// is about.)
	start := time.Now()
	err := a.Yield(ctxFor(t, 500*time.Millisecond))
	took := time.Since(start)
	if !errors.Is(err, ErrNotMaster) || took > 250*time.Millisecond {
		t.Errorf("Yield while a registers again (state %v): %v after %v; want ErrNotMaster at once",
			a.State(), err, took.Round(time.Millisecond))
	}
	unpause()
	// a's lease may have outlived the partition in etcd: then a takes
	// its registration back, master as before, and b was never master;
	// otherwise a registers anew behind b.
	ev := next(t, a, 20*time.Second)
	switch {
	case ev.Type == events.InitMaster && ev.View.Epoch() == epoch:
		t.Logf("a took its registration back")
	case ev.Type == events.InitSlave && ev.View.Master().ID == "b":
		t.Logf("a registered anew")
	default:
		t.Fatalf("a after the partition: %v (epoch %d); want INIT_MASTER under epoch %d or INIT_SLAVE behind b", ev, ev.View.Epoch(), epoch)
	}
}

// A partition that outlasts a member's attempt to register again: the lease
// grant is answered only after the partition, later than the grant's own
// safe deadline. The member must then simply try again and come back.
//
// Not parallel: a data race in it would be reported against every test
// running at the same time.
func TestRejoinAfterLongPartition(t *testing.T) {
	cli := shared.Client(t)
	prefix := prefixOf(t)

	p := newProxy(t, shared.Members[0])
	a := join(t, p.Client(t), prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")

	p.PauseTx()
	p.PauseRx()
	paused := true
	unpause := func() {
		if paused {
			paused = false
			p.UnpauseTx()
			p.UnpauseRx()
		}
	}
	defer unpause()
	expectWithin(t, a, 2*testTTL, events.Offline)
	checkView(t, expectWithin(t, b, 2*testTTL, events.ChangeToMaster), "b")
	eventually(t, "a in INIT", waitTime, func() bool { return a.State() == Init })
	// The partition lasts two more TTLs, longer than the safe deadline of
	// the lease a has asked for: a must stay silent meanwhile.
	window := time.NewTimer(2 * testTTL)
	defer window.Stop()
	select {
	case ev := <-a.Events():
		t.Fatalf("a: %v while cut off from etcd", ev)
	case <-window.C:
	}
	if a.IsMaster() || a.State() != Init {
		t.Errorf("a while cut off: IsMaster %v, State %v; want INIT, not master", a.IsMaster(), a.State())
	}
	healAt := time.Now()
	unpause()
	ev := expectWithin(t, a, 20*time.Second, events.InitSlave, "b")
	checkView(t, ev, "b", "a")
	t.Logf("a rejoined %v after the partition", ev.Time.Sub(healAt))
	checkView(t, expect(t, b, events.SlaveAdd, "a"), "b", "a")
}
