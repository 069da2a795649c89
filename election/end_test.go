package election

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Nothing after the end, on Close (Run's ctx done) during a burst of
// changes under the prefix: a candidate a waits behind a key z that the
// test holds on a lease of its own, while the test changes z's value again
// and again (each a change of the leader's value that a reports) and then
// deletes z, so that a leads. a's k-th call of OnNewLeader after its key is
// there blocks until the test has cancelled Run's ctx, so that reports wait
// in a's queue when it is cancelled. After that call a reports no leader
// any more, and no leadership of a begins after one has ended: never
// OnStoppedLeading, OnStartedLeading, OnStoppedLeading. Every leadership
// that began ends, its context cancelled. 30 trials, k varying, and Close
// either once a leads or at once after the burst (racing its campaign).
func TestNothingAfterClose(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	for i := range 30 {
		sub := fmt.Sprintf("%s-%d", prefix, i)
		k := 1 + i%3
		ctx := ctxFor(t, time.Minute)
		lg, err := cli.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		z := sub + "/z"
		if _, err := cli.Put(ctx, z, "z0", clientv3.WithLease(lg.ID)); err != nil {
			t.Fatal(err)
		}

		r := newRecorder()
		e, err := New(cli, sub, WithTTL(testTTL), WithValue("a"), WithLogger(r.logger("a")))
		if err != nil {
			t.Fatal(err)
		}
		rctx, cancel := context.WithCancel(context.Background())
		var (
			mu      sync.Mutex
			armed   bool // once a's key is there
			calls   int
			trigger = -1 // seq of the OnNewLeader call that waited for the cancel
		)
		gate := make(chan struct{})
		cb := r.callbacks("a")
		report := cb.OnNewLeader
		cb.OnNewLeader = func(l Leader) {
			report(l)
			mu.Lock()
			wait := false
			if armed {
				calls++
				if wait = calls == k; wait {
					trigger = r.mark() - 1
				}
			}
			mu.Unlock()
			if wait {
				<-gate
			}
		}
		done := make(chan error, 1)
		go func() { done <- e.Run(rctx, cb) }()
		waitKey(t, cli, sub, waitTime, "a", valued("a"))
		mu.Lock()
		armed = true
		mu.Unlock()

		for j := 1; j <= 20; j++ {
			if j == 10 {
				if _, err := cli.Delete(ctx, z); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if _, err := cli.Put(ctx, z, fmt.Sprintf("z%d", j), clientv3.WithLease(lg.ID)); err != nil {
				t.Fatal(err)
			}
		}
		if i%2 == 0 {
			r.waitFor(t, 0, waitTime, "a leading", is("a", started))
		}
		cancel()
		close(gate)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("trial %d: Run returned %v", i, err)
			}
		case <-time.After(healTime):
			t.Fatalf("trial %d: Run did not return within %v of its cancel", i, healTime)
		}
		cli.Revoke(ctx, lg.ID)

		mu.Lock()
		from := trigger
		mu.Unlock()
		if from < 0 {
			t.Logf("trial %d: a made fewer than %d reports; nothing waited in its queue", i, k)
		} else {
			for _, ev := range r.find(from+1, is("a", newLeader)) {
				t.Errorf("trial %d (cancelled during report %d, #%d): a reported a leader after: %v; events:%s", i, k, from, ev, r.dump())
				break
			}
		}
		var (
			starts, stops int
			endedAt       = -1
		)
		for _, ev := range r.find(0, func(ev event) bool { return ev.who == "a" }) {
			switch ev.kind {
			case started:
				starts++
				if endedAt >= 0 {
					t.Errorf("trial %d: a started leading (#%d) after its leadership ended on Close (#%d); events:%s", i, ev.seq, endedAt, r.dump())
				}
				if ev.ctx.Err() == nil {
					t.Errorf("trial %d: a's leadership context (#%d) not cancelled after Run returned", i, ev.seq)
				}
			case stopped:
				stops++
				if from >= 0 && ev.seq > from {
					endedAt = ev.seq
				}
			}
		}
		if starts != stops {
			t.Errorf("trial %d: a started leading %d times, stopped %d times; events:%s", i, starts, stops, r.dump())
		}
	}
}

// Nothing after the end, past the safe deadline: the leader a's traffic to
// etcd is held back by a proxy for longer than the TTL, so that no
// keep-alive is acknowledged in time, while watch responses about a burst
// of changes under the prefix queue up in the proxy. a's leadership (its
// context's end, then OnStoppedLeading) ends at its safe deadline, before
// etcd could expire its lease (the deadline plus the margin) and before the
// next candidate b starts; a starts no leadership from the news that
// arrives late, and any report of a after the cut that names another
// leader comes after its OnStoppedLeading.
func TestLeaderPastDeadline(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	p := newProxy(t, shared.Members[0])
	acli := p.Client(t)
	defer p.Heal() // before the candidates stop: a cut-off Run waits for etcd
	prefix := prefixOf(t)
	ctx := ctxFor(t, time.Minute)
	r := newRecorder()

	a := start(t, r, acli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	b := start(t, r, cli, prefix, "b")
	waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	r.waitFor(t, 0, waitTime, "a reporting a", reports("a", "a"))

	lg, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Revoke(context.Background(), lg.ID) })
	m := r.mark()
	cutAt := time.Now()
	p.Delay(3 * testTTL)
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("%s/x%d", prefix, i%5), fmt.Sprint(i), clientv3.WithLease(lg.ID)); err != nil {
			t.Fatal(err)
		}
	}
	aDone := r.waitFor(t, m, 2*testTTL, "a's leadership context cancelled", is("a", ctxDone))
	aStop := r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
	bStart := r.waitFor(t, m, testTTL+5*time.Second, "b leading", is("b", started))
	a.stats.mu.Lock()
	l := a.stats.lease
	a.stats.mu.Unlock()
	deadline, etcdEarliest := l.Deadline(), l.Deadline().Add(l.Margin)
	t.Logf("after the cut: a's safe deadline +%v; its context ended +%v, OnStoppedLeading +%v; b started +%v",
		deadline.Sub(cutAt), aDone.at.Sub(cutAt), aStop.at.Sub(cutAt), bStart.at.Sub(cutAt))
	if aDone.at.After(etcdEarliest) || aStop.at.After(etcdEarliest) {
		t.Errorf("a's leadership ended at %s (context) and %s (OnStoppedLeading), its safe deadline was %s: later than deadline + margin %v",
			stamp(aDone.at), stamp(aStop.at), stamp(deadline), l.Margin)
	}
	if !aStop.ctxCancelled || !aStop.at.Before(bStart.at) {
		t.Errorf("a's OnStoppedLeading at %s (context cancelled: %v), b's OnStartedLeading at %s; want a's first, after its context",
			stamp(aStop.at), aStop.ctxCancelled, stamp(bStart.at))
	}
	lb, err := b.Leader(ctx)
	if err != nil || lb.Value != "b" {
		t.Fatalf("b.Leader() = %+v, %v; want b", lb, err)
	}
	checkRoles(t, lb, b, a, b)

	healAt := time.Now()
	p.Heal()
	r.waitFor(t, m, healTime, "a reporting b", reports("a", "b"))
	t.Logf("a reports b %v after the heal", time.Since(healAt))
	for _, ev := range r.find(m, is("a", started)) {
		t.Errorf("a started leading at %s after the cut at %s; events:%s", stamp(ev.at), stamp(cutAt), r.dump())
	}
	for _, ev := range r.find(m, func(ev event) bool { return ev.who == "a" && ev.kind == newLeader && ev.leader.Value != "a" }) {
		if ev.seq < aStop.seq {
			t.Errorf("a reported %v before its OnStoppedLeading (#%d); events:%s", ev, aStop.seq, r.dump())
		}
	}
}
