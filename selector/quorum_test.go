package selector

import (
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// The etcd cluster loses its quorum: with no raft leader no keep-alive is
// answered, so every member goes offline by its safe deadline and none is
// master; once the quorum is back they take their registrations back,
// which etcd kept (a leader elected again extends every lease): a is master
// again under the same epoch, and b its slave.
//
// Not parallel: three etcd servers under the race detector would slow the
// timing-sensitive tests running beside it.
func TestQuorumLoss(t *testing.T) {
	cluster := etcdtest.StartCluster(t, 3)
	// Both members talk to etcd member 0 only, which is left without a
	// leader.
	cli := etcdtest.Client(t, cluster.Members[0].ClientURL)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	_, oldA, _ := keyOf(t, cli, prefix+"/a")
	_, oldB, _ := keyOf(t, cli, prefix+"/b")
	aMaster := whenDone(a.MasterContext())
	epoch := a.Epoch()

	stopping := time.Now()
	cluster.Members[1].Stop()
	cluster.Members[2].Stop()
	stopped := time.Now()
	// The quorum is gone; etcd member 0 renews leases no more once it knows
	// it has no leader (a raft leader without quorum steps down within two
	// election timeouts).
	eventually(t, "etcd member 0 without a leader", waitTime, func() bool {
		return cluster.Members[0].Etcd().Server.Leader() == 0
	})
	cut := time.Now()
	t.Logf("stopping two etcd members took %v; member 0 without a leader %v later", stopped.Sub(stopping), cut.Sub(stopped))
	offA := expectWithin(t, a, 2*testTTL, events.Offline)
	offB := expectWithin(t, b, 2*testTTL, events.Offline)
	cancelAt := aMaster.wait(t, "a's MasterContext", waitTime)
	t.Logf("no leader: a's mastership ended at %+v, OFFLINE a %+v, b %+v",
		cancelAt.Sub(cut), offA.Time.Sub(cut), offB.Time.Sub(cut))
	// The safe deadline is at most TTL - margin after the last keep-alive
	// etcd answered.
	if limit := testTTL; cancelAt.Sub(cut) > limit {
		t.Errorf("a's mastership ended %v after etcd had no leader, want within the TTL (%v)", cancelAt.Sub(cut), limit)
	}
	if a.IsMaster() || b.IsMaster() {
		t.Errorf("a master without quorum: a %v, b %v", a.IsMaster(), b.IsMaster())
	}

	restarting := time.Now()
	if err := cluster.Members[1].Restart(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatalf("restart etcd member 1: %v", err)
	}
	back := time.Now()
	t.Logf("restarting etcd member 1 took %v", back.Sub(restarting))
	evA := next(t, a, 30*time.Second)
	evB := next(t, b, 30*time.Second)
	t.Logf("quorum back: a %v at +%v, b %v at +%v", evA, evA.Time.Sub(back), evB, evB.Time.Sub(back))
	if evA.Type != events.InitMaster || evB.Type != events.InitSlave {
		t.Fatalf("first events after the quorum is back: a %v, b %v; want a INIT_MASTER, b INIT_SLAVE", evA, evB)
	}
	if evA.View.Epoch() != epoch || evB.View.Epoch() != epoch {
		t.Errorf("epoch after the take-back: a %d, b %d; want %d, as before", evA.View.Epoch(), evB.View.Epoch(), epoch)
	}
	for _, s := range []*Selector{a, b} {
		eventually(t, s.ID()+" sees both members", waitTime, func() bool { return len(s.View().Members) == 2 })
	}
	if !a.IsMaster() || b.IsMaster() {
		t.Errorf("a.IsMaster %v, b.IsMaster %v: want a master, b slave", a.IsMaster(), b.IsMaster())
	}
	// Taken back, never written: the same keys on the same leases.
	_, newA, _ := keyOf(t, cli, prefix+"/a")
	_, newB, _ := keyOf(t, cli, prefix+"/b")
	if newA != oldA || newB != oldB || newA != leaseOf(a) || newB != leaseOf(b) {
		t.Errorf("keys after the take-back: a lease %x (was %x, member's %x), b lease %x (was %x, member's %x)",
			newA, oldA, leaseOf(a), newB, oldB, leaseOf(b))
	}
}
