package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/logtest"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ttl = 2 * time.Second

var quiet = slog.New(slog.DiscardHandler)

func start(t testing.TB, cli *clientv3.Client, id string, meta map[string]string) *Peer {
	t.Helper()
	return startInfo(t, cli, id, Info{Meta: meta})
}

// startInfo starts a peer that publishes info.
func startInfo(t testing.TB, cli *clientv3.Client, id string, info Info) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, cli, "/peers", id, info, ttl, quiet)
	if err != nil {
		t.Fatalf("start %s: %v", id, err)
	}
	t.Cleanup(func() { p.Leave(context.Background()) })
	return p
}

// listen adds a listener to p's table, drained once p has left at the end
// of the test.
func listen(t *testing.T, p *Peer) <-chan Change {
	ch := p.Table().Listen()
	t.Cleanup(func() {
		p.Leave(context.Background())
		for range ch {
		}
	})
	return ch
}

// waitFor reads ch until a change matching ok arrives, or fails the test
// after d.
func waitFor(t testing.TB, ch <-chan Change, d time.Duration, what string, ok func(Change) bool) Change {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case c, open := <-ch:
			if !open {
				t.Fatalf("listener closed while waiting for %s", what)
			}
			if ok(c) {
				return c
			}
		case <-timeout:
			t.Fatalf("no %s within %v", what, d)
		}
	}
}

func is(k Kind, id string) func(Change) bool {
	return func(c Change) bool { return c.Kind == k && c.Member.ID == id }
}

// truth reads the group from etcd, as the table should hold it.
func truth(t *testing.T, cli *clientv3.Client) []Member {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/peers/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		t.Fatal(err)
	}
	var out []Member
	for _, kv := range resp.Kvs {
		m, err := decodeMember(strings.TrimPrefix(string(kv.Key), "/peers/"), kv.Value, kv.CreateRevision)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func equal(a, b []Member) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || a[i].CreateRevision != b[i].CreateRevision || !sameContent(a[i], b[i]) {
			return false
		}
	}
	return true
}

func format(ms []Member) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s(id %s, rev %d, leaving %q, meta %s) ", m.ID, m.UniqueID, m.CreateRevision, m.Leaving, metaString(m.Meta))
	}
	return b.String()
}

// converge waits, on the table's own changes, until the table of p is what
// etcd holds, and returns it.
func converge(t *testing.T, p *Peer, wake <-chan Change, cli *clientv3.Client) []Member {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		want := truth(t, cli)
		got := p.Table().Members()
		if equal(got, want) {
			return got
		}
		select {
		case <-wake:
		case <-time.After(200 * time.Millisecond):
			// etcd may have moved (an expiry) while the table caught up
			// and went quiet: read the truth again.
		case <-deadline:
			t.Fatalf("%s's table did not converge:\n got  %s\n want %s", p.ID(), format(got), format(want))
		}
	}
}

func ids(ms []Member) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.ID)
	}
	return strings.Join(s, ",")
}

// TestTableConverges takes a group through joins, a metadata update, a
// graceful leave, an expiry and a restart, and checks after each that an
// observing node's table is etcd's, that its listener heard the right
// change, and that a listener nobody reads blocks nothing.
func TestTableConverges(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	a := start(t, cli, "a", map[string]string{"zone": "eu"})
	changes := listen(t, a)
	stuck := listen(t, a) // never read until the end
	if c := waitFor(t, changes, 5*time.Second, "the first change", func(Change) bool { return true }); c.Kind != Snapshot || ids(c.Table) != "a" {
		t.Fatalf("first change = %v with table %s, want SNAPSHOT of a", c, ids(c.Table))
	}

	b := start(t, etcd.Client(t).Client, "b", map[string]string{"zone": "us"})
	px := etcd.Members[0].Client(t) // c's, behind a fault proxy of its own
	c := start(t, px.Client, "c", nil)
	t.Cleanup(px.Heal) // before c leaves
	waitFor(t, changes, 5*time.Second, "JOIN b", is(Join, "b"))
	jc := waitFor(t, changes, 5*time.Second, "JOIN c", is(Join, "c"))
	if ids(jc.Table) != "a,b,c" {
		t.Errorf("table after JOIN c = %s, want a,b,c", ids(jc.Table))
	}
	if got := converge(t, a, changes, cli); ids(got) != "a,b,c" {
		t.Fatalf("table = %s, want a,b,c", ids(got))
	}
	// Every node holds the same table, not just a.
	converge(t, c, listen(t, c), cli)

	// Metadata changes in place: same key, same lease, same registration.
	before := b.Table().Members()[1]
	if err := b.SetMeta(context.Background(), map[string]string{"zone": "ap", "port": "4000"}); err != nil {
		t.Fatal(err)
	}
	u := waitFor(t, changes, 5*time.Second, "UPDATE b", is(Update, "b"))
	if want := map[string]string{"zone": "ap", "port": "4000"}; !maps.Equal(u.Member.Meta, want) {
		t.Errorf("UPDATE b meta = %v, want %v", u.Member.Meta, want)
	}
	if u.Member.CreateRevision != before.CreateRevision || u.Member.UniqueID != before.UniqueID {
		t.Errorf("UPDATE b changed the registration: %+v, was %+v", u.Member, before)
	}
	converge(t, a, changes, cli)

	// A graceful leave is told apart from an expiry.
	bInc := b.UniqueID()
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, changes, 5*time.Second, "LEAVING b", is(Leaving, "b"))
	l := waitFor(t, changes, 5*time.Second, "LEAVE b", is(Leave, "b"))
	if l.Reason != Graceful || l.Member.Leaving != ShutdownReason {
		t.Errorf("b left with reason %v (%q), want graceful (%q)", l.Reason, l.Member.Leaving, ShutdownReason)
	}
	converge(t, a, changes, cli)

	// c is cut off from etcd: its lease expires, and nobody was told.
	cutAt := time.Now()
	px.Cut()
	l = waitFor(t, changes, ttl+5*time.Second, "LEAVE c", is(Leave, "c"))
	if l.Reason != Expired {
		t.Errorf("c left with reason %v, want expired", l.Reason)
	}
	if since := time.Since(cutAt); since < ttl-time.Second {
		// etcd expires the lease a TTL after the last keep-alive it
		// processed, which came at most one keep-alive interval (a
		// quarter of the TTL or so) before the cut.
		t.Errorf("c expired %v after the cut, before its TTL %v", since, ttl)
	}
	if got := converge(t, a, changes, cli); ids(got) != "a" {
		t.Fatalf("table = %s, want a", ids(got))
	}

	// b restarts: same id, a new unique id.
	b2 := start(t, etcd.Client(t).Client, "b", nil)
	j := waitFor(t, changes, 5*time.Second, "JOIN b again", is(Join, "b"))
	if j.Member.UniqueID == bInc || j.Member.UniqueID != b2.UniqueID() {
		t.Errorf("b rejoined with unique id %s; old %s, new process %s", j.Member.UniqueID, bInc, b2.UniqueID())
	}
	if got := converge(t, a, changes, cli); ids(got) != "a,b" {
		t.Fatalf("table = %s, want a,b", ids(got))
	}

	// The listener nobody read holds every change, in order.
	var kinds []string
	a.Leave(context.Background())
	for ch := range stuck {
		if ch.Member.ID != "a" {
			kinds = append(kinds, ch.String())
		}
	}
	want := "SNAPSHOT (1 members)|JOIN b|JOIN c|UPDATE b {port=4000 zone=ap}|LEAVING b (shutdown)|LEAVE b left (shutdown)|LEAVE c expired (crash or cut off)|JOIN b"
	if got := strings.Join(kinds, "|"); got != want {
		t.Errorf("unread listener got\n %s\nwant\n %s", got, want)
	}
}

// TestMetadataSurvivesReregistration: a member whose key is deleted from
// outside registers again, and writes back its current metadata, not the
// metadata it started with. A node that followed the group throughout saw
// the key go (expired); the member itself was not registered meanwhile,
// and cannot tell (unknown).
func TestMetadataSurvivesReregistration(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	a := start(t, cli, "a", map[string]string{"v": "1"})
	b := start(t, cli, "b", nil)
	ch := listen(t, a)
	seen := listen(t, b)
	if err := a.SetMeta(context.Background(), map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	old := waitFor(t, ch, 5*time.Second, "UPDATE a", is(Update, "a")).Member
	waitFor(t, seen, 5*time.Second, "UPDATE a on b", is(Update, "a"))
	if _, err := cli.Delete(context.Background(), "/peers/a"); err != nil {
		t.Fatal(err)
	}
	if l := waitFor(t, seen, 5*time.Second, "LEAVE a on b", is(Leave, "a")); l.Reason != Expired {
		t.Errorf("b saw the deleted key leave with reason %v, want expired", l.Reason)
	}
	// a's selector goes OFFLINE as its key goes, without a view that
	// lacks it; a's table learns of the old registration's end from the
	// view of the new one.
	l := waitFor(t, ch, 10*time.Second, "LEAVE a", is(Leave, "a"))
	if l.Reason != Unknown || l.Member.CreateRevision != old.CreateRevision {
		t.Errorf("a saw its own deleted key leave as %v with revision %d, want unknown and %d", l.Reason, l.Member.CreateRevision, old.CreateRevision)
	}
	for _, j := range []Change{
		waitFor(t, ch, 5*time.Second, "JOIN a", is(Join, "a")),
		waitFor(t, seen, 10*time.Second, "JOIN a on b", is(Join, "a")),
	} {
		if j.Member.UniqueID != a.UniqueID() || j.Member.CreateRevision <= old.CreateRevision {
			t.Errorf("re-registration: %+v, want unique id %s and a revision after %d", j.Member, a.UniqueID(), old.CreateRevision)
		}
		// The new registration writes the record last set (SetValue
		// keeps it), so the node joins with it: no join with the old
		// metadata and an update after it.
		if j.Member.Meta["v"] != "2" {
			t.Errorf("meta at re-registration = %v, want v=2", j.Member.Meta)
		}
	}
	converge(t, a, ch, cli)
	converge(t, b, seen, cli)
}

// unk is how a member gone while this node was not registered leaves.
const unk = "unknown (gone while this node was not registered)"

func TestDiff(t *testing.T) {
	m := func(id string, crev int64, leaving bool, meta ...string) Member {
		mm := map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			mm[meta[i]] = meta[i+1]
		}
		mb := Member{ID: id, UniqueID: "u-" + id, CreateRevision: crev, Info: Info{Meta: mm}}
		if leaving {
			mb.Leaving = "bye"
		}
		return mb
	}
	tab := func(ms ...Member) map[string]Member {
		out := map[string]Member{}
		for _, x := range ms {
			out[x.ID] = x
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		old, next map[string]Member
		gone      Reason
		want      string
	}{
		{"nothing", tab(m("a", 1, false)), tab(m("a", 1, false)), Expired, ""},
		{"join", tab(), tab(m("a", 1, false)), Expired, "JOIN a"},
		{"gone", tab(m("a", 1, false)), tab(), Expired, "LEAVE a expired (crash or cut off)"},
		{"gone unseen", tab(m("a", 1, false)), tab(), Unknown, "LEAVE a " + unk},
		{"gone after marker", tab(m("a", 1, true)), tab(), Expired, "LEAVE a left (bye)"},
		{"gone unseen after marker", tab(m("a", 1, true)), tab(), Unknown, "LEAVE a left (bye)"},
		{"metadata", tab(m("a", 1, false, "k", "1")), tab(m("a", 1, false, "k", "2")), Expired, "UPDATE a {k=2}"},
		{"marker", tab(m("a", 1, false)), tab(m("a", 1, true)), Expired, "LEAVING a (bye)"},
		{"re-created", tab(m("a", 1, false)), tab(m("a", 5, false)), Expired, "LEAVE a expired (crash or cut off)|JOIN a"},
		{"re-created unseen", tab(m("a", 1, false)), tab(m("a", 5, false)), Unknown, "LEAVE a " + unk + "|JOIN a"},
		{"order", tab(m("b", 2, false), m("d", 4, false)), tab(m("a", 7, false), m("c", 8, false)), Unknown,
			"LEAVE b " + unk + "|LEAVE d " + unk + "|JOIN a|JOIN c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range diff(tc.old, tc.next, 9, tc.gone) {
				got = append(got, c.String())
				if c.Revision != 9 {
					t.Errorf("%v: revision %d, want 9", c, c.Revision)
				}
			}
			if s := strings.Join(got, "|"); s != tc.want {
				t.Errorf("diff = %q, want %q", s, tc.want)
			}
		})
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--id", "a"}, "--prefix"},
		{[]string{"--prefix", "/p"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a/b"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--meta", "novalue"}, "novalue"},
		{[]string{"--prefix", "/p", "--id", "a", "--meta", "=v"}, "-meta"},
		{[]string{"--prefix", "/p", "--id", "a", "--endpoints", " "}, "--endpoints"},
		{[]string{"--prefix", "/p", "--id", "a", "extra"}, "extra"},
		{[]string{"--prefix", "/p", "--id", "a", "--port", "70000"}, "--port: 70000 is not a port"},
		{[]string{"--prefix", "/p", "--id", "a", "--secure-port", "-1"}, "--secure-port: -1 is not a port"},
		{[]string{"--prefix", "/p", "--id", "a", "--udp-port", "x"}, "-udp-port"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(context.Background(), tc.args, strings.NewReader(""), &out, &errb); code != 2 {
				t.Errorf("exit code %d, want 2", code)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", out.String())
			}
			if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want one line naming %s", msg, tc.want)
			}
		})
	}
}

// TestMalformedEndpoint: an endpoint without a port is refused at once,
// in one line naming --endpoints and the element, with the exit code of
// any bad flag, rather than retried for the whole start-up wait as if etcd
// were down.
func TestMalformedEndpoint(t *testing.T) {
	// The context ends the run only if the endpoint is not refused.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb strings.Builder
	start := time.Now()
	code := run(ctx, []string{"--endpoints", "127.0.0.1", "--prefix", "/p", "--id", "a"}, strings.NewReader(""), &out, &errb)
	took := time.Since(start)
	t.Logf("ended after %v", took)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if took > 5*time.Second {
		t.Errorf("ended after %v, want at once (the start-up wait is %v)", took, startWait+2*selector.DefaultTTL)
	}
	const want = `peer-membership: --endpoints: "127.0.0.1" has no port (want host:port`
	if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
		t.Errorf("stderr = %q, want one line starting %q", msg, want)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}

// TestUnreachableEtcd: with no etcd, the program gives up after its
// bounded start-up wait, with one line saying etcd is unreachable.
func TestUnreachableEtcd(t *testing.T) {
	old := startWait
	startWait = time.Second
	t.Cleanup(func() { startWait = old })
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out, errb strings.Builder
	start := time.Now()
	code := run(context.Background(), []string{"--endpoints", addr, "--prefix", "/p", "--id", "a", "--ttl", "1s"}, strings.NewReader(""), &out, &errb)
	if code != 1 {
		t.Fatalf("exit code %d with etcd unreachable, want 1", code)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("gave up after %v, want a bounded wait of about 3s", d)
	}
	if msg := errb.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "unreachable") || !strings.Contains(msg, addr) {
		t.Errorf("stderr = %q, want one line saying etcd at %s is unreachable", msg, addr)
	}
	if out.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", out.String())
	}
}

// TestProgram runs the program: it prints its table, applies a metadata
// line from standard input, and leaves on its signal with exit code 0.
func TestProgram(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	other := start(t, cli, "other", nil)
	seen := listen(t, other)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--endpoints", strings.Join(etcd.Endpoints(), ","), "--prefix", "/peers",
			"--id", "prog", "--meta", "zone=eu", "--ttl", "2s", "--host", "127.0.0.9", "--port", "4000",
			"--secure-port", "4443", "--udp-port", "4001", "--domain", "d1", "--payload", "hello"}, stdinR, outW, io.Discard)
		outW.Close()
	}()
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		buf := make([]byte, 64<<10)
		for {
			n, err := outR.Read(buf)
			if n > 0 {
				lines <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	// expect returns the first write that holds what: one table.
	expect := func(what string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-lines:
				if strings.Contains(s, what) {
					return s
				}
			case <-timeout:
				t.Fatalf("program printed no %q within 10s", what)
			}
		}
	}
	expect("prog: SNAPSHOT (2 members)")
	var joined Member
	for _, m := range waitFor(t, seen, 10*time.Second, "JOIN prog", is(Join, "prog")).Table {
		if m.ID == "prog" {
			joined = m
		}
	}
	if want := (Info{Host: "127.0.0.9", Port: 4000, SecurePort: 4443, UDPPort: 4001, Domain: "d1", Payload: []byte("hello"),
		Meta: map[string]string{"zone": "eu"}}); !sameContent(joined, Member{UniqueID: joined.UniqueID, Since: joined.Since, Info: want}) || joined.UniqueID == "" {
		t.Errorf("other sees prog as %+v, want %+v", joined, want)
	}
	if _, err := io.WriteString(stdinW, "port=4000\n"); err != nil {
		t.Fatal(err)
	}
	tab := expect("prog: UPDATE prog {port=4000 zone=eu}")
	if want := "* prog     up 127.0.0.9:4000 secure 4443 udp 4001 domain d1 id " + joined.UniqueID + " alive "; !strings.Contains(tab, want) ||
		!strings.Contains(tab, `meta {port=4000 zone=eu} payload "hello"`) {
		t.Errorf("table printed after the update:\n%s\nwant a line with %q, its metadata and payload", tab, want)
	}
	stop()
	stdinW.Close()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code %d, want 0", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("program did not exit within 10s of its signal")
	}
	for range lines {
	}
	l := waitFor(t, seen, 5*time.Second, "LEAVE prog", is(Leave, "prog"))
	if l.String() != "LEAVE prog left (shutdown)" {
		t.Errorf("program left as %v, want LEAVE prog left (shutdown)", l)
	}
}

// changesOf reads the next n changes of ch, and returns them and their
// revisions.
func changesOf(t *testing.T, ch <-chan Change, n int, d time.Duration, what string) (got string, revs map[int64]bool) {
	t.Helper()
	var cs []string
	revs = map[int64]bool{}
	for range n {
		c := waitFor(t, ch, d, what, func(Change) bool { return true })
		cs = append(cs, c.String())
		revs[c.Revision] = true
	}
	return strings.Join(cs, "|"), revs
}

// TestTableResyncsAfterCompaction: a node whose selector stays registered
// while its watch is cut off, and falls behind a compaction, converges to
// etcd's group once the selector reads it afresh, and reports exactly the
// difference, in one view: a member gone without a marker as expired (the
// node was registered throughout), a new one as a join, new metadata as an
// update.
//
// o reaches etcd through a fault proxy that the test breaks (Break), which
// breaks o's connection at once, and accepts no new connection until the
// test heals it. Its watch then resumes from a compacted revision and fails
// with ErrCompacted, as the selector's log shows.
func TestTableResyncsAfterCompaction(t *testing.T) {
	etcd := mastershiptest.NewCluster(t) // compaction is cluster-wide: a cluster of its own
	cli := etcd.Client(t).Client
	x := start(t, cli, "x", nil)
	z := start(t, cli, "z", map[string]string{"v": "1"})
	px := etcd.Members[0].Client(t) // o's, behind a fault proxy of its own
	var rec logtest.Recorder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	oc := px.Client
	// A long TTL keeps o registered while it is cut off.
	o, err := Start(ctx, oc, "/peers", "o", Info{}, 10*time.Second, rec.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ch := listen(t, o)
	waitFor(t, ch, time.Second, "SNAPSHOT", func(c Change) bool { return c.Kind == Snapshot })
	// A change that o sees through its watch: the watch is established.
	v := start(t, cli, "v", nil)
	waitFor(t, ch, 5*time.Second, "JOIN v", is(Join, "v"))
	v.close()
	waitFor(t, ch, 5*time.Second, "LEAVE v", is(Leave, "v"))

	px.Break()
	t.Cleanup(px.Heal) // before o leaves
	// Make etcd send o something, and wait for o's connection to fail.
	if _, err := cli.Put(context.Background(), "/poke", "1"); err != nil {
		t.Fatal(err)
	}
	conn := oc.ActiveConnection()
	dropCtx, dropCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dropCancel()
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(dropCtx, st) {
			t.Fatal("o's connection still up 5s after etcd sent it garbage")
		}
	}

	x.close() // no marker, and o does not see it go
	y := start(t, cli, "y", nil)
	if err := z.SetMeta(context.Background(), map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(context.Background(), "/poke")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if st := o.sel.State(); st != selector.Refresh {
		t.Fatalf("o's state while cut off: %v; its TTL should have kept it registered", st)
	}
	px.Heal()

	got, revs := changesOf(t, ch, 3, 25*time.Second, "the missed changes")
	if want := "LEAVE x expired (crash or cut off)|JOIN y|UPDATE z {v=2}"; got != want {
		t.Errorf("changes after the heal: %s, want %s", got, want)
	}
	if len(revs) != 1 {
		t.Errorf("changes after the heal came at revisions %v, want one view's", revs)
	}
	if got := converge(t, o, ch, cli); ids(got) != "z,o,y" || got[2].UniqueID != y.UniqueID() {
		t.Errorf("table %s, want z,o,y", format(got))
	}
	st := o.sel.Stats()
	if st.Resyncs == 0 || st.Transitions[events.Offline] != 0 {
		t.Errorf("o counts %d resyncs and %d OFFLINE; want a resync, registered throughout", st.Resyncs, st.Transitions[events.Offline])
	}
	compacted := false
	for _, r := range rec.Find("watch ended; resynchronising") {
		if rev, _ := r.Attrs["compactRevision"].(int64); rev > 0 {
			compacted = true
		}
	}
	if !compacted {
		t.Errorf("o's watch did not fail with ErrCompacted; the test did not exercise what it is for (log: %v)", rec.Find("watch ended; resynchronising"))
	}
}

// TestTableAfterOutage: a node cut off from etcd for longer than its TTL,
// while the group changes and the history it missed is compacted, loses its
// registration; its table stays as last seen until it registers again, and
// then reports the difference in the view of its new registration: the
// members gone meanwhile as unknown (itself, in its old registration,
// included), a new one as a join, new metadata as an update.
func TestTableAfterOutage(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	x := start(t, cli, "x", nil)
	z := start(t, cli, "z", map[string]string{"v": "1"})
	px := etcd.Members[0].Client(t) // o's, behind a fault proxy of its own
	o := start(t, px.Client, "o", nil)
	ch := listen(t, o)
	t.Cleanup(px.Release) // before o leaves
	seen := listen(t, z)
	snap := waitFor(t, ch, time.Second, "SNAPSHOT", func(c Change) bool { return c.Kind == Snapshot })
	before := o.Table().Members()

	// Held, not dropped: a real partition holds a live connection's
	// bytes. Whatever o's selector receives after its safe deadline it
	// ignores: its first event is OFFLINE, and the next view is its new
	// registration's.
	px.Hold()
	x.close() // no marker, and o does not see it go
	y := start(t, cli, "y", nil)
	if err := z.SetMeta(context.Background(), map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, seen, ttl+5*time.Second, "o expired", is(Leave, "o"))
	resp, err := cli.Get(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}
	// Not registered, o's table is as it was.
	if got := o.Table().Members(); !equal(got, before) || o.Table().Revision() != snap.Revision {
		t.Errorf("o's table while cut off: %s at %d, want %s at %d", format(got), o.Table().Revision(), format(before), snap.Revision)
	}
	px.Release()

	got, revs := changesOf(t, ch, 5, 25*time.Second, "the missed changes")
	if want := "LEAVE x " + unk + "|LEAVE o " + unk + "|JOIN o|JOIN y|UPDATE z {v=2}"; got != want {
		t.Errorf("changes after the heal: %s, want %s", got, want)
	}
	if len(revs) != 1 {
		t.Errorf("changes after the heal came at revisions %v, want one view's", revs)
	}
	if got := converge(t, o, ch, cli); ids(got) != "z,y,o" || got[1].UniqueID != y.UniqueID() {
		t.Errorf("table %s, want z,y,o", format(got))
	}
}

// FuzzDiff: the changes diff reports, applied to the old table, give the
// new one, a member is reported at most twice (leave and join again), and
// a member leaves graceful if its marker was seen, else with the reason
// given.
func FuzzDiff(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 3, 4}, false)
	f.Add([]byte{0x81, 5}, []byte{1, 0x45}, true)
	f.Fuzz(func(t *testing.T, a, b []byte, offline bool) {
		// Each byte is a member: id from the low 3 bits, registration from
		// the next 2, metadata from the next, leaving from the top.
		table := func(bs []byte) map[string]Member {
			out := map[string]Member{}
			for _, x := range bs {
				id := string(rune('a' + x&7))
				mb := Member{ID: id, CreateRevision: int64(x>>3&3) + 1,
					Info: Info{Meta: map[string]string{"m": fmt.Sprint(x >> 5 & 1)}}}
				if x&0x80 != 0 {
					mb.Leaving = "bye"
				}
				out[id] = mb
			}
			return out
		}
		old, next := table(a), table(b)
		gone := Expired
		if offline {
			gone = Unknown
		}
		cur := maps.Clone(old)
		count := map[string]int{}
		for _, c := range diff(old, next, 1, gone) {
			count[c.Member.ID]++
			switch c.Kind {
			case Leave:
				if _, ok := cur[c.Member.ID]; !ok {
					t.Fatalf("%v: not in the table", c)
				}
				if want := map[bool]Reason{true: Graceful, false: gone}[c.Member.Leaving != ""]; c.Reason != want {
					t.Fatalf("%v: reason %v, want %v (leaving %v)", c, c.Reason, want, c.Member.Leaving)
				}
				delete(cur, c.Member.ID)
			case Join:
				if _, ok := cur[c.Member.ID]; ok {
					t.Fatalf("%v: already in the table", c)
				}
				cur[c.Member.ID] = c.Member
			default:
				cur[c.Member.ID] = c.Member
			}
		}
		for id, n := range count {
			if n > 2 {
				t.Fatalf("%s reported %d times", id, n)
			}
		}
		if !maps.EqualFunc(cur, next, func(x, y Member) bool { return x.CreateRevision == y.CreateRevision && sameContent(x, y) }) {
			t.Fatalf("diff applied to %v gives %v, want %v", old, cur, next)
		}
	})
}
