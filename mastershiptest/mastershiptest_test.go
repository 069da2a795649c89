package mastershiptest_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/mastershiptest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// direct returns a client of c's members with no proxy between, closed
// when t ends.
func direct(t *testing.T, c *mastershiptest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(c.Config(t, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func put(ctx context.Context, t *testing.T, cli *clientv3.Client, key, val string) int64 {
	t.Helper()
	resp, err := cli.Put(ctx, key, val)
	if err != nil {
		t.Fatalf("put %s=%s: %v", key, val, err)
	}
	return resp.Header.Revision
}

// eventually calls get until it returns the value want or ctx ends; a
// client whose connection broke, or whose member was down, needs a few
// tries to connect again.
func eventually(ctx context.Context, t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := cli.Get(rctx, key)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case len(resp.Kvs) == 0:
			last = "no key"
		case string(resp.Kvs[0].Value) == want:
			return
		default:
			last = string(resp.Kvs[0].Value)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("get %s: %s, want %s", key, last, want)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// unanswered fails the test if a Get through cli succeeds within half a
// second.
func unanswered(ctx context.Context, t *testing.T, cli *clientv3.Client, what string) {
	t.Helper()
	gctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if _, err := cli.Get(gctx, "k"); err == nil {
		t.Fatalf("Get %s succeeded", what)
	}
}

// waitBroken fails the test unless conn leaves the ready state within 5s.
func waitBroken(ctx context.Context, t *testing.T, conn *grpc.ClientConn, after string) {
	t.Helper()
	bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(bctx, st) {
			t.Fatalf("connection still up 5s after %s", after)
		}
	}
}

// start starts a one-member cluster for t, and returns it, a client of it
// and a context that ends after 30s.
func start(t *testing.T) (*mastershiptest.Cluster, *mastershiptest.Client, context.Context) {
	t.Helper()
	c := mastershiptest.NewCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c, c.Client(t), ctx
}

func TestBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []mastershiptest.Option
		want string
	}{
		{[]mastershiptest.Option{mastershiptest.WithMembers(0)}, "WithMembers(0)"},
		{[]mastershiptest.Option{mastershiptest.WithMembers(-2)}, "WithMembers(-2)"},
		{[]mastershiptest.Option{nil}, "nil Option"},
	} {
		failure := asTest(func(t testing.TB) { mastershiptest.NewCluster(t, tc.opts...) })
		if !strings.Contains(failure, tc.want) {
			t.Errorf("NewCluster failed with %q, want a message naming %s", failure, tc.want)
		}
	}
	// Users need WithSecure.
	failure := asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t)
		c.AddPrefixUser(t, "u", "p", "/x")
	})
	if !strings.Contains(failure, "WithSecure") {
		t.Errorf("AddPrefixUser without WithSecure failed with %q, want a message naming WithSecure", failure)
	}
	// So do the files of TLS, and users without a role.
	for what, f := range map[string]func(t testing.TB, c *mastershiptest.Cluster){
		"TLSFiles": func(t testing.TB, c *mastershiptest.Cluster) { c.TLSFiles(t) },
		"AddUser":  func(t testing.TB, c *mastershiptest.Cluster) { c.AddUser(t, "u", "p") },
	} {
		failure := asTest(func(t testing.TB) { f(t, mastershiptest.NewCluster(t)) })
		if !strings.Contains(failure, what) || !strings.Contains(failure, "WithSecure") {
			t.Errorf("%s without WithSecure failed with %q, want a message naming it and WithSecure", what, failure)
		}
	}
}

// TestHold: a Get through a held client neither completes nor fails while
// held; after Release it completes, on the same connection, with what etcd
// holds at Release, since a hold drops nothing.
func TestHold(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	d := direct(t, c)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	put(ctx, t, d, "k", "v1")
	eventually(ctx, t, cli.Client, "k", "v1")

	cli.Hold()
	got := make(chan string, 1)
	go func() {
		resp, err := cli.Get(ctx, "k")
		switch {
		case err != nil:
			got <- err.Error()
		case len(resp.Kvs) == 0:
			got <- "no key"
		default:
			got <- string(resp.Kvs[0].Value)
		}
	}()
	// The write passes the held Get, which etcd has not received yet.
	put(ctx, t, d, "k", "v2")
	select {
	case v := <-got:
		t.Fatalf("Get through a held client returned %s, want it to wait for Release", v)
	case <-time.After(300 * time.Millisecond):
	}
	cli.Release()
	select {
	case v := <-got:
		if v != "v2" {
			t.Fatalf("Get after Release: %s, want v2", v)
		}
	case <-ctx.Done():
		t.Fatal("Get still waiting after Release")
	}
}

// TestCut: a Get through a cut client fails by its deadline, another
// client is not affected, and the cut client works again after Heal.
func TestCut(t *testing.T) {
	c, cut, ctx := start(t)
	other := c.Client(t)
	put(ctx, t, cut.Client, "k", "v")

	cut.Cut()
	unanswered(ctx, t, cut.Client, "through a cut client")
	put(ctx, t, other.Client, "k", "v2")
	cut.Heal()
	eventually(ctx, t, cut.Client, "k", "v2")
}

// TestDelay: a delayed client's round trip takes at least twice the delay.
func TestDelay(t *testing.T) {
	_, cli, ctx := start(t)
	put(ctx, t, cli.Client, "k", "v")
	const d = 200 * time.Millisecond
	cli.Delay(d)
	start := time.Now()
	if _, err := cli.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 2*d {
		t.Fatalf("Get took %v with a delay of %v each way, want at least %v", took, d, 2*d)
	}
	cli.Heal()
	eventually(ctx, t, cli.Client, "k", "v")
}

// TestStopRestart: a stopped cluster serves no one, and comes back with
// its data.
func TestStopRestart(t *testing.T) {
	c, cli, ctx := start(t)
	put(ctx, t, cli.Client, "k", "v")
	c.Stop()
	if c.Leader() != -1 {
		t.Fatalf("leader %d of a stopped cluster", c.Leader())
	}
	unanswered(ctx, t, cli.Client, "from a stopped cluster")
	c.Restart(t)
	eventually(ctx, t, cli.Client, "k", "v")
}

// TestMemberStopRestart: with one member of three stopped or killed, its
// leader, the others elect another and serve; it comes back with what they
// wrote meanwhile.
func TestMemberStopRestart(t *testing.T) {
	for _, how := range []string{"Stop", "Kill"} {
		t.Run(how, func(t *testing.T) {
			c := mastershiptest.NewCluster(t, mastershiptest.WithMembers(3))
			if len(c.Members) != 3 || len(c.Endpoints()) != 3 {
				t.Fatalf("%d members, %d endpoints, want 3", len(c.Members), len(c.Endpoints()))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			lead := c.Leader()
			if lead < 0 {
				t.Fatal("no leader")
			}
			down, up := c.Members[lead], c.Members[(lead+1)%3]
			downCli, upCli := down.Client(t), up.Client(t)
			put(ctx, t, downCli.Client, "k", "v1")

			if how == "Kill" {
				down.Kill()
			} else {
				down.Stop()
			}
			// A request sent to the old leader meanwhile would be lost: wait
			// for the new one.
			for l := c.Leader(); l == lead || l < 0; l = c.Leader() {
				select {
				case <-ctx.Done():
					t.Fatalf("leader %d after stopping leader %d", l, lead)
				case <-time.After(10 * time.Millisecond):
				}
			}
			put(ctx, t, upCli.Client, "k", "v2")
			down.Restart(t)
			eventually(ctx, t, downCli.Client, "k", "v2")
		})
	}
}

func TestMoveLeader(t *testing.T) {
	c := mastershiptest.NewCluster(t, mastershiptest.WithMembers(3))
	lead := c.Leader()
	if lead < 0 {
		t.Fatal("no leader")
	}
	to := (lead + 1) % 3
	c.MoveLeader(t, to)
	if got := c.Leader(); got != to {
		t.Fatalf("leader %d after MoveLeader(%d)", got, to)
	}
}

// TestCompact: a watch from a revision before the compaction fails with
// ErrCompacted.
func TestCompact(t *testing.T) {
	c, cli, ctx := start(t)
	old := put(ctx, t, cli.Client, "k", "v1")
	put(ctx, t, cli.Client, "k", "v2")
	rev := c.Compact(t)
	if rev <= old {
		t.Fatalf("compacted to %d, want past %d", rev, old)
	}
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	resp, ok := <-cli.Watch(wctx, "k", clientv3.WithRev(old))
	if !ok {
		t.Fatal("watch closed without a response")
	}
	if !errors.Is(resp.Err(), rpctypes.ErrCompacted) || resp.CompactRevision != rev {
		t.Fatalf("watch from %d: %v, compact revision %d; want %v at %d", old, resp.Err(), resp.CompactRevision, rpctypes.ErrCompacted, rev)
	}
}

// TestRevokeLease: revoking a key's lease deletes it.
func TestRevokeLease(t *testing.T) {
	c, cli, ctx := start(t)
	var leases [2]clientv3.LeaseID
	for i, key := range []string{"a", "b"} {
		l, err := cli.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, key, "v", clientv3.WithLease(l.ID)); err != nil {
			t.Fatal(err)
		}
		leases[i] = l.ID
	}
	if id := c.RevokeLeaseOf(t, "a"); id != leases[0] {
		t.Fatalf("RevokeLeaseOf revoked %x, want %x", id, leases[0])
	}
	c.RevokeLease(t, leases[1])
	resp, err := cli.Get(ctx, "", clientv3.WithFromKey())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatalf("keys left after revoking their leases: %v", resp.Kvs)
	}
	if failure := asTest(func(t testing.TB) { c.RevokeLeaseOf(t, "a") }); !strings.Contains(failure, "no such key") {
		t.Fatalf("RevokeLeaseOf a missing key failed with %q", failure)
	}
}

// TestSecure: a user limited to a prefix reads and writes under it alone,
// through a member's fault proxy, until the permission is revoked.
func TestSecure(t *testing.T) {
	c := mastershiptest.NewCluster(t, mastershiptest.WithSecure(), mastershiptest.WithMembers(3))
	for _, ep := range c.Endpoints() {
		if !strings.HasPrefix(ep, "https://127.0.0.1:") {
			t.Fatalf("endpoint %s, want https on 127.0.0.1", ep)
		}
	}
	c.AddPrefixUser(t, "alice", "pw", "/svc")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	alice := c.Members[2].ClientAs(t, "alice", "pw")
	put(ctx, t, alice.Client, "/svc/k", "v")
	if _, err := alice.Put(ctx, "/other", "v"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("alice puts outside her prefix: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	c.RevokePrefix(t, "alice", "/svc")
	if _, err := alice.Put(ctx, "/svc/k", "v"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("alice puts after RevokePrefix: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
	// Root, through a proxy and directly.
	put(ctx, t, c.Client(t).Client, "/other", "v")
	root, err := clientv3.New(c.Config(t, mastershiptest.RootUser, c.RootPassword(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	eventually(ctx, t, root, "/other", "v")
	if _, err := clientv3.New(c.Config(t, "alice", "wrong")); !errors.Is(err, rpctypes.ErrAuthFailed) {
		t.Fatalf("wrong password: %v, want %v", err, rpctypes.ErrAuthFailed)
	}

	// A user without a role authenticates, and may do nothing.
	c.AddUser(t, "bob", "pw")
	bob := c.Members[1].ClientAs(t, "bob", "pw")
	if _, err := bob.Get(ctx, "/svc/k"); !errors.Is(err, rpctypes.ErrPermissionDenied) {
		t.Fatalf("a user without a role reads: %v, want %v", err, rpctypes.ErrPermissionDenied)
	}
}

// TestTLSFiles: a process's client, made of a proxy's URL and the files of
// TLSFiles alone, reaches a secure cluster through the proxy, and suffers
// its faults, Break's over TLS included; without the client certificate,
// the member refuses it.
func TestTLSFiles(t *testing.T) {
	c := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	files := c.TLSFiles(t)
	for _, f := range []string{files.CAFile, files.CertFile, files.KeyFile} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("TLSFiles: %v", err)
		}
	}
	p := c.Members[0].Proxy(t)
	if !strings.HasPrefix(p.URL, "unixs://") {
		t.Fatalf("proxy URL %s of a secure cluster, want unixs://", p.URL)
	}
	newClient := func(info transport.TLSInfo) (*clientv3.Client, error) {
		tc, err := info.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		return clientv3.New(clientv3.Config{
			Endpoints:   []string{p.URL},
			TLS:         tc,
			Username:    mastershiptest.RootUser,
			Password:    c.RootPassword(t),
			DialTimeout: 2 * time.Second,
			Logger:      zap.NewNop(),
		})
	}
	cli, err := newClient(transport.TLSInfo{TrustedCAFile: files.CAFile, CertFile: files.CertFile, KeyFile: files.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	put(ctx, t, cli, "k", "v")
	p.Cut()
	unanswered(ctx, t, cli, "through a cut proxy")
	p.Heal()
	eventually(ctx, t, cli, "k", "v")
	// TLS refuses the garbage of Break as gRPC does.
	conn := cli.ActiveConnection()
	p.Break()
	unanswered(ctx, t, cli, "through a broken proxy")
	waitBroken(ctx, t, conn, "Break and a Get")
	p.Heal()
	eventually(ctx, t, cli, "k", "v")

	if cli, err := newClient(transport.TLSInfo{TrustedCAFile: files.CAFile}); err == nil {
		cli.Close()
		t.Fatal("a client without the client certificate connected")
	}
}

// TestProxy: a client made of a proxy's URL alone, as a process makes
// one of its --endpoints, reaches the member through it and suffers its
// faults, while a Client of the same member, behind a proxy of its own,
// does not.
func TestProxy(t *testing.T) {
	c, other, ctx := start(t)
	p := c.Members[0].Proxy(t)
	if !strings.HasPrefix(p.URL, "unix://") {
		t.Fatalf("proxy URL %s, want unix://", p.URL)
	}
	if other.URL == p.URL {
		t.Fatal("a Client shares its proxy with Member.Proxy")
	}
	cfg := c.Config(t, "", "")
	cfg.Endpoints = []string{p.URL}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	put(ctx, t, cli, "k", "v1")

	p.Cut()
	unanswered(ctx, t, cli, "through a cut proxy")
	put(ctx, t, other.Client, "k", "v2")
	p.Heal()
	eventually(ctx, t, cli, "k", "v2")

	p.Hold()
	unanswered(ctx, t, cli, "through a held proxy")
	p.Heal() // releases too
	eventually(ctx, t, cli, "k", "v2")
}

// TestBreak: a broken proxy breaks its client's connection as soon as the
// member sends on it, lets no new one through until Heal, and passes
// traffic again after it.
func TestBreak(t *testing.T) {
	c, cli, ctx := start(t)
	d := direct(t, c)
	put(ctx, t, cli.Client, "k", "v1")
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	w := cli.Watch(wctx, "k")
	put(ctx, t, d, "k", "v2")
	if resp := <-w; resp.Err() != nil || len(resp.Events) != 1 {
		t.Fatalf("watch before Break: %v, %d events", resp.Err(), len(resp.Events))
	}
	conn := cli.ActiveConnection()
	if st := conn.GetState(); st != connectivity.Ready {
		t.Fatalf("connection %v before Break, want ready", st)
	}

	cli.Break()
	// A second Break does nothing more, and Heal still heals.
	cli.Break()
	// The member sends the put to the watch, on the broken connection.
	put(ctx, t, d, "k", "v3")
	waitBroken(ctx, t, conn, "Break and a watched put")
	unanswered(ctx, t, cli.Client, "through a broken proxy")
	cli.Heal()
	eventually(ctx, t, cli.Client, "k", "v3")
}

// TestBreakKill: a member killed behind a broken proxy stops at once,
// though its client holds a watch on it, whose stream would hold the Kill
// up for etcd's request timeout (5.2s for one member); the client's
// connection ends, and it reaches the member again once it restarts and
// the proxy heals.
func TestBreakKill(t *testing.T) {
	c, cli, ctx := start(t)
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	w := cli.Watch(wctx, "k")
	put(ctx, t, cli.Client, "k", "v1")
	if resp := <-w; resp.Err() != nil || len(resp.Events) != 1 {
		t.Fatalf("watch before Kill: %v, %d events", resp.Err(), len(resp.Events))
	}
	conn := cli.ActiveConnection()

	cli.Break()
	begun := time.Now()
	c.Members[0].Kill()
	// Well under the request timeout, and well over what the Kill takes.
	if took := time.Since(begun); took > 3*time.Second {
		t.Errorf("Kill behind a broken proxy took %v, want it at once", took)
	}
	waitBroken(ctx, t, conn, "Break and Kill")
	c.Members[0].Restart(t)
	cli.Heal()
	eventually(ctx, t, cli.Client, "k", "v1")
}

// BenchmarkNewCluster measures the start of a one-member cluster, the
// kit's default: go test -run x -bench NewCluster -benchtime 30x ./mastershiptest
func BenchmarkNewCluster(b *testing.B) {
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		c := mastershiptest.NewCluster(b)
		took = append(took, time.Since(start))
		c.Close()
	}
	// The target is the median start (issue: at most 300ms); ns/op, a
	// mean, includes Close too.
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-start-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-start-ms")
}
