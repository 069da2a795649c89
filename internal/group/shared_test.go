package group

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// nextUpdates waits for the Updates of s, up to a deadline.
func nextUpdates(t *testing.T, s *Subscription, what string) []Update {
	t.Helper()
	select {
	case <-s.Ready():
		if us := s.Take(); len(us) > 0 {
			return us
		}
		return nextUpdates(t, s, what)
	case <-time.After(10 * time.Second):
		t.Fatalf("no update: %s", what)
		return nil
	}
}

// Subscribers of one group on one client share one follower, and one
// slice of members; each update's Changes bring the previous members to
// the new ones; the group equals etcd's at every update's revision; and
// the last Close stops the follower (goleak checks its goroutine).
func TestSubscribeShared(t *testing.T) {
	cluster := etcdtest.Start(t)
	cli := cluster.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const prefix = "/shared/"
	ls, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	other, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string) int64 {
		resp, err := cli.Put(ctx, prefix+id, "v"+id, clientv3.WithLease(ls.ID))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	put("a")
	a := Subscribe(cli, prefix, prefix+"a", nil)
	b := Subscribe(cli, prefix, prefix+"b", nil)
	followers.mu.Lock()
	if n := len(followers.m); n != 1 || a.f != b.f {
		t.Errorf("%d followers, a's and b's the same: %v; want one, shared", n, a.f == b.f)
	}
	followers.mu.Unlock()

	ua := nextUpdates(t, a, "a's first")
	if !ua[0].Fresh || !ua[0].OwnOK || len(ua[0].Members) != 1 {
		t.Fatalf("a's first update: %+v, want a fresh view of a, with a's key", ua[0])
	}
	members := ua[len(ua)-1].Members
	// Joins, value changes, a plain put that detaches a key (no member),
	// deletions, and a key re-created: b follows them all incrementally.
	r := rand.New(rand.NewPCG(20, 26))
	nextB := func() []Update { return nextUpdates(t, b, "b's next") }
	ub := nextB()
	last := ub[len(ub)-1]
	check := func(u Update, prev []events.Node) {
		t.Helper()
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(u.Revision))
		if err != nil {
			t.Fatal(err)
		}
		want := Members(prefix, KVsOf(resp.Kvs))
		if !slices.Equal(u.Members, want) {
			t.Fatalf("revision %d: members %v, etcd has %v", u.Revision, u.Members, want)
		}
		if u.Fresh {
			return
		}
		got := applyChanges(prev, u.Changes)
		if !slices.Equal(got, want) {
			t.Fatalf("revision %d: previous members %v with changes %v give %v, want %v", u.Revision, prev, u.Changes, got, want)
		}
		own, ok := KVsOf(resp.Kvs)[prefix+"b"]
		if ok != u.OwnOK || own != u.Own {
			t.Fatalf("revision %d: own key %v %v, etcd has %v %v", u.Revision, u.Own, u.OwnOK, own, ok)
		}
	}
	check(last, nil)
	for i := range 60 {
		id := fmt.Sprintf("m%d", r.IntN(6))
		var rev int64
		switch r.IntN(4) {
		case 0:
			resp, err := cli.Delete(ctx, prefix+id)
			if err != nil {
				t.Fatal(err)
			}
			rev = resp.Header.Revision
		case 1:
			resp, err := cli.Put(ctx, prefix+id, "plain")
			if err != nil {
				t.Fatal(err)
			}
			rev = resp.Header.Revision
		default:
			rev = put(id)
		}
		// b's own key, detached by a plain put, or moved to another
		// lease, and put back.
		if i%15 == 7 {
			for _, op := range []clientv3.Op{clientv3.OpPut(prefix+"b", "plain"), clientv3.OpPut(prefix+"b", "other", clientv3.WithLease(other.ID)), clientv3.OpPut(prefix+"b", "b", clientv3.WithLease(ls.ID))} {
				resp, err := cli.Do(ctx, op)
				if err != nil {
					t.Fatal(err)
				}
				rev = resp.Put().Header.Revision
				for last.Revision < rev {
					for _, u := range nextB() {
						check(u, last.Members)
						last = u
					}
				}
			}
		}
		// Keys changed in one revision: a transaction.
		if i%10 == 0 {
			resp, err := cli.Txn(ctx).Then(clientv3.OpPut(prefix+"b", "b", clientv3.WithLease(ls.ID)), clientv3.OpDelete(prefix+"m0")).Commit()
			if err != nil {
				t.Fatal(err)
			}
			rev = resp.Header.Revision
		}
		// A delete of no key changes no revision, and brings no update.
		for last.Revision < rev {
			for _, u := range nextB() {
				check(u, last.Members)
				last = u
			}
		}
	}
	// a got the same slices.
	for _, u := range a.Take() {
		members = u.Members
	}
	for range 50 {
		if len(members) > 0 && len(last.Members) > 0 && &members[0] == &last.Members[0] {
			break
		}
		select {
		case <-a.Ready():
			for _, u := range a.Take() {
				members = u.Members
			}
		case <-time.After(10 * time.Second):
		}
	}
	if len(members) == 0 || len(last.Members) == 0 || &members[0] != &last.Members[0] {
		t.Errorf("a and b do not share the members: %p %p", members, last.Members)
	}
	a.Close()
	b.Close()
	followers.mu.Lock()
	if n := len(followers.m); n != 0 {
		t.Errorf("%d followers after the last Close, want 0", n)
	}
	followers.mu.Unlock()
}

// After a compaction that breaks the watch, the follower reads afresh and
// hands its subscribers the changes since their last update, so that they
// still need not compare whole groups. The follower's client reaches etcd
// through a proxy that corrupts what etcd sends, which breaks its
// connection at once, and accepts no new one until the group has changed
// and etcd has compacted past the watch.
func TestSubscribeResync(t *testing.T) {
	cluster := etcdtest.Start(t)
	w := cluster.Client(t)
	p := cluster.Members[0].NewProxy(t)
	cli := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const prefix = "/resync/"
	ls, err := w.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Put(ctx, prefix+"a", "1", clientv3.WithLease(ls.ID)); err != nil {
		t.Fatal(err)
	}
	s := Subscribe(cli, prefix, prefix+"a", nil)
	defer s.Close()
	first := nextUpdates(t, s, "first")[0]
	p.PauseAccept()
	p.ModifyRx(func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, len(b)) })
	if _, err := w.Put(ctx, prefix+"b", "1", clientv3.WithLease(ls.ID)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for cli.ActiveConnection().GetState().String() == "READY" {
		if time.Now().After(deadline) {
			t.Fatal("the follower's connection did not fail")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := w.Put(ctx, prefix+"c", "1", clientv3.WithLease(ls.ID)); err != nil {
		t.Fatal(err)
	}
	resp, err := w.Delete(ctx, prefix+"a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	p.UnmodifyRx()
	p.UnpauseAccept()
	var got []Update
	for !slices.ContainsFunc(got, func(u Update) bool { return u.Resync }) {
		got = append(got, nextUpdates(t, s, "a resync")...)
	}
	prev := first.Members
	for _, u := range got {
		if u.Fresh {
			t.Fatalf("update %+v is fresh: a subscriber that followed all along gets changes", u)
		}
		prev = applyChanges(prev, u.Changes)
		if !slices.Equal(prev, u.Members) {
			t.Fatalf("changes %v give %v, want %v", u.Changes, prev, u.Members)
		}
	}
	if ids := events.IDs(prev); !slices.Equal(ids, []string{"b", "c"}) || got[len(got)-1].OwnOK {
		t.Errorf("after the resync: members %v, own key %v; want [b c], none", ids, got[len(got)-1].OwnOK)
	}
}

// A refusal ends the follower: every subscriber, and one that comes
// after, gets the error; once they have closed, a new subscriber starts a
// follower of its own.
func TestSubscribeRefused(t *testing.T) {
	sec := etcdtest.StartSecure(t)
	sec.AddUser(t, "norole", "pw")
	cli := sec.ClientAs(t, "norole", "pw")
	a := Subscribe(cli, "/refused/", "/refused/a", nil)
	u := nextUpdates(t, a, "the refusal")
	if len(u) != 1 || u[0].Err == nil {
		t.Fatalf("updates %+v, want one with the refusal", u)
	}
	b := Subscribe(cli, "/refused/", "/refused/b", nil)
	if u := nextUpdates(t, b, "the refusal, for a late subscriber"); u[0].Err == nil {
		t.Fatalf("late subscriber's updates %+v, want the refusal", u)
	}
	a.Close()
	b.Close()
	c := Subscribe(cli, "/refused/", "/refused/c", nil)
	if c.f == a.f {
		t.Error("a subscriber after the refusal joined the follower that ended")
	}
	if u := nextUpdates(t, c, "a new refusal"); u[0].Err == nil {
		t.Fatalf("updates %+v, want the refusal again", u)
	}
	c.Close()
}

// applyChanges keeps join order and never modifies the members it is given,
// over random changes checked against a sort of the whole group.
func TestApplyChanges(t *testing.T) {
	r := rand.New(rand.NewPCG(764, 1))
	for seq := range 300 {
		byID := map[string]events.Node{}
		var members []events.Node
		rev := int64(1)
		for step := range 30 {
			n := 1 + r.IntN(3)
			if r.IntN(5) == 0 {
				n = 10 + r.IntN(20) // a batch, as a watch catching up gives
			}
			now := cloneNodes(byID)
			for range n {
				rev++
				id := fmt.Sprintf("m%02d", r.IntN(40))
				switch r.IntN(3) {
				case 0:
					delete(now, id)
				default:
					n, ok := now[id]
					if !ok || r.IntN(4) == 0 {
						// A tie now and then: keys put in one transaction
						// share their CreateRevision.
						n = events.Node{ID: id, CreateRevision: rev - int64(r.IntN(2))}
					}
					n.Value = fmt.Sprint(rev)
					now[id] = n
				}
			}
			before := slices.Clone(members)
			got := applyChanges(members, diffByID(entries(byID), entries(now)))
			if !slices.Equal(members, before) {
				t.Fatalf("sequence %d, step %d: applyChanges modified the previous members", seq, step)
			}
			var want []events.Node
			for _, n := range now {
				want = append(want, n)
			}
			events.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("sequence %d, step %d:\n got %v\nwant %v", seq, step, got, want)
			}
			members, byID = got, now
		}
	}
}

func cloneNodes(m map[string]events.Node) map[string]events.Node {
	c := make(map[string]events.Node, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func entries(m map[string]events.Node) map[string]entry {
	e := make(map[string]entry, len(m))
	for id, n := range m {
		e[id] = entry{node: n, lease: 1}
	}
	return e
}
