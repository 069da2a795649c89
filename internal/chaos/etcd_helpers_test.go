package chaos

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// Helpers of the etcd fault scenarios (etcd_test.go). Their names start
// with "etcd" or belong to types of this file, so that they do not collide
// with the helpers of other scenario files.

// etcdFirstAfter returns the first record of inc after instant after that
// match accepts, and whether there is one.
func etcdFirstAfter(r *Run, inc string, after time.Time, match func(history.Record) bool) (history.Record, bool) {
	for _, rec := range r.H.Records(inc) {
		if rec.TS.After(after) && match(rec) {
			return rec, true
		}
	}
	return history.Record{}, false
}

// etcdIs matches records of one of the given types.
func etcdIs(types ...events.Type) func(history.Record) bool {
	return func(rec history.Record) bool { return slices.Contains(types, rec.Type) }
}

// etcdIsMaster matches records that show their member master.
func etcdIsMaster(rec history.Record) bool {
	return rec.Type != events.Offline && rec.Master == rec.Self
}

// etcdMastersAt returns the incarnations among incs whose records say they
// were master at instant at: their last record at or before it shows
// themselves master.
func etcdMastersAt(r *Run, at time.Time, incs ...string) []string {
	var out []string
	for _, inc := range incs {
		var last *history.Record
		recs := r.H.Records(inc)
		for i := range recs {
			if recs[i].TS.After(at) {
				break
			}
			last = &recs[i]
		}
		if last != nil && etcdIsMaster(*last) {
			out = append(out, inc)
		}
	}
	return out
}

// etcdLiveMasters returns the incarnations among incs whose last record
// shows them registered and master.
func etcdLiveMasters(r *Run, incs ...string) []string {
	var out []string
	for _, inc := range incs {
		if rec, ok := r.Last(inc); ok && etcdIsMaster(rec) {
			out = append(out, inc)
		}
	}
	return out
}

// etcdSees reports whether the last record of every one of incs shows
// exactly the members ids, master first.
func etcdSees(r *Run, ids []string, incs ...string) bool {
	for _, inc := range incs {
		rec, ok := r.Last(inc)
		if !ok || rec.Type == events.Offline || !slices.Equal(rec.Members, ids) {
			return false
		}
	}
	return true
}

// etcdIncs returns the incarnation names of members.
func etcdIncs(ms ...*Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Inc
	}
	return out
}

// etcdMembers reads the member ids etcd holds under prefix, in join order,
// failing the test if etcd cannot be read.
func etcdMembers(t *testing.T, cli *clientv3.Client, prefix string) []string {
	t.Helper()
	ids, err := membersIn(cli, prefix)
	if err != nil {
		t.Fatalf("read %s: %v", prefix, err)
	}
	return ids
}

// etcdOneMaster checks the end state of a scenario after Converge: etcd
// holds exactly the members want (in any order), every one of incs is
// registered, and exactly one of them is master.
func etcdOneMaster(t *testing.T, r *Run, cli *clientv3.Client, prefix string, want []string, incs ...string) {
	t.Helper()
	got := etcdMembers(t, cli, prefix)
	if !etcdSameSet(got, want) {
		t.Errorf("seed %d: etcd holds members %v, want %v", r.Seed, got, want)
	}
	for _, inc := range incs {
		if !r.Registered(inc) {
			t.Errorf("seed %d: %s is not registered at the end", r.Seed, inc)
		}
	}
	if ms := etcdLiveMasters(r, incs...); len(ms) != 1 {
		t.Errorf("seed %d: masters at the end: %v, want exactly one", r.Seed, ms)
	}
}

func etcdSameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// etcdWaitLeader waits until the cluster has a raft leader other than the
// member at index not (-1 for any), and returns its index.
func etcdWaitLeader(t *testing.T, c *mastershiptest.Cluster, not int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if l := c.Leader(); l >= 0 && l != not {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no etcd leader (other than member %d) within %v", not, timeout)
		}
		<-time.After(20 * time.Millisecond) // polling: etcd tells no one of a new leader
	}
}

// etcdBreak breaks the connection of cli, which reaches etcd only through
// p, at once, and keeps it from connecting again until p.Heal: p's Break
// hands the client garbage in place of what etcd sends, which makes gRPC
// drop the connection. A read through cli, whose answer comes back as
// garbage, makes it fail at once rather than at the next keep-alive answer
// (a third of the TTL).
func etcdBreak(t *testing.T, r *Run, p *mastershiptest.Proxy, cli *clientv3.Client) {
	t.Helper()
	p.Break()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	cli.Get(ctx, "poke") // its answer arrives as garbage: an error
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for cli.ActiveConnection().GetState() == connectivity.Ready {
		if time.Now().After(deadline) {
			t.Fatalf("seed %d: the client's connection through the proxy still READY 10s after its Break", r.Seed)
		}
		<-time.After(10 * time.Millisecond) // polling the connection's state
	}
}

// etcdStamp formats an instant as the history does.
func etcdStamp(t time.Time) string { return t.UTC().Format(history.TSFormat) }

// etcdWaitGroup waits until every one of incs is registered and sees
// exactly the members ids (in any order). Converge alone may pass in a
// transient state, such as a member between revoking its old key and creating
// its new one; this waits for the state the scenario means to reach.
func etcdWaitGroup(r *Run, timeout time.Duration, ids []string, incs ...string) {
	r.t.Helper()
	r.Wait("every member registered in a group of "+strings.Join(ids, ", "), timeout, func() bool {
		for _, inc := range incs {
			rec, ok := r.Last(inc)
			if !ok || rec.Type == events.Offline || !etcdSameSet(rec.Members, ids) {
				return false
			}
		}
		return true
	})
}

// etcdKill makes etcd member i of c vanish at once, as a crashed process
// does (Member.Kill). Its clients, which reach it through p, lose their
// connections at once and cannot connect again until the restart (p's
// Break); in a cluster of several members its peers stop hearing from it
// at the same instant, so that, if it led, they elect a new leader after an
// election timeout, with no hand-over. It returns when the member stopped,
// and the restart that brings it back and heals p.
//
// The Break comes first, and is what makes the connections fail at once:
// the member's gRPC server, as it shuts down, tells each client to go
// away, which reaches it as garbage. Without it, the clients' streams
// would keep the member from stopping for etcd's request timeout (5s and
// more), as Member.Kill says.
func etcdKill(t *testing.T, c *mastershiptest.Cluster, i int, p *mastershiptest.Proxy) (stopped time.Time, restart func()) {
	t.Helper()
	m := c.Members[i]
	p.Break()
	m.Kill()
	return time.Now(), func() {
		t.Helper()
		m.Restart(t)
		p.Heal()
	}
}

// etcdWaitCut waits until none of the members' clients has a connection
// ready, failing the test after timeout: the fault that should have cut
// them off did.
func etcdWaitCut(t *testing.T, r *Run, timeout time.Duration, ms ...*Member) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, m := range ms {
		for m.Cli.ActiveConnection().GetState() == connectivity.Ready {
			if time.Now().After(deadline) {
				t.Fatalf("seed %d: %s's client still connected %v after etcd went down", r.Seed, m.Inc, timeout)
			}
			<-time.After(5 * time.Millisecond) // polling the connection's state
		}
	}
}
