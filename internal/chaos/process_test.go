package chaos

import (
	"testing"
	"time"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestProcessesKilledAndStopped: node programs as processes. The master is
// killed with SIGKILL (a slave takes over once its lease expires), the next
// master is stopped with SIGTERM (a slave takes over at once), and a killed
// member restarts under its id at once.
func TestProcessesKilledAndStopped(t *testing.T) {
	t.Parallel()
	r := NewRun(t)
	c := mastershiptest.NewCluster(t)
	cli := newClient(t, c)
	eps := c.Endpoints()
	const prefix = "/chaos/processes"

	a := r.Start(prefix, "a", eps)
	r.Wait("a is master", 10*time.Second, func() bool { return r.Has(a.Inc, events.InitMaster) })
	// b joins before c, so that b is next in line.
	b := r.Start(prefix, "b", eps)
	r.Wait("b is a slave of a", 10*time.Second, func() bool { return r.MasterIs(b.Inc, "a") })
	cc := r.Start(prefix, "c", eps)
	r.Wait("c is a slave of a", 10*time.Second, func() bool { return r.MasterIs(cc.Inc, "a") })

	killed := time.Now()
	a.Kill()
	r.Wait("b takes over from the killed a", ttl+5*time.Second, func() bool { return r.Has(b.Inc, events.ChangeToMaster) })
	if rec := r.H.Records(b.Inc); true {
		took := rec[len(rec)-1].TS.Sub(killed)
		t.Logf("b took over %v after a was killed (TTL %v)", took, ttl)
	}

	stopped := time.Now()
	b.Term()
	r.Wait("c takes over from the stopped b", 5*time.Second, func() bool { return r.Has(cc.Inc, events.ChangeToMaster) })
	if took := time.Since(stopped); took > ttl {
		t.Errorf("c took over %v after SIGTERM to b; Close revokes the lease, so want well under the TTL", took)
	}

	// a comes back under its id right away: its old key is gone already.
	a2 := r.Start(prefix, "a", eps)
	r.Wait("a is back as a slave of c", 10*time.Second, func() bool { return r.MasterIs(a2.Inc, "c") })
	r.Converge(cli, prefix, 10*time.Second)
}
