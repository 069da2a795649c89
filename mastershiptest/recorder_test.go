package mastershiptest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// recTTL is the members' TTL in these tests: short, so that a cut outlasts
// it quickly.
const recTTL = 2 * time.Second

// join makes a member id of prefix on cli, closed when t ends.
func join(t testing.TB, cli *mastershiptest.Client, prefix, id string, opts ...selector.Option) *selector.Selector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := selector.New(ctx, cli.Client, prefix, id, append([]selector.Option{selector.WithTTL(recTTL)}, opts...)...)
	if err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// job works while s is master, each mastership's work under its master
// context, and records its spans in rec; with stale, it does what a careless
// service does: it works on past the mastership's end, for stale longer.
func job(s *selector.Selector, rec *mastershiptest.Recorder, stale time.Duration) {
	for ev := range rec.Follow(s) {
		if ev.Type != events.InitMaster && ev.Type != events.ChangeToMaster {
			continue
		}
		ctx, epoch := s.MasterContext(), ev.View.Epoch()
		go func() {
			end := rec.Begin(s.ID(), epoch)
			defer end()
			<-ctx.Done()
			time.Sleep(stale) // the careless part: work after the end
		}()
	}
}

func working(rec *mastershiptest.Recorder, id string) func() bool {
	return func() bool { return rec.Working(id) }
}

// TestRecorderCutOff: the master cut off from etcd stops its work before
// its successor starts, and Check says so; after the heal the group
// converges to what etcd holds.
func TestRecorderCutOff(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	rec := mastershiptest.NewRecorder()
	a, b := c.Client(t), c.Client(t)
	go job(join(t, a, "/rec", "a"), rec, 0)
	rec.Wait(t, "work of a", 10*time.Second, working(rec, "a"))
	go job(join(t, b, "/rec", "b"), rec, 0)

	a.Cut()
	rec.Wait(t, "work of b", 10*time.Second, working(rec, "b"))
	if rec.Working("a") {
		t.Errorf("a still works once b does:\n%s", rec)
	}
	rec.Check(t)
	a.Heal()
	// a's client may take a gRPC keep-alive timeout to find its connection
	// broken by the cut, and then registers again.
	rec.Converged(t, b.Client, "/rec", 40*time.Second)
	rec.Check(t)
}

// TestRecorderCatchesStaleWork: a service whose work outlives its
// mastership by more than the safety margin and etcd's expiry together
// overlaps its successor's, and Check fails with both spans in its
// excerpt, although the library's events kept the two masterships apart.
func TestRecorderCatchesStaleWork(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	failure := asTest(func(ft testing.TB) {
		rec := mastershiptest.NewRecorder()
		a, b := c.Client(t), c.Client(t)
		go job(join(ft, a, "/stale", "a"), rec, 3*time.Second)
		rec.Wait(ft, "work of a", 10*time.Second, working(rec, "a"))
		go job(join(ft, b, "/stale", "b"), rec, 0)
		a.Cut()
		rec.Wait(ft, "work of b", 10*time.Second, working(rec, "b"))
		rec.Wait(ft, "the end of a's work", 10*time.Second, func() bool { return !rec.Working("a") })
		rec.Check(ft)
		a.Heal()
	})
	for _, want := range []string{
		"[work] master work of two members at once",
		"a began master work",
		"> ", // the excerpt marks the spans
		"b began master work",
		"a ended master work",
	} {
		if !strings.Contains(failure, want) {
			t.Errorf("Check's failure lacks %q:\n%s", want, failure)
		}
	}
	if strings.Contains(failure, "[one-master]") {
		t.Errorf("Check blames the events, which kept the masterships apart:\n%s", failure)
	}
}

// TestRecorderYield: a handover by Yield checks clean, and the second run of
// a member, closed and made again under its id, is judged as a run of its
// own.
func TestRecorderYield(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	rec := mastershiptest.NewRecorder()
	cli := c.Client(t)
	a := join(t, cli, "/yield", "a")
	go job(a, rec, 0)
	rec.Wait(t, "work of a", 10*time.Second, working(rec, "a"))
	go job(join(t, cli, "/yield", "b"), rec, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// a yields to a successor it has seen: b in a's view, which a's
	// SLAVE_ADD, recorded, brings.
	rec.Wait(t, "b in a's view", 10*time.Second, func() bool { _, ok := a.View().Node("b"); return ok })
	if err := a.Yield(ctx); err != nil {
		t.Fatal(err)
	}
	rec.Wait(t, "work of b", 10*time.Second, working(rec, "b"))
	a.Close()
	go job(join(t, cli, "/yield", "a"), rec, 0)
	rec.Converged(t, cli.Client, "/yield", 10*time.Second)
	rec.Check(t)
	if s := rec.String(); !strings.Contains(s, "a#2") || !strings.Contains(s, "a#1") {
		t.Errorf("the second run of a is not a#2:\n%s", s)
	}
}

// TestRecorderConvergedFails: a key on a lease under the prefix that no
// followed member holds is a member etcd has and the group does not: no
// convergence, and the failure names it.
func TestRecorderConvergedFails(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	cli := c.Client(t)
	failure := asTest(func(ft testing.TB) {
		rec := mastershiptest.NewRecorder()
		go job(join(ft, cli, "/conv", "a"), rec, 0)
		rec.Wait(ft, "work of a", 10*time.Second, working(rec, "a"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		lease, err := cli.Grant(ctx, 60)
		if err != nil {
			ft.Fatal(err)
		}
		if _, err := cli.Put(ctx, "/conv/ghost", "", clientv3.WithLease(lease.ID)); err != nil {
			ft.Fatal(err)
		}
		rec.Converged(ft, cli.Client, "/conv", 500*time.Millisecond)
	})
	if !strings.Contains(failure, "did not converge within 500ms") || !strings.Contains(failure, "etcd holds member ghost") {
		t.Errorf("Converged's failure:\n%s", failure)
	}
}

// TestRecorderWaitsTogether: waits on one Recorder from several goroutines
// each wake at a report that meets their condition: a report wakes every
// wait, not one of them.
func TestRecorderWaitsTogether(t *testing.T) {
	rec := mastershiptest.NewRecorder()
	const waiters = 3
	asked := make(chan struct{}, waiters)
	failures := make(chan string, waiters)
	for range waiters {
		go func() {
			failures <- asTest(func(ft testing.TB) {
				first := true
				rec.Wait(ft, "work of a", 3*time.Second, func() bool {
					if first {
						first = false
						asked <- struct{}{}
					}
					return rec.Working("a")
				})
			})
		}()
	}
	for range waiters {
		<-asked // each has found the condition false once
	}
	end := rec.Begin("a", 1) // one report, which meets every condition
	defer end()
	for range waiters {
		if f := <-failures; f != "" {
			t.Errorf("a wait missed the report that met its condition: %s", f)
		}
	}
}

// TestRecorderCatchesWorkAfterClose: a service whose work goes on after
// its selector is closed overlaps its successor, which takes over at once
// (Close revokes the lease), and Check fails: the end the service
// reported is when its work stopped, not the close of Follow's channel,
// which here comes before the successor begins.
func TestRecorderCatchesWorkAfterClose(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	const stale = time.Second
	failure := asTest(func(ft testing.TB) {
		rec := mastershiptest.NewRecorder()
		cli := c.Client(t)
		a := join(ft, cli, "/closed", "a")
		go job(a, rec, stale)
		rec.Wait(ft, "work of a", 10*time.Second, working(rec, "a"))
		b := join(ft, cli, "/closed", "b")
		go func() {
			for ev := range rec.Follow(b) {
				if ev.Type != events.InitMaster && ev.Type != events.ChangeToMaster {
					continue
				}
				ctx, epoch := b.MasterContext(), ev.View.Epoch()
				go func() {
					time.Sleep(200 * time.Millisecond) // b settles in before it works
					end := rec.Begin("b", epoch)
					defer end()
					<-ctx.Done()
				}()
			}
		}()
		rec.Wait(ft, "b registered", 10*time.Second, func() bool { return strings.Contains(rec.String(), "b INIT_SLAVE") })
		a.Close()
		rec.Wait(ft, "work of b", 10*time.Second, working(rec, "b"))
		rec.Wait(ft, "the end of a's work", 10*time.Second, func() bool { return !rec.Working("a") })
		rec.Check(ft)
	})
	if !strings.Contains(failure, "[work] master work of two members at once") || !strings.Contains(failure, "a ended master work") {
		t.Errorf("Check missed a's work after its close, beside b's:\n%s", failure)
	}
}

// TestRecorderCatchesWorkNeverEnded: work that never says it ended, begun
// by a member since closed, lasts to the end of the history: the member's
// close does not end it, and Check reports it beside its successor's.
func TestRecorderCatchesWorkNeverEnded(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	failure := asTest(func(ft testing.TB) {
		rec := mastershiptest.NewRecorder()
		cli := c.Client(t)
		a := join(ft, cli, "/never", "a")
		go func() {
			for ev := range rec.Follow(a) {
				if ev.Type == events.InitMaster {
					rec.Begin("a", ev.View.Epoch()) // and never its end
				}
			}
		}()
		rec.Wait(ft, "work of a", 10*time.Second, working(rec, "a"))
		b := join(ft, cli, "/never", "b")
		go job(b, rec, 0)
		rec.Wait(ft, "b in a's view", 10*time.Second, func() bool { _, ok := a.View().Node("b"); return ok })
		a.Close()
		rec.Wait(ft, "work of b", 10*time.Second, working(rec, "b"))
		if !rec.Working("a") {
			ft.Errorf("a's work, never ended, no longer counts once a closed")
		}
		rec.Check(ft)
	})
	if !strings.Contains(failure, "[work] master work of two members at once") || !strings.Contains(failure, "to the end of the history") {
		t.Errorf("Check missed a's work that never ended, beside b's:\n%s", failure)
	}
}

// TestRecorderLateWorkOfEarlierRun: work begun late under the epoch of a
// closed run of a member (its mastership's goroutine, slow to start) is
// that run's, and Check sees it overlap the work of the member's next run,
// master under a new epoch.
func TestRecorderLateWorkOfEarlierRun(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	failure := asTest(func(ft testing.TB) {
		rec := mastershiptest.NewRecorder()
		cli := c.Client(t)
		first := join(ft, cli, "/late", "a")
		var old int64
		events1 := rec.Follow(first)
		for ev := range events1 {
			if ev.Type == events.InitMaster {
				old = ev.View.Epoch()
				break
			}
		}
		go func() {
			for range events1 { // read to the end, as Follow asks
			}
		}()
		first.Close()
		go job(join(ft, cli, "/late", "a"), rec, 0)
		rec.Wait(ft, "work of a's second run", 10*time.Second, working(rec, "a"))
		rec.Begin("a", old) // the first run's late start, never ended
		rec.Check(ft)
	})
	if !strings.Contains(failure, "[work] master work of two members at once") || !strings.Contains(failure, "a#1 (a)") || !strings.Contains(failure, "a#2 (a)") {
		t.Errorf("Check missed the first run's late work beside the second's:\n%s", failure)
	}
}
