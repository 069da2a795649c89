package chaos

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
)

// ttl is the members' TTL: etcd's minimum with its default settings, so
// that faults that outlast it stay short.
const ttl = 2 * time.Second

// nodeBin is the node program, built once for the whole suite.
var nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBin = filepath.Join(dir, "node")
	// go test puts its own go command first in PATH.
	build := exec.Command("go", "build", "-o", nodeBin, "github.com/seed764c596d/mastership/examples/node")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build the node program:", err)
		os.Exit(1)
	}
	goleak.VerifyTestMain(runner{m, dir})
}

// runner removes the suite's directory after the tests, before goleak
// exits.
type runner struct {
	m   *testing.M
	dir string
}

func (r runner) Run() int {
	defer os.RemoveAll(r.dir)
	return r.m.Run()
}

// Run is one scenario's run: its random source, seeded and reported, and
// the history of all its members.
type Run struct {
	t    *testing.T
	Seed uint64
	Rand *rand.Rand
	H    history.History

	mu      sync.Mutex
	n       map[string]int // incarnations so far, by member id
	changed chan struct{}  // a wake-up for Wait after each record
}

// NewRun starts a scenario's run. Its seed comes from MASTERSHIP_SEED, or
// from the clock; a failing run prints it with the history.
func NewRun(t *testing.T) *Run {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MASTERSHIP_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MASTERSHIP_SEED=%q: %v", s, err)
		}
		seed = v
	}
	r := &Run{t: t, Seed: seed, Rand: rand.New(rand.NewPCG(seed, seed)), n: map[string]int{}, changed: make(chan struct{}, 1)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("seed %d (MASTERSHIP_SEED=%d reproduces the random choices); history:\n%s", seed, seed, r.H.String())
		}
	})
	return r
}

func (r *Run) incarnation(id string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n[id]++
	return fmt.Sprintf("%s#%d", id, r.n[id])
}

func (r *Run) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// checkOptions are the options the suite checks its histories with: a
// freeze of at least the members' TTL is past their safe deadline.
var checkOptions = history.Options{TTL: ttl}

// Check fails the test for every violation of the history's rules, and
// logs the overlaps of masterships that a deletion of the master's key by
// hand explains (the one case the safe deadline does not cover), with
// their lengths.
func (r *Run) Check() {
	r.t.Helper()
	if vs := history.Check(&r.H, checkOptions); len(vs) > 0 {
		r.t.Errorf("seed %d: the history breaks its rules:\n%s", r.Seed, history.Format(vs))
	}
	for _, o := range history.ExternalOverlaps(&r.H, checkOptions) {
		r.t.Logf("overlap after a deletion by hand (measured, not a violation): %s", o)
	}
}

// Wait waits until cond holds, checking after each new record, or fails
// the test after timeout.
func (r *Run) Wait(what string, timeout time.Duration, cond func() bool) {
	r.t.Helper()
	limit := time.NewTimer(timeout)
	defer limit.Stop()
	for !cond() {
		select {
		case <-r.changed:
		case <-time.After(50 * time.Millisecond):
		case <-limit.C:
			r.t.Fatalf("seed %d: %s: not within %v", r.Seed, what, timeout)
		}
	}
}

// Last returns the last record of an incarnation, and whether it has one.
func (r *Run) Last(inc string) (history.Record, bool) {
	recs := r.H.Records(inc)
	if len(recs) == 0 {
		return history.Record{}, false
	}
	return recs[len(recs)-1], true
}

// Has reports whether an incarnation has emitted an event of type typ.
func (r *Run) Has(inc string, typ events.Type) bool {
	return slices.ContainsFunc(r.H.Records(inc), func(rec history.Record) bool { return rec.Type == typ })
}

// Converge waits until every live member's last view is what etcd holds
// under prefix, read through cli, then checks the whole history.
func (r *Run) Converge(cli *clientv3.Client, prefix string, timeout time.Duration) {
	r.t.Helper()
	var last []history.Violation
	deadline := time.Now().Add(timeout)
	for {
		ids, err := membersIn(cli, prefix)
		if err == nil {
			master := ""
			if len(ids) > 0 {
				master = ids[0]
			}
			if last = history.CheckConvergence(&r.H, ids, master); len(last) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("seed %d: no convergence within %v (etcd: %v, %v):\n%s", r.Seed, timeout, ids, err, history.Format(last))
		}
		select {
		case <-r.changed:
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.Check()
}

// membersIn reads the member ids under prefix in join order.
func membersIn(cli *clientv3.Client, prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		ids = append(ids, string(kv.Key[len(prefix)+1:]))
	}
	return ids, nil
}

// Member is an in-process member, with its own client.
type Member struct {
	Inc  string
	ID   string
	Sel  *selector.Selector
	Cli  *clientv3.Client
	r    *Run
	done chan struct{} // closed once its events are all recorded
}

// newClient returns a client of endpoints of c (the URLs of its members,
// or of their proxies), or of all its members if none are given, made with
// the kit's client configuration (Cluster.Config), and closes it when t
// ends, before the cluster.
func newClient(t testing.TB, c *mastershiptest.Cluster, endpoints ...string) *clientv3.Client {
	t.Helper()
	cfg := c.Config(t, "", "")
	if len(endpoints) > 0 {
		cfg.Endpoints = endpoints
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		t.Fatalf("etcd client of %v: %v", cfg.Endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Join starts an in-process member on its own client of endpoints of c.
func (r *Run) Join(c *mastershiptest.Cluster, prefix, id string, endpoints []string, opts ...selector.Option) *Member {
	r.t.Helper()
	cli := newClient(r.t, c, endpoints...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli, prefix, id, append([]selector.Option{selector.WithTTL(ttl)}, opts...)...)
	if err != nil {
		r.t.Fatalf("seed %d: join %s: %v", r.Seed, id, err)
	}
	m := &Member{Inc: r.incarnation(id), ID: id, Sel: s, Cli: cli, r: r, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ev := range s.Events() {
			r.H.Add(m.Inc, history.FromEvent(id, ev))
			r.notify()
		}
	}()
	r.t.Cleanup(m.Close)
	return m
}

// Close closes the member and records its end.
func (m *Member) Close() {
	m.Sel.Close()
	<-m.done
	m.r.H.End(m.Inc, time.Now())
	m.r.notify()
}

// Process is a member running as a node program process.
type Process struct {
	Inc  string
	ID   string
	r    *Run
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and its lines are recorded
	err  error         // from Wait

	mu     sync.Mutex
	frozen bool
}

// Start runs a node program process as member id.
func (r *Run) Start(prefix, id string, endpoints []string) *Process {
	r.t.Helper()
	p := &Process{Inc: r.incarnation(id), ID: id, r: r, done: make(chan struct{})}
	eps := ""
	for i, ep := range endpoints {
		if i > 0 {
			eps += ","
		}
		eps += ep
	}
	p.cmd = exec.Command(nodeBin, "--endpoints", eps, "--prefix", prefix, "--id", id, "--ttl", ttl.String())
	p.cmd.Stderr = os.Stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if err := r.H.AddLine(p.Inc, sc.Bytes()); err != nil {
				r.t.Errorf("seed %d: %s printed a line outside the contract: %v", r.Seed, p.Inc, err)
			}
			r.notify()
		}
		p.err = p.cmd.Wait()
		// The process is gone: whatever it was, it is no longer.
		r.H.End(p.Inc, time.Now())
		r.notify()
	}()
	r.t.Cleanup(func() { p.Kill() })
	return p
}

// Kill sends SIGKILL and waits for the process to be gone. A frozen
// process dies all the same.
func (p *Process) Kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Freeze stops the process with SIGSTOP, as a stop-the-world pause or a
// suspended VM would, waits until the kernel shows it stopped, and records
// that instant in the history (History.Freeze): whatever the process
// prints after it, it printed after its Thaw. It fails the test if the
// process is not stopped within a few seconds.
func (p *Process) Freeze() time.Time {
	p.r.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.r.t.Fatalf("seed %d: SIGSTOP to %s: %v", p.r.Seed, p.Inc, err)
	}
	limit := time.Now().Add(5 * time.Second)
	for !stopped(p.cmd.Process.Pid) {
		if time.Now().After(limit) {
			p.r.t.Fatalf("seed %d: %s not stopped 5s after SIGSTOP", p.r.Seed, p.Inc)
		}
		// Polling /proc, which has no notification; bounded by limit.
		time.Sleep(time.Millisecond)
	}
	at := time.Now()
	p.r.H.Freeze(p.Inc, at)
	p.mu.Lock()
	p.frozen = true
	p.mu.Unlock()
	return at
}

// Thaw records the thaw in the history (History.Thaw), then resumes the
// process with SIGCONT. Thaw of a process that is not frozen does nothing.
func (p *Process) Thaw() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		return time.Time{}
	}
	p.frozen = false
	at := time.Now()
	p.r.H.Thaw(p.Inc, at)
	p.cmd.Process.Signal(syscall.SIGCONT)
	return at
}

// Frozen reports whether the process is frozen.
func (p *Process) Frozen() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frozen
}

// stopped reports whether process pid is in the stopped state (T in
// /proc/pid/stat), or gone.
func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone: it prints nothing more either
	}
	// The state follows the command name, which is in parentheses and may
	// hold spaces: the field after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	st := b[i+2]
	return st == 'T' || st == 't' || st == 'Z' || st == 'X'
}

// Term sends SIGTERM, waits for the process to exit, and fails the test
// unless it exited 0. A frozen process is thawed first: it would not act on
// the signal before.
func (p *Process) Term() {
	p.r.t.Helper()
	p.Thaw()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.r.t.Fatalf("%s: still running 10s after SIGTERM", p.Inc)
	}
	if p.err != nil {
		p.r.t.Errorf("%s after SIGTERM: %v, want exit 0", p.Inc, p.err)
	}
}

// Registered reports whether an incarnation's last record says it is
// registered, and is of the given role ("" for any).
func (r *Run) Registered(inc string) bool {
	rec, ok := r.Last(inc)
	return ok && rec.Type != events.Offline
}

// MasterIs reports whether the last record of inc names master as master.
func (r *Run) MasterIs(inc, master string) bool {
	rec, ok := r.Last(inc)
	return ok && rec.Type != events.Offline && rec.Master == master
}
