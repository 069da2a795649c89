package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/logtest"
)

// Calls follow a failover: once the master closes, calls reach the new
// master, and none reaches the old one again, although its server still
// answers.
func TestFailover(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	sa, sb := startServer(t, "a"), startServer(t, "b")
	a := join(t, cli, prefix, "a", sa.addr)
	join(t, cli, prefix, "b", sb.addr)
	cc := dial(t, newBuilder(t, cli), "mastership://"+prefix)

	reaches(t, cc, "a")
	closed := time.Now()
	a.Close()
	reaches(t, cc, "b")
	t.Logf("calls reached the new master %v after the old one's Close returned", time.Since(closed))
	for i := range 20 {
		if got, err := who(cc); err != nil || got != "b" {
			t.Fatalf("call %d after the failover: %q, %v; want b", i, got, err)
		}
	}
}

// With no master, calls fail at once with codes.Unavailable naming the
// group; a call that waits for ready waits for a master; when the master
// leaves, calls fail again rather than go to its server, which still runs.
func TestNoMaster(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	cc := dial(t, newBuilder(t, cli), "mastership://"+prefix)

	wantUnavailable(t, cc, "resolver: no master for "+prefix)

	waited := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		_, err := clientOf(cc).UnaryCall(ctx, &simpleRequest, grpc.WaitForReady(true))
		waited <- err
	}()
	s := startServer(t, "a")
	a := join(t, cli, prefix, "a", s.addr)
	reaches(t, cc, "a")
	if err := <-waited; err != nil {
		t.Errorf("call waiting for ready: %v; want it to reach the master that appeared", err)
	}

	a.Close()
	wantUnavailable(t, cc, "resolver: no master for "+prefix)
	join(t, cli, prefix, "a2", s.addr)
	reaches(t, cc, "a")
}

// A master with no address fails calls with ErrNoAddress's text.
func TestNoAddress(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	join(t, cli, prefix, "a", "")
	cc := dial(t, newBuilder(t, cli), "mastership://"+prefix)
	wantUnavailable(t, cc, `resolver: member has no address: master "a" of `+prefix)
}

// role=slave spreads calls over the slaves, never the master; with no
// slave, calls fail naming the group.
func TestSlaves(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	m := startServer(t, "m")
	join(t, cli, prefix, "m", m.addr)
	cc := dial(t, newBuilder(t, cli), "mastership://"+prefix+"?role=slave")
	wantUnavailable(t, cc, "resolver: no slave for "+prefix)

	s1, s2 := startServer(t, "s1"), startServer(t, "s2")
	join(t, cli, prefix, "s1", s1.addr)
	join(t, cli, prefix, "s2", s2.addr)
	seen := map[string]int{}
	eventually(t, "calls reach both slaves", waitTime, func() bool {
		id, err := who(cc)
		if err == nil {
			seen[id]++
		}
		return seen["s1"] > 0 && seen["s2"] > 0
	})
	// Once both are ready, round_robin alternates.
	clear(seen)
	for range 20 {
		id, err := who(cc)
		if err != nil {
			t.Fatal(err)
		}
		seen[id]++
	}
	if seen["m"] > 0 || seen["s1"] < 5 || seen["s2"] < 5 {
		t.Errorf("20 calls with role=slave reached %v; want s1 and s2 about evenly, never m", seen)
	}
}

// A resolver whose watch is cut off while etcd is compacted past it reads
// the group afresh once it can, and calls go to the master chosen
// meanwhile. The resolver reaches etcd through a proxy that corrupts what
// etcd sends (so the connection fails at once) and accepts no new
// connection until the test heals it.
func TestCompaction(t *testing.T) {
	t.Parallel()
	cluster := etcdtest.Start(t) // compaction is cluster-wide: a cluster of its own
	cli := cluster.Client(t)
	p := cluster.Members[0].NewProxy(t)
	rcli := p.Client(t)
	prefix := prefixOf(t)
	sa, sb := startServer(t, "a"), startServer(t, "b")
	a := join(t, cli, prefix, "a", sa.addr)
	logs := &logtest.Recorder{}
	cc := dial(t, newBuilder(t, rcli, WithLogger(logs.Logger())), "mastership://"+prefix)
	reaches(t, cc, "a")

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
	ctx := ctxFor(t, waitTime)
	if _, err := cli.Put(ctx, prefix+"/filler-poke", "1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resolver's etcd connection fails", waitTime, func() bool {
		return rcli.ActiveConnection().GetState().String() != "READY"
	})
	if _, err := cli.Delete(ctx, prefix+"/filler-poke"); err != nil {
		t.Fatal(err)
	}

	join(t, cli, prefix, "b", sb.addr)
	a.Close()
	resp, err := cli.Put(ctx, "/elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compact: %v", err)
	}
	// Cut off, the resolver still sends calls to a, whose server runs.
	if got, err := who(cc); err != nil || got != "a" {
		t.Fatalf("call while cut off: %q, %v; want a, the last master the resolver knew", got, err)
	}
	heal()
	healAt := time.Now()
	reaches(t, cc, "b")
	t.Logf("calls reached the new master %v after the proxy healed", time.Since(healAt))

	compacted := false
	for _, r := range logs.Find("watch ended; resynchronising") {
		if rev, _ := r.Attrs["compactRevision"].(int64); rev > 0 {
			compacted = true
		}
	}
	if !compacted {
		t.Errorf("the watch did not fail with ErrCompacted; the test did not exercise what it is for (log: %v)", logs.Find("watch ended; resynchronising"))
	}
}

// ResolveNow reads the group afresh: the resolver gives a state at a
// revision that its watch, which sees only the group's keys, could not
// have reported. It never blocks.
func TestResolveNow(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	join(t, cli, prefix, "a", "10.0.0.1:1")
	fc := newFakeConn()
	r := build(t, newBuilder(t, cli), "mastership://"+prefix, fc)
	first := fc.next(t)
	if got := addrsOf(first); !slices.Equal(got, []string{"10.0.0.1:1"}) {
		t.Fatalf("first state: addresses %v, want [10.0.0.1:1]", got)
	}
	resp, err := cli.Put(ctxFor(t, waitTime), prefix+"-elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		r.ResolveNow(resolver.ResolveNowOptions{}) // must not block
	}
	for {
		s := fc.next(t)
		if got := addrsOf(s); !slices.Equal(got, []string{"10.0.0.1:1"}) {
			t.Fatalf("state after ResolveNow: addresses %v, want [10.0.0.1:1]", got)
		}
		if revisionOf(s) >= resp.Header.Revision {
			break
		}
	}
}

// An etcd that cannot be read is reported, naming the group, and the
// resolver recovers once it can read again. The resolver's client reaches
// etcd through a proxy that corrupts what etcd sends, which breaks the
// connection at once, and accepts no new connection until healed.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	p := shared.Members[0].NewProxy(t)
	rcli := p.Client(t)
	cli := shared.Client(t)
	prefix := prefixOf(t)
	join(t, cli, prefix, "a", "10.0.0.1:1")
	if _, err := rcli.Get(ctxFor(t, waitTime), prefix); err != nil {
		t.Fatal(err)
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
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"-poke", "1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the resolver's etcd connection fails", waitTime, func() bool {
		rcli.Get(ctxFor(t, 100*time.Millisecond), prefix) // makes etcd send something
		return rcli.ActiveConnection().GetState().String() != "READY"
	})

	fc := newFakeConn()
	build(t, newBuilder(t, rcli, WithReadTimeout(200*time.Millisecond)), "mastership://"+prefix, fc)
	select {
	case err := <-fc.errs:
		if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "resolver: etcd unreachable for "+prefix) {
			t.Errorf("error %q; want ErrUnreachable naming %s", err, prefix)
		}
	case s := <-fc.states:
		t.Fatalf("a state while etcd is unreachable: %+v", s)
	case <-time.After(waitTime):
		t.Fatal("no error reported while etcd is unreachable")
	}
	heal()
	if got := addrsOf(fc.next(t)); !slices.Equal(got, []string{"10.0.0.1:1"}) {
		t.Errorf("state after healing: %v, want [10.0.0.1:1]", got)
	}
}

// The states a resolver gives: the master's address, the slaves' in join
// order, and errors with no address.
func TestStates(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	b := newBuilder(t, cli)
	master, slaves := newFakeConn(), newFakeConn()
	build(t, b, "mastership://"+prefix, master)
	build(t, b, "mastership://"+prefix+"?role=slave", slaves)
	wantErr(t, master, ErrNoMaster)
	wantErr(t, slaves, ErrNoMaster)

	join(t, cli, prefix, "a", "addr-a")
	wantAddrs(t, master, "addr-a")
	wantErr(t, slaves, ErrNoSlave)
	join(t, cli, prefix, "b", "addr-b")
	wantAddrs(t, slaves, "addr-b")
	join(t, cli, prefix, "c", "")
	// A key with a "/" in its id is a member too, as for the selector.
	lease, err := cli.Grant(ctxFor(t, waitTime), 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/d/e", "addr-d", clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lease.ID) })
	wantAddrs(t, slaves, "addr-b", "addr-d")
}

func wantAddrs(t *testing.T, fc *fakeConn, want ...string) {
	t.Helper()
	for {
		s := fc.next(t)
		got := addrsOf(s)
		if slices.Equal(got, want) {
			if s.Attributes.Value(errKey{}) != nil {
				t.Fatalf("state %v carries an error", got)
			}
			return
		}
		t.Logf("state %v (waiting for %v)", got, want)
	}
}

func wantErr(t *testing.T, fc *fakeConn, want error) {
	t.Helper()
	s := fc.next(t)
	err, _ := s.Attributes.Value(errKey{}).(error)
	if len(s.Addresses) != 0 || !errors.Is(err, want) {
		t.Fatalf("state: addresses %v, error %v; want none and %v", addrsOf(s), err, want)
	}
	select {
	case rep := <-fc.errs:
		if !errors.Is(rep, want) {
			t.Fatalf("reported %v, want %v", rep, want)
		}
	case <-time.After(waitTime):
		t.Fatal("error not reported")
	}
}

// build builds a resolver for target on fc, closed when t ends.
func build(t *testing.T, b *Builder, target string, fc *fakeConn) resolver.Resolver {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r, err := b.Build(resolver.Target{URL: *u}, fc, resolver.BuildOptions{})
	if err != nil {
		t.Fatalf("Build(%q): %v", target, err)
	}
	t.Cleanup(r.Close)
	return r
}

// wantUnavailable makes calls until one fails with codes.Unavailable and
// a message containing msg, and checks that it failed fast.
func wantUnavailable(t *testing.T, cc *grpc.ClientConn, msg string) {
	t.Helper()
	eventually(t, fmt.Sprintf("calls fail with Unavailable %q", msg), waitTime, func() bool {
		start := time.Now()
		_, err := who(cc)
		s := status.Convert(err)
		if s.Code() != codes.Unavailable || !strings.Contains(s.Message(), msg) {
			t.Logf("call: %v", err)
			return false
		}
		if d := time.Since(start); d >= callTimeout {
			t.Fatalf("the call failed after %v, not at once", d)
		}
		return true
	})
}

// A key without a lease under the prefix (an operator's plain put, with an
// address for a value) is no member: calls never go to it, though it was
// written before any member and would be first by CreateRevision.
func TestStrayKeyNotRouted(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	stray := startServer(t, "stray")
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/config", stray.addr); err != nil {
		t.Fatal(err)
	}
	cc := dial(t, newBuilder(t, cli), "mastership://"+prefix)
	wantUnavailable(t, cc, "resolver: no master for "+prefix)
	a := startServer(t, "a")
	join(t, cli, prefix, "a", a.addr)
	reaches(t, cc, "a")
	for i := range 20 {
		if got, err := who(cc); err != nil || got != "a" {
			t.Fatalf("call %d: %q, %v; want a, never the key without a lease", i, got, err)
		}
	}
}
