package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Three candidates started in order: the first leads, every candidate
// reports it, and the leader etcdctl would name is the one the package
// reports, at every change of leader until none is left.
func TestBasic(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	c := start(t, r, cli, prefix, "c")
	waitKey(t, cli, prefix, waitTime, "c", valued("c"))
	all := []*cand{a, b, c}

	kvs, _ := keys(t, cli, prefix)
	if len(kvs) != 3 {
		t.Fatalf("%d keys under the prefix, want 3", len(kvs))
	}
	for i, want := range []string{"a", "b", "c"} {
		if got := string(kvs[i].Value); got != want {
			t.Fatalf("key %d by creation has value %q, want %q", i, got, want)
		}
	}
	aKey := kvs[0]
	want := Leader{Key: string(aKey.Key), ID: leaseHex(aKey.Lease), Value: "a", Epoch: aKey.CreateRevision}
	for _, who := range []string{"a", "b", "c"} {
		ev := r.waitFor(t, 0, waitTime, who+" reporting a", reports(who, "a"))
		if ev.leader != want {
			t.Errorf("%s: OnNewLeader(%+v), want %+v", who, ev.leader, want)
		}
	}
	if got := checkLeader(t, cli, prefix, "a", all...); got != want {
		t.Errorf("etcd names %+v, want %+v", got, want)
	}
	checkRoles(t, want, a, all...)
	for _, e := range all {
		if got := e.Observed(); got != want {
			t.Errorf("%s: Observed() = %+v, want %+v", e.name, got, want)
		}
	}
	if n := len(r.find(0, func(ev event) bool { return ev.kind == started && ev.who != "a" })); n != 0 {
		t.Errorf("%d other candidates started leading while a leads; events:%s", n, r.dump())
	}

	// a leaves (its Run ends): b leads; then c; then nobody.
	for i, next := range []string{"b", "c"} {
		m := r.mark()
		all[i].stop()
		ev := r.waitFor(t, m, waitTime, next+" leading", is(next, started))
		rest := all[i+1:]
		l := checkLeader(t, cli, prefix, next, rest...)
		for _, e := range rest {
			got := r.waitFor(t, m, waitTime, e.name+" reporting "+next, reports(e.name, next)).leader
			if got != l {
				t.Errorf("%s: OnNewLeader(%+v), etcd names %+v", e.name, got, l)
			}
		}
		checkRoles(t, l, all[i+1], rest...)
		if l.Epoch <= want.Epoch {
			t.Errorf("%s's epoch %d is not above the previous leader's %d", next, l.Epoch, want.Epoch)
		}
		want = l
		stop := r.waitFor(t, m, waitTime, all[i].name+" stopping", is(all[i].name, stopped))
		if !stop.at.Before(ev.at) {
			t.Errorf("%s stopped leading at %s, not before %s started at %s", all[i].name, stamp(stop.at), next, stamp(ev.at))
		}
	}
	c.stop()
	checkLeader(t, cli, prefix, "", a)
	if kvs, _ := keys(t, cli, prefix); len(kvs) != 0 {
		t.Errorf("%d keys left under the prefix after every Run returned", len(kvs))
	}
	if n := len(r.find(0, is("a", started))); n != 1 {
		t.Errorf("a started leading %d times, want once", n)
	}
}

// Resign hands over to the next candidate at once, and the leadership ends
// before the successor's starts. The one who resigned campaigns again
// behind the others.
func TestResignHandOver(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	// a reaches etcd through a proxy, which delays what etcd sends it
	// during the hand-over: a must end its leadership before it asks etcd
	// to delete its key, not when etcd answers.
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
	all := []*cand{a, b, c}
	old := checkLeader(t, cli, prefix, "a", all...)

	m := r.mark()
	p.DelayRx(300*time.Millisecond, 0)
	resignAt := time.Now()
	if err := a.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatalf("a.Resign: %v", err)
	}
	p.Heal()
	if a.IsLeader() || a.Epoch() != 0 {
		t.Errorf("after Resign returned: a.IsLeader %v, Epoch %d", a.IsLeader(), a.Epoch())
	}
	if aStart.ctx.Err() == nil {
		t.Errorf("after Resign returned, a's leadership context is not cancelled")
	}
	bStart := r.waitFor(t, m, waitTime, "b leading", is("b", started))
	aDone := r.waitFor(t, m, waitTime, "a's leadership context cancelled", is("a", ctxDone))
	aStop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	handOver := bStart.at.Sub(resignAt)
	t.Logf("hand-over: a's context cancelled +%v, a stopped +%v, b started +%v after Resign was called",
		aDone.at.Sub(resignAt), aStop.at.Sub(resignAt), handOver)
	if !aStop.ctxCancelled {
		t.Errorf("a's OnStoppedLeading was called before its leadership context was cancelled")
	}
	if !aStop.at.Before(bStart.at) {
		t.Errorf("a's OnStoppedLeading at %s, not before b's OnStartedLeading at %s", stamp(aStop.at), stamp(bStart.at))
	}
	if !aDone.at.Before(bStart.at) {
		t.Errorf("a's leadership context cancelled at %s, not before b's OnStartedLeading at %s", stamp(aDone.at), stamp(bStart.at))
	}
	if handOver >= time.Second {
		t.Errorf("b started leading %v after a's Resign, want under 1s", handOver)
	}
	l := checkLeader(t, cli, prefix, "b", all...)
	checkRoles(t, l, b, all...)

	// a campaigns again, behind c.
	aKey := waitKey(t, cli, prefix, waitTime, "a again", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "a" && kv.CreateRevision > old.Epoch
	})
	if aKey.CreateRevision <= cKey.CreateRevision {
		t.Fatalf("a's new key was created at %d, not after c's at %d", aKey.CreateRevision, cKey.CreateRevision)
	}
	if string(aKey.Key) != old.Key {
		t.Errorf("a campaigns again with key %s, want its session's key %s", aKey.Key, old.Key)
	}
	for _, e := range []*cand{a, c} {
		if got := r.waitFor(t, m, waitTime, e.name+" reporting b", reports(e.name, "b")).leader; got != l {
			t.Errorf("%s: OnNewLeader(%+v), want %+v", e.name, got, l)
		}
	}

	// Resign on a candidate that is not leader.
	for _, e := range []*cand{a, c} {
		if err := e.Resign(ctxFor(t, waitTime)); !errors.Is(err, ErrNotLeader) {
			t.Errorf("%s.Resign while b leads: %v, want ErrNotLeader", e.name, err)
		}
	}

	// b resigns: c, not a, is next.
	m = r.mark()
	resignAt = time.Now()
	if err := b.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatalf("b.Resign: %v", err)
	}
	cStart := r.waitFor(t, m, waitTime, "c leading", is("c", started))
	bStop := r.waitFor(t, m, waitTime, "b stopping", is("b", stopped))
	t.Logf("second hand-over: %v", cStart.at.Sub(resignAt))
	if !bStop.at.Before(cStart.at) || !bStop.ctxCancelled {
		t.Errorf("b stopped at %s (context cancelled: %v), c started at %s; want b's stop, after its context, first",
			stamp(bStop.at), bStop.ctxCancelled, stamp(cStart.at))
	}
	if cStart.at.Sub(resignAt) >= time.Second {
		t.Errorf("c started leading %v after b's Resign, want under 1s", cStart.at.Sub(resignAt))
	}
	l = checkLeader(t, cli, prefix, "c", all...)
	checkRoles(t, l, c, all...)
	if n := len(r.find(0, is("a", started))); n != 1 {
		t.Errorf("a started leading %d times, want once (it campaigned behind c); events:%s", n, r.dump())
	}
	if err := b.Resign(ctxFor(t, waitTime)); !errors.Is(err, ErrNotLeader) {
		t.Errorf("b.Resign after resigning: %v, want ErrNotLeader", err)
	}
}

// Proclaim changes the leader's value; everyone sees the same key with the
// new value; a candidate that is not leader cannot proclaim.
func TestProclaim(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))
	o, err := New(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	next := observe(t, o)
	before := next(waitTime)
	if before.Value != "a" {
		t.Fatalf("Observe: first %+v, want a", before)
	}

	m := r.mark()
	if err := a.Proclaim(ctxFor(t, waitTime), "a2"); err != nil {
		t.Fatalf("a.Proclaim: %v", err)
	}
	want := before
	want.Value = "a2"
	for _, who := range []string{"a", "b"} {
		if got := r.waitFor(t, m, waitTime, who+" reporting a2", reports(who, "a2")).leader; got != want {
			t.Errorf("%s: OnNewLeader(%+v), want %+v", who, got, want)
		}
	}
	if got := next(waitTime); got != want {
		t.Errorf("Observe after Proclaim: %+v, want %+v", got, want)
	}
	if got := checkLeader(t, cli, prefix, "a2", a, b); got != want {
		t.Errorf("etcd names %+v after Proclaim, want %+v", got, want)
	}
	if !a.IsLeader() || a.Epoch() != want.Epoch {
		t.Errorf("a after Proclaim: IsLeader %v, Epoch %d; want true, %d", a.IsLeader(), a.Epoch(), want.Epoch)
	}
	if n := len(r.find(m, func(ev event) bool { return ev.kind == started || ev.kind == stopped })); n != 0 {
		t.Errorf("Proclaim started or stopped a leadership; events:%s", r.dump())
	}

	if err := b.Proclaim(ctxFor(t, waitTime), "b2"); !errors.Is(err, ErrNotLeader) {
		t.Errorf("b.Proclaim while a leads: %v, want ErrNotLeader", err)
	}
	if kvs, _ := keys(t, cli, prefix); len(kvs) != 2 || string(kvs[1].Value) != "b" {
		t.Errorf("b's key after its refused Proclaim: %v", kvs)
	}

	// a's later campaigns use the proclaimed value.
	m = r.mark()
	if err := a.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	waitKey(t, cli, prefix, waitTime, "a again", func(kv *mvccpb.KeyValue) bool { return kv.CreateRevision > want.Epoch && string(kv.Value) == "a2" })
	if err := b.Resign(ctxFor(t, waitTime)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "a leading again", is("a", started))
	checkLeader(t, cli, prefix, "a2", a, b)
	if err := a.Proclaim(ctxFor(t, waitTime), "a3"); err != nil {
		t.Errorf("a.Proclaim in its second leadership: %v", err)
	}
	checkLeader(t, cli, prefix, "a3", a, b)
}

// A transaction guarded by Guard commits only while the leadership lasts,
// and the epoch grows from one leadership to the next, even of the same
// candidate on the same key.
func TestGuardAndEpoch(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	ctx := ctxFor(t, 30*time.Second)
	data := prefix + "-data"

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))

	g, err := a.Guard()
	if err != nil {
		t.Fatalf("a.Guard while leading: %v", err)
	}
	epoch1 := a.Epoch()
	l := checkLeader(t, cli, prefix, "a", a, b)
	if epoch1 == 0 || epoch1 != l.Epoch {
		t.Fatalf("a.Epoch() = %d, want its key's CreateRevision %d", epoch1, l.Epoch)
	}
	put := func(g clientv3.Cmp, v string) bool {
		t.Helper()
		resp, err := cli.Txn(ctx).If(g).Then(clientv3.OpPut(data, v)).Commit()
		if err != nil {
			t.Fatalf("guarded txn: %v", err)
		}
		return resp.Succeeded
	}
	if !put(g, "1") {
		t.Fatal("txn guarded by the leader's Guard failed while it leads")
	}

	m := r.mark()
	if err := a.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Guard(); !errors.Is(err, ErrNotLeader) {
		t.Errorf("a.Guard after Resign: %v, want ErrNotLeader", err)
	}
	if put(g, "2") {
		t.Error("txn guarded by a's Guard committed after a resigned")
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	gb, err := b.Guard()
	if err != nil {
		t.Fatalf("b.Guard while leading: %v", err)
	}
	epoch2 := b.Epoch()
	if epoch2 <= epoch1 {
		t.Errorf("b's epoch %d is not above a's %d", epoch2, epoch1)
	}
	if !put(gb, "3") {
		t.Error("txn guarded by b's Guard failed while b leads")
	}

	// a leads again, on the same key name with a new CreateRevision: its
	// old guard stays dead.
	waitKey(t, cli, prefix, waitTime, "a again", func(kv *mvccpb.KeyValue) bool { return string(kv.Value) == "a" && kv.CreateRevision > epoch2 })
	m = r.mark()
	if err := b.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "a leading again", is("a", started))
	if put(gb, "4") {
		t.Error("txn guarded by b's Guard committed after b resigned")
	}
	epoch3 := a.Epoch()
	if epoch3 <= epoch2 {
		t.Errorf("a's second epoch %d is not above b's %d", epoch3, epoch2)
	}
	if put(g, "5") {
		t.Error("txn guarded by a's first Guard committed in a's second leadership")
	}
	g3, err := a.Guard()
	if err != nil || !put(g3, "6") {
		t.Errorf("a's second Guard: %v, or its txn failed", err)
	}
	resp, err := cli.Get(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "6" || resp.Kvs[0].Version != 3 {
		t.Errorf("guarded key: %v, want value 6 after exactly 3 writes (1, 3, 6)", resp.Kvs)
	}
}

// Observe reports "no leader" when the leader leaves without a successor.
func TestNoLeaderObserved(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	o, err := New(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	next := observe(t, o)
	if l := next(waitTime); !l.IsZero() {
		t.Fatalf("Observe on an empty election: first %+v, want no leader", l)
	}
	if l, err := o.Leader(ctxFor(t, waitTime)); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader on an empty election: %+v, %v; want ErrNoLeader", l, err)
	}

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	la := next(waitTime)
	if la.Value != "a" {
		t.Fatalf("Observe: %+v, want a", la)
	}
	if got := checkLeader(t, cli, prefix, "a", a); got != la {
		t.Errorf("Observe delivered %+v, etcd names %+v", la, got)
	}
	// A second observer started now sees a at once.
	next2 := observe(t, o)
	if l := next2(waitTime); l != la {
		t.Errorf("second Observe: first %+v, want %+v", l, la)
	}

	// a's Run ends: it resigns on the way out, and nobody is left.
	stopAt := time.Now()
	a.stop()
	for i, next := range []func(time.Duration) Leader{next, next2} {
		if l := next(waitTime); !l.IsZero() {
			t.Errorf("observer %d after a left: %+v, want no leader", i+1, l)
		}
	}
	t.Logf("no leader observed %v after a's Run was cancelled", time.Since(stopAt))
	checkLeader(t, cli, prefix, "")
	if l, err := o.Leader(ctxFor(t, waitTime)); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader after a left: %+v, %v; want ErrNoLeader", l, err)
	}
	stop := r.waitFor(t, 0, waitTime, "a stopping", is("a", stopped))
	if !stop.ctxCancelled {
		t.Error("a's OnStoppedLeading came before its leadership context was cancelled")
	}

	// And a new leader after that.
	b := start(t, r, cli, prefix, "b")
	r.waitFor(t, 0, waitTime, "b leading", is("b", started))
	for i, next := range []func(time.Duration) Leader{next, next2} {
		if l := next(waitTime); l.Value != "b" || l.Epoch <= la.Epoch {
			t.Errorf("observer %d after b joined: %+v, want b with an epoch above %d", i+1, l, la.Epoch)
		}
	}
	checkLeader(t, cli, prefix, "b", b)
}

// A leader whose key is deleted from outside stops leading and campaigns
// again with a new key.
func TestLeaderKeyDeleted(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	ctx := ctxFor(t, 30*time.Second)

	a := start(t, r, cli, prefix, "a")
	first := r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	// a's own observer has seen its key (TestLeaderKeyDeletedAtOnce is
	// about the key deleted before that).
	r.waitFor(t, 0, waitTime, "a reporting a", reports("a", "a"))
	l1 := checkLeader(t, cli, prefix, "a", a)

	// Alone: a loses its key, stops, and wins again with a new key.
	m := r.mark()
	if _, err := cli.Delete(ctx, l1.Key); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "a's leadership context cancelled", is("a", ctxDone))
	stop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	if !stop.ctxCancelled || first.ctx.Err() == nil {
		t.Error("a's OnStoppedLeading came before its leadership context was cancelled")
	}
	again := r.waitFor(t, m, waitTime, "a leading again", is("a", started))
	// Its own OnNewLeader saw the election without a leader in between.
	none := r.waitFor(t, m, waitTime, "a reporting no leader", reports("a", ""))
	if none.seq > again.seq {
		t.Errorf("a reported no leader after it led again; events:%s", r.dump())
	}
	if !stop.at.Before(again.at) {
		t.Errorf("a stopped at %s, not before it started again at %s", stamp(stop.at), stamp(again.at))
	}
	l2 := checkLeader(t, cli, prefix, "a", a)
	if l2.Epoch <= l1.Epoch {
		t.Errorf("a's new key was created at %d, not after its deleted one at %d", l2.Epoch, l1.Epoch)
	}
	checkRoles(t, l2, a, a)
	if again.ctx.Err() != nil {
		t.Error("a's second leadership context is already cancelled")
	}

	// With a successor waiting: it takes over, and a campaigns behind it.
	b := start(t, r, cli, prefix, "b")
	bKey := waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	m = r.mark()
	if _, err := cli.Delete(ctx, l2.Key); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	r.waitFor(t, m, waitTime, "a's log of the deleted key", logs("a", "leader key deleted from outside"))
	aKey := waitKey(t, cli, prefix, waitTime, "a again", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "a" && kv.CreateRevision > bKey.CreateRevision
	})
	if aKey.CreateRevision <= l2.Epoch {
		t.Errorf("a's key after the delete has CreateRevision %d, want above %d", aKey.CreateRevision, l2.Epoch)
	}
	l3 := checkLeader(t, cli, prefix, "b", a, b)
	checkRoles(t, l3, b, a, b)
	r.waitFor(t, m, waitTime, "a reporting b", reports("a", "b"))
	if n := len(r.find(m, is("a", started))); n != 0 {
		t.Errorf("a started leading after losing its key to b; events:%s", r.dump())
	}
}

// DefaultTTL is at least etcd's minimum lease TTL, and a candidate without
// WithTTL campaigns on a lease of that TTL.
func TestDefaultTTL(t *testing.T) {
	t.Parallel()
	if DefaultTTL < 2*time.Second || DefaultTTL%time.Second != 0 {
		t.Fatalf("DefaultTTL %v: want whole seconds, at least etcd's minimum 2s", DefaultTTL)
	}
	if DefaultTTL != 5*time.Second {
		t.Errorf("DefaultTTL %v, documented as 5s", DefaultTTL)
	}
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	e, err := New(cli, prefix, WithValue("a"))
	if err != nil {
		t.Fatal(err)
	}
	runCand(t, r, e, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	r.waitFor(t, 0, waitTime, "a reporting a", reports("a", "a"))
	kvs, _ := keys(t, cli, prefix)
	if len(kvs) != 1 || kvs[0].Lease == 0 {
		t.Fatalf("keys under the prefix: %v, want a's, with a lease", kvs)
	}
	ttl, err := cli.TimeToLive(ctxFor(t, waitTime), clientv3.LeaseID(kvs[0].Lease))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(DefaultTTL / time.Second); ttl.GrantedTTL != want || ttl.TTL <= 0 {
		t.Errorf("a's session lease: granted TTL %ds, remaining %ds; want granted %ds, alive", ttl.GrantedTTL, ttl.TTL, want)
	}
	if got := leaseHex(kvs[0].Lease); e.Observed().ID != got {
		t.Errorf("a's Observed() = %+v, want the id of its lease %s", e.Observed(), got)
	}
}

// A waiting candidate whose key is deleted from outside must not lead on
// it: when the leader resigns, the next live key (h) leads, and w, whose
// key is gone, never starts leading; it campaigns again behind h.
func TestWaitingKeyDeleted(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	ctx := ctxFor(t, 30*time.Second)

	l := start(t, r, cli, prefix, "l")
	r.waitFor(t, 0, waitTime, "l leading", is("l", started))
	w := start(t, r, cli, prefix, "w")
	wKey := waitKey(t, cli, prefix, waitTime, "w", valued("w"))
	h := start(t, r, cli, prefix, "h")
	hKey := waitKey(t, cli, prefix, waitTime, "h", valued("h"))
	r.waitFor(t, 0, waitTime, "w reporting l", reports("w", "l"))

	if _, err := cli.Delete(ctx, string(wKey.Key)); err != nil {
		t.Fatal(err)
	}
	m := r.mark()
	if err := l.Resign(ctx); err != nil {
		t.Fatalf("l.Resign: %v", err)
	}
	hStart := r.waitFor(t, m, waitTime, "h leading", is("h", started))
	r.waitFor(t, m, waitTime, "w reporting h", reports("w", "h"))
	// w campaigns again, behind h: by then its old campaign is over.
	waitKey(t, cli, prefix, waitTime, "w again", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "w" && kv.CreateRevision > hKey.CreateRevision
	})
	ld := checkLeader(t, cli, prefix, "h", l, w, h)
	for _, ev := range r.find(0, func(ev event) bool { return ev.who == "w" && (ev.kind == started || ev.kind == stopped) }) {
		t.Errorf("w, whose key was deleted, %s at %s (h started at %s): two leaders at once; events:%s",
			ev.kind, stamp(ev.at), stamp(hStart.at), r.dump())
	}
	checkRoles(t, ld, h, l, w, h)
}

// Prefixes are whole path segments: "/x" and "/x2" are two elections
// (etcd #6278), and "/x/" is "/x".
func TestPrefixIsASegment(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix+"2", "b")
	r.waitFor(t, 0, waitTime, "b leading", is("b", started))
	c := start(t, r, cli, prefix+"/", "c")
	waitKey(t, cli, prefix, waitTime, "c", valued("c"))
	r.waitFor(t, 0, waitTime, "c reporting a", reports("c", "a"))
	checkLeader(t, cli, prefix, "a", a, c)
	checkLeader(t, cli, prefix+"2", "b", b)
	if kvs, _ := keys(t, cli, prefix); len(kvs) != 2 {
		t.Errorf("%d keys under %s/, want a's and c's", len(kvs), prefix)
	}
	if n := len(r.find(0, is("c", started))); n != 0 {
		t.Errorf("c, on %s/, started leading while a leads %s", prefix, prefix)
	}
}

// Observe computes the leader from a watch response as a whole: a
// transaction that deletes the leader's key and creates a later key reports
// the next-oldest key as leader, not the new one (etcd #18163).
func TestObserveBatch(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, waitTime)
	o, err := New(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	// Candidates are keys with a lease.
	lg, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lg.ID) })
	for _, k := range []string{"k1", "k2"} {
		if _, err := cli.Put(ctx, prefix+"/"+k, k, clientv3.WithLease(lg.ID)); err != nil {
			t.Fatal(err)
		}
	}
	next := observe(t, o)
	if l := next(waitTime); l.ID != "k1" {
		t.Fatalf("Observe: first %+v, want k1", l)
	}
	resp, err := cli.Txn(ctx).Then(clientv3.OpDelete(prefix+"/k1"), clientv3.OpPut(prefix+"/k3", "k3", clientv3.WithLease(lg.ID))).Commit()
	if err != nil || !resp.Succeeded {
		t.Fatalf("txn: %v", err)
	}
	if l := next(waitTime); l.ID != "k2" || l.Value != "k2" {
		t.Errorf("Observe after deleting k1 and creating k3 at once: %+v, want k2", l)
	}
	checkLeader(t, cli, prefix, "k2")
	if _, err := cli.Delete(ctx, prefix+"/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if l := next(waitTime); !l.IsZero() {
		t.Errorf("Observe after deleting every key at once: %+v, want no leader", l)
	}
}

// A leader whose key is deleted from outside before its own observer has
// seen the key stops leading all the same, and campaigns again.
//
// Other writes keep etcd busy, so that the candidate's watch starts behind
// etcd's current revision and is caught up in a batch; its key is deleted
// the moment it is created, so that its creation and deletion may come in
// one watch response, or before the watch starts. The candidate must not
// lead on without a key in either case. Several attempts, on fresh prefixes.
func TestLeaderKeyDeletedAtOnce(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	acli := shared.Client(t)
	prefix := prefixOf(t)
	for i := range 10 {
		sub := fmt.Sprintf("%s-%d", prefix, i)
		r := newRecorder()
		_, rev := keys(t, cli, sub)
		wctx, stopWatch := context.WithCancel(context.Background())
		created := cli.Watch(wctx, sub+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))

		stopNoise := noise(t, cli, prefix+"-noise")
		a := start(t, r, acli, sub, "a")
		var first *mvccpb.KeyValue
		select {
		case wr := <-created:
			if len(wr.Events) == 0 || wr.Events[0].Type != mvccpb.PUT {
				t.Fatalf("watch %s: %v", sub, wr.Err())
			}
			first = wr.Events[0].Kv
		case <-time.After(waitTime):
			t.Fatalf("a's key not created within %v", waitTime)
		}
		if _, err := cli.Delete(ctxFor(t, waitTime), string(first.Key)); err != nil {
			t.Fatal(err)
		}
		stopNoise()
		stopWatch()

		again := findKey(t, cli, sub, 5*time.Second, func(kv *mvccpb.KeyValue) bool {
			return kv.CreateRevision > first.CreateRevision
		})
		if again == nil {
			ctx := ctxFor(t, waitTime)
			l, err := a.Leader(ctx)
			t.Fatalf("attempt %d: a's key %s (epoch %d) was deleted, and 5s later a has not campaigned again: "+
				"IsLeader %v, Epoch %d, Observed %+v, etcd's leader %+v (%v); events:%s",
				i, first.Key, first.CreateRevision, a.IsLeader(), a.Epoch(), a.Observed(), l, err, r.dump())
		}
		r.waitFor(t, 0, waitTime, "a leading on its new key", func(ev event) bool {
			return ev.kind == started && a.Epoch() == again.CreateRevision
		})
		a.stop()
	}
}

// noise writes to key until the returned function is called, which waits
// for the writer to end.
func noise(t *testing.T, cli *clientv3.Client, key string) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			cli.Put(ctx, key, "x")
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// A Resign whose delete fails, with the key left in place, hands over all
// the same, and never makes a new leadership under the epoch just given
// up. Resign ends the leadership before it sends the delete; a candidate
// that then campaigned again on the same session would find its own key,
// still the first, and lead again at once with the same epoch (the key's
// CreateRevision), though an epoch grows with each new leadership. It must
// end the session instead: its lease revoked, the next candidate leads, and
// this one campaigns again behind it.
//
// The fault: a's client reaches etcd through a proxy that spoils the
// delete's gRPC message, which etcd refuses (codes.Internal) without
// running it and without breaking the connection.
func TestResignFailedDelete(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	p := newProxy(t, shared.Members[0])
	acli := p.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, acli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	old := checkLeader(t, cli, prefix, "a", a, b)

	m := r.mark()
	spoil := p.SpoilNext([]byte(old.Key))
	err := a.Resign(ctxFor(t, waitTime))
	if n := spoil(); n != 1 || err == nil {
		t.Fatalf("Resign: %v after %d spoiled requests; want an error after one", err, n)
	}
	t.Logf("Resign: %v", err)
	bStart := r.waitFor(t, m, waitTime, "b leading", is("b", started))
	for _, ev := range r.find(m, is("a", started)) {
		if ev.seq < bStart.seq {
			t.Errorf("a led again before b, after its failed Resign:\n%s", r.dump())
		}
	}
	l := checkLeader(t, cli, prefix, "b", a, b)
	if l.Epoch <= old.Epoch {
		t.Errorf("b leads with epoch %d, want one above a's %d", l.Epoch, old.Epoch)
	}
	checkRoles(t, l, b, a, b)
}

// Run returns only after OnStartedLeading has returned, so that the
// leader's work never outlives Run: here the callback takes a while to wind
// down after its context ends, and Run must still be waiting for it.
func TestRunWaitsForOnStartedLeading(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	e, err := New(cli, prefixOf(t), WithTTL(testTTL))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctxFor(t, waitTime))
	leading := make(chan struct{})
	var returned atomic.Bool
	ran := make(chan error, 1)
	go func() {
		ran <- e.Run(ctx, Callbacks{OnStartedLeading: func(lctx context.Context) {
			close(leading)
			<-lctx.Done()
			time.Sleep(200 * time.Millisecond) // winding down
			returned.Store(true)
		}})
	}()
	select {
	case <-leading:
	case <-time.After(waitTime):
		t.Fatal("never led")
	}
	cancel()
	select {
	case err := <-ran:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(waitTime):
		t.Fatal("Run did not return")
	}
	if !returned.Load() {
		t.Fatal("Run returned while OnStartedLeading was still running")
	}
}
