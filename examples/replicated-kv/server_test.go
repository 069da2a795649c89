package main

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

// Writes are applied on every in-sync slave before they are acknowledged,
// and the in-sync set recorded in etcd is the master and every slave.
func TestReplication(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	epoch := waitServing(t, a)
	b := c.start("b", nil)
	cc := c.start("c", nil)
	rec := c.waitISR(a, b, cc)
	if rec.Epoch != epoch || rec.Master != a.id {
		t.Fatalf("in-sync set written by %s at epoch %d, want %s at %d", rec.Master, rec.Epoch, a.id, epoch)
	}
	kv, _ := direct(t, a)
	for i := range 30 {
		putN(t, kv, i, i+1)
		// Acknowledged means applied on every in-sync slave already.
		for _, s := range []*server{b, cc} {
			if !hasAll(s.st, i+1) {
				t.Fatalf("key-%d acknowledged but not on slave %s", i, s.cfg.Name)
			}
		}
	}
	r, err := kv.delete(ctxFor(t, 10*time.Second), "key-3")
	if err != nil || !r.GetFound() {
		t.Fatalf("delete key-3: %v, found %v", err, r.GetFound())
	}
	for _, s := range []*server{a, b, cc} {
		if _, ok, _ := s.st.get("key-3"); ok {
			t.Errorf("key-3 still on %s after an acknowledged delete", s.cfg.Name)
		}
	}
	g, err := kv.get(ctxFor(t, 10*time.Second), "key-7")
	if err != nil || !g.GetFound() || string(g.GetValue()) != "value-7" || g.GetEpoch() != epoch {
		t.Fatalf("get key-7 = %v, %v; want value-7 at epoch %d", g, err, epoch)
	}

	// A slave answers clients UNAVAILABLE, so that they look for the master.
	skv, _ := direct(t, b)
	_, err = skv.kv.Put(ctxFor(t, 5*time.Second), &kvpb.PutRequest{Key: "x", Value: []byte("y")})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("put on a slave: %v, want UNAVAILABLE", err)
	}
	_, err = kv.kv.Put(ctxFor(t, 5*time.Second), &kvpb.PutRequest{Key: ""})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("put with an empty key: %v, want INVALID_ARGUMENT", err)
	}
}

// A slave that joins catches up from a snapshot before it counts as in
// sync, and gets every write after.
func TestCatchUp(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 40)
	c.waitISR(a)
	b := c.start("b", nil)
	c.waitISR(a, b)
	if !hasAll(b.st, 40) {
		t.Fatal("b in the in-sync set without the writes acknowledged before it joined")
	}
	putN(t, kv, 40, 50)
	if !hasAll(b.st, 50) {
		t.Fatal("b missed a write acknowledged after it joined")
	}
}

// A slave that leaves (SLAVE_DEL) leaves the in-sync set, and writes go on.
func TestSlaveLeaves(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	b := c.start("b", nil)
	cc := c.start("c", nil)
	c.waitISR(a, b, cc)
	if err := cc.Close(); err != nil {
		t.Fatal(err)
	}
	c.waitISR(a, b)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 10)
	if !hasAll(b.st, 10) {
		t.Fatal("b missed acknowledged writes")
	}
}

// A slave whose Sync calls fail leaves the in-sync set before the write is
// acknowledged, and is caught up again once it answers.
func TestSlowSlaveLeavesAndReturns(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	var failing failSwitch
	b := c.start("b", func(cfg *config) { cfg.syncHook = failing.hook })
	c.waitISR(a, b)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 5)
	failing.on.Store(true)
	putN(t, kv, 5, 10) // acknowledged without b...
	if got := c.isr(); got.has(b.id) {
		t.Fatalf("write acknowledged while b, which did not apply it, is in the in-sync set %v", got.Members)
	}
	failing.on.Store(false)
	c.waitISR(a, b) // ...which comes back after a snapshot
	if !hasAll(b.st, 10) {
		t.Fatal("b back in the in-sync set without every acknowledged write")
	}
}

// The master's epoch fences every Sync call: a slave rejects an epoch older
// than the newest it has seen, so a deposed master cannot overwrite it.
func TestStaleEpochRejected(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	epoch := waitServing(t, a)
	b := c.start("b", nil)
	c.waitISR(a, b)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 5)
	_, sync := direct(t, b)
	_, idx, _ := b.st.state()
	_, err := sync.Apply(ctxFor(t, 5*time.Second), &kvpb.ApplyRequest{Epoch: epoch - 1, Master: "old", Index: idx + 1,
		Op: &kvpb.Op{Kind: kvpb.Op_PUT, Key: "key-0", Value: []byte("stale")}})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Apply with a stale epoch: %v, want FAILED_PRECONDITION", err)
	}
	_, err = sync.Snapshot(ctxFor(t, 5*time.Second), &kvpb.SnapshotRequest{Epoch: epoch - 1, Master: "old", Index: 1})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Snapshot with a stale epoch: %v, want FAILED_PRECONDITION", err)
	}
	// A snapshot must come from the member whose key has that epoch: a
	// made-up epoch, even a newer one, is refused.
	_, err = sync.Snapshot(ctxFor(t, 5*time.Second), &kvpb.SnapshotRequest{Epoch: epoch + 1000, Master: a.id, Index: 1})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Snapshot with an epoch of no master: %v, want FAILED_PRECONDITION", err)
	}
	_, err = sync.Snapshot(ctxFor(t, 5*time.Second), &kvpb.SnapshotRequest{Epoch: epoch, Master: "someone", Index: 1})
	if status.Code(err) != codes.FailedPrecondition {
		t.Errorf("Snapshot from a member that is not master: %v, want FAILED_PRECONDITION", err)
	}
	if !hasAll(b.st, 5) {
		t.Fatal("a stale-epoch call changed the slave's data")
	}
	// The master's own writes go on.
	putN(t, kv, 5, 6)
}

// Yield (CHANGE_TO_SLAVE) stops writes at once; the next member, in sync,
// takes over with every acknowledged write.
func TestYieldStopsWrites(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	epoch := waitServing(t, a)
	b := c.start("b", nil)
	c.waitISR(a, b)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 20)
	if err := a.sel.Yield(ctxFor(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err := kv.kv.Put(ctxFor(t, 5*time.Second), &kvpb.PutRequest{Key: "late", Value: []byte("x")})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("put on a master that yielded: %v, want UNAVAILABLE at once", err)
	}
	if e := waitServing(t, b); e <= epoch {
		t.Fatalf("b's epoch %d, want more than %d", e, epoch)
	}
	if !hasAll(b.st, 20) {
		t.Fatal("new master lacks acknowledged writes")
	}
	if _, ok, _ := b.st.get("late"); ok {
		t.Fatal("a write refused by the old master is on the new one")
	}
	c.waitISR(b, a) // a, now a slave, is caught up from a snapshot
}

// A slave that is not in sync does not become master while an in-sync one
// is alive: it yields to it.
func TestNotInSyncYields(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	// c joins before b, so it is next in line, but never gets in sync.
	cc := c.start("c", func(cfg *config) {
		cfg.syncHook = func(string) error { return errors.New("test: never in sync") }
	})
	b := c.start("b", nil)
	c.waitISR(a, b)
	if next := a.sel.View().Members[1].ID; next != cc.id {
		t.Fatalf("next in line is %s, want c (%s)", next, cc.id)
	}
	kv, _ := direct(t, a)
	putN(t, kv, 0, 30)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, b)
	if !hasAll(b.st, 30) {
		t.Fatal("new master lacks acknowledged writes")
	}
	// Yield may return just after b took over.
	waitFor(t, 5*time.Second, "yield by c", func() bool { return cc.statsNow().yielded > 0 })
	st := cc.statsNow()
	if st.ready != 0 || st.unclean != 0 {
		t.Fatalf("c: %+v; want it to have yielded, never served", st)
	}
	bkv, _ := direct(t, b)
	putN(t, bkv, 30, 31)
}

// A member not in sync whose Yield keeps failing while an in-sync member is
// alive must go on waiting, past UncleanWait: taking over would send its
// empty store to the in-sync member and lose every acknowledged write.
func TestNotInSyncNeverTakesOverWhileInSyncAlive(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	const uncleanWait = time.Second
	var (
		mu        sync.Mutex
		failYield = true
		lastFail  time.Time
	)
	// c joins before b, so it is next in line, but never gets in sync.
	cc := c.start("c", func(cfg *config) {
		cfg.UncleanWait = uncleanWait
		cfg.syncHook = func(string) error { return errors.New("test: never in sync") }
		cfg.yieldHook = func() error {
			mu.Lock()
			defer mu.Unlock()
			if !failYield {
				return nil
			}
			lastFail = time.Now()
			return errors.New("test: yield fails")
		}
	})
	b := c.start("b", nil)
	c.waitISR(a, b)
	if next := a.sel.View().Members[1].ID; next != cc.id {
		t.Fatalf("next in line is %s, want c (%s)", next, cc.id)
	}
	kv, _ := direct(t, a)
	putN(t, kv, 0, 10)
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// c is master and tries to yield; wait for a failed try well past
	// UncleanWait, which shows it still waits.
	waitFor(t, 15*time.Second, "a failed yield by c past UncleanWait", func() bool {
		if st := cc.statsNow(); st.unclean != 0 || st.ready != 0 {
			t.Fatalf("c: %+v; it took over while b, in sync, was alive", st)
		}
		mu.Lock()
		defer mu.Unlock()
		return lastFail.After(closed.Add(uncleanWait + 500*time.Millisecond))
	})
	mu.Lock()
	failYield = false
	mu.Unlock()
	waitServing(t, b)
	if !hasAll(b.st, 10) {
		t.Fatal("new master lacks acknowledged writes")
	}
	if st := cc.statsNow(); st.unclean != 0 || st.ready != 0 || st.yielded == 0 {
		t.Fatalf("c: %+v; want it to have yielded, never served", st)
	}
}

// The limit: with every in-sync member gone, a member not in sync takes
// over after UncleanWait, with what it has.
func TestUncleanTakeover(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	cc := c.start("c", func(cfg *config) {
		cfg.UncleanWait = time.Second
		cfg.syncHook = func(string) error { return errors.New("test: never in sync") }
	})
	kv, _ := direct(t, a)
	putN(t, kv, 0, 5)
	c.waitISR(a)
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	waitServing(t, cc)
	if d := time.Since(closed); d < time.Second {
		t.Errorf("c took over %v after a left, want after UncleanWait (1s)", d)
	}
	if st := cc.statsNow(); st.unclean != 1 {
		t.Errorf("c: %+v, want one unclean takeover", st)
	}
	c.waitISR(cc)
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  config
		want string
	}{
		{config{Name: "a"}, "prefix"},
		{config{Prefix: "kv", Name: "a"}, "prefix"},
		{config{Prefix: "/kv"}, "name"},
		{config{Prefix: "/kv", Name: "a#1"}, "name"},
		{config{Prefix: "/kv", Name: "a/1"}, "name"},
		{config{Prefix: "/kv", Name: "a", TTL: 1500 * time.Millisecond}, "ttl"},
		{config{Prefix: "/kv", Name: "a", ReplicationTimeout: -1}, "replication-timeout"},
		{config{Prefix: "/kv", Name: "a", UncleanWait: -1}, "unclean-wait"},
		{config{Prefix: "/kv", Name: "a", Advertise: "localhost"}, "advertise"},
	} {
		t.Run(fmt.Sprint(tc.cfg.Prefix, tc.cfg.Name, tc.want), func(t *testing.T) {
			err := tc.cfg.validate()
			if !errors.Is(err, errInvalidConfig) || !containsWord(err.Error(), tc.want) {
				t.Fatalf("validate: %v, want an invalid config naming %s", err, tc.want)
			}
		})
	}
}

// Members are known by incarnation (name#nonce), not by key: a member whose
// key was deleted registers again under the same id, and comes back into
// the in-sync set after a snapshot; a master that lost its key that way
// hands over to an in-sync slave and comes back as a slave.
func TestReregistration(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	epoch := waitServing(t, a)
	b := c.start("b", nil)
	c.waitISR(a, b)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 10)

	if _, err := c.cli.Delete(ctxFor(t, 5*time.Second), b.sel.Key()); err != nil {
		t.Fatal(err)
	}
	// b is caught up again (a second snapshot) once it is back, and only
	// then in the in-sync set again.
	waitFor(t, 10*time.Second, "b caught up after registering again", func() bool { return b.st.snapshots() >= 2 })
	c.waitISR(a, b)
	putN(t, kv, 10, 20)
	if !hasAll(b.st, 20) {
		t.Fatal("b lacks acknowledged writes")
	}

	if _, err := c.cli.Delete(ctxFor(t, 5*time.Second), a.sel.Key()); err != nil {
		t.Fatal(err)
	}
	if e := waitServing(t, b); e <= epoch {
		t.Fatalf("b serves at epoch %d, want more than %d", e, epoch)
	}
	c.waitISR(b, a)
	if !hasAll(b.st, 20) || !hasAll(a.st, 20) {
		t.Fatal("acknowledged writes lost")
	}
}
