package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/logtest"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestLateWorker: a worker that starts after creates, an update and a drop
// holds exactly the catalogs there are, at their revisions, the moment it
// starts, and the status counts it.
func TestLateWorker(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	early := newConn()
	startWorker(t, cli, "w1", early, quiet)

	put(t, co, "pg", "postgresql", Properties{"connection-url": "jdbc:postgresql://db/x"})
	put(t, co, "hive", "hive", nil)
	put(t, co, "gone", "memory", nil)
	rev := put(t, co, "pg", "postgresql", Properties{"connection-url": "jdbc:postgresql://db/y"})
	if code := call(t, http.MethodDelete, co.URL()+"/v1/catalogs/gone", nil, nil); code != http.StatusAccepted {
		t.Fatalf("drop: status %d, want 202", code)
	}
	waitStatus(t, co, "gone", 10*time.Second, "end of the drop", func(_ Status, code int) bool { return code == http.StatusNotFound })
	waitStatus(t, co, "pg", 5*time.Second, "ready", ready)

	late := newConn()
	w2 := startWorker(t, cli, "w2", late, quiet)
	got := w2.Catalogs()
	if _, ok := got["gone"]; ok || len(got) != 2 || got["pg"].Revision != rev || got["pg"].Properties["connection-url"] != "jdbc:postgresql://db/y" {
		t.Fatalf("late worker started with %s (%v), want hive and pg@%d with its update", names(got), got["pg"].Properties, rev)
	}
	if _, ok := late.get("hive"); !ok {
		t.Errorf("late worker's connector was not given hive")
	}
	s := waitStatus(t, co, "pg", 5*time.Second, "ready on two workers", func(s Status, code int) bool { return ready(s, code) && s.Workers == 2 })
	if len(s.Lagging) != 0 {
		t.Errorf("ready with lagging workers %v", s.Lagging)
	}
}

// TestCutOffWorkerCatchesUp: a worker cut off from etcd is named as lagging
// while its lease lives, stops counting once it expires, and after the cut
// heals catches up on what it missed, across a compaction of the history it
// missed.
func TestCutOffWorkerCatchesUp(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	startWorker(t, cli, "w1", newConn(), quiet)
	px := etcd.Members[0].Client(t) // w2's, behind a fault proxy of its own
	cut := newConn()
	var rec logtest.Recorder
	w2 := startWorker(t, px.Client, "w2", cut, rec.Logger())
	t.Cleanup(px.Release) // before w2 closes

	put(t, co, "a", "memory", Properties{"v": "1"})
	put(t, co, "gone", "memory", nil)
	waitStatus(t, co, "a", 5*time.Second, "ready", ready)
	waitStatus(t, co, "gone", 5*time.Second, "ready", ready)

	// Held, not dropped: a real partition holds a live connection's bytes.
	// (A blackhole drops them inside the connection, which can leave it
	// rejecting every request after the heal.)
	px.Hold()
	heldAt := time.Now()
	rev := put(t, co, "b", "memory", nil)
	// w2's lease outlives the cut by its TTL: meanwhile it is live, and lags.
	s := waitStatus(t, co, "b", ttl, "w1 recorded b", func(s Status, _ int) bool { return !slices.Contains(s.Lagging, "w1") })
	if s.State != StatePending || !slices.Equal(s.Lagging, []string{"w2"}) {
		t.Errorf("status after w1 applied b: %s lagging %v, want pending lagging [w2]", s.State, s.Lagging)
	}
	waitStatus(t, co, "b", ttl+5*time.Second, "ready without the expired w2", func(s Status, code int) bool { return ready(s, code) && s.Workers == 1 })

	revA := put(t, co, "a", "memory", Properties{"v": "2"})
	if code := call(t, http.MethodDelete, co.URL()+"/v1/catalogs/gone", nil, nil); code != http.StatusAccepted {
		t.Fatalf("drop: status %d", code)
	}
	waitStatus(t, co, "gone", 5*time.Second, "end of the drop", func(_ Status, code int) bool { return code == http.StatusNotFound })
	resp, err := cli.Get(context.Background(), "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(context.Background(), resp.Header.Revision); err != nil {
		t.Fatal(err)
	}

	// The cut lasts long enough for gRPC's keep-alive (a ping every 10s,
	// at the least, answered within 1s) to find the connection dead, as
	// it would in a real partition: the worker's watch then starts again
	// from what it applied, which the compaction removed.
	time.Sleep(time.Until(heldAt.Add(12 * time.Second))) // the cut's duration
	px.Release()
	// The worker resynchronises and registers again.
	waitFor(t, 25*time.Second, "w2 caught up", func() bool {
		got := w2.Catalogs()
		_, stale := got["gone"]
		return got["a"].Revision == revA && got["b"].Revision == rev && !stale
	})
	if c, _ := cut.get("a"); c.Properties["v"] != "2" {
		t.Errorf("w2's connector has a with %v, want v=2", c.Properties)
	}
	if l := strings.Join(cut.log(), "|"); !strings.Contains(l, "stop gone|release gone") {
		t.Errorf("w2's connector calls %s: want gone stopped then released", l)
	}
	// It caught up by reading afresh, since its watch's history was gone.
	compacted := false
	for _, r := range rec.Find("watch ended; resynchronising") {
		// The selector logs the same message for its own watch.
		compacted = compacted || (r.Attrs["worker"] == "w2" && r.Attrs["compactRevision"] != int64(0))
	}
	if !compacted {
		t.Errorf("w2 never resynchronised after a compaction: %v", rec.Find("watch ended; resynchronising"))
	}
	waitStatus(t, co, "a", 20*time.Second, "ready on both workers again", func(s Status, code int) bool { return ready(s, code) && s.Workers == 2 })
}

// TestReadyExactlyWhenLastApplies: with one worker's apply held, a catalog
// stays pending, naming that worker alone, after the others have recorded
// it; it turns ready once that apply returns, and never before.
func TestReadyExactlyWhenLastApplies(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	w1 := startWorker(t, cli, "w1", newConn(), quiet)
	w2 := startWorker(t, cli, "w2", newConn(), quiet)
	slow := newConn()
	release := slow.holdApply("s")
	t.Cleanup(release)
	w3 := startWorker(t, cli, "w3", slow, quiet)

	rev := put(t, co, "s", "memory", nil)
	s := waitStatus(t, co, "s", 5*time.Second, "w1 and w2 recorded", func(s Status, _ int) bool {
		return !slices.Contains(s.Lagging, "w1") && !slices.Contains(s.Lagging, "w2")
	})
	if s.State != StatePending || !slices.Equal(s.Lagging, []string{"w3"}) || s.Workers != 3 {
		t.Fatalf("status with w3's apply held: %s lagging %v of %d workers, want pending lagging [w3] of 3", s.State, s.Lagging, s.Workers)
	}
	if w1.Applied() < rev || w2.Applied() < rev || w3.Applied() >= rev {
		t.Fatalf("applied: w1 %d, w2 %d, w3 %d; catalog at %d", w1.Applied(), w2.Applied(), w3.Applied(), rev)
	}
	// Held, it stays pending: other writes move w1 and w2 on, not w3.
	put(t, co, "other", "memory", nil)
	waitStatus(t, co, "other", 5*time.Second, "w1 and w2 recorded other", func(s Status, _ int) bool { return slices.Equal(s.Lagging, []string{"w3"}) })
	if s, _ := status(t, co, "s"); s.State != StatePending {
		t.Fatalf("s is %s while w3's apply is held", s.State)
	}

	release()
	s = waitStatus(t, co, "s", 5*time.Second, "ready", func(s Status, code int) bool {
		if ready(s, code) && !slow.didReturn("s") {
			t.Fatalf("s reported ready before w3's apply returned")
		}
		return ready(s, code)
	})
	if s.Workers != 3 || len(s.Lagging) != 0 {
		t.Errorf("ready status %+v", s)
	}
}

// TestDropTwoPhases: a drop first stops new use on every worker, and the
// key goes (workers release) only once every live worker has stopped it.
func TestDropTwoPhases(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	c1, c2 := newConn(), newConn()
	w1 := startWorker(t, cli, "w1", c1, quiet)
	w2 := startWorker(t, cli, "w2", c2, quiet)
	put(t, co, "x", "memory", nil)
	waitStatus(t, co, "x", 5*time.Second, "ready", ready)
	if err := w1.Use("x"); err != nil {
		t.Fatalf("use x: %v", err)
	}
	// w2 is held on another catalog's apply, so it cannot reach the drop.
	release := c2.holdApply("blocker")
	t.Cleanup(release)
	put(t, co, "blocker", "memory", nil)

	var d written
	if code := call(t, http.MethodDelete, co.URL()+"/v1/catalogs/x", nil, &d); code != http.StatusAccepted || d.State != StateDropping {
		t.Fatalf("drop: %d %+v, want 202 dropping", code, d)
	}
	waitFor(t, 5*time.Second, "w1 stopped x", func() bool { return errors.Is(w1.Use("x"), ErrDropping) })
	s := waitStatus(t, co, "x", 5*time.Second, "w1 recorded the drop", func(s Status, _ int) bool { return slices.Equal(s.Lagging, []string{"w2"}) })
	if s.State != StateDropping {
		t.Fatalf("status during phase 1: %s, want dropping", s.State)
	}
	if err := w2.Use("x"); err != nil {
		t.Errorf("w2, which has not seen the drop, refuses x: %v", err)
	}
	if code := call(t, http.MethodPut, co.URL()+"/v1/catalogs/x", putRequest{Connector: "memory"}, nil); code != http.StatusConflict {
		t.Errorf("update of a dropping catalog: status %d, want 409", code)
	}

	release()
	waitStatus(t, co, "x", 5*time.Second, "end of the drop", func(_ Status, code int) bool { return code == http.StatusNotFound })
	for i, c := range []*conn{c1, c2} {
		w := []*Worker{w1, w2}[i]
		waitFor(t, 5*time.Second, "release", func() bool { return errors.Is(w.Use("x"), ErrUnknownCatalog) })
		l := strings.Join(c.log(), "|")
		if stop, rel := strings.Index(l, "stop x"), strings.Index(l, "release x"); stop < 0 || rel < stop {
			t.Errorf("worker %d's connector calls %s: want stop x, then release x", i+1, l)
		}
	}
}

// TestNonMasterRedirects: a coordinator that is not the master redirects
// writes to the master, naming it; reads it answers itself; when the master
// leaves, it takes over.
func TestNonMasterRedirects(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	c1 := startCoord(t, cli, "c1", quiet)
	c2 := startCoord(t, cli, "c2", quiet)
	if !c1.IsMaster() || c2.IsMaster() {
		t.Fatalf("masters: c1 %v, c2 %v", c1.IsMaster(), c2.IsMaster())
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest(http.MethodPut, c2.URL()+"/v1/catalogs/r", strings.NewReader(`{"connector":"memory"}`))
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != c1.URL()+"/v1/catalogs/r" {
		t.Fatalf("write to c2: %d Location %q, want 307 to %s", resp.StatusCode, resp.Header.Get("Location"), c1.URL())
	}
	// A client that follows redirects writes through either coordinator.
	put(t, c2, "r", "memory", nil)
	if s, code := status(t, c2, "r"); code != http.StatusOK || s.Connector != "memory" {
		t.Fatalf("read from c2: %d %+v", code, s)
	}
	c1.Close()
	waitFor(t, 5*time.Second, "c2 master", c2.IsMaster)
	put(t, c2, "r2", "memory", nil)
}

// TestSecretsNeverShown: secret properties reach the workers' connectors,
// but no log line, API answer or CLI output.
func TestSecretsNeverShown(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	var lg logs
	co := startCoord(t, cli, "c1", lg.logger())
	cn := newConn()
	startWorker(t, cli, "w1", cn, lg.logger())
	secrets := Properties{"connection-password": "hunter2-pw", "aws.secret-key": "s3cr3t-aws", "auth-token": "tok-123", "connection-user": "trino"}
	var out, errb strings.Builder
	args := []string{"put", "pg", "--coordinator", co.URL(), "--connector", "postgresql"}
	for k, v := range secrets {
		args = append(args, "--property", k+"="+v)
	}
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("put: exit %d, stderr %s", code, errb.String())
	}
	waitStatus(t, co, "pg", 5*time.Second, "ready", ready)
	if c, _ := cn.get("pg"); c.Properties["connection-password"] != "hunter2-pw" {
		t.Errorf("the connector did not get the real password")
	}
	// A malformed property is not echoed.
	run(context.Background(), []string{"put", "pg", "--coordinator", co.URL(), "--connector", "x", "--property", "hunter2-pw"}, &out, &errb)
	// The program's worker prints what it applies.
	pc := &printConnector{w: &out}
	pc.Apply(context.Background(), Catalog{Name: "pg", Properties: secrets})
	for _, cmd := range [][]string{{"status"}, {"status", "pg"}} {
		var st strings.Builder
		if code := run(context.Background(), append(cmd, "--coordinator", co.URL()), &st, &errb); code != 0 {
			t.Fatalf("%v: exit %d, stderr %s", cmd, code, errb.String())
		}
		// As written, not as JSON's HTML-safe escapes (\u003c...).
		if !strings.Contains(st.String(), `"auth-token": "`+Redacted+`"`) {
			t.Errorf("%v printed %q: want the token shown as %q", cmd, st.String(), Redacted)
		}
		out.WriteString(st.String())
	}
	s, _ := status(t, co, "pg")
	if s.Properties["connection-user"] != "trino" || s.Properties["auth-token"] != Redacted {
		t.Errorf("status properties %v: want the user shown and the token redacted", s.Properties)
	}
	shown := out.String() + errb.String() + lg.String()
	if !strings.Contains(lg.String(), "catalog applied") || !strings.Contains(out.String(), Redacted) {
		t.Fatalf("nothing logged or printed to check: logs %q, out %q", lg.String(), out.String())
	}
	for k, v := range secrets {
		if IsSecret(k) && strings.Contains(shown, v) {
			t.Errorf("secret of %s shown:\n%s", k, shown)
		}
	}
}

// TestFailedApplyRetried: an Apply that fails is retried with backoff; the
// worker records nothing past it meanwhile, so the catalog, and the one
// written after it, stay pending until it succeeds. The error is logged
// with the catalog's secrets redacted.
func TestFailedApplyRetried(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	co := startCoord(t, cli, "c1", quiet)
	cn := newConn()
	cn.fail["f"] = 3
	var lg logs
	w := startWorker(t, cli, "w1", cn, lg.logger())
	rev := put(t, co, "f", "memory", Properties{"password": "pw-77x"})
	revNext := put(t, co, "next", "memory", nil)
	if s, _ := status(t, co, "next"); s.State != StatePending {
		t.Errorf("next is %s while f has not applied", s.State)
	}
	waitStatus(t, co, "next", 10*time.Second, "ready", ready)
	if w.Applied() < rev {
		t.Errorf("applied %d, below f's revision %d", w.Applied(), rev)
	}
	want := "fail f|fail f|fail f|apply f@" + fmt.Sprint(rev) + "|apply next@" + fmt.Sprint(revNext)
	if got := strings.Join(cn.log(), "|"); got != want {
		t.Errorf("connector calls %s, want %s", got, want)
	}
	if l := lg.String(); strings.Count(l, "apply failed; will retry") != 3 || strings.Contains(l, "pw-77x") {
		t.Errorf("logs: want three retries logged, and no password:\n%s", l)
	}
}

// TestCatchingUpWorkerClaimsOnlyWhatItApplied starts a worker's watch 1500
// revisions behind etcd, so that etcd sends the missed catalogs in batches
// of at most 1000 revisions, each stamped with etcd's current revision while
// more are still to come. With the apply of a catalog in the second batch
// held, the worker must not claim a revision at or past that catalog's:
// the coordinator would call it ready on a worker that has not applied it.
func TestCatchingUpWorkerClaimsOnlyWhatItApplied(t *testing.T) {
	etcd := mastershiptest.NewCluster(t)
	cli := etcd.Client(t).Client
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	keys := newLayout(prefix)
	putCatalog := func(name string) int64 {
		t.Helper()
		resp, err := cli.Put(ctx, keys.catalog(name), Catalog{Name: name, Connector: "memory"}.encode())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	putCatalog("c0000")

	cn := newConn()
	releaseFirst := cn.holdApply("c0000")
	defer releaseFirst()
	const n = 1500
	held := fmt.Sprintf("c%04d", 1200)
	releaseHeld := cn.holdApply(held)
	defer releaseHeld()

	// The worker loads c0000 and waits on it; meanwhile 1500 more catalogs
	// are written, so that its watch, from the revision after its load,
	// starts far behind.
	started := make(chan *Worker, 1)
	go func() {
		w, err := StartWorker(ctx, cli, prefix, "w1", cn, ttl, quiet)
		if err != nil {
			t.Errorf("StartWorker: %v", err)
		}
		started <- w
	}()
	waitFor(t, 10*time.Second, "the worker to load c0000", func() bool {
		return cn.waiting("c0000")
	})
	var heldRev int64
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("c%04d", i)
		rev := putCatalog(name)
		if name == held {
			heldRev = rev
		}
	}
	releaseFirst()
	w := <-started
	if w == nil {
		t.FailNow()
	}
	defer w.Close()

	waitFor(t, 20*time.Second, "the worker to reach "+held, func() bool { return cn.waiting(held) })
	if _, ok := cn.get(fmt.Sprintf("c%04d", 1000)); !ok {
		t.Fatalf("the worker waits on %s before applying c1000", held)
	}
	if got := w.Applied(); got >= heldRev {
		t.Fatalf("worker claims applied revision %d while the apply of %s (revision %d) is held", got, held, heldRev)
	}
	releaseHeld()
	waitFor(t, 20*time.Second, "the worker to apply everything", func() bool {
		_, ok := cn.get(fmt.Sprintf("c%04d", n))
		return ok && w.Applied() >= heldRev
	})
}
