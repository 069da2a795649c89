package selector

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/logtest"
)

// A member whose watch falls behind a compaction reads the group afresh and
// emits exactly the difference: nothing for a member that joined and left
// meanwhile, and nothing twice.
//
// x reaches etcd through a proxy. The proxy corrupts what etcd sends, which
// makes x's gRPC connection fail at once, and accepts no new connection,
// so x cannot watch again until the test lets it. Meanwhile w leaves, y
// joins and stays, z joins and leaves, filler keys elsewhere are written and
// deleted, and etcd is compacted to the latest revision. x's watch then
// resumes from a compacted revision and fails with ErrCompacted.
func TestWatchResyncAfterCompaction(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t) // compaction is cluster-wide: a cluster of its own
	cli := cluster.Client(t)
	p := newProxy(t, cluster.Members[0])
	xcli := p.Client(t)
	prefix := prefixOf(t)

	m := join(t, cli, prefix, "m")
	expect(t, m, events.InitMaster)
	w := join(t, cli, prefix, "w")
	expect(t, w, events.InitSlave, "m")
	expect(t, m, events.SlaveAdd, "w")
	logs := &logtest.Recorder{}
	// A long TTL keeps x registered while it is cut off.
	x := join(t, xcli, prefix, "x", WithTTL(10*time.Second), WithLogger(logs.Logger()))
	checkView(t, expect(t, x, events.InitSlave, "m"), "m", "w", "x")
	expect(t, m, events.SlaveAdd, "x")
	expect(t, w, events.SlaveAdd, "x")
	// A change that x sees through its watch: the watch is established.
	v := join(t, cli, prefix, "v")
	checkView(t, expect(t, x, events.SlaveAdd, "v"), "m", "w", "x", "v")
	shutdown(t, v)
	checkView(t, expect(t, x, events.SlaveDel, "v"), "m", "w", "x")

	if n := x.Stats().Resyncs; n != 0 {
		t.Fatalf("x counts %d resyncs before its watch failed", n)
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
	// Make etcd send x something (its lease keep-alives do too, but this is
	// quicker), and wait for x's connection to fail.
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"-filler/poke", "1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "x's connection fails", waitTime, func() bool {
		return xcli.ActiveConnection().GetState().String() != "READY"
	})

	shutdown(t, w)
	y := join(t, cli, prefix, "y")
	z := join(t, cli, prefix, "z")
	shutdown(t, z)
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
	resp, err := cli.Get(ctx, prefix+"-filler/poke")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	if x.State() != Refresh {
		t.Fatalf("x's state while cut off: %v; its TTL should have kept it registered", x.State())
	}
	healAt := time.Now()
	heal()

	// One resync: w gone, y new, z never seen.
	ev := expectWithin(t, x, 20*time.Second, events.SlaveDel, "w")
	checkView(t, ev, "m", "x", "y")
	t.Logf("x resynchronised %v after the proxy healed", ev.Time.Sub(healAt))
	checkView(t, expect(t, x, events.SlaveAdd, "y"), "m", "x", "y")
	if n := x.Stats().Resyncs; n == 0 {
		t.Errorf("x resynchronised, but Stats counts no resync")
	}
	// Nothing twice: x's next event is the next change.
	shutdown(t, y)
	checkView(t, expect(t, x, events.SlaveDel, "y"), "m", "x")

	compacted := false
	for _, r := range logs.Find("watch ended; resynchronising") {
		if rev, _ := r.Attrs["compactRevision"].(int64); rev > 0 {
			compacted = true
		}
	}
	if !compacted {
		t.Errorf("x's watch did not fail with ErrCompacted; the test did not exercise what it is for (log: %v)", logs.Find("watch ended; resynchronising"))
	}
}
