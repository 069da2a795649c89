package election

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchCounter counts the watches a client has open: those whose context
// has not ended. It wraps the client's Watcher, so that every watch made
// through the client counts, whoever makes it.
type watchCounter struct {
	clientv3.Watcher
	mu   sync.Mutex
	open int // watches open now
	most int // the most open at once since the last reset
}

// countWatches makes cli count its watches. Call it before cli is used.
func countWatches(cli *clientv3.Client) *watchCounter {
	w := &watchCounter{Watcher: cli.Watcher}
	cli.Watcher = w
	return w
}

func (w *watchCounter) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	w.mu.Lock()
	w.open++
	w.most = max(w.most, w.open)
	w.mu.Unlock()
	context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.open--
		w.mu.Unlock()
	})
	return w.Watcher.Watch(ctx, key, opts...)
}

// counts returns the watches open now and the most open at once since the
// last call, and starts counting the most afresh from those open now.
func (w *watchCounter) counts() (open, most int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	open, most = w.open, w.most
	w.most = w.open
	return open, most
}

// A candidate keeps one watch open, whatever it does: the follower of its
// Run, which reports the leader, decides its campaigns and ends a
// leadership whose key is lost. (Before, it kept two: an observer beside
// each campaign's own follower, or beside the leader's watch of its key.)
// Each candidate has a client of its own, whose watches are counted.
func TestOneWatchPerCandidate(t *testing.T) {
	t.Parallel()
	acli, bcli := shared.Client(t), shared.Client(t)
	aw, bw := countWatches(acli), countWatches(bcli)
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	ctx := ctxFor(t, time.Minute)

	check := func(phase string) {
		t.Helper()
		// A watch's context may end a moment after what ends it.
		time.Sleep(100 * time.Millisecond)
		for _, c := range []struct {
			name string
			w    *watchCounter
		}{{"a", aw}, {"b", bw}} {
			if open, most := c.w.counts(); open != 1 || most != 1 {
				t.Errorf("%s: %s has %d watches open, and had up to %d at once; want 1", phase, c.name, open, most)
			}
		}
	}

	a := start(t, r, acli, prefix, "a")
	r.waitFor(t, 0, waitTime, "a leading", is("a", started))
	r.waitFor(t, 0, waitTime, "a reporting a", reports("a", "a"))
	b := start(t, r, bcli, prefix, "b")
	bKey := waitKey(t, cli, prefix, waitTime, "b", valued("b"))
	r.waitFor(t, 0, waitTime, "b reporting a", reports("b", "a"))
	check("a leading, b waiting")

	m := r.mark()
	if err := a.Resign(ctx); err != nil {
		t.Fatalf("a.Resign: %v", err)
	}
	r.waitFor(t, m, waitTime, "b leading", is("b", started))
	r.waitFor(t, m, waitTime, "a reporting b", reports("a", "b"))
	waitKey(t, cli, prefix, waitTime, "a again", func(kv *mvccpb.KeyValue) bool {
		return string(kv.Value) == "a" && kv.CreateRevision > bKey.CreateRevision
	})
	check("b leading after a's Resign, a waiting behind it")

	b.stop()
	r.waitFor(t, m, waitTime, "a leading again", is("a", started))
	time.Sleep(100 * time.Millisecond)
	if open, _ := bw.counts(); open != 0 {
		t.Errorf("b's Run returned with %d watches open", open)
	}
	if open, most := aw.counts(); open != 1 || most != 1 {
		t.Errorf("a leading again: %d watches open, up to %d at once; want 1", open, most)
	}
}

// A leader whose key is deleted from outside, or detached from its lease
// by another writer's plain put, stops leading within moments, long before
// any deadline: its lease is kept alive all the while, so only the
// follower's sight of the key can end the leadership. (TestLeaderKeyDeleted
// and TestLeaderKeyDetached follow what comes next.)
func TestLeaderKeyLostPromptly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		lose func(ctx context.Context, cli *clientv3.Client, key string) error
		log  string
	}{
		{"deleted", func(ctx context.Context, cli *clientv3.Client, key string) error {
			_, err := cli.Delete(ctx, key)
			return err
		}, keyDeleted},
		{"detached", func(ctx context.Context, cli *clientv3.Client, key string) error {
			_, err := cli.Put(ctx, key, "hijacked")
			return err
		}, keyDetached},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cli := shared.Client(t)
			prefix := prefixOf(t)
			r := newRecorder()
			// A plain key never expires: it goes once a has stopped, so
			// that the next run of the test finds the prefix empty.
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitTime)
				defer cancel()
				cli.Delete(ctx, prefix+"/", clientv3.WithPrefix())
			})

			a := start(t, r, cli, prefix, "a")
			r.waitFor(t, 0, waitTime, "a leading", is("a", started))
			r.waitFor(t, 0, waitTime, "a reporting a", reports("a", "a"))
			l := checkLeader(t, cli, prefix, "a", a)

			m := r.mark()
			if err := tc.lose(ctxFor(t, waitTime), cli, l.Key); err != nil {
				t.Fatal(err)
			}
			at := time.Now()
			done := r.waitFor(t, m, waitTime, "a's leadership context cancelled", is("a", ctxDone))
			took := done.at.Sub(at)
			t.Logf("leadership ended %v after the write returned", took)
			if took > testTTL/2 {
				t.Errorf("leadership ended %v after its key was lost; want well under the TTL %v", took, testTTL)
			}
			if ep := a.Epoch(); ep == l.Epoch {
				t.Errorf("a's Epoch is still %d, its lost key's", ep)
			}
			r.waitFor(t, m, waitTime, "a stopping", is("a", stopped))
			r.waitFor(t, m, waitTime, "a's log of its lost key", logs("a", tc.log))
		})
	}
}
