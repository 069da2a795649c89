package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// testTTL is the session TTL of the candidates in these tests: etcd's
// minimum with its default election timeout.
const testTTL = 2 * time.Second

// waitTime bounds the wait for something that should come promptly.
const waitTime = 10 * time.Second

// healTime bounds the wait for a client cut off by a proxy to work again
// after the proxy heals: gRPC's keep-alive may take about 11s to replace a
// dead connection.
const healTime = 25 * time.Second

// shared is a one-member etcd cluster shared by the tests that do not need
// one of their own. Each test works under its own prefix.
var shared *etcdtest.Cluster

func TestMain(m *testing.M) { etcdtest.MainShared(m, &shared) }

// prefixOf returns an election prefix of the test's own.
func prefixOf(t *testing.T) string {
	return "/election-test/" + strings.ReplaceAll(t.Name(), "/", "_")
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// What a recorded event is.
type kind string

const (
	started   kind = "started"    // OnStartedLeading
	ctxDone   kind = "ctx-done"   // the context given to OnStartedLeading was cancelled
	stopped   kind = "stopped"    // OnStoppedLeading
	newLeader kind = "new-leader" // OnNewLeader
	logged    kind = "log"        // a log record
	returned  kind = "returned"   // Run returned
)

// event is one callback (or log record) of one candidate, with the time it
// was recorded.
type event struct {
	seq  int
	who  string
	kind kind
	at   time.Time

	leader Leader // newLeader: the leader reported
	ctx    context.Context
	// stopped: whether the context of the leadership that ended was
	// cancelled when OnStoppedLeading was called.
	ctxCancelled bool
	msg          string         // logged
	attrs        map[string]any // logged
	err          error          // returned
}

func (ev event) String() string {
	at := ev.at.Format("15:04:05.000000")
	switch ev.kind {
	case newLeader:
		return fmt.Sprintf("#%d %s %s %s(%q, epoch %d)", ev.seq, at, ev.who, ev.kind, ev.leader.Value, ev.leader.Epoch)
	case logged:
		return fmt.Sprintf("#%d %s %s log %q %v", ev.seq, at, ev.who, ev.msg, ev.attrs)
	}
	return fmt.Sprintf("#%d %s %s %s", ev.seq, at, ev.who, ev.kind)
}

// recorder collects the events of the candidates of one test. Callbacks
// never block on it; the test waits for events with deadlines.
type recorder struct {
	mu      sync.Mutex
	events  []event
	changed chan struct{}              // closed and replaced on each event
	lead    map[string]context.Context // who -> context of its latest leadership
}

func newRecorder() *recorder {
	return &recorder{changed: make(chan struct{}), lead: map[string]context.Context{}}
}

func (r *recorder) add(ev event) {
	if ev.at.IsZero() {
		ev.at = time.Now()
	}
	r.mu.Lock()
	ev.seq = len(r.events)
	r.events = append(r.events, ev)
	close(r.changed)
	r.changed = make(chan struct{})
	r.mu.Unlock()
}

// callbacks returns callbacks that record what happens to candidate who.
func (r *recorder) callbacks(who string) Callbacks {
	return Callbacks{
		OnStartedLeading: func(ctx context.Context) {
			at := time.Now()
			r.mu.Lock()
			r.lead[who] = ctx
			r.mu.Unlock()
			r.add(event{who: who, kind: started, at: at, ctx: ctx})
			context.AfterFunc(ctx, func() { r.add(event{who: who, kind: ctxDone}) })
		},
		OnStoppedLeading: func() {
			at := time.Now()
			r.mu.Lock()
			ctx := r.lead[who]
			r.mu.Unlock()
			r.add(event{who: who, kind: stopped, at: at, ctxCancelled: ctx != nil && ctx.Err() != nil})
		},
		OnNewLeader: func(l Leader) {
			r.add(event{who: who, kind: newLeader, leader: l})
		},
	}
}

// mark returns the sequence number the next event will have.
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

// find returns the events from seq from on that match.
func (r *recorder) find(from int, match func(event) bool) []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []event
	for _, ev := range r.events[min(from, len(r.events)):] {
		if match(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// dump returns all events, one a line, for failure messages.
func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, ev := range r.events {
		if ev.kind == logged && ev.msg != "campaign ended" && ev.msg != "leader key deleted from outside" {
			continue
		}
		fmt.Fprintf(&b, "\n\t%v", ev)
	}
	return b.String()
}

// waitFor returns the first event from seq from on that matches, waiting at
// most timeout for it.
func (r *recorder) waitFor(t *testing.T, from int, timeout time.Duration, what string, match func(event) bool) event {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		for _, ev := range r.events[min(from, len(r.events)):] {
			if match(ev) {
				r.mu.Unlock()
				return ev
			}
		}
		from = len(r.events)
		changed := r.changed
		r.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("no %s within %v; events:%s", what, timeout, r.dump())
		}
	}
}

// is matches the events of one kind of one candidate.
func is(who string, k kind) func(event) bool {
	return func(ev event) bool { return ev.who == who && ev.kind == k }
}

// reports matches the OnNewLeader events of who that report the candidate
// campaigning with value (or no leader, for value "").
func reports(who, value string) func(event) bool {
	return func(ev event) bool {
		return ev.who == who && ev.kind == newLeader && ev.leader.Value == value && ev.leader.IsZero() == (value == "")
	}
}

// logs matches the log records of who with the given message.
func logs(who, msg string) func(event) bool {
	return func(ev event) bool { return ev.who == who && ev.kind == logged && ev.msg == msg }
}

// recHandler is a slog handler that records every record as an event.
type recHandler struct {
	r     *recorder
	who   string
	attrs []slog.Attr
}

func (h recHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h recHandler) Handle(_ context.Context, rec slog.Record) error {
	attrs := map[string]any{}
	for _, a := range h.attrs {
		attrs[a.Key] = a.Value.Any()
	}
	rec.Attrs(func(a slog.Attr) bool {
		attrs[a.Key] = a.Value.Any()
		return true
	})
	h.r.add(event{who: h.who, kind: logged, at: rec.Time, msg: rec.Message, attrs: attrs})
	return nil
}

func (h recHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recHandler{r: h.r, who: h.who, attrs: append(slices.Clip(h.attrs), as...)}
}

func (h recHandler) WithGroup(string) slog.Handler { return h }

func (r *recorder) logger(who string) *slog.Logger { return slog.New(recHandler{r: r, who: who}) }

// cand is a candidate whose Run is going on.
type cand struct {
	*Election
	name string
	stop func() // cancels Run and waits for it; idempotent
}

// start creates a candidate with TTL testTTL, value name and a recording
// logger (opts come after these), and runs it until the test ends or stop
// is called. Create the candidate's client before it, so that the client is
// closed after Run has returned.
func start(t *testing.T, r *recorder, cli *clientv3.Client, prefix, name string, opts ...Option) *cand {
	t.Helper()
	all := append([]Option{WithTTL(testTTL), WithValue(name), WithLogger(r.logger(name))}, opts...)
	e, err := New(cli, prefix, all...)
	if err != nil {
		t.Fatalf("New(%s): %v", name, err)
	}
	return runCand(t, r, e, name)
}

// runCand runs e with the callbacks of r until the test ends or stop.
func runCand(t *testing.T, r *recorder, e *Election, name string) *cand {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := e.Run(ctx, r.callbacks(name))
		r.add(event{who: name, kind: returned, err: err})
		done <- err
	}()
	var once sync.Once
	c := &cand{Election: e, name: name}
	c.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("%s: Run returned %v, want nil", name, err)
				}
			case <-time.After(healTime):
				t.Errorf("%s: Run did not return within %v of its context's cancel", name, healTime)
			}
		})
	}
	t.Cleanup(c.stop)
	return c
}

// keys returns the candidates' keys under prefix, oldest first, and the
// revision read.
func keys(t *testing.T, cli *clientv3.Client, prefix string) ([]*mvccpb.KeyValue, int64) {
	t.Helper()
	resp, err := cli.Get(ctxFor(t, waitTime), prefix+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		t.Fatalf("read %s: %v", prefix, err)
	}
	return resp.Kvs, resp.Header.Revision
}

// waitKey returns the first key under prefix that matches, either there
// now or put later, waiting at most timeout.
func waitKey(t *testing.T, cli *clientv3.Client, prefix string, timeout time.Duration, what string, match func(*mvccpb.KeyValue) bool) *mvccpb.KeyValue {
	t.Helper()
	kv := findKey(t, cli, prefix, timeout, match)
	if kv == nil {
		t.Fatalf("no key for %s under %s within %v", what, prefix, timeout)
	}
	return kv
}

// findKey is waitKey that returns nil when no key matches in time.
func findKey(t *testing.T, cli *clientv3.Client, prefix string, timeout time.Duration, match func(*mvccpb.KeyValue) bool) *mvccpb.KeyValue {
	t.Helper()
	kvs, rev := keys(t, cli, prefix)
	for _, kv := range kvs {
		if match(kv) {
			return kv
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for wr := range cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("watch %s: %v", prefix, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.PUT && match(ev.Kv) {
				return ev.Kv
			}
		}
	}
	return nil
}

// waitGone waits, at most timeout, until key is deleted, and returns when
// etcd deleted it. kv is the key as read at revision rev.
func waitGone(t *testing.T, cli *clientv3.Client, key string, rev int64, timeout time.Duration) time.Time {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for wr := range cli.Watch(ctx, key, clientv3.WithRev(rev+1)) {
		if err := wr.Err(); err != nil {
			t.Fatalf("watch %s: %v", key, err)
		}
		for _, ev := range wr.Events {
			if ev.Type == mvccpb.DELETE {
				return time.Now()
			}
		}
	}
	t.Fatalf("key %s not deleted within %v", key, timeout)
	panic("unreachable")
}

// valued matches the key of the candidate campaigning with value v.
func valued(v string) func(*mvccpb.KeyValue) bool {
	return func(kv *mvccpb.KeyValue) bool { return string(kv.Value) == v }
}

// checkLeader checks that the leader etcd names, as `etcdctl elect -l`
// reads it (Get(prefix+"/", WithFirstCreate())), is what Leader returns for
// each of es, and that it campaigns with value want ("" for no leader). It
// returns that leader.
func checkLeader(t *testing.T, cli *clientv3.Client, prefix, want string, es ...*cand) Leader {
	t.Helper()
	ctx := ctxFor(t, waitTime)
	resp, err := cli.Get(ctx, prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		t.Fatalf("etcdctl-style leader read: %v", err)
	}
	var wantL Leader
	if len(resp.Kvs) > 0 {
		kv := resp.Kvs[0]
		k := string(kv.Key)
		wantL = Leader{Key: k, ID: k[strings.LastIndex(k, "/")+1:], Value: string(kv.Value), Epoch: kv.CreateRevision}
	}
	if wantL.Value != want || wantL.IsZero() != (want == "") {
		t.Fatalf("etcd names leader %+v, want the candidate with value %q", wantL, want)
	}
	for _, e := range es {
		got, err := e.Leader(ctx)
		switch {
		case wantL.IsZero():
			if !errors.Is(err, ErrNoLeader) {
				t.Errorf("%s: Leader() = %+v, %v; want ErrNoLeader as etcd has none", e.name, got, err)
			}
		case err != nil:
			t.Errorf("%s: Leader(): %v; etcd names %+v", e.name, err, wantL)
		case got != wantL:
			t.Errorf("%s: Leader() = %+v, etcd names %+v", e.name, got, wantL)
		}
	}
	return wantL
}

// checkRoles checks that exactly lead (nil: none) of es reports itself
// leader, with IsLeader, Epoch and Guard, and that its epoch is that of
// leader l.
func checkRoles(t *testing.T, l Leader, lead *cand, es ...*cand) {
	t.Helper()
	for _, e := range es {
		isLead, epoch := e.IsLeader(), e.Epoch()
		_, gerr := e.Guard()
		if e == lead {
			if !isLead || epoch != l.Epoch || gerr != nil {
				t.Errorf("%s (leader): IsLeader %v, Epoch %d, Guard error %v; want true, %d, nil", e.name, isLead, epoch, gerr, l.Epoch)
			}
		} else if isLead || epoch != 0 || !errors.Is(gerr, ErrNotLeader) {
			t.Errorf("%s (not leader): IsLeader %v, Epoch %d, Guard error %v; want false, 0, ErrNotLeader", e.name, isLead, epoch, gerr)
		}
	}
}

// observe starts Observe on e until the test ends, and returns a function
// that returns the next leader it delivers, failing the test if none comes
// within timeout or the channel closes.
func observe(t *testing.T, e *Election) func(timeout time.Duration) Leader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := e.Observe(ctx)
	t.Cleanup(func() {
		cancel()
		timer := time.NewTimer(waitTime)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			case <-timer.C:
				t.Errorf("Observe channel not closed within %v of its context's cancel", waitTime)
				return
			}
		}
	})
	return func(timeout time.Duration) Leader {
		t.Helper()
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatal("Observe channel closed while its context lives")
			}
			return l
		case <-timer.C:
			t.Fatalf("Observe delivered nothing within %v", timeout)
		}
		panic("unreachable")
	}
}

// newProxy starts a proxy to member m, and reads its error channel so that
// the proxy never blocks on reporting (it has room for 16 errors only).
func newProxy(t *testing.T, m *etcdtest.Member) *etcdtest.Proxy {
	t.Helper()
	p := m.NewProxy(t)
	go func() {
		for {
			select {
			case <-p.Error():
			case <-p.Done():
				return
			}
		}
	}()
	return p
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

// leaseHex is a lease id as it appears in a concurrency.Election key.
func leaseHex(id int64) string { return fmt.Sprintf("%x", id) }

// stamp formats a time for messages.
func stamp(at time.Time) string { return at.Format("15:04:05.000000") }
