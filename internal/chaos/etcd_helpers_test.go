package chaos

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
	"github.com/seed764c596d/mastership/internal/history"
)

// Helpers of the etcd fault scenarios (etcd_test.go). Their names start
// with "etcd" or belong to types of this file, so that they do not collide
// with the helpers of other scenario files.

// etcdFirstAfter returns the first record of inc after instant after that
// match accepts, and whether there is one.
func etcdFirstAfter(r *Run, inc string, after time.Time, match func(history.Record) bool) (history.Record, bool) {
	for _, rec := range r.H.Records(inc) {
		if rec.TS.After(after) && match(rec) {
			return rec, true
		}
	}
	return history.Record{}, false
}

// etcdIs matches records of one of the given types.
func etcdIs(types ...events.Type) func(history.Record) bool {
	return func(rec history.Record) bool { return slices.Contains(types, rec.Type) }
}

// etcdIsMaster matches records that show their member master.
func etcdIsMaster(rec history.Record) bool {
	return rec.Type != events.Offline && rec.Master == rec.Self
}

// etcdMastersAt returns the incarnations among incs whose records say they
// were master at instant at: their last record at or before it shows
// themselves master.
func etcdMastersAt(r *Run, at time.Time, incs ...string) []string {
	var out []string
	for _, inc := range incs {
		var last *history.Record
		recs := r.H.Records(inc)
		for i := range recs {
			if recs[i].TS.After(at) {
				break
			}
			last = &recs[i]
		}
		if last != nil && etcdIsMaster(*last) {
			out = append(out, inc)
		}
	}
	return out
}

// etcdLiveMasters returns the incarnations among incs whose last record
// shows them registered and master.
func etcdLiveMasters(r *Run, incs ...string) []string {
	var out []string
	for _, inc := range incs {
		if rec, ok := r.Last(inc); ok && etcdIsMaster(rec) {
			out = append(out, inc)
		}
	}
	return out
}

// etcdSees reports whether the last record of every one of incs shows
// exactly the members ids, master first.
func etcdSees(r *Run, ids []string, incs ...string) bool {
	for _, inc := range incs {
		rec, ok := r.Last(inc)
		if !ok || rec.Type == events.Offline || !slices.Equal(rec.Members, ids) {
			return false
		}
	}
	return true
}

// etcdIncs returns the incarnation names of members.
func etcdIncs(ms ...*Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Inc
	}
	return out
}

// etcdMembers reads the member ids etcd holds under prefix, in join order,
// failing the test if etcd cannot be read.
func etcdMembers(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	ids, err := membersIn(cli, prefix)
	if err != nil {
		t.Fatalf("read %s: %v", prefix, err)
	}
	return ids
}

// etcdOneMaster checks the end state of a scenario after Converge: etcd
// holds exactly the members want (in any order), every one of incs is
// registered, and exactly one of them is master.
func etcdOneMaster(t *testing.T, r *Run, cli *clientv3.Client, prefix string, want []string, incs ...string) {
	t.Helper()
	got := etcdMembers(t, cli, prefix)
	if !etcdSameSet(got, want) {
		t.Errorf("seed %d: etcd holds members %v, want %v", r.Seed, got, want)
	}
	for _, inc := range incs {
		if !r.Registered(inc) {
			t.Errorf("seed %d: %s is not registered at the end", r.Seed, inc)
		}
	}
	if ms := etcdLiveMasters(r, incs...); len(ms) != 1 {
		t.Errorf("seed %d: masters at the end: %v, want exactly one", r.Seed, ms)
	}
}

func etcdSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// etcdWaitLeader waits until the cluster has a raft leader other than the
// member at index not (-1 for any), and returns its index.
func etcdWaitLeader(t *testing.T, c *etcdtest.Cluster, not int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := c.Leader(); l >= 0 && l != not {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no etcd leader (other than member %d) within %v", not, timeout)
		}
		<-time.After(20 * time.Millisecond) // polling: etcd tells no one of a new leader
	}
}

// etcdBreakConn breaks the connection of cli, which reaches etcd only
// through p, at once, and keeps it from connecting again until the
// returned heal is called: the proxy corrupts what etcd sends, which makes
// gRPC drop the connection, and accepts no new one. A read through cli,
// whose answer comes back corrupted, makes it fail at once rather than at
// the next keep-alive answer (a third of the TTL). heal may be called more
// than once.
func etcdBreakConn(t *testing.T, r *Run, p *etcdtest.Proxy, cli *clientv3.Client) (heal func()) {
	t.Helper()
	p.PauseAccept()
	p.ModifyRx(func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) })
	var once sync.Once
	heal = func() {
		once.Do(func() {
			p.UnmodifyRx()
			p.UnpauseAccept()
		})
	}
	t.Cleanup(heal)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	cli.Get(ctx, "poke") // its answer arrives corrupted: an error
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for cli.ActiveConnection().GetState() == connectivity.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: the client's connection through the proxy still READY 10s after it was corrupted", r.Seed)
		}
		<-time.After(10 * time.Millisecond) // polling the connection's state
	}
	return heal
}

// etcdStamp formats an instant as the history does.
func etcdStamp(t time.Time) string { return t.UTC().Format(history.TSFormat) }

// etcdWaitGroup waits until every one of incs is registered and sees
// exactly the members ids (in any order). Converge alone may pass in a
// transient state, such as a member between revoking its old key and creating
// its new one; this waits for the state the scenario means to reach.
func etcdWaitGroup(r *Run, timeout time.Duration, ids []string, incs ...string) {
	r.t.Helper()
	r.Wait("every member registered in a group of "+strings.Join(ids, ", "), timeout, func() bool {
		for _, inc := range incs {
			rec, ok := r.Last(inc)
			if !ok || rec.Type == events.Offline || !etcdSameSet(rec.Members, ids) {
				return false
			}
		}
		return true
	})
}

// etcdFront stands between clients and one etcd member's client URL, on a
// Unix socket, and can go down as a crashed process does: Down closes every
// connection at once and refuses new ones until Up. etcdtest's proxy cannot:
// a blackholed connection hangs until gRPC's keep-alive (over 10s) gives up
// on it, and an etcd member that is stopped while clients keep streams open
// serves them on for its request timeout (7s) before it closes them.
type etcdFront struct {
	t    *testing.T
	sock string
	to   string // etcd's host:port

	mu    sync.Mutex
	ln    net.Listener // nil while down
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// etcdNewFront starts a front for member m, up, and takes it down when t
// ends.
func etcdNewFront(t *testing.T, m *etcdtest.Member) *etcdFront {
	t.Helper()
	// Unix socket paths are short: a directory of its own under the
	// system's temporary directory.
	dir, err := os.MkdirTemp("", "ef")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	u, err := url.Parse(m.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	f := &etcdFront{t: t, sock: filepath.Join(dir, "s"), to: u.Host, conns: map[net.Conn]struct{}{}}
	f.Up()
	t.Cleanup(f.Down)
	return f
}

// Endpoint is the client endpoint that goes through the front.
func (f *etcdFront) Endpoint() string { return "unix://" + f.sock }

// Up starts accepting connections again; a no-op while up.
func (f *etcdFront) Up() {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ln != nil {
		return
	}
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		f.t.Fatalf("front of %s: %v", f.to, err)
	}
	f.ln = ln
	f.wg.Add(1)
	go f.accept(ln)
}

// Down closes the listener and every connection, and waits until the
// front's goroutines have ended; a no-op while down.
func (f *etcdFront) Down() {
	f.mu.Lock()
	if f.ln != nil {
		f.ln.Close() // removes the socket: a client's dial now fails at once
		f.ln = nil
	}
	for c := range f.conns {
		c.Close()
	}
	clear(f.conns)
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *etcdFront) accept(ln net.Listener) {
	defer f.wg.Done()
	for {
		in, err := ln.Accept()
		if err != nil {
			return // closed by Down
		}
		out, err := net.Dial("tcp", f.to)
		if err != nil {
			in.Close() // etcd is down: so is the connection
			continue
		}
		f.mu.Lock()
		if f.ln != ln { // went down meanwhile
			f.mu.Unlock()
			in.Close()
			out.Close()
			continue
		}
		f.conns[in], f.conns[out] = struct{}{}, struct{}{}
		f.wg.Add(2)
		f.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			defer f.wg.Done()
			io.Copy(dst, src)
			in.Close()
			out.Close()
			f.mu.Lock()
			delete(f.conns, in)
			delete(f.conns, out)
			f.mu.Unlock()
		}
		go pipe(out, in)
		go pipe(in, out)
	}
}

// etcdKill makes etcd member i of c vanish at once, as a crashed process
// does, then stops it for real. Its clients, which reach it through front,
// lose their connections at once and cannot connect again; in a cluster of
// several members its peers stop hearing from it at the same instant (it
// sends no raft message, and drops those it gets), so that, if it led,
// they elect a new leader after an election timeout, with no hand-over.
// Once it has noticed that it leads no more (a leader that stops hands its
// leadership over first), it is stopped. In a cluster made by
// NewIsolatable, its peer proxy holds new connections back until the
// restart (etcdHoldPeers). It returns when the member stopped, and the
// restart that brings it and its front back.
func etcdKill(t *testing.T, c *etcdtest.Cluster, i int, front *etcdFront) (stopped time.Time, restart func()) {
	t.Helper()
	m := c.Members[i]
	srv := m.Etcd().Server
	if len(c.Members) > 1 {
		srv.PauseSending()
	}
	front.Down()
	if m.PeerProxy != nil {
		etcdHoldPeers(t, m)
	}
	if len(c.Members) > 1 {
		deadline := time.Now().Add(10 * time.Second)
		for srv.Leader() == srv.MemberID() {
			if time.Now().After(deadline) {
				t.Fatalf("etcd member %s still leads 10s after it was cut off", m.Name)
			}
			<-time.After(20 * time.Millisecond) // polling: etcd tells no one it stepped down
		}
	}
	m.Stop()
	return time.Now(), func() {
		t.Helper()
		errc := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		go func() { errc <- m.Restart(ctx) }()
		if m.PeerProxy != nil {
			// The peers must reach the member for it to become ready:
			// accept again once it listens.
			sock := strings.TrimPrefix(m.PeerProxy.To(), "unix://")
			deadline := time.Now().Add(10 * time.Second)
			for {
				if _, err := os.Stat(sock); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("etcd member %s not listening for peers 10s after its restart began", m.Name)
				}
				<-time.After(5 * time.Millisecond) // polling for its socket
			}
			m.PeerProxy.UnpauseAccept()
		}
		if err := <-errc; err != nil {
			t.Fatalf("restart etcd member %s: %v", m.Name, err)
		}
		front.Up()
	}
}

// etcdCutOff cuts etcd member m off from its peers in both directions
// (etcdtest's Isolate: its raft transport drops every message it receives
// and sends none), so it loses its leader after an election timeout, and the
// others go on without it. etcdReconnect undoes it.
func etcdCutOff(m *etcdtest.Member) { m.Isolate() }

func etcdReconnect(m *etcdtest.Member) { m.Rejoin() }

// etcdHoldPeers makes the peer proxy of m, in a cluster made by
// NewIsolatable, hold new connections back, unaccepted, until
// m.PeerProxy.UnpauseAccept: while m is stopped, etcd's proxy would leak a
// connection it accepts but cannot forward, and the peer that made it (its
// prober waits without a time limit) would wait for ever. The proxy may be
// waiting in Accept already, which PauseAccept does not interrupt; a
// connection of our own takes that turn now, while m still runs.
func etcdHoldPeers(t *testing.T, m *etcdtest.Member) {
	t.Helper()
	m.PeerProxy.PauseAccept()
	if c, err := net.Dial("unix", strings.TrimPrefix(m.PeerProxy.From(), "unix://")); err == nil {
		c.Close()
	}
}

// etcdClose stops the members of c and closes it, quickly and without
// leaving goroutines behind; a cluster's own Close does neither when its
// members are several. Register it after the cluster is made, in place of
// or besides its Close.
//   - Close stops all members at once, and a leader that stops hands its
//     leadership over to a peer, which may be stopping too: the leader then
//     waits for its request timeout (7s). Here every member first stops
//     sending and hearing raft messages, until none leads (an election
//     timeout or two), so that none hands over.
//   - The peer proxies of a cluster made by NewIsolatable stay up while
//     the members stop, and etcd's proxy leaks a connection it accepts but
//     cannot forward (its member is gone): the peer that made it waits for
//     an answer for ever. Here the proxies stop accepting first; the
//     connections they carry keep working until the members stop.
//
// Clusters whose peers talk over TCP (New, StartCluster) leave peer HTTP
// connections open for about two seconds after they close, which a goleak
// check at the end of the package may catch: multi-member scenarios here
// use NewIsolatable clusters, whose peers talk through the proxies.
func etcdClose(t *testing.T, c *etcdtest.Cluster) {
	var wg sync.WaitGroup
	for _, m := range c.Members {
		if m.PeerProxy != nil {
			wg.Add(1)
			// Close waits for the proxy's connections, which end as the
			// members stop.
			go func() { defer wg.Done(); m.PeerProxy.Close() }()
		}
	}
	if len(c.Members) > 1 {
		for _, m := range c.Members {
			if e := m.Etcd(); e != nil {
				e.Server.PauseSending()
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for c.Leader() >= 0 && time.Now().Before(deadline) {
			<-time.After(20 * time.Millisecond) // polling: etcd tells no one it stepped down
		}
		if c.Leader() >= 0 {
			t.Errorf("etcd: member %d still leads 10s after the members were cut off from each other; stopping it anyway", c.Leader())
		}
	}
	c.Close()
	wg.Wait()
}

// etcdWaitCut waits until none of the members' clients has a connection
// ready, failing the test after timeout: the fault that should have cut
// them off did.
func etcdWaitCut(t *testing.T, r *Run, timeout time.Duration, ms ...*Member) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, m := range ms {
		for m.Cli.ActiveConnection().GetState() == connectivity.Ready {
			if time.Now().After(deadline) {
				t.Fatalf("seed %d: %s's client still connected %v after etcd went down", r.Seed, m.Inc, timeout)
			}
			<-time.After(5 * time.Millisecond) // polling the connection's state
		}
	}
}
