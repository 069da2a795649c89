package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// childEnv names the environment variable that makes this program (or the
// test binary) a child process holding the members of a scale run, so that
// their memory, goroutines and CPU are measured apart from etcd's.
const childEnv = "MASTERSHIP_BENCH_CHILD"

// scaleSpec is what the parent asks of a child.
type scaleSpec struct {
	Name, Kind        string
	TTL, Renew, Retry time.Duration
	Groups            int
	PerGroup          int
	Clients           int // clients in the child; 0: one per member
	Endpoint          string
	Settle            time.Duration
	Rest              time.Duration
	Prefix            string
	Joins             int  // join trials in group 0 (mastership only)
	Recovery          bool // wait for the parent to stop and restart etcd (mastership only)
}

func (s scaleSpec) members() int { return s.Groups * s.PerGroup }

// clients returns how many clients the child opens.
func (s scaleSpec) clients() int {
	if s.Clients == 0 {
		return s.members()
	}
	return min(s.Clients, s.members())
}

// Bounds that grow with the number of members: a build of 10,000 members
// in one group takes minutes, since every join costs every member a view.
func (s scaleSpec) buildTimeout() time.Duration {
	return 5*time.Minute + time.Duration(s.members())*100*time.Millisecond
}

func (s scaleSpec) trialTimeout() time.Duration {
	return 30*time.Second + time.Duration(s.PerGroup)*10*time.Millisecond
}

func (s scaleSpec) recoveryTimeout() time.Duration {
	return 2*time.Minute + time.Duration(s.members())*100*time.Millisecond
}

// bound is how long the whole child may take.
func (s scaleSpec) bound() time.Duration {
	d := 2*time.Minute + 2*s.buildTimeout() + s.Settle + s.Rest + time.Duration(2*s.Joins)*s.trialTimeout()
	if s.Recovery {
		d += s.TTL + 5*time.Second + s.recoveryTimeout()
	}
	return d
}

// scaleReport is one line a child writes on standard output.
type scaleReport struct {
	Phase      string // "bare", "base", "settled", "done", "joins", "recovery-ready" or "recovered"
	Goroutines int
	HeapBytes  uint64        // live heap after a GC
	CPU        time.Duration // user+system CPU of the child since its start
	Build      time.Duration // settled: from the first member's start until every member saw its whole group
	FDLimit    uint64        // bare: the soft limit of open files, once raised
	Joins      []time.Duration
	JoinsFirst []time.Duration // until the first member of the group saw the join
	JoinsGC    []int           // GC cycles of the child during each join
	Recovery   time.Duration   // recovered: from etcd's restart until every member was registered with its whole group
	NotOffline int             // recovered: members that emitted no Offline while etcd was down
	Err        string
}

// scaleResult is one scale run, as the parent sees it.
type scaleResult struct {
	c                   contender
	groups, perGroup    int
	clients             int
	bare                scaleReport // before the clients
	base, settled, done scaleReport
	rest                time.Duration
	msgs                map[string]float64 // gRPC messages etcd received during the rest, by method
	etcdCPU             time.Duration      // this process's CPU (etcd's, mostly) during the rest
	joins               dist               // a join in group 0: until the last member of the group saw it
	joinsFirst          dist               // the same, until the first member saw it
	joinsGC             []int              // GC cycles during each join
	recovery            *recoveryResult
}

// recoveryResult is etcd stopped for longer than the TTL and restarted.
type recoveryResult struct {
	down                 time.Duration // etcd stopped for
	ready                time.Duration // restart until etcd served again
	recovery             time.Duration // restart until every member was registered with its whole group
	notOffline           int
	etcdCPU              time.Duration // this process's CPU from the restart until recovered
	sentBytes, recvBytes float64       // etcd's gRPC payload bytes to and from clients, same span
	msgs                 float64       // gRPC messages etcd received, same span
	heapBefore, heapPeak uint64        // this process's heap: after a GC before the stop; peak sampled every 100ms during the recovery
	heapAfter, sysAfter  uint64        // after a GC once recovered; bytes from the OS
}

func (r *scaleResult) members() int { return r.groups * r.perGroup }

// scale runs one child with the given members and measures them at rest.
func (b *bench) scale(c contender, groups, perGroup int) (*scaleResult, error) {
	rest := b.cfg.rest
	spec := scaleSpec{Name: c.name, Kind: c.kind, TTL: c.ttl, Renew: c.renew, Retry: c.retry, Groups: groups, PerGroup: perGroup,
		Endpoint: b.cluster.Members[0].ClientURL, Settle: b.cfg.settle, Rest: rest, Prefix: b.prefix("scale")}
	spec.Clients = b.cfg.scaleClients
	if spec.Clients < 0 {
		spec.Clients = min(max(spec.members()/100, 1), 10)
	}
	if c.kind == "mastership" {
		spec.Joins = b.cfg.scaleJoins
		spec.Recovery = b.cfg.scaleRecovery
	}
	// etcd, in this process, holds one socket per client of the child.
	if lim, err := raiseFDLimit(); err != nil || lim < uint64(spec.clients()+256) {
		return nil, fmt.Errorf("open files limit %d (%v): etcd needs one per client, %d clients; raise ulimit -n", lim, err, spec.clients())
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.bound()+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer cmd.Wait()
	defer in.Close()
	r := &scaleResult{c: c, groups: groups, perGroup: perGroup, clients: spec.clients(), rest: rest}
	var m0 map[string]float64
	var cpu0 time.Duration
	var rec *recovering
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<24) // the joins line
	for sc.Scan() {
		var rep scaleReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			return nil, fmt.Errorf("child: %q: %w", sc.Text(), err)
		}
		if rep.Err != "" {
			if rec != nil {
				rec.stop()
			}
			return nil, fmt.Errorf("child: %s", rep.Err)
		}
		switch rep.Phase {
		case "bare":
			r.bare = rep
		case "base":
			r.base = rep
		case "settled":
			r.settled = rep
			b.progress("scale: %s, %d × %d built in %v", c.name, groups, perGroup, rep.Build.Round(time.Millisecond))
			m0, cpu0 = grpcReceived(), processCPU()
		case "done":
			r.done = rep
			r.etcdCPU = processCPU() - cpu0
			m1 := grpcReceived()
			r.msgs = map[string]float64{}
			for k, v := range m1 {
				if d := v - m0[k]; d > 0 {
					r.msgs[k] = d
				}
			}
		case "joins":
			r.joins = dist{vals: rep.Joins}
			r.joinsFirst = dist{vals: rep.JoinsFirst}
			r.joinsGC = rep.JoinsGC
		case "recovery-ready":
			down := spec.TTL + 5*time.Second
			b.progress("scale: %s, %d × %d: etcd killed for %v", c.name, groups, perGroup, down)
			rec, err = b.stopRestart(ctx, down)
			if err != nil {
				return nil, err
			}
			b.progress("scale: etcd killed (in %v), restarted (ready in %v)", rec.stopTook.Round(time.Millisecond), rec.ready.Round(time.Millisecond))
			if _, err := fmt.Fprintf(in, "restarted %d\n", rec.at.UnixNano()); err != nil {
				rec.stop()
				return nil, err
			}
		case "recovered":
			if rec == nil {
				return nil, fmt.Errorf("child recovered before etcd restarted")
			}
			r.recovery = rec.finish(rep)
			rec = nil
		}
	}
	if rec != nil {
		rec.stop()
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("child: %w", err)
	}
	if r.done.Phase == "" {
		return nil, fmt.Errorf("child ended without a report")
	}
	if spec.Recovery && r.recovery == nil {
		return nil, fmt.Errorf("child ended without its recovery")
	}
	return r, b.revokeAll(ctx, spec.Prefix)
}

// recovering is the parent's side of a recovery: etcd restarted at at.
type recovering struct {
	down, ready  time.Duration
	stopTook     time.Duration
	at           time.Time
	cpu0         time.Duration
	sent0, recv0 float64
	msgs0        float64
	heapBefore   uint64
	peak         atomic.Uint64
	done         chan struct{}
	wg           sync.WaitGroup
}

// stopRestart kills etcd (as a crash: etcd's HardStop, then Close; a
// graceful Stop would serve the open streams, keep-alives included, for
// seconds more), keeps it down for down, and restarts it on the same ports
// and data; a goroutine samples this process's heap until
// finish or stop.
func (b *bench) stopRestart(ctx context.Context, down time.Duration) (*recovering, error) {
	rec := &recovering{done: make(chan struct{})}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rec.heapBefore = ms.HeapAlloc
	m := b.cluster.Members[0]
	stopped := time.Now()
	m.Kill()
	rec.stopTook = time.Since(stopped)
	time.Sleep(down - time.Since(stopped))
	rec.down = time.Since(stopped)
	rec.cpu0, rec.sent0, rec.recv0, rec.msgs0 = processCPU(), etcdCounter("etcd_network_client_grpc_sent_bytes_total"), etcdCounter("etcd_network_client_grpc_received_bytes_total"), etcdCounter("grpc_server_msg_received_total")
	rec.at = time.Now()
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Restart(rctx); err != nil {
		return nil, fmt.Errorf("restart etcd: %w", err)
	}
	rec.ready = time.Since(rec.at)
	rec.wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > rec.peak.Load() {
				rec.peak.Store(ms.HeapAlloc)
			}
			select {
			case <-rec.done:
				return
			case <-t.C:
			}
		}
	})
	return rec, nil
}

func (rec *recovering) stop() {
	close(rec.done)
	rec.wg.Wait()
}

func (rec *recovering) finish(rep scaleReport) *recoveryResult {
	r := &recoveryResult{down: rec.down, ready: rec.ready, recovery: rep.Recovery, notOffline: rep.NotOffline,
		etcdCPU:    processCPU() - rec.cpu0,
		sentBytes:  etcdCounter("etcd_network_client_grpc_sent_bytes_total") - rec.sent0,
		recvBytes:  etcdCounter("etcd_network_client_grpc_received_bytes_total") - rec.recv0,
		msgs:       etcdCounter("grpc_server_msg_received_total") - rec.msgs0,
		heapBefore: rec.heapBefore}
	rec.stop()
	r.heapPeak = rec.peak.Load()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	r.heapAfter, r.sysAfter = ms.HeapAlloc, ms.Sys
	return r
}

// revokeAll revokes every lease and deletes the keys under prefix, which
// the child left behind.
func (b *bench) revokeAll(ctx context.Context, prefix string) error {
	ls, err := b.cliA.Leases(ctx)
	if err != nil {
		return err
	}
	for _, l := range ls.Leases {
		if _, err := b.cliA.Revoke(ctx, l.ID); err != nil && !strings.Contains(err.Error(), "not found") {
			return err
		}
	}
	_, err = b.cliA.Delete(ctx, prefix, clientv3.WithPrefix())
	return err
}

// grpcReceived returns etcd's count of gRPC messages received, by method.
func grpcReceived() map[string]float64 {
	out := map[string]float64{}
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "grpc_server_msg_received_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			method := ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "grpc_method" {
					method = l.GetValue()
				}
			}
			out[method] += m.GetCounter().GetValue()
		}
	}
	return out
}

// etcdCounter returns the sum over labels of the counter name in the
// default Prometheus registry, which etcd's server uses.
func etcdCounter(name string) float64 {
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		return 0
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				v += m.GetCounter().GetValue()
			}
		}
	}
	return v
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFDLimit raises the soft limit of open files to the hard one, and
// returns the soft limit.
func raiseFDLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// fleet follows the members of a child from their events, in O(1) per
// event: how many see their whole group, and the joins and leaves watched
// in group 0.
type fleet struct {
	n, perGroup int
	complete    atomic.Int64 // members whose last view has their whole group
	fullAt      atomic.Int64 // when complete last reached n, in Unix nanoseconds
	join, leave atomic.Pointer[joinWatch]
	consumers   sync.WaitGroup
	// From mark on, the members that emitted Offline.
	marking    atomic.Bool
	wentOff    []atomic.Bool
	offMembers atomic.Int64
}

func (f *fleet) consume(i int, s *selector.Selector) {
	f.consumers.Go(func() {
		complete := false
		for ev := range s.Events() {
			if c := len(ev.View.Members) == f.perGroup; c != complete {
				complete = c
				if !c {
					f.complete.Add(-1)
				} else if f.complete.Add(1) == int64(f.n) {
					f.fullAt.Store(ev.Time.UnixNano())
				}
			}
			if ev.Type == events.Offline && f.marking.Load() && f.wentOff[i].CompareAndSwap(false, true) {
				f.offMembers.Add(1)
			}
			if i >= f.perGroup {
				continue
			}
			var w *joinWatch
			switch ev.Type {
			case events.SlaveAdd:
				w = f.join.Load()
			case events.SlaveDel:
				w = f.leave.Load()
			}
			if w == nil {
				continue
			}
			for _, nd := range ev.Nodes {
				if nd.ID == w.id {
					w.saw(i, ev.Time)
				}
			}
		}
	})
}

// logEvery writes to standard error, every 30s until stop, how far the
// members are: builds and recoveries of thousands take minutes.
func (f *fleet) logEvery(what string, started *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	t0 := time.Now()
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "%s  child: %s, %v: %d of %d members started, %d see their whole group\n",
					time.Now().Format("15:04:05"), what, time.Since(t0).Round(time.Second), min(started.Load(), int64(f.n)), f.n, f.complete.Load())
			}
		}
	}()
	return func() { close(done) }
}

// waitFull waits until every member sees its whole group, and returns when
// the last one did.
func (f *fleet) waitFull(ctx context.Context, members []*selector.Selector) (time.Time, error) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if f.complete.Load() == int64(f.n) {
			// O(N) once, not per check: every member is registered.
			ok := true
			for _, s := range members {
				if s.State() != selector.Refresh {
					ok = false
					break
				}
			}
			if ok {
				return time.Unix(0, f.fullAt.Load()), nil
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%d of %d members see their whole group: %w", f.complete.Load(), f.n, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// runChild is the child's side: members on their clients, measured once
// settled and again after the rest; then, for mastership, joins in group 0
// and a recovery from an etcd restart.
func runChild(js string) {
	enc := json.NewEncoder(os.Stdout)
	fail := func(err error) {
		enc.Encode(scaleReport{Err: err.Error()})
		os.Exit(1)
	}
	var spec scaleSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		fail(err)
	}
	n := spec.members()
	nc := spec.clients()
	con := contender{name: spec.Name, kind: spec.Kind, ttl: spec.TTL, renew: spec.Renew, retry: spec.Retry}
	lim, err := raiseFDLimit()
	if err != nil {
		fail(fmt.Errorf("open files limit: %w", err))
	}
	if need := uint64(nc + 256); lim < need {
		fail(fmt.Errorf("open files limit %d, under the %d that %d clients need: raise ulimit -n (the hard limit too)", lim, need, nc))
	}
	ctx, cancel := context.WithTimeout(context.Background(), spec.bound())
	defer cancel()
	sample := func(phase string) scaleReport {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return scaleReport{Phase: phase, Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc, CPU: processCPU()}
	}
	bare := sample("bare")
	bare.FDLimit = lim
	enc.Encode(bare)
	newCli := func() (*clientv3.Client, error) {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{spec.Endpoint}, DialTimeout: 2 * time.Second, Logger: nopLogger()})
		if err != nil {
			return nil, err
		}
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		defer wcancel()
		if _, err := cli.Get(wctx, "warm-up"); err != nil {
			cli.Close()
			return nil, err
		}
		return cli, nil
	}
	clis, err := parallel(nc, 100, newCli)
	// The child exits without closing its clients or members: closing a
	// thousand members one by one makes every other member compute a view
	// each time. The parent revokes their leases instead.
	if err != nil {
		fail(fmt.Errorf("clients: %w", err))
	}
	enc.Encode(sample("base"))

	bctx, bcancel := context.WithTimeout(ctx, spec.buildTimeout())
	defer bcancel()
	f := &fleet{n: n, perGroup: spec.PerGroup, wentOff: make([]atomic.Bool, n)}
	sels := make([]*selector.Selector, n)
	cands := make([]candidate, n) // the other kinds, kept reachable
	var next atomic.Int64
	stopLog := f.logEvery("build", &next)
	start := time.Now()
	// Many joins at once: a member that falls behind gets several joins in
	// one watch response, and computes one view for them all.
	_, err = parallel(n, 200, func() (struct{}, error) {
		i := int(next.Add(1) - 1)
		prefix, id, cli := fmt.Sprintf("%s/g%03d", spec.Prefix, i/spec.PerGroup), fmt.Sprintf("m%05d", i), clis[i%nc]
		if con.kind != "mastership" {
			c, err := startCandidate(bctx, con, cli, prefix, id)
			cands[i] = c
			return struct{}{}, err
		}
		s, err := selector.New(bctx, cli, prefix, id, selector.WithTTL(con.ttl))
		if err != nil {
			return struct{}{}, err
		}
		sels[i] = s
		f.consume(i, s)
		return struct{}{}, nil
	})
	if err != nil {
		fail(err)
	}
	end := time.Now()
	if con.kind == "mastership" {
		if end, err = f.waitFull(bctx, sels); err != nil {
			fail(fmt.Errorf("build: %w", err))
		}
	}
	stopLog()
	build := end.Sub(start)
	runtime.KeepAlive(cands)
	// Settle: the last joins are seen, the first renewals made.
	time.Sleep(spec.Settle)
	settled := sample("settled")
	settled.Build = build
	enc.Encode(settled)
	time.Sleep(spec.Rest)
	enc.Encode(sample("done"))
	if con.kind != "mastership" {
		return
	}

	if spec.Joins > 0 {
		joins, firsts, gcs, err := f.joins(ctx, spec, clis, newCli)
		if err != nil {
			fail(fmt.Errorf("joins: %w", err))
		}
		enc.Encode(scaleReport{Phase: "joins", Joins: joins, JoinsFirst: firsts, JoinsGC: gcs})
	}

	if spec.Recovery {
		f.marking.Store(true)
		enc.Encode(scaleReport{Phase: "recovery-ready"})
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			fail(err)
		}
		ns, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "restarted "), 10, 64)
		if err != nil {
			fail(fmt.Errorf("from the parent: %q: %w", line, err))
		}
		restarted := time.Unix(0, ns)
		notOffline := n - int(f.offMembers.Load())
		if notOffline == n {
			fail(fmt.Errorf("no member emitted Offline while etcd was down: the outage was shorter than the TTL"))
		}
		rctx, rcancel := context.WithTimeout(ctx, spec.recoveryTimeout())
		defer rcancel()
		var all atomic.Int64
		all.Store(int64(n))
		stopLog := f.logEvery("recovery", &all)
		defer stopLog()
		var at time.Time
		for {
			// Whole again after the restart: a fleet that had recovered
			// before the line above was read counts too.
			if at, err = f.waitFull(rctx, sels); err != nil {
				fail(fmt.Errorf("recovery: %w", err))
			}
			if !at.Before(restarted) {
				break
			}
			select {
			case <-rctx.Done():
				fail(fmt.Errorf("recovery: the members never lost their whole group after the restart began"))
			case <-time.After(10 * time.Millisecond):
			}
		}
		enc.Encode(scaleReport{Phase: "recovered", Recovery: at.Sub(restarted), NotOffline: notOffline})
	}
}

// joins adds a member to group 0, times until every member of the group
// has its SLAVE_ADD, closes it and waits until every member has its
// SLAVE_DEL; spec.Joins times. The joiner has a client of its own when
// members do, or else shares the first one.
//
// It also returns, for each trial, the time until the first member saw the
// join, and the child's GC cycles during it: the first member's time is
// etcd's and the client's part of the tail; the rest is the members' work
// and the machine's, GC included.
func (f *fleet) joins(ctx context.Context, spec scaleSpec, clis []*clientv3.Client, newCli func() (*clientv3.Client, error)) (lasts, firsts []time.Duration, gcs []int, err error) {
	prefix := fmt.Sprintf("%s/g%03d", spec.Prefix, 0)
	wait := func(w *joinWatch, what string) error {
		select {
		case <-w.done:
			return nil
		case <-time.After(spec.trialTimeout()):
			return fmt.Errorf("%s of %s: %d of %d members not informed after %v", what, w.id, w.left.Load(), spec.PerGroup, spec.trialTimeout())
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for t := range spec.Joins {
		cli := clis[0]
		if spec.Clients == 0 {
			c, err := newCli()
			if err != nil {
				return nil, nil, nil, err
			}
			cli = c
		}
		id := fmt.Sprintf("joiner%04d", t)
		j, l := newJoinWatch(id, spec.PerGroup), newJoinWatch(id, spec.PerGroup)
		gc0 := gcCycles()
		j.t0 = time.Now()
		f.join.Store(j)
		s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(spec.TTL))
		if err != nil {
			return nil, nil, nil, err
		}
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			for range s.Events() {
			}
		}()
		if err := wait(j, "join"); err != nil {
			s.Close()
			return nil, nil, nil, err
		}
		gcs = append(gcs, int(gcCycles()-gc0))
		last, first := time.Duration(0), time.Duration(math.MaxInt64)
		for _, v := range j.times {
			last, first = max(last, v), min(first, v)
		}
		lasts, firsts = append(lasts, last), append(firsts, first)
		l.t0 = time.Now()
		f.leave.Store(l)
		s.Close()
		<-drained
		if spec.Clients == 0 {
			cli.Close()
		}
		if err := wait(l, "leave"); err != nil {
			return nil, nil, nil, err
		}
		f.join.Store(nil)
		f.leave.Store(nil)
	}
	return lasts, firsts, gcs, nil
}

// gcCycles returns the number of GC cycles the process has completed.
func gcCycles() uint64 {
	m := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(m)
	return m[0].Value.Uint64()
}

func (r *scaleResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dx%d", r.c.name, r.groups, r.perGroup)
	return b.String()
}
