package chaos

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/internal/logtest"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
)

// Scenarios where etcd itself fails: restarted, down for longer than a TTL,
// its raft leader stopped, one of its members isolated, and compacted while
// a member's watch is cut off. Each builds its own cluster, since each
// breaks it.

// TestEtcdRestartShort: a one-member etcd crashes and is restarted after
// half a second, less than a member's safe deadline allows (TTL minus margin
// after its last acknowledged keep-alive). Whether a member goes OFFLINE
// depends on how soon its client reconnects (an attempt made while etcd is
// down waits, unaccepted, for up to a second, and the next follows after a
// backoff), so the scenario asserts neither; what must hold is
// at most one master at any instant, the three members back with one master,
// and a master that never went OFFLINE still master of the same epoch.
func TestEtcdRestartShort(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t)
	cli := newClient(t, c)
	p := c.Members[0].Proxy(t)
	eps := []string{p.URL}
	const prefix = "/chaos/etcd-restart-short"

	a := r.Join(c, prefix, "a", eps)
	r.Wait("a is master", 10*time.Second, func() bool { return r.Has(a.Inc, events.InitMaster) })
	b := r.Join(c, prefix, "b", eps)
	cc := r.Join(c, prefix, "c", eps)
	all := etcdIncs(a, b, cc)
	ids := []string{"a", "b", "c"}
	r.Wait("a, b and c see each other", 10*time.Second, func() bool { return etcdSees(r, ids, all...) })
	before, _ := r.Last(a.Inc)

	const down = 500 * time.Millisecond
	killAt := time.Now()
	stoppedAt, restart := etcdKill(t, c, 0, p)
	etcdWaitCut(t, r, down, a, b, cc)     // the fault holds
	time.Sleep(down - time.Since(killAt)) // the fault: etcd is down
	restartAt := time.Now()
	restart()
	backAt := time.Now()
	t.Logf("etcd: stopping took %v, down %v, restarting took %v: unavailable for %v",
		stoppedAt.Sub(killAt), restartAt.Sub(killAt), backAt.Sub(restartAt), backAt.Sub(killAt))

	etcdWaitGroup(r, 10*time.Second, ids, all...)
	r.Converge(cli, prefix, 5*time.Second)
	etcdOneMaster(t, r, cli, prefix, ids, all...)
	for _, inc := range all {
		if off, ok := etcdFirstAfter(r, inc, killAt, etcdIs(events.Offline)); ok {
			t.Logf("%s went OFFLINE %v after the crash", inc, off.TS.Sub(killAt))
		} else {
			t.Logf("%s stayed registered", inc)
		}
	}
	// A mastership ends only with OFFLINE (or Yield, not used here): a that
	// never went OFFLINE is still master, of the same key.
	if _, off := etcdFirstAfter(r, a.Inc, killAt, etcdIs(events.Offline)); !off {
		if last, _ := r.Last(a.Inc); !etcdIsMaster(last) || last.Epoch != before.Epoch {
			t.Errorf("seed %d: a stayed registered through the restart, but its last record is %v; want it master with epoch %d", r.Seed, last, before.Epoch)
		}
	}
}

// TestEtcdDownLong: a one-member etcd crashes and stays down for twice the
// TTL. Every member goes OFFLINE by its safe deadline, so that at the
// restart none is master; once etcd is back they register again, with
// exactly one master. etcd's restart extends the leases of the members'
// old keys (Promote), so a member may first see a member that is still
// OFFLINE as master: that is no second master, since only the member itself
// can claim its mastership.
func TestEtcdDownLong(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t)
	cli := newClient(t, c)
	p := c.Members[0].Proxy(t)
	eps := []string{p.URL}
	const prefix = "/chaos/etcd-down-long"

	a := r.Join(c, prefix, "a", eps)
	r.Wait("a is master", 10*time.Second, func() bool { return r.Has(a.Inc, events.InitMaster) })
	b := r.Join(c, prefix, "b", eps)
	cc := r.Join(c, prefix, "c", eps)
	all := etcdIncs(a, b, cc)
	ids := []string{"a", "b", "c"}
	r.Wait("a, b and c see each other", 10*time.Second, func() bool { return etcdSees(r, ids, all...) })

	const down = 2 * ttl
	killAt := time.Now()
	stoppedAt, restart := etcdKill(t, c, 0, p)
	offline := func(inc string) bool {
		_, ok := etcdFirstAfter(r, inc, killAt, etcdIs(events.Offline))
		return ok
	}
	r.Wait("every member OFFLINE with etcd down", down-time.Since(killAt), func() bool {
		return offline(a.Inc) && offline(b.Inc) && offline(cc.Inc)
	})
	time.Sleep(down - time.Since(killAt)) // the fault lasts its whole length
	restartAt := time.Now()
	for _, inc := range all {
		off, _ := etcdFirstAfter(r, inc, killAt, etcdIs(events.Offline))
		t.Logf("%s went OFFLINE %v after the crash", inc, off.TS.Sub(killAt))
		// Its last acknowledged keep-alive was sent before the crash, so
		// its safe deadline is less than TTL - margin after it; the margin
		// leaves room to emit the event.
		if limit := killAt.Add(ttl); off.TS.After(limit) {
			t.Errorf("seed %d: %s: OFFLINE %v after the crash, later than a safe deadline can be (TTL %v)", r.Seed, inc, off.TS.Sub(killAt), ttl)
		}
	}
	if ms := etcdMastersAt(r, restartAt, all...); len(ms) > 0 {
		t.Errorf("seed %d: %v master at the restart, after etcd was down for %v", r.Seed, ms, restartAt.Sub(killAt))
	}

	restart()
	backAt := time.Now()
	t.Logf("etcd: stopping took %v, down %v, restarting took %v", stoppedAt.Sub(killAt), restartAt.Sub(killAt), backAt.Sub(restartAt))
	etcdWaitGroup(r, 10*time.Second, ids, all...)
	r.Converge(cli, prefix, 5*time.Second)
	etcdOneMaster(t, r, cli, prefix, ids, all...)
	for _, inc := range all {
		if rec, ok := etcdFirstAfter(r, inc, restartAt, etcdIs(events.InitMaster, events.InitSlave)); ok {
			t.Logf("%s: %v %v after the restart began", inc, rec.Type, rec.TS.Sub(restartAt))
		}
	}
}

// TestEtcdLeaderKilled: the raft leader of a three-member etcd cluster
// crashes, with no hand-over, while every member's client knows all three.
// The members carry on with the two left (a new member joins, the master
// leaves and a slave takes over), never with two masters, and agree with
// etcd; then the killed etcd member comes back and they still agree.
func TestEtcdLeaderKilled(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t, mastershiptest.WithMembers(3))
	cli := newClient(t, c)
	var proxies []*mastershiptest.Proxy
	var eps []string
	for _, m := range c.Members {
		p := m.Proxy(t)
		proxies = append(proxies, p)
		eps = append(eps, p.URL)
	}
	const prefix = "/chaos/etcd-leader-killed"

	a := r.Join(c, prefix, "a", eps)
	r.Wait("a is master", 10*time.Second, func() bool { return r.Has(a.Inc, events.InitMaster) })
	b := r.Join(c, prefix, "b", eps)
	cc := r.Join(c, prefix, "c", eps)
	members := []*Member{a, b, cc}
	r.Wait("a, b and c see each other", 10*time.Second, func() bool { return etcdSees(r, []string{"a", "b", "c"}, etcdIncs(members...)...) })

	lead := etcdWaitLeader(t, c, -1, 10*time.Second)
	killAt := time.Now()
	stoppedAt, restart := etcdKill(t, c, lead, proxies[lead])
	next := etcdWaitLeader(t, c, lead, 10*time.Second)
	t.Logf("etcd leader %s killed, stopped %v later; %s leads %v after the kill",
		c.Members[lead].Name, stoppedAt.Sub(killAt), c.Members[next].Name, time.Since(killAt))

	// The group goes on with two etcd members: d joins...
	d := r.Join(c, prefix, "d", eps)
	members = append(members, d)
	etcdWaitGroup(r, 10*time.Second, []string{"a", "b", "c", "d"}, etcdIncs(members...)...)
	r.Converge(cli, prefix, 5*time.Second)
	etcdOneMaster(t, r, cli, prefix, []string{"a", "b", "c", "d"}, etcdIncs(members...)...)
	// ...and the master leaves: the next one takes over at once.
	ms := etcdLiveMasters(r, etcdIncs(members...)...)
	if len(ms) != 1 {
		t.Fatalf("seed %d: masters %v, want one", r.Seed, ms)
	}
	var master *Member
	var ids []string
	for _, m := range members {
		if m.Inc == ms[0] {
			master = m
		} else {
			ids = append(ids, m.ID)
		}
	}
	members = slices.DeleteFunc(members, func(m *Member) bool { return m == master })
	leftAt := time.Now()
	master.Close()
	r.Wait("another member takes over from "+master.ID, 5*time.Second, func() bool {
		for _, m := range members {
			if _, ok := etcdFirstAfter(r, m.Inc, leftAt, etcdIs(events.ChangeToMaster, events.InitMaster)); ok {
				return true
			}
		}
		return false
	})
	t.Logf("%s left; a successor took over %v later", master.ID, time.Since(leftAt))
	etcdWaitGroup(r, 10*time.Second, ids, etcdIncs(members...)...)
	r.Converge(cli, prefix, 5*time.Second)

	// The killed etcd member comes back; the members still agree.
	restart()
	etcdWaitGroup(r, 10*time.Second, ids, etcdIncs(members...)...)
	r.Converge(cli, prefix, 5*time.Second)
	etcdOneMaster(t, r, cli, prefix, ids, etcdIncs(members...)...)
	for _, m := range []*Member{a, b, cc} {
		if off, ok := etcdFirstAfter(r, m.Inc, killAt, etcdIs(events.Offline)); ok && m != master {
			t.Logf("%s went OFFLINE %v after the kill", m.Inc, off.TS.Sub(killAt))
		}
	}
}

// TestEtcdMemberIsolated: in a three-member etcd cluster, the master's client
// knows only etcd member X, a follower, and the other members' clients know
// only the other two. X is cut off from its peers: the master, whose
// keep-alives and watch need a raft leader, goes OFFLINE before another
// member becomes master. Once X is back, the old master comes back as a
// slave.
func TestEtcdMemberIsolated(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t, mastershiptest.WithMembers(3))
	lead := etcdWaitLeader(t, c, -1, 10*time.Second)
	x := (lead + 1) % 3
	var rest []string
	for i, m := range c.Members {
		if i != x {
			rest = append(rest, m.ClientURL)
		}
	}
	cli := newClient(t, c, rest...)
	const prefix = "/chaos/etcd-member-isolated"

	m := r.Join(c, prefix, "m", []string{c.Members[x].ClientURL})
	r.Wait("m is master", 10*time.Second, func() bool { return r.Has(m.Inc, events.InitMaster) })
	b := r.Join(c, prefix, "b", rest)
	cc := r.Join(c, prefix, "c", rest)
	all := etcdIncs(m, b, cc)
	r.Wait("m, b and c see each other", 10*time.Second, func() bool { return etcdSees(r, []string{"m", "b", "c"}, all...) })

	if l := c.Leader(); l == x {
		t.Logf("etcd member %s, chosen as a follower, leads by now: it is cut off as the leader", c.Members[x].Name)
	}
	cutAt := time.Now()
	c.Members[x].Isolate()
	r.Wait("m, on the isolated etcd member, goes OFFLINE", 10*time.Second, func() bool {
		_, ok := etcdFirstAfter(r, m.Inc, cutAt, etcdIs(events.Offline))
		return ok
	})
	r.Wait("b takes over", 10*time.Second, func() bool {
		_, ok := etcdFirstAfter(r, b.Inc, cutAt, etcdIs(events.ChangeToMaster))
		return ok
	})
	off, _ := etcdFirstAfter(r, m.Inc, cutAt, etcdIs(events.Offline))
	took, _ := etcdFirstAfter(r, b.Inc, cutAt, etcdIs(events.ChangeToMaster))
	t.Logf("after isolating %s: m OFFLINE at +%v, b CHANGE_TO_MASTER at +%v",
		c.Members[x].Name, off.TS.Sub(cutAt), took.TS.Sub(cutAt))
	if !off.TS.Before(took.TS) {
		t.Errorf("seed %d: m went OFFLINE at %s, not before b's CHANGE_TO_MASTER at %s", r.Seed, etcdStamp(off.TS), etcdStamp(took.TS))
	}
	if rec, ok := etcdFirstAfter(r, cc.Inc, cutAt, etcdIsMaster); ok {
		t.Errorf("seed %d: c master while b took over: %v", r.Seed, rec)
	}
	// m cannot register again through an etcd member without a leader.
	backAt := time.Now()
	if rec, ok := etcdFirstAfter(r, m.Inc, off.TS, func(history.Record) bool { return true }); ok && rec.TS.Before(backAt) {
		t.Errorf("seed %d: m emitted %v at %s, while its etcd member was cut off", r.Seed, rec, etcdStamp(rec.TS))
	}

	c.Members[x].Rejoin()
	r.Wait("m is back", 10*time.Second, func() bool {
		_, ok := etcdFirstAfter(r, m.Inc, backAt, etcdIs(events.InitMaster, events.InitSlave))
		return ok
	})
	back, _ := etcdFirstAfter(r, m.Inc, backAt, etcdIs(events.InitMaster, events.InitSlave))
	t.Logf("m back %v after X rejoined: %v", back.TS.Sub(backAt), back)
	if back.Type != events.InitSlave || back.Master != "b" {
		t.Errorf("seed %d: m came back with %v; want INIT_SLAVE of b", r.Seed, back)
	}
	ids := []string{"b", "c", "m"}
	etcdWaitGroup(r, 10*time.Second, ids, all...)
	r.Converge(cli, prefix, 5*time.Second)
	etcdOneMaster(t, r, cli, prefix, ids, all...)
	if ms := etcdLiveMasters(r, all...); !slices.Equal(ms, []string{b.Inc}) {
		t.Errorf("seed %d: masters at the end %v, want b", r.Seed, ms)
	}
}

// TestCompactionWhileDisconnected: member x's connection to etcd breaks at
// once, and stays broken while w leaves, y joins and stays, z joins and
// leaves, and etcd is compacted past everything x has seen. x's TTL keeps it
// registered meanwhile. Once the connection heals, x's watch fails with
// ErrCompacted and x reads the group afresh: it must emit exactly the
// difference (w gone, y new, nothing of z), which the replay rule checks
// record by record.
func TestCompactionWhileDisconnected(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t) // compaction is cluster-wide: a cluster of its own
	cli := newClient(t, c)
	eps := c.Endpoints()
	p := c.Members[0].Proxy(t)
	const prefix = "/chaos/compaction"

	mm := r.Join(c, prefix, "m", eps)
	r.Wait("m is master", 10*time.Second, func() bool { return r.Has(mm.Inc, events.InitMaster) })
	w := r.Join(c, prefix, "w", eps)
	logs := &logtest.Recorder{}
	// A long TTL keeps x registered while it is cut off, so that it
	// resynchronises its watch rather than registers anew.
	const xTTL = 10 * time.Second
	x := r.Join(c, prefix, "x", []string{p.URL}, selector.WithTTL(xTTL), selector.WithLogger(logs.Logger()))
	r.Wait("m, w and x see each other", 10*time.Second, func() bool {
		return etcdSees(r, []string{"m", "w", "x"}, mm.Inc, w.Inc, x.Inc)
	})
	// A change that x sees through its watch: the watch is established.
	v := r.Join(c, prefix, "v", eps)
	r.Wait("x sees v", 10*time.Second, func() bool { return etcdSees(r, []string{"m", "w", "x", "v"}, x.Inc) })
	v.Close()
	r.Wait("x sees v go", 10*time.Second, func() bool { return etcdSees(r, []string{"m", "w", "x"}, x.Inc) })
	seen := len(r.H.Records(x.Inc))

	cutAt := time.Now()
	etcdBreak(t, r, p, x.Cli)
	t.Logf("x's connection broken %v after the proxy's Break", time.Since(cutAt))

	w.Close()
	y := r.Join(c, prefix, "y", eps)
	z := r.Join(c, prefix, "z", eps)
	z.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := range 10 {
		k := fmt.Sprintf("%s-filler/%d", prefix, i)
		if _, err := cli.Put(ctx, k, "x"); err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	c.Compact(t)
	// The scenario is about a watch that resumes from a compacted
	// revision: x must have seen none of it yet, and still be registered.
	if got := r.H.Records(x.Inc); len(got) != seen {
		t.Fatalf("seed %d: x emitted %v while its connection was broken; the fault did not hold", r.Seed, got[seen:])
	}
	if st := x.Sel.State(); st != selector.Refresh {
		t.Fatalf("seed %d: x's state while cut off: %v; its TTL %v should keep it registered", r.Seed, st, xTTL)
	}
	healAt := time.Now()
	t.Logf("x cut off for %v", healAt.Sub(cutAt))
	p.Heal()

	r.Wait("x resynchronises: m, x, y", 12*time.Second, func() bool { return etcdSees(r, []string{"m", "x", "y"}, x.Inc) })
	got := r.H.Records(x.Inc)[seen:]
	if len(got) > 0 {
		t.Logf("x resynchronised %v after the heal", got[len(got)-1].TS.Sub(healAt))
	}
	// Exactly the difference: w gone, y new, in one change.
	var kinds []string
	for _, rec := range got {
		kinds = append(kinds, fmt.Sprintf("%v %v", rec.Type, rec.Nodes))
	}
	if want := []string{"SLAVE_DEL [w]", "SLAVE_ADD [y]"}; !slices.Equal(kinds, want) {
		t.Errorf("seed %d: x after the heal: %v, want %v", r.Seed, kinds, want)
	}
	for _, rec := range r.H.Records(x.Inc) {
		if slices.Contains(rec.Members, "z") || slices.Contains(rec.Nodes, "z") {
			t.Errorf("seed %d: x saw z, which joined and left while x was cut off: %v", r.Seed, rec)
		}
	}
	compacted := false
	for _, lr := range logs.Find("watch ended; resynchronising") {
		if rev, _ := lr.Attrs["compactRevision"].(int64); rev > 0 {
			compacted = true
		}
	}
	if !compacted {
		t.Errorf("seed %d: x's watch did not fail with ErrCompacted; the scenario did not exercise what it is for (log: %v)", r.Seed, logs.Find("watch ended; resynchronising"))
	}
	r.Converge(cli, prefix, 10*time.Second)
	etcdOneMaster(t, r, cli, prefix, []string{"m", "x", "y"}, mm.Inc, x.Inc, y.Inc)
}
