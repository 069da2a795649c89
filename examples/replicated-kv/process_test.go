package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// proc is a server running as a child process.
type proc struct {
	*proctest.Process
	id, addr string
}

// startProc runs the program with args and waits for its first line.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{Process: proctest.Start(t, asProgram, name, nil, args...)}
	select {
	case line, ok := <-p.Lines():
		var m map[string]string
		if !ok || json.Unmarshal([]byte(line), &m) != nil || m["id"] == "" || m["addr"] == "" {
			t.Fatalf("first line %q, want {\"id\":..,\"addr\":..}; stderr: %s", line, p.Stderr.String())
		}
		p.id, p.addr = m["id"], m["addr"]
	case <-time.After(20 * time.Second):
		t.Fatalf("no first line within 20s; stderr: %s", p.Stderr.String())
	}
	return p
}

// ack is one acknowledged write.
type ack struct {
	key, value string
	epoch      int64
}

// writers write continuously through the resolver, each its own keys, and
// record every acknowledged write.
type writers struct {
	mu   sync.Mutex
	acks []ack
	errs []error
	stop context.CancelFunc
	wg   sync.WaitGroup
}

func startWriters(c kvClient, n int) *writers {
	ctx, stop := context.WithCancel(context.Background())
	w := &writers{stop: stop}
	for g := range n {
		w.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				key, value := fmt.Sprintf("w%d-%d", g, i), fmt.Sprintf("v%d-%d", g, i)
				// The write is not tied to ctx: stopping must not turn an
				// acknowledgement into an error.
				r, err := c.put(context.Background(), key, []byte(value))
				w.mu.Lock()
				if err != nil {
					w.errs = append(w.errs, fmt.Errorf("put %s: %w", key, err))
				} else {
					w.acks = append(w.acks, ack{key, value, r.GetEpoch()})
				}
				w.mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	return w
}

// count returns how many writes were acknowledged with an epoch above
// epoch, and the largest epoch seen.
func (w *writers) count(above int64) (n int, top int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, a := range w.acks {
		if a.epoch > above {
			n++
		}
		top = max(top, a.epoch)
	}
	return n, top
}

// masterAddr returns the address of the group's master in etcd.
func masterAddr(t *testing.T, cli *clientv3.Client, prefix string) string {
	t.Helper()
	resp, err := cli.Get(ctxFor(t, 5*time.Second), membersPrefix(prefix)+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil || len(resp.Kvs) == 0 {
		t.Fatalf("master of %s: %v, %d keys", prefix, err, len(resp.Kvs))
	}
	return string(resp.Kvs[0].Value)
}

// The guarantee, with processes: clients write continuously through the
// resolver; the master is killed with SIGKILL; after the failover every
// acknowledged write is readable from the new master, and the survivors
// reject the old master's epoch.
func TestKillMaster(t *testing.T) { testFailover(t, false) }

// The same with the master frozen (SIGSTOP) until a new master serves, and
// then thawed (SIGCONT): whatever the old master does when it wakes, no
// acknowledged write is lost, its epoch is refused, and it comes back as a
// slave under the same incarnation id, caught up from a snapshot.
func TestFreezeMaster(t *testing.T) { testFailover(t, true) }

func testFailover(t *testing.T, freeze bool) {
	e := mastershiptest.NewCluster(t)
	cli := e.Client(t).Client
	const prefix = "/pkv"
	args := func(name string) []string {
		return []string{"server", "--endpoints", e.Members[0].ClientURL, "--prefix", prefix, "--name", name,
			"--ttl", "2s", "--log-level", "INFO"}
	}
	procs := map[string]*proc{}
	for _, name := range []string{"a", "b", "c"} {
		p := startProc(t, name, args(name)...)
		procs[p.addr] = p
	}
	c := &cluster{t: t, cli: cli, prefix: prefix}
	first := procs[masterAddr(t, cli, prefix)]
	all := []*server{{id: first.id}}
	for _, p := range procs {
		if p != first {
			all = append(all, &server{id: p.id})
		}
	}
	c.waitISR(all...)

	conn, err := dialMaster(cli, prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := startWriters(newKVClient(conn, 20*time.Second), 3)
	defer func() { w.stop(); w.wg.Wait() }()
	waitFor(t, 20*time.Second, "150 acknowledged writes", func() bool { n, _ := w.count(0); return n >= 150 })

	old := procs[masterAddr(t, cli, prefix)]
	sig, name := syscall.SIGKILL, "SIGKILL"
	if freeze {
		sig, name = syscall.SIGSTOP, "SIGSTOP"
	}
	within := 10 * time.Second // SIGKILL ends it
	if freeze {
		within = 0
	}
	killed := time.Now()
	old.Signal(t, sig, within)
	_, oldEpoch := w.count(0)
	waitFor(t, 30*time.Second, "50 writes acknowledged by a new master", func() bool { n, _ := w.count(oldEpoch); return n >= 50 })
	t.Logf("writes went on %v after %s", time.Since(killed), name)
	if freeze {
		if err := old.Cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 20*time.Second, "the thawed master back in the in-sync set", func() bool {
			r := c.isr()
			return r.Epoch > oldEpoch && r.has(old.id)
		})
		n, _ := w.count(oldEpoch)
		waitFor(t, 20*time.Second, "30 more writes", func() bool { m, _ := w.count(oldEpoch); return m >= n+30 })
	}
	w.stop()
	w.wg.Wait()
	for _, err := range w.errs {
		t.Errorf("writer: %v", err)
	}

	// Every acknowledged write is on the new master.
	kv := newKVClient(conn, 10*time.Second)
	newMaster := procs[masterAddr(t, cli, prefix)]
	if newMaster == old {
		t.Fatal("the killed process is still master in etcd")
	}
	for _, a := range w.acks {
		r, err := kv.get(ctxFor(t, 20*time.Second), a.key)
		if err != nil {
			t.Fatalf("get %s: %v", a.key, err)
		}
		if !r.GetFound() || string(r.GetValue()) != a.value {
			t.Fatalf("acknowledged %s=%s (epoch %d) lost: new master has %q, found %v", a.key, a.value, a.epoch, r.GetValue(), r.GetFound())
		}
		if r.GetEpoch() <= oldEpoch {
			t.Fatalf("get %s answered at epoch %d, not by a new master (old epoch %d)", a.key, r.GetEpoch(), oldEpoch)
		}
	}
	t.Logf("%d acknowledged writes, all on the new master", len(w.acks))

	// The old master's epoch is fenced off on every survivor, and on the
	// old master itself once thawed.
	for _, p := range procs {
		if p == old && !freeze {
			continue
		}
		sc := kvpb.NewSyncClient(mustDial(t, p.addr))
		_, err := sc.Apply(ctxFor(t, 5*time.Second), &kvpb.ApplyRequest{Epoch: oldEpoch, Master: old.id, Index: 1 << 40,
			Op: &kvpb.Op{Kind: kvpb.Op_PUT, Key: "w0-0", Value: []byte("stale")}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s: Apply at the old epoch: %v, want FAILED_PRECONDITION", p.id, err)
		}
		_, err = sc.Snapshot(ctxFor(t, 5*time.Second), &kvpb.SnapshotRequest{Epoch: oldEpoch, Master: old.id})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s: Snapshot at the old epoch: %v, want FAILED_PRECONDITION", p.id, err)
		}
	}
	rec := c.isr()
	if rec.has(old.id) != freeze || rec.Master != newMaster.id || rec.Epoch <= oldEpoch {
		t.Errorf("in-sync set after the failover: %+v; want it written by %s, without %s", rec, newMaster.id, old.id)
	}
	// With the writers stopped, every in-sync member is where the master is.
	ms, err := kvpb.NewSyncClient(mustDial(t, newMaster.addr)).Status(ctxFor(t, 5*time.Second), &kvpb.StatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if ms.GetSynced() != rec.Epoch || ms.GetKeys() < int64(len(w.acks)) {
		t.Errorf("new master's status %v; want epoch %d and at least %d keys", ms, rec.Epoch, len(w.acks))
	}
	for _, p := range procs {
		if p == newMaster || !rec.has(p.id) {
			continue
		}
		st, err := kvpb.NewSyncClient(mustDial(t, p.addr)).Status(ctxFor(t, 5*time.Second), &kvpb.StatusRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if st.GetSynced() != ms.GetSynced() || st.GetIndex() != ms.GetIndex() || st.GetKeys() != ms.GetKeys() {
			t.Errorf("in-sync slave %s at %v, master at %v", p.id, st, ms)
		}
	}
}

// A master cut off from etcd stops serving at its safe deadline, while it
// still runs; a slave in sync takes over with every acknowledged write,
// and the cut-off master's epoch is fenced off.
func TestCutOffMaster(t *testing.T) {
	c := newCluster(t)
	p := c.etcd.Members[0].Client(t) // a's, behind a fault proxy of its own
	a := c.startWith(p.Client, "a", nil)
	oldEpoch := waitServing(t, a)
	b := c.start("b", nil)
	cc := c.start("c", nil)
	c.waitISR(a, b, cc)

	conn, err := dialMaster(c.cli, c.prefix)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w := startWriters(newKVClient(conn, 20*time.Second), 2)
	defer func() { w.stop(); w.wg.Wait() }()
	waitFor(t, 20*time.Second, "50 acknowledged writes", func() bool { n, _ := w.count(0); return n >= 50 })

	p.Cut()
	defer p.Heal()
	waitFor(t, 2*testTTL, "a to stop serving", func() bool { tm := a.current(); return tm == nil || tm.serving() != nil })
	waitFor(t, 30*time.Second, "30 writes acknowledged by a new master", func() bool { n, _ := w.count(oldEpoch); return n >= 30 })
	w.stop()
	w.wg.Wait()
	for _, err := range w.errs {
		t.Errorf("writer: %v", err)
	}

	// a still runs, and refuses clients.
	akv, _ := direct(t, a)
	_, err = akv.kv.Put(ctxFor(t, 5*time.Second), &kvpb.PutRequest{Key: "late", Value: []byte("x")})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("put on the cut-off master: %v, want UNAVAILABLE", err)
	}
	var master *server
	for _, s := range []*server{b, cc} {
		if tm := s.current(); tm != nil && tm.serving() == nil {
			master = s
		}
	}
	if master == nil {
		t.Fatal("no new master serving")
	}
	for _, ack := range w.acks {
		v, ok, _ := master.st.get(ack.key)
		if !ok || string(v) != ack.value {
			t.Fatalf("acknowledged %s=%s lost: new master %s has %q", ack.key, ack.value, master.cfg.Name, v)
		}
	}
	for _, s := range []*server{b, cc} {
		_, sc := direct(t, s)
		_, idx, _ := s.st.state()
		_, err := sc.Apply(ctxFor(t, 5*time.Second), &kvpb.ApplyRequest{Epoch: oldEpoch, Master: a.id, Index: idx + 1,
			Op: &kvpb.Op{Kind: kvpb.Op_PUT, Key: "late", Value: []byte("x")}})
		if status.Code(err) != codes.FailedPrecondition {
			t.Errorf("%s: Apply at the cut-off master's epoch: %v, want FAILED_PRECONDITION", s.cfg.Name, err)
		}
		if _, ok, _ := s.st.get("late"); ok {
			t.Errorf("%s holds a write of the cut-off master", s.cfg.Name)
		}
	}
	if rec := c.isr(); rec.has(a.id) || rec.Master != master.id {
		t.Errorf("in-sync set %+v; want it written by %s, without a", rec, master.id)
	}
}
