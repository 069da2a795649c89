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

	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/logtest"
	"github.com/seed764c596d/mastership/selector"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const ttl = 2 * time.Second

var quiet = slog.New(slog.DiscardHandler)

func start(t testing.TB, cli *clientv3.Client, id string, meta map[string]string) *Peer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := Start(ctx, cli, "/peers", id, meta, ttl, quiet)
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
		m, err := decodeMember(strings.TrimPrefix(string(kv.Key), "/peers/"), kv.Value, kv.CreateRevision, kv.ModRevision)
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
		if a[i].ID != b[i].ID || a[i].CreateRevision != b[i].CreateRevision || a[i].ModRevision != b[i].ModRevision || !sameContent(a[i], b[i]) {
			return false
		}
	}
	return true
}

func format(ms []Member) string {
	var b strings.Builder
	for _, m := range ms {
		fmt.Fprintf(&b, "%s(inc %s, rev %d/%d, leaving %v, meta %s) ", m.ID, m.Incarnation, m.CreateRevision, m.ModRevision, m.Leaving, metaString(m.Meta))
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
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a := start(t, cli, "a", map[string]string{"zone": "eu"})
	changes := listen(t, a)
	stuck := listen(t, a) // never read until the end
	if c := waitFor(t, changes, 5*time.Second, "the first change", func(Change) bool { return true }); c.Kind != Snapshot || ids(c.Table) != "a" {
		t.Fatalf("first change = %v with table %s, want SNAPSHOT of a", c, ids(c.Table))
	}

	b := start(t, etcd.Client(t), "b", map[string]string{"zone": "us"})
	px := etcd.Members[0].NewProxy(t)
	c := start(t, px.Client(t), "c", nil)
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
	if u.Member.CreateRevision != before.CreateRevision || u.Member.Incarnation != before.Incarnation {
		t.Errorf("UPDATE b changed the registration: %+v, was %+v", u.Member, before)
	}
	converge(t, a, changes, cli)

	// A graceful leave is told apart from an expiry.
	bInc := b.Incarnation()
	if err := b.Leave(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, changes, 5*time.Second, "LEAVING b", is(Leaving, "b"))
	l := waitFor(t, changes, 5*time.Second, "LEAVE b", is(Leave, "b"))
	if l.Reason != Graceful {
		t.Errorf("b left with reason %v, want graceful", l.Reason)
	}
	converge(t, a, changes, cli)

	// c is cut off from etcd: its lease expires, and nobody was told.
	cutAt := time.Now()
	px.Blackhole()
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

	// b restarts: same id, a new incarnation.
	b2 := start(t, etcd.Client(t), "b", nil)
	j := waitFor(t, changes, 5*time.Second, "JOIN b again", is(Join, "b"))
	if j.Member.Incarnation == bInc || j.Member.Incarnation != b2.Incarnation() {
		t.Errorf("b rejoined with incarnation %s; old %s, new process %s", j.Member.Incarnation, bInc, b2.Incarnation())
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
	want := "SNAPSHOT (1 members)|JOIN b|JOIN c|UPDATE b {port=4000 zone=ap}|LEAVING b|LEAVE b (graceful)|LEAVE c (expired)|JOIN b"
	if got := strings.Join(kinds, "|"); got != want {
		t.Errorf("unread listener got\n %s\nwant\n %s", got, want)
	}
}

// TestMetadataSurvivesReregistration: a member whose key is deleted from
// outside registers again, and writes back its current metadata, not the
// metadata it started with.
func TestMetadataSurvivesReregistration(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	a := start(t, cli, "a", map[string]string{"v": "1"})
	ch := listen(t, a)
	if err := a.SetMeta(context.Background(), map[string]string{"v": "2"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ch, 5*time.Second, "UPDATE a", is(Update, "a"))
	if _, err := cli.Delete(context.Background(), "/peers/a"); err != nil {
		t.Fatal(err)
	}
	l := waitFor(t, ch, 5*time.Second, "LEAVE a", is(Leave, "a"))
	if l.Reason != Expired {
		t.Errorf("deleted key: reason %v, want expired", l.Reason)
	}
	j := waitFor(t, ch, 10*time.Second, "JOIN a", is(Join, "a"))
	if j.Member.Incarnation != a.Incarnation() {
		t.Errorf("re-registration changed the incarnation: %s, want %s", j.Member.Incarnation, a.Incarnation())
	}
	// The new registration writes the record last set (SetValue keeps
	// it), so the node joins with it: no join with the old metadata and
	// an update after it.
	if j.Member.Meta["v"] != "2" {
		t.Errorf("meta at re-registration = %v, want v=2", j.Member.Meta)
	}
	converge(t, a, ch, cli)
}

func TestDiff(t *testing.T) {
	m := func(id string, crev int64, leaving bool, meta ...string) Member {
		mm := map[string]string{}
		for i := 0; i+1 < len(meta); i += 2 {
			mm[meta[i]] = meta[i+1]
		}
		return Member{ID: id, Incarnation: "i-" + id, CreateRevision: crev, Leaving: leaving, Meta: mm}
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
		want      string
	}{
		{"nothing", tab(m("a", 1, false)), tab(m("a", 1, false)), ""},
		{"join", tab(), tab(m("a", 1, false)), "JOIN a"},
		{"gone unseen", tab(m("a", 1, false)), tab(), "LEAVE a (unknown)"},
		{"gone after marker", tab(m("a", 1, true)), tab(), "LEAVE a (graceful)"},
		{"metadata", tab(m("a", 1, false, "k", "1")), tab(m("a", 1, false, "k", "2")), "UPDATE a {k=2}"},
		{"marker", tab(m("a", 1, false)), tab(m("a", 1, true)), "LEAVING a"},
		{"re-created", tab(m("a", 1, false)), tab(m("a", 5, false)), "LEAVE a (unknown)|JOIN a"},
		{"order", tab(m("b", 2, false), m("d", 4, false)), tab(m("a", 7, false), m("c", 8, false)),
			"LEAVE b (unknown)|LEAVE d (unknown)|JOIN a|JOIN c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, c := range diff(tc.old, tc.next, 9) {
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
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	other := start(t, cli, "other", nil)
	seen := listen(t, other)

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--endpoints", strings.Join(etcd.Endpoints(), ","), "--prefix", "/peers",
			"--id", "prog", "--meta", "zone=eu", "--ttl", "2s"}, stdinR, outW, io.Discard)
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
	expect := func(what string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-lines:
				if strings.Contains(s, what) {
					return
				}
			case <-timeout:
				t.Fatalf("program printed no %q within 10s", what)
			}
		}
	}
	expect("prog: SNAPSHOT (2 members)")
	if _, err := io.WriteString(stdinW, "port=4000\n"); err != nil {
		t.Fatal(err)
	}
	expect("prog: UPDATE prog {port=4000 zone=eu}")
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
	if l.Reason != Graceful {
		t.Errorf("program left with reason %v, want graceful", l.Reason)
	}
}

// TestTableResyncsAfterCompaction: a node cut off from etcd for longer
// than its TTL, while the group changes and the history it missed is
// compacted, reads the group afresh once the cut heals and reports the
// difference: a member gone unseen as unknown, a new one as a join, new
// metadata as an update.
func TestTableResyncsAfterCompaction(t *testing.T) {
	etcd := etcdtest.Start(t)
	cli := etcd.Client(t)
	x := start(t, cli, "x", nil)
	z := start(t, cli, "z", map[string]string{"v": "1"})
	px := etcd.Members[0].NewProxy(t)
	var rec logtest.Recorder
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	oc := px.Client(t)
	o, err := Start(ctx, oc, "/peers", "o", nil, ttl, rec.Logger())
	if err != nil {
		t.Fatal(err)
	}
	ch := listen(t, o)
	t.Cleanup(px.Release) // before o leaves
	seen := listen(t, z)
	waitFor(t, ch, time.Second, "SNAPSHOT", func(c Change) bool { return c.Kind == Snapshot })

	// Held, not dropped: a real partition holds a live connection's
	// bytes (a blackhole drops them inside it, which can leave the
	// connection unusable after the heal).
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
	// etcd wrote the changes to o's watch stream as they happened; they
	// wait in the held connection. Released while o still uses that
	// connection, they can reach o in order, and then no history is
	// missed (seen in CI: LEAVE x (expired), and no resync). Wait for o's
	// client to give the connection up, as it does behind a partition
	// that outlasts gRPC's keep-alive (at least 10s there, whatever the
	// client asks): the changes are then lost with it.
	conn := oc.ActiveConnection()
	dropCtx, dropCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer dropCancel()
	for st := conn.GetState(); st == connectivity.Ready; st = conn.GetState() {
		if !conn.WaitForStateChange(dropCtx, st) {
			t.Fatal("o's client still uses the held connection 30s after o expired")
		}
	}
	px.Release()

	var got []string
	for len(got) < 3 {
		c := waitFor(t, ch, 25*time.Second, "the missed changes", func(c Change) bool { return c.Member.ID != "o" })
		got = append(got, c.String())
	}
	if want := "LEAVE x (unknown)|JOIN y|UPDATE z {v=2}"; strings.Join(got, "|") != want {
		t.Errorf("changes after the heal: %s, want %s", strings.Join(got, "|"), want)
	}
	// o registers again once its old lease is found gone: the table is
	// compared with etcd's once o is back in etcd.
	for back := time.Now().Add(10 * time.Second); ; {
		resp, err := cli.Get(context.Background(), "/peers/o")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Kvs) > 0 {
			break
		}
		if time.Now().After(back) {
			t.Fatal("o not registered again within 10s of the heal")
		}
		time.Sleep(20 * time.Millisecond) // polling etcd, bounded above
	}
	if got := converge(t, o, ch, cli); ids(got) != "z,y,o" || got[1].Incarnation != y.Incarnation() {
		t.Errorf("table %s, want z,y,o", format(got))
	}
	compacted := false
	for _, r := range rec.Find("watch ended; resynchronising") {
		// The selector logs the same message for its own watch.
		compacted = compacted || (r.Attrs["table"] == "/peers/" && r.Attrs["compactRevision"] != int64(0))
	}
	if !compacted {
		t.Errorf("no resync of the table after a compaction: %v", rec.Find("watch ended; resynchronising"))
	}
}

// FuzzDiff: the changes diff reports, applied to the old table, give the
// new one, and a member is reported at most twice (leave and join again).
func FuzzDiff(f *testing.F) {
	f.Add([]byte{1, 2, 3}, []byte{2, 3, 4})
	f.Add([]byte{0x81, 5}, []byte{1, 0x45})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		// Each byte is a member: id from the low 3 bits, registration from
		// the next 2, metadata from the next, leaving from the top.
		table := func(bs []byte) map[string]Member {
			out := map[string]Member{}
			for _, x := range bs {
				id := string(rune('a' + x&7))
				out[id] = Member{ID: id, CreateRevision: int64(x>>3&3) + 1,
					Meta: map[string]string{"m": fmt.Sprint(x >> 5 & 1)}, Leaving: x&0x80 != 0}
			}
			return out
		}
		old, next := table(a), table(b)
		cur := maps.Clone(old)
		count := map[string]int{}
		for _, c := range diff(old, next, 1) {
			count[c.Member.ID]++
			switch c.Kind {
			case Leave:
				if _, ok := cur[c.Member.ID]; !ok {
					t.Fatalf("%v: not in the table", c)
				}
				if (c.Reason == Graceful) != c.Member.Leaving {
					t.Fatalf("%v: reason does not match the marker", c)
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
