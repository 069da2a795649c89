package election

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Keys that someone else writes under an election's prefix, whatever their
// bytes or size, never take the leadership from the leader: plain puts are
// no candidates at all (they have no lease), and keys on a lease count as
// later candidates (nested ones too, as in concurrency.Election), unless
// their id is not valid UTF-8. Observers report no change, neither while
// they are written nor when they go.
func TestForeignKeys(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leads", is("a", started))
	obs, err := New(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	next := observe(t, obs)
	if l := next(waitTime); l.Value != "a" {
		t.Fatalf("observer: leader %+v, want a", l)
	}
	ctx := ctxFor(t, 30*time.Second)
	m := r.mark()
	foreign := []string{prefix + "/", prefix + "/x/y", prefix + "/x/y/z", prefix + "/odd\xff\x00\n\"", prefix + "/big"}
	lg, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lg.ID) })
	for i, k := range foreign {
		v := "foreign \xfe"
		if strings.HasSuffix(k, "/big") {
			v = strings.Repeat("x", 1<<20)
		}
		var opts []clientv3.OpOption
		if i%2 == 1 {
			opts = append(opts, clientv3.WithLease(lg.ID))
		}
		if _, err := cli.Put(ctx, k, v, opts...); err != nil {
			t.Fatalf("put %q: %v", k, err)
		}
	}
	for _, k := range foreign {
		if _, err := cli.Delete(ctx, k); err != nil {
			t.Fatalf("delete %q: %v", k, err)
		}
	}
	// Observe reports changes only: a change of leader now would be a
	// foreign key taken for the leader.
	if err := a.Proclaim(ctx, "a2"); err != nil {
		t.Fatalf("Proclaim: %v", err)
	}
	if l := next(waitTime); l.Value != "a2" {
		t.Fatalf("observer: next report %+v, want a's new value only", l)
	}
	checkRoles(t, checkLeader(t, cli, prefix, "a2", a), a, a)
	if evs := r.find(m, is("a", stopped)); len(evs) != 0 {
		t.Fatalf("a stopped leading: %v", evs)
	}
}
