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
