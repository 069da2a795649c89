package group

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// readCtx returns a context that bounds one test's reads.
func readCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// putKeys puts n keys "<prefix>kNN" under prefix, the odd ones with a
// lease, and returns the revision of the last put.
func putKeys(ctx context.Context, t *testing.T, cli *clientv3.Client, prefix string, n int) int64 {
	t.Helper()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	var rev int64
	for i := range n {
		var opts []clientv3.OpOption
		if i%2 == 1 {
			opts = append(opts, clientv3.WithLease(lease.ID))
		}
		resp, err := cli.Put(ctx, fmt.Sprintf("%sk%02d", prefix, i), fmt.Sprintf("v%d", i), opts...)
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	return rev
}

// plainRead is the prefix read at rev (0: the current revision) with one
// Get, the way Read read it before it paged: what a paged Read must equal.
func plainRead(ctx context.Context, t *testing.T, cli *clientv3.Client, prefix string, rev int64) State {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctx, prefix, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if rev == 0 {
		rev = resp.Header.Revision
	}
	return State{KVs: KVsOf(resp.Kvs), Revision: rev, Fresh: true}
}

// sameState fails t unless got equals want.
func sameState(t *testing.T, what string, got, want State) {
	t.Helper()
	if got.Revision != want.Revision || got.Fresh != want.Fresh || got.Changed != nil {
		t.Errorf("%s: revision %d, fresh %v, changed %q; want revision %d, fresh, no changed", what, got.Revision, got.Fresh, got.Changed, want.Revision)
	}
	if !maps.Equal(got.KVs, want.KVs) {
		t.Errorf("%s: %d keys %v; want %d keys %v", what, len(got.KVs), got.KVs, len(want.KVs), want.KVs)
	}
}

// A read in pages of 4 keys returns every key of 25, with its value,
// create revision and lease, at the revision a plain Get sees; keys of
// the neighbouring prefixes stay out. Read itself, with its pages of
// readPage keys, reads them the same.
func TestReadPages(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 25)
	for _, k := range []string{"/g", "/g0", "/f/z", "/h/"} {
		if _, err := cli.Put(ctx, k, "outside"); err != nil {
			t.Fatal(err)
		}
	}
	pages := 0
	st, err := readPaged(ctx, cli, "/g/", 4, func(int) { pages++ })
	if err != nil {
		t.Fatal(err)
	}
	want := plainRead(ctx, t, cli, "/g/", 0)
	sameState(t, "paged read", st, want)
	if len(st.KVs) != 25 || pages != 7 {
		t.Errorf("read %d keys in %d pages, want 25 in 7", len(st.KVs), pages)
	}
	if kv := st.KVs["/g/k03"]; kv.Value != "v3" || kv.Lease == 0 || kv.CreateRevision == 0 || st.KVs["/g/k04"].Lease != 0 {
		t.Errorf("k03 %+v, k04 %+v: want k03 with a lease and k04 without", kv, st.KVs["/g/k04"])
	}
	st, err = Read(ctx, cli, "/g/")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "Read", st, want)
}

// A group of a whole number of pages takes exactly that many pages, with
// no empty page after the last (etcd's More is false on the last full
// page); a page of one key works too.
func TestReadPageBoundary(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 8)
	if _, err := cli.Put(ctx, "/h/after", "outside"); err != nil {
		t.Fatal(err)
	}
	want := plainRead(ctx, t, cli, "/g/", 0)
	for _, tc := range []struct{ page, pages int64 }{{4, 2}, {8, 1}, {1, 8}, {9, 1}, {7, 2}} {
		pages := int64(0)
		st, err := readPaged(ctx, cli, "/g/", tc.page, func(int) { pages++ })
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, fmt.Sprintf("pages of %d", tc.page), st, want)
		if pages != tc.pages {
			t.Errorf("pages of %d: read in %d pages, want %d", tc.page, pages, tc.pages)
		}
	}
}

// A prefix without keys reads as no keys at the current revision.
func TestReadEmpty(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	put, err := cli.Put(ctx, "/h/a", "outside")
	if err != nil {
		t.Fatal(err)
	}
	st, err := readPaged(ctx, cli, "/g/", 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.KVs == nil || len(st.KVs) != 0 || st.Revision != put.Header.Revision || !st.Fresh {
		t.Errorf("empty prefix read as %+v, want no keys at revision %d", st, put.Header.Revision)
	}
}

// The empty prefix, every key, reads in pages as a plain Get of it does.
func TestReadAll(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 5)
	putKeys(ctx, t, cli, "/h/", 5)
	st, err := readPaged(ctx, cli, "", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "empty prefix", st, plainRead(ctx, t, cli, "", 0))
}

// Keys put and deleted between pages, before and after the page being
// read, change nothing: the read is the snapshot at its first page's
// revision, the deleted keys in and the new ones out.
func TestReadSnapshot(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 25)
	var hookErr error
	change := func(n int) {
		if hookErr != nil {
			return
		}
		for _, k := range []string{"/g/k00", fmt.Sprintf("/g/k%02d", 4*n+5), fmt.Sprintf("/g/k%02d", 24-n)} {
			if _, err := cli.Delete(ctx, k); err != nil {
				hookErr = err
			}
		}
		for _, k := range []string{fmt.Sprintf("/g/k%02d~new", 4*n+1), fmt.Sprintf("/g/k%02d~new", 4*n+6), "/g/zz" + fmt.Sprint(n)} {
			if _, err := cli.Put(ctx, k, "new"); err != nil {
				hookErr = err
			}
		}
		if _, err := cli.Put(ctx, fmt.Sprintf("/g/k%02d", 4*n+7), "changed"); err != nil {
			hookErr = err
		}
	}
	st, err := readPaged(ctx, cli, "/g/", 4, change)
	if err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	sameState(t, "read changed between pages", st, plainRead(ctx, t, cli, "/g/", st.Revision))
	if len(st.KVs) != 25 {
		t.Errorf("read %d keys, want the 25 of the snapshot", len(st.KVs))
	}
	for k, kv := range st.KVs {
		if kv.Value == "new" || kv.Value == "changed" {
			t.Errorf("read %q = %q, written after the snapshot", k, kv.Value)
		}
	}
	now := plainRead(ctx, t, cli, "/g/", 0)
	if maps.Equal(now.KVs, st.KVs) {
		t.Error("the hook changed nothing: the test did not exercise what it is for")
	}
}

// compactNow puts a key outside the group, so that there is a revision to
// compact, and compacts at the current revision, past every read's.
func compactNow(ctx context.Context, cli *clientv3.Client) (int64, error) {
	put, err := cli.Put(ctx, "/other/tick", "x")
	if err != nil {
		return 0, err
	}
	if _, err := cli.Compact(ctx, put.Header.Revision); err != nil {
		return 0, err
	}
	return put.Header.Revision, nil
}

// A compaction between the pages of a read starts it again at the current
// revision, which it then reads whole.
func TestReadCompactedOnce(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 25)
	var compacted int64
	var hookErr error
	firsts := 0
	st, err := readPaged(ctx, cli, "/g/", 4, func(n int) {
		if n != 0 {
			return
		}
		firsts++
		if compacted == 0 {
			compacted, hookErr = compactNow(ctx, cli)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if firsts != 2 {
		t.Errorf("read the first page %d times, want 2: once compacted, once not", firsts)
	}
	if st.Revision < compacted {
		t.Errorf("read at revision %d, before the compaction at %d", st.Revision, compacted)
	}
	sameState(t, "read after compaction", st, plainRead(ctx, t, cli, "/g/", st.Revision))
	if len(st.KVs) != 25 {
		t.Errorf("read %d keys, want 25", len(st.KVs))
	}
}

// A read whose revision is compacted after the first page of every
// attempt gives up after readAttempts, with an error wrapping
// rpctypes.ErrCompacted.
func TestReadCompactedAlways(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx := readCtx(t)
	putKeys(ctx, t, cli, "/g/", 25)
	var hookErr error
	firsts := 0
	_, err := readPaged(ctx, cli, "/g/", 4, func(n int) {
		if n == 0 {
			firsts++
			if _, err := compactNow(ctx, cli); err != nil {
				hookErr = err
			}
		}
	})
	if hookErr != nil {
		t.Fatal(hookErr)
	}
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("read compacted every time: err %v, want one wrapping %v", err, rpctypes.ErrCompacted)
	}
	if firsts != readAttempts {
		t.Errorf("read the first page %d times, want %d", firsts, readAttempts)
	}
	t.Logf("error: %v", err)
}

// A read stops with ctx, before its first page or between two.
func TestReadCancelled(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	putKeys(readCtx(t), t, cli, "/g/", 25)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if st, err := Read(ctx, cli, "/g/"); err == nil {
		t.Errorf("read with a cancelled ctx: %+v, want an error", st)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	pages := 0
	st, err := readPaged(ctx, cli, "/g/", 4, func(int) {
		pages++
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("read cancelled after its first page: %+v, %v; want context.Canceled", st, err)
	}
	if pages != 1 {
		t.Errorf("read %d pages, want 1", pages)
	}
}
