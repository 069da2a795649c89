package selector

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// testTTL is the TTL of the members in these tests: etcd's minimum with its
// default election timeout.
const testTTL = 2 * time.Second

// waitTime bounds the wait for an event that should come promptly.
const waitTime = 10 * time.Second

// shared is a one-member etcd cluster shared by the tests that do not need
// one of their own. Each test works under its own prefix.
var shared *etcdtest.Cluster

func TestMain(m *testing.M) { etcdtest.MainShared(m, &shared) }

// prefixOf returns a group prefix of the test's own.
func prefixOf(t *testing.T) string {
	return "/" + strings.ReplaceAll(t.Name(), "/", "_")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// join registers a member with TTL testTTL (unless opts say otherwise) and
// value "v-<id>", and makes sure it is closed and its events drained before
// the test ends (and before its client is closed, if the client was made
// first).
func join(t *testing.T, cli *clientv3.Client, prefix, id string, opts ...Option) *Selector {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	all := append([]Option{WithTTL(testTTL), WithValue("v-" + id)}, opts...)
	s, err := New(ctx, cli, prefix, id, all...)
	if err != nil {
		t.Fatalf("New(%q): %v", id, err)
	}
	t.Cleanup(func() { shutdown(t, s) })
	return s
}

// shutdown closes s and returns the events that were left on its channel,
// which must close.
func shutdown(t *testing.T, s *Selector) []events.Event {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("%s: Close: %v", s.ID(), err)
	}
	return drain(t, s, waitTime)
}

// drain reads s's events until the channel closes.
func drain(t *testing.T, s *Selector, timeout time.Duration) []events.Event {
	t.Helper()
	if s.Events() == nil {
		return nil // made WithoutEvents
	}
	var got []events.Event
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				return got
			}
			got = append(got, ev)
		case <-timer.C:
			t.Errorf("%s: events channel not closed %v after Close; read %v", s.ID(), timeout, got)
			return got
		}
	}
}

// next returns s's next event, failing the test if none comes in time or
// the channel closes.
func next(t *testing.T, s *Selector, timeout time.Duration) events.Event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case ev, ok := <-s.Events():
		if !ok {
			t.Fatalf("%s: events channel closed while waiting for an event", s.ID())
		}
		return ev
	case <-timer.C:
		t.Fatalf("%s: no event within %v", s.ID(), timeout)
	}
	panic("unreachable")
}

// waitFor skips events until one of type typ, which it returns with the
// events it skipped.
func waitFor(t *testing.T, s *Selector, typ events.Type, timeout time.Duration) (events.Event, []events.Event) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var skipped []events.Event
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("%s: no %v within %v; skipped %v", s.ID(), typ, timeout, skipped)
		}
		timer := time.NewTimer(left)
		select {
		case ev, ok := <-s.Events():
			timer.Stop()
			if !ok {
				t.Fatalf("%s: events channel closed while waiting for %v; skipped %v", s.ID(), typ, skipped)
			}
			if ev.Type == typ {
				return ev, skipped
			}
			skipped = append(skipped, ev)
		case <-timer.C:
			t.Fatalf("%s: no %v within %v; skipped %v", s.ID(), typ, timeout, skipped)
		}
	}
}

// expect reads s's next event and checks its type and the ids of its nodes.
func expect(t *testing.T, s *Selector, typ events.Type, nodes ...string) events.Event {
	t.Helper()
	return expectWithin(t, s, waitTime, typ, nodes...)
}

func expectWithin(t *testing.T, s *Selector, timeout time.Duration, typ events.Type, nodes ...string) events.Event {
	t.Helper()
	ev := next(t, s, timeout)
	if ev.Type != typ || !slices.Equal(ids(ev.Nodes), nodes) {
		t.Fatalf("%s: got %v, want %v %v", s.ID(), ev, typ, nodes)
	}
	if ev.Time.IsZero() {
		t.Errorf("%s: %v has no Time", s.ID(), ev)
	}
	if typ == events.Offline {
		if len(ev.View.Members) != 0 || ev.View.Epoch() != 0 {
			t.Errorf("%s: OFFLINE carries view %+v, want the zero view", s.ID(), ev.View)
		}
	} else if ev.View.Self != s.ID() {
		t.Errorf("%s: %v: view's Self is %q", s.ID(), ev, ev.View.Self)
	}
	return ev
}

// checkView checks the members of an event's view, in order.
func checkView(t *testing.T, ev events.Event, members ...string) {
	t.Helper()
	if got := ev.View.IDs(); !slices.Equal(got, members) {
		t.Fatalf("%s: %v: view %v, want %v", ev.View.Self, ev, got, members)
	}
}

func ids(nodes []events.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

// stamp records when a context was cancelled.
type stamp struct {
	ctx  context.Context
	done chan struct{}
	at   time.Time // set before done is closed
}

// whenDone records the moment ctx is cancelled.
func whenDone(ctx context.Context) *stamp {
	st := &stamp{ctx: ctx, done: make(chan struct{})}
	context.AfterFunc(ctx, func() {
		st.at = time.Now()
		close(st.done)
	})
	return st
}

// wait returns the moment the context was cancelled, failing the test if it
// is not within timeout.
func (st *stamp) wait(t *testing.T, what string, timeout time.Duration) time.Time {
	t.Helper()
	select {
	case <-st.done:
		return st.at
	case <-time.After(timeout):
		t.Fatalf("%s not cancelled within %v", what, timeout)
	}
	panic("unreachable")
}

// cancelled reports whether the context was cancelled already.
func (st *stamp) cancelled() bool { return st.ctx.Err() != nil }

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s: not within %v", what, timeout)
		}
	}
}

// newProxy starts a proxy to member m.
func newProxy(t *testing.T, m *etcdtest.Member) *etcdtest.Proxy {
	t.Helper()
	return m.NewProxy(t)
}

// newClient returns a client whose closing the test controls (to simulate a
// crash); it is closed at the end of the test in any case.
func newClient(t *testing.T, endpoints ...string) *clientv3.Client {
	t.Helper()
	cli, err := etcdtest.NewClient(endpoints...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// keyOf reads a member's key.
func keyOf(t *testing.T, cli *clientv3.Client, key string) (createRev int64, lease clientv3.LeaseID, ok bool) {
	t.Helper()
	resp, err := cli.Get(ctxFor(t, waitTime), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, 0, false
	}
	return resp.Kvs[0].CreateRevision, clientv3.LeaseID(resp.Kvs[0].Lease), true
}

// leaseOf returns the lease of s's current registration.
func leaseOf(s *Selector) clientv3.LeaseID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reg.lease.ID
}
