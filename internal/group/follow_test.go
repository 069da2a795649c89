package group

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Follow reports the initial read, then each change; a request answered
// with Resync brings a fresh read; Update returning false ends Follow.
func TestFollow(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/g/a", "1"); err != nil {
		t.Fatal(err)
	}
	states := make(chan State)
	reqs := make(chan string)
	served := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		Follow(ctx, Config[string]{
			Client:   cli,
			Prefix:   "/g/",
			Requests: reqs,
			Serve: func(r string) Action {
				served <- r
				return Resync
			},
			Update: func(st State) bool {
				cp := st
				cp.Changed = slices.Clone(st.Changed)
				cp.KVs = map[string]KV{}
				for k, v := range st.KVs {
					cp.KVs[k] = v
				}
				select {
				case states <- cp:
				case <-ctx.Done():
				}
				return len(st.KVs) < 3
			},
		}, State{})
	}()
	next := func(what string) State {
		t.Helper()
		select {
		case st := <-states:
			return st
		case <-ctx.Done():
			t.Fatalf("no state: %s", what)
			return State{}
		}
	}
	st := next("initial read")
	if !st.Fresh || len(st.KVs) != 1 || st.KVs["/g/a"].Value != "1" {
		t.Fatalf("initial state %+v", st)
	}
	put, err := cli.Put(ctx, "/g/b", "2")
	if err != nil {
		t.Fatal(err)
	}
	st = next("put b")
	if st.Fresh || len(st.KVs) != 2 || st.Revision != put.Header.Revision || st.KVs["/g/b"].CreateRevision != put.Header.Revision {
		t.Fatalf("state after put %+v, want b at revision %d", st, put.Header.Revision)
	}
	if !slices.Equal(st.Changed, []string{"/g/b"}) {
		t.Fatalf("state after put of b changed %q, want [/g/b]", st.Changed)
	}
	other, err := cli.Put(ctx, "/other", "x")
	if err != nil {
		t.Fatal(err)
	}
	reqs <- "now"
	if r := <-served; r != "now" {
		t.Fatalf("served %q", r)
	}
	st = next("resync")
	if !st.Fresh || st.Revision < other.Header.Revision || len(st.KVs) != 2 {
		t.Fatalf("state after Resync %+v, want a fresh read at revision %d or later", st, other.Header.Revision)
	}
	if st.Changed != nil {
		t.Fatalf("fresh state changed %q, want nil", st.Changed)
	}
	if _, err := cli.Delete(ctx, "/g/a"); err != nil {
		t.Fatal(err)
	}
	if st = next("delete a"); len(st.KVs) != 1 || !slices.Equal(st.Changed, []string{"/g/a"}) {
		t.Fatalf("state after delete %+v, want one key and /g/a changed", st)
	}
	for _, k := range []string{"/g/c", "/g/d"} {
		if _, err := cli.Put(ctx, k, "x"); err != nil {
			t.Fatal(err)
		}
	}
	for len(st.KVs) < 3 {
		st = next("puts c, d")
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Follow did not return when Update returned false")
	}
}

// TestFollowCatchingUp starts Follow far behind etcd, so that etcd sends
// the missed events in batches of at most 1000 revisions, each stamped with
// etcd's current revision while more are still to come. Every state
// reported must hold exactly the keys written up to its revision: a state
// that claimed the header's revision would be ahead of its own keys.
func TestFollowCatchingUp(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start, err := Read(ctx, cli, "/g/")
	if err != nil {
		t.Fatal(err)
	}
	const n = 2500 // more than two batches
	for i := range n {
		if _, err := cli.Put(ctx, fmt.Sprintf("/g/k%04d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	var updates int
	// The keys as Changed tells them, which must stay equal to KVs.
	known := maps.Clone(start.KVs)
	Follow(ctx, Config[struct{}]{
		Client: cli,
		Prefix: "/g/",
		Update: func(st State) bool {
			updates++
			for _, k := range st.Changed {
				if kv, ok := st.KVs[k]; ok {
					known[k] = kv
				} else {
					delete(known, k)
				}
			}
			if !maps.Equal(known, st.KVs) {
				t.Errorf("update %d: %d keys updated from Changed (%d of them), %d in KVs", updates, len(known), len(st.Changed), len(st.KVs))
			}
			// Each put is one revision and one new key.
			if want := int(st.Revision - start.Revision); len(st.KVs) != want {
				t.Errorf("update %d: revision %d (start %d) with %d keys, want %d", updates, st.Revision, start.Revision, len(st.KVs), want)
			}
			return len(st.KVs) < n
		},
	}, start)
	if ctx.Err() != nil {
		t.Fatalf("Follow did not reach %d keys in time", n)
	}
	if updates < 2 {
		t.Errorf("%d updates: the catch-up came in one batch, so the test proves nothing", updates)
	}
}
