package selector

import (
	"context"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// etcd is down for longer than the TTL: every member goes OFFLINE by its
// safe deadline; etcd comes back with every lease restored, and each member
// takes its registration back, so that the master afterwards is the master
// from before, under the same epoch, and no other member was master in
// between. For outages of 3×TTL and 20×TTL.
func TestOutageKeepsMaster(t *testing.T) {
	for _, outage := range []time.Duration{3 * testTTL, 20 * testTTL} {
		t.Run(outage.String(), func(t *testing.T) {
			t.Parallel()
			testOutageKeepsMaster(t, outage)
		})
	}
}

func testOutageKeepsMaster(t *testing.T, outage time.Duration) {
	cluster := etcdtest.Start(t)
	prefix := prefixOf(t)
	var members []*Selector
	for _, id := range []string{"a", "b", "c"} {
		// A client each, as members run in processes of their own.
		m := join(t, newClient(t, cluster.Endpoints()...), prefix, id)
		members = append(members, m)
	}
	a, b, c := members[0], members[1], members[2]
	expect(t, a, events.InitMaster)
	expect(t, a, events.SlaveAdd, "b")
	expect(t, a, events.SlaveAdd, "c")
	expect(t, b, events.InitSlave, "a")
	expect(t, b, events.SlaveAdd, "c")
	expect(t, c, events.InitSlave, "a")
	epoch := a.Epoch()

	stopped := time.Now()
	cluster.Members[0].Stop()
	for _, m := range members {
		expectWithin(t, m, 2*testTTL, events.Offline)
	}
	// Nobody is master while etcd is down, however long.
	timer := time.NewTimer(outage - time.Since(stopped))
	defer timer.Stop()
	for _, m := range members {
		select {
		case ev, ok := <-m.Events():
			t.Fatalf("%s: %v (open %v) while etcd is down", m.ID(), ev, ok)
		case <-timer.C:
			timer.Reset(0)
		}
	}
	restart := time.Now()
	if err := cluster.Members[0].Restart(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	back := time.Now()
	t.Logf("etcd down %v; restart took %v", back.Sub(stopped), back.Sub(restart))

	// a may take its registration back before or after the others: its
	// first view has those back by then.
	evA := next(t, a, 3*testTTL)
	if evA.Type != events.InitMaster || evA.View.Epoch() != epoch {
		t.Errorf("a after the outage: %v under epoch %d, want INIT_MASTER under epoch %d as before", evA, evA.View.Epoch(), epoch)
	}
	for _, m := range []*Selector{b, c} {
		ev := next(t, m, 3*testTTL)
		if ev.Type != events.InitSlave || ev.View.Master().ID != "a" || ev.View.Epoch() != epoch {
			t.Errorf("%s after the outage: %v (epoch %d), want INIT_SLAVE behind a under epoch %d", m.ID(), ev, ev.View.Epoch(), epoch)
		}
		t.Logf("%s back %v after etcd", m.ID(), ev.Time.Sub(back))
	}
	t.Logf("a back as master %v after etcd", evA.Time.Sub(back))
	// Each took back its own key: same leases, same CreateRevisions.
	cli := etcdtest.Client(t, cluster.Endpoints()...)
	for _, m := range members {
		rev, l, ok := keyOf(t, cli, m.Key())
		if !ok || l != leaseOf(m) {
			t.Errorf("%s's key after the outage: present %v, lease %x, member's lease %x", m.ID(), ok, l, leaseOf(m))
		}
		if m == a && rev != epoch {
			t.Errorf("a's key CreateRevision %d after the outage, want %d", rev, epoch)
		}
	}
	// And the group goes on: a's Close hands over to b.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	took, _ := waitFor(t, b, events.ChangeToMaster, waitTime)
	checkView(t, took, "b", "c")
}

// A member restarting under its old id waits for the old lease, whose TTL
// etcd extends when it elects a new leader: a leader change during the wait
// is no proof of a live holder, and the member registers once the old lease
// runs out.
func TestNoFalseDuplicateOnLeaderChange(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.StartCluster(t, 3)
	prefix := prefixOf(t)
	const ttl = 3 * time.Second
	old := newClient(t, cluster.Endpoints()...)
	m := join(t, old, prefix, "m", WithTTL(ttl))
	expect(t, m, events.InitMaster)
	// A crash: the client goes without revoking the lease.
	old.Close()

	moved := make(chan error, 1)
	go func() {
		time.Sleep(1500 * time.Millisecond) // into the wait, as the trials did
		lead := cluster.Leader()
		if lead < 0 {
			moved <- nil
			return
		}
		to := cluster.Members[(lead+1)%3].Etcd().Server.MemberID()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		moved <- cluster.Members[lead].Etcd().Server.MoveLeader(ctx, uint64(cluster.Members[lead].Etcd().Server.MemberID()), uint64(to))
	}()
	start := time.Now()
	m2, err := New(ctxFor(t, 30*time.Second), etcdtest.Client(t, cluster.Endpoints()...), prefix, "m", WithTTL(ttl))
	if err != nil {
		t.Fatalf("New after the crash, with etcd's leader moved during the wait: %v after %v", err, time.Since(start))
	}
	t.Cleanup(func() { shutdown(t, m2) })
	if err := <-moved; err != nil {
		t.Fatalf("move etcd's leader: %v", err)
	}
	t.Logf("registered %v after the crash", time.Since(start))
	expect(t, m2, events.InitMaster)
}
