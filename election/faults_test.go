package election

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/lease"
)

// A candidate waiting behind a leader is cut off from etcd: its campaign
// ends when its session's lease reaches its safe deadline, before etcd
// expires the lease, and it never leads on that lease. Once etcd is
// reachable again it campaigns on a new session, and wins with it when the
// leader resigns.
func TestCampaignEndsWithSession(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	p := newProxy(t, shared.Members[0])
	wcli := p.Client(t)
	defer p.Heal() // before the candidates stop: a cut-off Run waits for etcd
	prefix := prefixOf(t)
	r := newRecorder()

	l := start(t, r, cli, prefix, "l")
	r.waitFor(t, 0, waitTime, "l leading", is("l", started))
	w := start(t, r, wcli, prefix, "w")
	oldKey := waitKey(t, cli, prefix, waitTime, "w", valued("w"))
	r.waitFor(t, 0, waitTime, "w reporting l", reports("w", "l"))

	m := r.mark()
	cutAt := time.Now()
	p.Blackhole()
	ended := r.waitFor(t, m, 2*testTTL, "w's campaign ending", logs("w", "campaign ended"))
	goneAt := waitGone(t, cli, string(oldKey.Key), oldKey.ModRevision, 3*testTTL)
	t.Logf("after the cut: w's campaign ended at +%v, etcd deleted its key at +%v", ended.at.Sub(cutAt), goneAt.Sub(cutAt))
	if err, _ := ended.attrs["lease"].(error); !errors.Is(err, lease.ErrDeadline) {
		t.Errorf("w's campaign ended with lease error %v, want its safe deadline (%v)", ended.attrs["lease"], lease.ErrDeadline)
	}
	if !ended.at.Before(goneAt) {
		t.Errorf("w's campaign ended at %s, not before etcd expired its lease at %s", stamp(ended.at), stamp(goneAt))
	}
	if d := ended.at.Sub(cutAt); d >= testTTL {
		t.Errorf("w's campaign ended %v after the cut, want within the TTL %v", d, testTTL)
	}
	if w.IsLeader() {
		t.Error("w claims to lead while cut off")
	}

	healAt := time.Now()
	p.Heal()
	newKey := waitKey(t, cli, prefix, healTime, "w on a new session", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "w" && kv.Lease != oldKey.Lease
	})
	t.Logf("w campaigned again %v after the heal, lease %x (was %x)", time.Since(healAt), newKey.Lease, oldKey.Lease)
	if newKey.CreateRevision <= oldKey.CreateRevision {
		t.Errorf("w's new key created at %d, not after its old one at %d", newKey.CreateRevision, oldKey.CreateRevision)
	}

	// l resigns: w wins, on its new session.
	m2 := r.mark()
	if err := l.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatalf("l.Resign: %v", err)
	}
	r.waitFor(t, m2, waitTime, "w leading", is("w", started))
	ld := checkLeader(t, cli, prefix, "w", l, w)
	if ld.ID != leaseHex(newKey.Lease) || ld.Epoch != newKey.CreateRevision {
		t.Errorf("w leads with key %s (epoch %d), want its new session's key %s (epoch %d)", ld.Key, ld.Epoch, newKey.Key, newKey.CreateRevision)
	}
	checkRoles(t, ld, w, l, w)
	ttl, err := cli.TimeToLive(ctxFor(t, waitTime), clientv3.LeaseID(newKey.Lease))
	if err != nil || ttl.TTL <= 0 {
		t.Errorf("w's lease while it leads: TTL %v, %v; want alive", ttl.TTL, err)
	}
	if starts := r.find(0, is("w", started)); len(starts) != 1 {
		t.Errorf("w started leading %d times, want once; events:%s", len(starts), r.dump())
	}
}

// The phantom leader of the plain recipe: a waiting candidate w is cut off
// until etcd expires its lease, and the leader resigns meanwhile. The other
// waiting candidate h wins; w never starts leading, neither while cut off
// nor after.
func TestNoPhantomLeader(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	p := newProxy(t, shared.Members[0])
	wcli := p.Client(t)
	defer p.Release()
	prefix := prefixOf(t)
	r := newRecorder()

	l := start(t, r, cli, prefix, "l")
	r.waitFor(t, 0, waitTime, "l leading", is("l", started))
	w := start(t, r, wcli, prefix, "w")
	wKey := waitKey(t, cli, prefix, waitTime, "w", valued("w"))
	h := start(t, r, cli, prefix, "h")
	hKey := waitKey(t, cli, prefix, waitTime, "h", valued("h"))
	if hKey.CreateRevision <= wKey.CreateRevision {
		t.Fatalf("h's key (%d) is not behind w's (%d)", hKey.CreateRevision, wKey.CreateRevision)
	}
	r.waitFor(t, 0, waitTime, "w reporting l", reports("w", "l"))

	cutAt := time.Now()
	// Held, not dropped: a real partition holds a live connection's bytes.
	// (A blackhole drops them inside the connection, which can leave it
	// rejecting every request after the heal.)
	p.Hold()
	expiredAt := waitGone(t, cli, string(wKey.Key), wKey.ModRevision, 3*testTTL)
	t.Logf("etcd expired w's lease %v after the cut", expiredAt.Sub(cutAt))

	m := r.mark()
	if err := l.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatalf("l.Resign: %v", err)
	}
	hStart := r.waitFor(t, m, waitTime, "h leading", is("h", started))
	ld := checkLeader(t, cli, prefix, "h", l, h)
	checkRoles(t, ld, h, l, h, w)
	if w.IsLeader() {
		t.Errorf("w, cut off, claims to lead")
	}

	healAt := time.Now()
	p.Release()
	// w comes back as a candidate behind h, and sees h lead.
	waitKey(t, cli, prefix, healTime, "w on a new session", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "w" && kv.Lease != wKey.Lease
	})
	r.waitFor(t, m, healTime, "w reporting h", reports("w", "h"))
	t.Logf("w back and following h %v after the heal", time.Since(healAt))
	ld = checkLeader(t, cli, prefix, "h", l, h, w)
	checkRoles(t, ld, h, l, h, w)
	for _, ev := range r.find(0, is("w", started)) {
		t.Errorf("w started leading at %s (cut off %s, h started %s, healed %s); events:%s",
			stamp(ev.at), stamp(cutAt), stamp(hStart.at), stamp(healAt), r.dump())
	}
}

// A leader cut off from etcd ends its leadership, its context and then
// OnStoppedLeading, before any other candidate starts leading; the next
// candidate takes over within about the TTL. Once etcd is reachable again
// the old leader campaigns again, behind the others.
func TestLeaderCutOff(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	p := newProxy(t, shared.Members[0])
	acli := p.Client(t)
	defer p.Heal()
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, acli, prefix, "a")
	aStart := r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	c := start(t, r, cli, prefix, "c")
	cKey := waitKey(t, cli, prefix, waitTime, "c", valued("c"))
	old := checkLeader(t, cli, prefix, "a", a, b, c)

	m := r.mark()
	cutAt := time.Now()
	p.Blackhole()
	bStart := r.waitFor(t, m, testTTL+5*time.Second, "b leading", is("b", started))
	aDone := r.waitFor(t, m, waitTime, "a's leadership context cancelled", is("a", ctxDone))
	aStop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	t.Logf("after the cut: a's context cancelled +%v, a stopped +%v, b started +%v",
		aDone.at.Sub(cutAt), aStop.at.Sub(cutAt), bStart.at.Sub(cutAt))
	if aStart.ctx.Err() == nil {
		t.Error("a's leadership context not cancelled")
	}
	if !aDone.at.Before(bStart.at) {
		t.Errorf("a's leadership context cancelled at %s, not before b's OnStartedLeading at %s", stamp(aDone.at), stamp(bStart.at))
	}
	if !aStop.at.Before(bStart.at) || !aStop.ctxCancelled {
		t.Errorf("a's OnStoppedLeading at %s (context cancelled: %v), b's OnStartedLeading at %s; want a's first, after its context",
			stamp(aStop.at), aStop.ctxCancelled, stamp(bStart.at))
	}
	if d := aDone.at.Sub(cutAt); d >= testTTL {
		t.Errorf("a's leadership ended %v after the cut, want within its TTL %v", d, testTTL)
	}
	if d := bStart.at.Sub(cutAt); d >= testTTL+3*time.Second {
		t.Errorf("b took over %v after the cut, want under TTL + 3s", d)
	}
	if a.IsLeader() || a.Epoch() != 0 {
		t.Errorf("a after its leadership ended: IsLeader %v, Epoch %d", a.IsLeader(), a.Epoch())
	}
	if others := r.find(m, func(ev event) bool { return ev.kind == started && ev.who != "b" }); len(others) != 0 {
		t.Errorf("others started leading: %v", others)
	}
	ld := checkLeader(t, cli, prefix, "b", b, c)
	checkRoles(t, ld, b, a, b, c)
	r.waitFor(t, m, waitTime, "c reporting b", reports("c", "b"))

	healAt := time.Now()
	p.Heal()
	aKey := waitKey(t, cli, prefix, healTime, "a on a new session", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "a" && kv.CreateRevision > old.Epoch
	})
	t.Logf("a campaigned again %v after the heal", time.Since(healAt))
	if aKey.CreateRevision <= cKey.CreateRevision || leaseHex(aKey.Lease) == old.ID {
		t.Errorf("a's new key: %s, created at %d, lease %x; want behind c's (%d) on a new lease (not %s)",
			aKey.Key, aKey.CreateRevision, aKey.Lease, cKey.CreateRevision, old.ID)
	}
	r.waitFor(t, m, healTime, "a reporting b", reports("a", "b"))
	if n := len(r.find(0, is("a", started))); n != 1 {
		t.Errorf("a started leading %d times, want once; events:%s", n, r.dump())
	}
}

// A leader whose process dies (its client closes without revoking) is
// replaced within TTL + 1s; it gave up its leadership before that.
func TestCrashFailover(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	acli := newClient(t, shared.Endpoints()...)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, acli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))
	checkLeader(t, cli, prefix, "a", a, b)

	m := r.mark()
	closeAt := time.Now()
	acli.Close() // no revoke: etcd expires a's lease after its TTL
	bStart := r.waitFor(t, m, testTTL+5*time.Second, "b leading", is("b", started))
	failover := bStart.at.Sub(closeAt)
	t.Logf("failover %v after the crash", failover)
	if failover >= testTTL+time.Second {
		t.Errorf("b took over %v after a's client closed, want under TTL + 1s = %v", failover, testTTL+time.Second)
	}
	aStop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	if !aStop.at.Before(bStart.at) {
		t.Errorf("a stopped leading at %s, not before b started at %s", stamp(aStop.at), stamp(bStart.at))
	}
	ld := checkLeader(t, cli, prefix, "b", b)
	checkRoles(t, ld, b, a, b)
}
