package election

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// An observer whose watch resumes from a compacted revision reads the
// election afresh and reports the right leader; its channel does not close.
//
// The observer reaches etcd through a proxy. The proxy corrupts what etcd
// sends, which makes the observer's gRPC connection fail at once, and
// accepts no new connection, so the observer cannot watch again until the
// test lets it. Meanwhile the leader leaves, the next candidate takes over,
// and etcd is compacted to the latest revision.
func TestObserveSurvivesCompaction(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t) // compaction is cluster-wide: a cluster of its own
	cli := cluster.Client(t)
	p := newProxy(t, cluster.Members[0])
	ocli := p.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()

	a := start(t, r, cli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))

	o, err := New(ocli, prefix, WithLogger(r.logger("o")))
	if err != nil {
		t.Fatal(err)
	}
	next := observe(t, o)
	if l := next(waitTime); l.Value != "a" {
		t.Fatalf("Observe: first %+v, want a", l)
	}
	// A change seen through the watch: the watch is established.
	if err := a.Proclaim(ctxFor(t, waitTime), "a2"); err != nil {
		t.Fatal(err)
	}
	if l := next(waitTime); l.Value != "a2" {
		t.Fatalf("Observe after Proclaim: %+v, want a2", l)
	}

	p.PauseAccept()
	p.ModifyRx(func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) })
	healed := false
	heal := func() {
		if !healed {
			healed = true
			p.UnmodifyRx()
			p.UnpauseAccept()
		}
	}
	defer heal()
	// Make etcd send the observer something, and wait for its connection
	// to fail.
	if err := a.Proclaim(ctxFor(t, waitTime), "a3"); err != nil {
		t.Fatal(err)
	}
	conn := ocli.ActiveConnection()
	wctx := ctxFor(t, waitTime)
	for s := conn.GetState(); s.String() == "READY"; s = conn.GetState() {
		if !conn.WaitForStateChange(wctx, s) {
			t.Fatalf("the observer's connection did not fail within %v", waitTime)
		}
	}

	// a leaves, b leads; filler writes; compaction to the latest revision.
	m := r.mark()
	a.stop()
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	ctx := ctxFor(t, waitTime)
	for i := range 20 {
		k := fmt.Sprintf("%s-filler/%d", prefix, i)
		if _, err := cli.Put(ctx, k, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	want := checkLeader(t, cli, prefix, "b", b)
	resp, err := cli.Get(ctx, prefix+"-filler/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	healAt := time.Now()
	heal()

	// The observer reports b, possibly after "no leader" or an older
	// view, and nothing but b after that.
	var got []Leader
	for {
		l := next(healTime)
		got = append(got, l)
		if l == want {
			break
		}
		if l.Value == "b" {
			t.Fatalf("Observe delivered %+v, want %+v", l, want)
		}
	}
	t.Logf("observer reported b %v after the heal; delivered %+v", time.Since(healAt), got)
	if len(got) != 1 {
		t.Errorf("Observe delivered %+v after the compaction; want b alone, the current leader", got)
	}
	// Still following: b proclaims.
	if err := b.Proclaim(ctxFor(t, waitTime), "b2"); err != nil {
		t.Fatal(err)
	}
	want.Value = "b2"
	if l := next(waitTime); l != want {
		t.Errorf("Observe after b's Proclaim: %+v, want %+v", l, want)
	}

	compacted := false
	for _, ev := range r.find(0, logs("o", "watch ended; resynchronising")) {
		if err, _ := ev.attrs["err"].(error); errors.Is(err, rpctypes.ErrCompacted) {
			compacted = true
		}
	}
	if !compacted {
		t.Errorf("the observer's watch did not fail with ErrCompacted; the test did not exercise what it is for (logs: %v)",
			r.find(0, logs("o", "watch ended; resynchronising")))
	}
}
