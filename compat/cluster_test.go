//go:build etcdcompat

package compat

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdproc"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/selector"
)

// settleTime bounds how long the group may take to settle after a fault
// begins or ends: a new raft leader within a few election timeouts (1 s
// each by default), a lost member's lease expiring a TTL after that (etcd
// gives every lease a fresh TTL when a leader takes over), and the
// members' watches and registrations, with room for a loaded machine.
const settleTime = 20 * time.Second

// TestClusterFaultsProcess runs a group of selector members on a cluster of
// three etcd processes of $MASTERSHIP_ETCD's version while the raft leader
// is killed and restarted, a follower is cut off from its peers and healed,
// and a member is restarted; it checks that the group never has two masters
// at once (history.Check, on every member's events with their timestamps)
// and converges after each fault.
//
// What differs between versions shows in the log, not in what is checked
// (observed on 3.4.23, 3.5.36 and 3.6.17, two to four runs each):
//
//   - pre-vote: etcd 3.4 runs without it (--pre-vote is off by default), so
//     the cut-off follower campaigns under ever higher terms and, once
//     healed, deposes the leader: the term went from 3 to 4 or 5, once
//     with a new leader, and the group took about 1.3 s to settle after
//     the heal. 3.5 and 3.6 turn pre-vote on by default: the leader and
//     its term stay, and the group settled within 0.15 s. The group kept
//     to one master either way.
//   - graceful stop: SIGTERM stops a 3.4 member within 0.13 s; a 3.5 or
//     3.6 member takes 7.1 s, since its gRPC server waits for the open
//     streams (the members' watches and keep-alives) for etcd's request
//     timeout, 5 s and two election timeouts (embed's stopServers), before
//     it closes them. Its clients are served meanwhile, and no member went
//     OFFLINE over the restart.
//
// On every version, a kill of the raft leader also briefly takes every
// member whose etcd member stays up OFFLINE, the master included, each
// back within tens of milliseconds (the master by taking its registration
// back, under the same epoch), as the history shows. That is the TTL of 2 s
// used here: no keep-alive is acknowledged until a new leader is elected,
// one to two election timeouts (1 s each by default), and the safe
// deadline of a 2 s lease comes 1.75 s after the last acknowledged one.
// With the default TTL of 5 s only the member whose etcd member was killed
// went OFFLINE (tried once by hand on 3.6.17).
func TestClusterFaultsProcess(t *testing.T) {
	bin := etcdproc.FromEnv(t)
	v, err := bin.Version()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("etcd-"+v, func(t *testing.T) {
		t.Logf("%s: etcd %s", bin.Etcd, v)
		clusterFaults(t, bin)
	})
}

func clusterFaults(t *testing.T, bin etcdproc.Binaries) {
	began := time.Now()
	c := etcdproc.Start(t, bin, etcdproc.Options{Members: 3, PeerProxies: true})
	cli := c.Client(t, "", "")
	g := newGroup(t, c, cli, "/compat/cluster")
	t.Logf("cluster serving %v after the start", time.Since(began).Round(time.Millisecond))

	// Each of a, b and c reaches one etcd member only, so that a fault of
	// that member is a fault of its client too; d and e reach all three,
	// in different orders, and their clients move when one fails.
	m0, m1, m2 := c.Members[0], c.Members[1], c.Members[2]
	g.join("a", m0)
	g.join("b", m1)
	g.join("c", m2)
	g.join("d", m0, m1, m2)
	g.join("e", m2, m1, m0)
	g.converge("the start", settleTime)

	// The raft leader crashes. The member pinned to it loses etcd: it goes
	// OFFLINE, its key expires, and the others settle without it, under a
	// new raft leader; once the leader is back, it registers again.
	leader, term := g.leader()
	t.Logf("killing the raft leader %s (term %d)", leader.Name, term)
	if err := leader.Kill(); err != nil {
		t.Fatal(err)
	}
	g.settleWithout("the leader killed", leader)
	if err := c.StartMember(leader); err != nil {
		t.Fatal(err)
	}
	g.converge("the killed leader restarted", settleTime)
	g.check("after the leader's crash")

	// A follower is cut off from its peers, its clients still connected:
	// the follower the master reaches, if the master is pinned to one, so
	// that the master itself loses etcd.
	leader, _ = g.leader()
	follower := g.followerOfMaster(leader) // may move the leadership
	leader, term = g.leader()
	t.Logf("isolating %s from its peers (leader %s, term %d)", follower.Name, leader.Name, term)
	if err := c.Isolate(follower); err != nil {
		t.Fatal(err)
	}
	g.settleWithout("a follower isolated", follower)
	if err := c.Heal(follower); err != nil {
		t.Fatal(err)
	}
	g.converge("the follower healed", settleTime)
	after, afterTerm := g.leader()
	t.Logf("after the heal: leader %s (term %d), before the cut %s (term %d)", after.Name, afterTerm, leader.Name, term)
	g.check("after the isolation")

	// A member stops as an operator would stop it (SIGTERM) and starts
	// again on its data: the raft leader, whose graceful stop hands the
	// leadership over first.
	leader, term = g.leader()
	t.Logf("restarting the raft leader %s (term %d)", leader.Name, term)
	stopping := time.Now()
	if err := leader.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	if err := c.StartMember(leader); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stopped %v after SIGTERM, and served again %v after its start", leader.Name,
		stopped.Sub(stopping).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	g.converge("a member restarted", settleTime)

	g.closeAll()
	g.check("at the end")
	t.Logf("the scenario took %v", time.Since(began).Round(time.Millisecond))
}

// group is a group of selector members, each with a client of its own, and
// the history of all their events.
type group struct {
	t      *testing.T
	c      *etcdproc.Cluster
	cli    *clientv3.Client // reaches every etcd member, for the checks
	prefix string
	h      history.History

	changed chan struct{} // a wake-up after each record

	mu      sync.Mutex
	members []*member
}

// member is one selector member of a group.
type member struct {
	id, inc string
	// pinned is the etcd member its client reaches, nil if it reaches all.
	pinned *etcdproc.Member
	sel    *selector.Selector
	done   chan struct{} // closed once its events are all recorded

	closeOnce sync.Once
}

func newGroup(t *testing.T, c *etcdproc.Cluster, cli *clientv3.Client, prefix string) *group {
	g := &group{t: t, c: c, cli: cli, prefix: prefix, changed: make(chan struct{}, 1)}
	t.Cleanup(func() {
		g.closeAll()
		if t.Failed() {
			t.Logf("the group's history:\n%s", g.h.String())
		}
	})
	return g
}

func (g *group) notify() {
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

// join starts member id on a client of the given etcd members, and records
// its events in the history until it closes. When an event shows it master,
// the end of that mastership (its MasterContext's) is recorded too, so that
// the history ends each mastership no later than the member stopped acting
// as master, even when its event comes later.
func (g *group) join(id string, to ...*etcdproc.Member) {
	g.t.Helper()
	cfg := g.c.Config("", "")
	cfg.Endpoints = nil
	for _, m := range to {
		cfg.Endpoints = append(cfg.Endpoints, m.ClientURL)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	sel, err := selector.New(ctx, cli, g.prefix, id, selector.WithTTL(testTTL), selector.WithValue("v-"+id))
	if err != nil {
		g.t.Fatalf("join %s: %v", id, err)
	}
	m := &member{id: id, inc: id + "#1", sel: sel, done: make(chan struct{})}
	if len(to) == 1 {
		m.pinned = to[0]
	}
	g.mu.Lock()
	g.members = append(g.members, m)
	g.mu.Unlock()
	go func() {
		defer close(m.done)
		var watched context.Context
		for ev := range sel.Events() {
			g.h.Add(m.inc, history.FromEvent(id, ev))
			if ev.Type != events.Offline && ev.View.Master().ID == id {
				if ctx := sel.MasterContext(); ctx != watched {
					watched = ctx
					context.AfterFunc(ctx, func() { g.h.EndMastership(m.inc, time.Now()) })
				}
			}
			g.notify()
		}
	}()
}

// closeAll closes every member, waits for its last events, and records its
// end.
func (g *group) closeAll() {
	g.mu.Lock()
	ms := append([]*member(nil), g.members...)
	g.mu.Unlock()
	for _, m := range ms {
		m.closeOnce.Do(func() {
			m.sel.Close()
			select {
			case <-m.done:
			case <-time.After(waitTime):
				g.t.Errorf("%s: events not closed %v after Close", m.id, waitTime)
			}
			g.h.End(m.inc, time.Now())
		})
	}
}

// check fails the test for every violation of the history's rules so far:
// two masters at once above all. Members still running count as master to
// the end of the history, so an overlap with one is real.
func (g *group) check(when string) {
	g.t.Helper()
	if vs := history.Check(&g.h, history.Options{TTL: testTTL}); len(vs) > 0 {
		g.t.Fatalf("%s: the history breaks its rules:\n%s", when, history.Format(vs))
	}
}

// registered reads the member ids under the group's prefix in join order.
func (g *group) registered() ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := g.cli.Get(ctx, g.prefix+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		ids = append(ids, strings.TrimPrefix(string(kv.Key), g.prefix+"/"))
	}
	return ids, nil
}

// wait waits until cond holds, trying again after each record and every
// 100 ms (etcd's state changes without a record), at most timeout; it
// fails the test with what cond last said otherwise.
func (g *group) wait(what string, timeout time.Duration, cond func() (bool, string)) {
	g.t.Helper()
	from := time.Now()
	limit := time.NewTimer(timeout)
	defer limit.Stop()
	for {
		ok, why := cond()
		if ok {
			g.t.Logf("%s: settled %v later", what, time.Since(from).Round(time.Millisecond))
			return
		}
		select {
		case <-g.changed:
		case <-time.After(100 * time.Millisecond):
		case <-limit.C:
			g.t.Fatalf("%s: not settled within %v: %s", what, timeout, why)
		}
	}
}

// converge waits until every member is registered in etcd, and every
// member's last view agrees with etcd's, one master first
// (history.CheckConvergence), at most timeout.
func (g *group) converge(what string, timeout time.Duration) {
	g.t.Helper()
	g.mu.Lock()
	n := len(g.members)
	g.mu.Unlock()
	g.wait(what, timeout, func() (bool, string) {
		ids, err := g.registered()
		if err != nil {
			return false, fmt.Sprintf("reading the group: %v", err)
		}
		if len(ids) != n {
			return false, fmt.Sprintf("etcd holds %v, want all %d members", ids, n)
		}
		if vs := history.CheckConvergence(&g.h, ids, ids[0]); len(vs) > 0 {
			return false, history.Format(vs)
		}
		return true, ""
	})
}

// settleWithout waits, while etcd member down is unreachable, until the
// members pinned to it have gone OFFLINE and their keys are gone, and the
// members pinned to the other etcd members agree with what etcd holds. The
// members that reach every etcd member are left out: whether their client
// has moved off down by then is the client's affair.
func (g *group) settleWithout(what string, down *etcdproc.Member) {
	g.t.Helper()
	g.mu.Lock()
	ms := append([]*member(nil), g.members...)
	g.mu.Unlock()
	g.wait(what, settleTime, func() (bool, string) {
		ids, err := g.registered()
		if err != nil {
			return false, fmt.Sprintf("reading the group: %v", err)
		}
		for _, m := range ms {
			if m.pinned == nil {
				continue
			}
			recs := g.h.Records(m.inc)
			if len(recs) == 0 {
				return false, m.id + " has no event"
			}
			last := recs[len(recs)-1]
			if m.pinned == down {
				if last.Type != events.Offline {
					return false, fmt.Sprintf("%s, pinned to %s, not OFFLINE: %v", m.id, down.Name, last)
				}
				for _, id := range ids {
					if id == m.id {
						return false, fmt.Sprintf("etcd still holds %s, pinned to %s: %v", m.id, down.Name, ids)
					}
				}
				continue
			}
			if len(ids) == 0 {
				return false, "etcd holds no member"
			}
			if last.Type == events.Offline || last.Master != ids[0] || strings.Join(sorted(last.Members), ",") != strings.Join(sorted(ids), ",") {
				return false, fmt.Sprintf("%s, pinned to %s: %v; etcd holds %v", m.id, m.pinned.Name, last, ids)
			}
		}
		return true, ""
	})
}

// sorted returns a sorted copy of ids: members compare as sets, since a
// member that left and came back between two reads moves in the join
// order without an event (see history.CheckConvergence).
func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// leader returns the raft leader and its term, waiting settleTime at most
// for one.
func (g *group) leader() (*etcdproc.Member, uint64) {
	g.t.Helper()
	deadline := time.Now().Add(settleTime)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		m, term, err := g.c.Leader(ctx, g.cli)
		cancel()
		if err == nil {
			return m, term
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("no raft leader within %v: %v", settleTime, err)
		}
		// Polling the members' status: etcd has no notification of a new
		// leader. Bounded by deadline.
		time.Sleep(100 * time.Millisecond)
	}
}

// followerOfMaster returns the etcd member the group's master is pinned to,
// made a follower if it leads, or else a follower.
func (g *group) followerOfMaster(leader *etcdproc.Member) *etcdproc.Member {
	g.t.Helper()
	ids, err := g.registered()
	if err != nil || len(ids) == 0 {
		g.t.Fatalf("reading the group: %v %v", ids, err)
	}
	g.mu.Lock()
	var master *member
	for _, m := range g.members {
		if m.id == ids[0] {
			master = m
		}
	}
	g.mu.Unlock()
	if master != nil && master.pinned == leader {
		// The master reaches the raft leader: hand the leadership to
		// another member first (etcdctl move-leader), so that the
		// master's etcd member is the follower cut off.
		to := g.c.Members[0]
		if to == leader {
			to = g.c.Members[1]
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitTime)
		defer cancel()
		st, err := g.cli.Status(ctx, to.ClientURL)
		if err != nil {
			g.t.Fatalf("status of %s: %v", to.Name, err)
		}
		lcfg := g.c.Config("", "")
		lcfg.Endpoints = []string{leader.ClientURL}
		lcli, err := clientv3.New(lcfg)
		if err != nil {
			g.t.Fatal(err)
		}
		defer lcli.Close()
		if _, err := lcli.MoveLeader(ctx, st.Header.MemberId); err != nil {
			g.t.Fatalf("move the raft leadership from %s to %s: %v", leader.Name, to.Name, err)
		}
		now, term := g.leader()
		g.t.Logf("moved the raft leadership from %s to %s: the leader is %s (term %d)", leader.Name, to.Name, now.Name, term)
		leader = now
	}
	if master != nil && master.pinned != nil && master.pinned != leader {
		g.t.Logf("the master %s reaches the follower %s only", master.id, master.pinned.Name)
		return master.pinned
	}
	for _, m := range g.c.Members {
		if m != leader {
			g.t.Logf("the master %s reaches no follower alone", ids[0])
			return m
		}
	}
	g.t.Fatal("no follower")
	return nil
}
