package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// settle is how long a follower waits in the election before a trial's
// fault, at least.
const settle = 250 * time.Millisecond

// handoverTrial: a leader and one follower; the leader resigns gracefully,
// and the trial measures the time until the follower leads.
func (b *bench) handoverTrial(c contender) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.wait(c))
	defer cancel()
	prefix := b.prefix("handover")
	ca, err := startCandidate(ctx, c, b.cliA, prefix, "a")
	if err != nil {
		return 0, err
	}
	defer ca.close()
	if err := waitFor(ctx, ca.lead().leading, "a to lead"); err != nil {
		return 0, err
	}
	cb, err := startCandidate(ctx, c, b.cliB, prefix, "b")
	if err != nil {
		return 0, err
	}
	defer cb.close()
	// The follower settles first: etcd syncs a watch that starts at a past
	// revision (as concurrency.Election's does) only every 100ms, and a
	// real follower has been waiting for longer than that.
	time.Sleep(settle + rand.N(settle))
	t0 := time.Now()
	go ca.resign()
	if err := waitFor(ctx, cb.lead().leading, "b to lead after a resigned"); err != nil {
		return 0, err
	}
	start, _ := cb.lead().times()
	return start.Sub(t0), nil
}

// putWatchTrial is the floor of a handover: one put, observed by a watcher
// on another client.
func (b *bench) putWatchTrial(ctx context.Context, key string, wch <-chan time.Time) (time.Duration, error) {
	t0 := time.Now()
	if _, err := b.cliA.Put(ctx, key, "x"); err != nil {
		return 0, err
	}
	select {
	case t := <-wch:
		return t.Sub(t0), nil
	case <-time.After(5 * time.Second):
		return 0, fmt.Errorf("put not observed within 5s")
	}
}

// putWatchFloor runs n put → watch trials.
func (b *bench) putWatchFloor(n int) (*dist, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	key := b.prefix("floor") + "/k"
	wch := make(chan time.Time, 1)
	w := b.cliB.Watch(ctx, key)
	go func() {
		for range w {
			select {
			case wch <- time.Now():
			default:
			}
		}
	}()
	// A first put, unmeasured, makes sure the watch is established.
	if _, err := b.putWatchTrial(ctx, key, wch); err != nil {
		return nil, err
	}
	var d dist
	for range n {
		v, err := b.putWatchTrial(ctx, key, wch)
		if err != nil {
			return nil, err
		}
		d.add(v)
		time.Sleep(20 * time.Millisecond)
	}
	return &d, nil
}

// cutResult is one trial of a leader cut off from etcd.
type cutResult struct {
	failover time.Duration // cut → the follower leads
	overlap  time.Duration // old leader's end − new leader's start: positive is two leaders
	ended    bool          // whether the old leader noticed at all
}

// cutTrial: a leader on its own client behind a fault proxy, and one
// follower; the proxy blackholes the leader's connection (to etcd, a
// crashed process and a partitioned one look the same), and the trial
// measures the time until the follower leads, and whether the old leader
// stopped leading before that.
func (b *bench) cutTrial(c contender) (cutResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.wait(c))
	defer cancel()
	prefix := b.prefix("cut")
	pa, err := newProxied(b.cluster)
	if err != nil {
		return cutResult{}, err
	}
	defer pa.close()
	ca, err := startCandidate(ctx, c, pa.cli, prefix, "a")
	if err != nil {
		return cutResult{}, err
	}
	if err := waitFor(ctx, ca.lead().leading, "a to lead"); err != nil {
		pa.close()
		ca.close()
		return cutResult{}, err
	}
	cb, err := startCandidate(ctx, c, b.cliB, prefix, "b")
	if err != nil {
		pa.close()
		ca.close()
		return cutResult{}, err
	}
	defer cb.close()
	// The cut falls at a random moment between keep-alives or renewals.
	time.Sleep(rand.N(c.ttl / 2))
	t0 := time.Now()
	pa.proxy.blackhole()
	err = waitFor(ctx, cb.lead().leading, "b to lead after a was cut off")
	var r cutResult
	if err == nil {
		start, _ := cb.lead().times()
		r.failover = start.Sub(t0)
		// The old leader gets as long again to notice.
		select {
		case <-ca.lead().ended:
			r.ended = true
			_, end := ca.lead().times()
			r.overlap = end.Sub(start)
		case <-time.After(b.wait(c)):
			r.overlap = time.Since(start)
		}
	}
	pa.close() // the client first, so that a's close does not wait on it
	ca.close()
	return r, err
}

// leaseExpiryTrial is the floor of a crash failover: a lease kept alive
// once more, then abandoned; the time from that keep-alive's send until a
// watcher sees its key deleted.
func (b *bench) leaseExpiryTrial(ttl time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*ttl+10*time.Second)
	defer cancel()
	key := b.prefix("expiry")
	g, err := b.cliA.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return 0, err
	}
	put, err := b.cliA.Put(ctx, key, "x", clientv3.WithLease(g.ID))
	if err != nil {
		return 0, err
	}
	w := b.cliB.Watch(ctx, key, clientv3.WithRev(put.Header.Revision+1), clientv3.WithFilterPut())
	time.Sleep(rand.N(ttl / 4))
	t0 := time.Now()
	if _, err := b.cliA.KeepAliveOnce(ctx, g.ID); err != nil {
		return 0, err
	}
	for wr := range w {
		if len(wr.Events) > 0 {
			return time.Since(t0), nil
		}
	}
	return 0, fmt.Errorf("lease %x: key not deleted: %w", int64(g.ID), ctx.Err())
}

// parallel runs n trials, at most par at once, and returns their results
// in order. Trials of a leader cut off from etcd spend nearly all their
// time waiting for a TTL, so running several at once costs little
// precision and much time.
func parallel[T any](n, par int, trial func() (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make([]error, n)
	sem := make(chan struct{}, max(par, 1))
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = trial()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return out, fmt.Errorf("trial %d: %w", i, err)
		}
	}
	return out, nil
}

func waitFor(ctx context.Context, ch <-chan struct{}, what string) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
	}
}
