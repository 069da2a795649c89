package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An operator's plain put under the prefix (`etcdctl put <prefix>/config`)
// before any candidate joins is no candidate (nor is a key on a lease whose
// id is not valid UTF-8): it has no lease, so it would
// never expire and lead for ever. The first candidate to join leads, and
// every observer names it. (concurrency.Election and `etcdctl elect -l`
// would name the plain key: the one place where the two rules differ.)
func TestStrayKeyBeforeCandidates(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, time.Minute)
	if _, err := cli.Put(ctx, prefix+"/config", `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	// And a key on a lease whose id is not valid UTF-8: no candidate either.
	lg, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lg.ID) })
	if _, err := cli.Put(ctx, prefix+"/\xff", "odd", clientv3.WithLease(lg.ID)); err != nil {
		t.Fatal(err)
	}
	obs, err := New(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	next := observe(t, obs)
	if l := next(waitTime); !l.IsZero() {
		t.Fatalf("observer before any candidate: %+v, want no leader (the plain key is none)", l)
	}
	if l, err := obs.Leader(ctx); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Leader() before any candidate: %+v, %v; want ErrNoLeader", l, err)
	}

	r := newRecorder()
	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading despite the plain key before it", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))
	if l := next(waitTime); l.Value != "a" {
		t.Errorf("observer: %+v, want a", l)
	}
	la, err := b.Leader(ctx)
	if err != nil || la.Value != "a" {
		t.Fatalf("b.Leader() = %+v, %v; want a", la, err)
	}
	checkRoles(t, la, a, a, b)
	for _, ev := range r.find(0, func(ev event) bool {
		return ev.kind == newLeader && (ev.leader.ID == "config" || ev.leader.ID == "\xff")
	}) {
		t.Errorf("a stray key reported as leader: %v", ev)
	}
}

// Another writer's plain put on the leader's own key detaches it from the
// leader's lease: the key no longer expires with the leader, so it is no
// candidate any more. The leader notices it lost its key and stops leading,
// the next candidate takes over, and the old leader campaigns again behind
// it, with a key on a new lease (its old key name is taken by the plain
// key).
func TestLeaderKeyDetached(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, time.Minute)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	first := r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	aKey := waitKey(t, cli, prefix, waitTime, "a", valued("a"))
	b := start(t, r, cli, prefix, "b")
	bKey := waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))

	m := r.mark()
	if _, err := cli.Put(ctx, string(aKey.Key), "hijacked"); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, m, waitTime, "a's leadership context cancelled", is("a", ctxDone))
	stop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	r.waitFor(t, m, waitTime, "a's log of its detached key", logs("a", "leader key detached from its lease by another writer's put"))
	if !stop.ctxCancelled || first.ctx.Err() == nil {
		t.Error("a's OnStoppedLeading came before its leadership context was cancelled")
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	r.waitFor(t, m, waitTime, "b reporting b", reports("b", "b"))
	again := waitKey(t, cli, prefix, waitTime, "a on a new lease", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "a" && kv.Lease != 0 && kv.Lease != aKey.Lease
	})
	if again.CreateRevision <= bKey.CreateRevision {
		t.Errorf("a's new key created at %d, not behind b's (%d)", again.CreateRevision, bKey.CreateRevision)
	}
	r.waitFor(t, m, waitTime, "a reporting b", reports("a", "b"))
	lb, err := a.Leader(ctx)
	if err != nil || lb.Value != "b" {
		t.Fatalf("a.Leader() = %+v, %v; want b", lb, err)
	}
	checkRoles(t, lb, b, a, b)
	if n := len(r.find(m, is("a", started))); n != 0 {
		t.Errorf("a started leading after its key was detached; events:%s", r.dump())
	}
}
