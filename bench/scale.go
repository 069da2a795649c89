package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
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
	Endpoint          string
	Settle            time.Duration
	Rest              time.Duration
	Prefix            string
}

// scaleReport is one line a child writes on standard output.
type scaleReport struct {
	Phase      string // "settled" or "done"
	Goroutines int
	HeapBytes  uint64        // live heap after a GC
	CPU        time.Duration // user+system CPU of the child since its start
	Err        string
}

// scaleResult is one scale run, as the parent sees it.
type scaleResult struct {
	c                   contender
	groups, perGroup    int
	base, settled, done scaleReport
	rest                time.Duration
	msgs                map[string]float64 // gRPC messages etcd received during the rest, by method
	etcdCPU             time.Duration      // this process's CPU (etcd's, mostly) during the rest
}

func (r *scaleResult) members() int { return r.groups * r.perGroup }

// scale runs one child with the given members and measures them at rest.
func (b *bench) scale(c contender, groups, perGroup int) (*scaleResult, error) {
	rest := b.cfg.rest
	spec := scaleSpec{Name: c.name, Kind: c.kind, TTL: c.ttl, Renew: c.renew, Retry: c.retry, Groups: groups, PerGroup: perGroup, Endpoint: b.cluster.Members[0].ClientURL, Settle: b.cfg.settle, Rest: rest, Prefix: b.prefix("scale")}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), rest+10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer cmd.Wait()
	r := &scaleResult{c: c, groups: groups, perGroup: perGroup, rest: rest}
	var m0 map[string]float64
	var cpu0 time.Duration
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var rep scaleReport
		if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
			return nil, fmt.Errorf("child: %q: %w", sc.Text(), err)
		}
		if rep.Err != "" {
			return nil, fmt.Errorf("child: %s", rep.Err)
		}
		switch rep.Phase {
		case "base":
			r.base = rep
		case "settled":
			r.settled = rep
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
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("child: %w", err)
	}
	if r.done.Phase == "" {
		return nil, fmt.Errorf("child ended without a report")
	}
	return r, b.revokeAll(ctx, spec.Prefix)
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

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// runChild is the child's side: members on a few clients, measured once
// settled and again after the rest.
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
	n := spec.Groups * spec.PerGroup
	con := contender{name: spec.Name, kind: spec.Kind, ttl: spec.TTL, renew: spec.Renew, retry: spec.Retry}
	nc := min(max(n/100, 1), 10)
	clis := make([]*clientv3.Client, nc)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := range clis {
		cli, err := clientv3.New(clientv3.Config{Endpoints: []string{spec.Endpoint}, DialTimeout: 2 * time.Second, Logger: nopLogger()})
		if err != nil {
			fail(err)
		}
		defer cli.Close()
		if _, err := cli.Get(ctx, "warm-up"); err != nil {
			fail(err)
		}
		clis[i] = cli
	}
	sample := func(phase string) scaleReport {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return scaleReport{Phase: phase, Goroutines: runtime.NumGoroutine(), HeapBytes: ms.HeapAlloc, CPU: processCPU()}
	}
	enc.Encode(sample("base"))
	cands := make([]candidate, n)
	var next = make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	_, err := parallel(n, 200, func() (struct{}, error) {
		i := <-next
		g := i / spec.PerGroup
		c, err := startCandidate(ctx, con, clis[i%nc], fmt.Sprintf("%s/g%03d", spec.Prefix, g), fmt.Sprintf("m%04d", i))
		cands[i] = c
		return struct{}{}, err
	})
	if err != nil {
		fail(err)
	}
	// Settle: the last joins are seen, the first renewals made.
	time.Sleep(spec.Settle)
	enc.Encode(sample("settled"))
	time.Sleep(spec.Rest)
	enc.Encode(sample("done"))
	// The child exits without closing its members: closing a thousand
	// members one by one makes every other member compute a view each
	// time. The parent revokes their leases instead.
}

func (r *scaleResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %dx%d", r.c.name, r.groups, r.perGroup)
	return b.String()
}
