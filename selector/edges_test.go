package selector

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

// freezer stops a member's run loop in a hook, as a frozen process stops,
// and lets it go again.
type freezer struct {
	mu     sync.Mutex
	armed  bool
	frozen chan struct{} // closed when the loop is stopped
	thaw   chan struct{}
}

func newFreezer() *freezer {
	return &freezer{frozen: make(chan struct{}), thaw: make(chan struct{})}
}

// arm makes the next call of hook stop until thaw.
func (f *freezer) arm() {
	f.mu.Lock()
	f.armed = true
	f.mu.Unlock()
}

func (f *freezer) hook() {
	f.mu.Lock()
	armed := f.armed
	f.armed = false
	f.mu.Unlock()
	if armed {
		close(f.frozen)
		<-f.thaw
	}
}

// A member whose run loop stops with a watch response in hand (a frozen
// process) past its safe deadline wakes to a view that makes it master. It
// must emit nothing from that view: its first event is OFFLINE, and no
// event is stamped after its deadline but OFFLINE.
func TestWakePastDeadlineOfflineFirst(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	f := newFreezer()
	p := newProxy(t, shared.Members[0])
	b := join(t, p.Client(t), prefix, "b", withHooks(hooks{update: f.hook}))
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	b.mu.Lock()
	bLease := b.reg.lease
	b.mu.Unlock()

	// b stops with the view in hand in which a has left and b is master.
	f.arm()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.frozen:
	case <-time.After(waitTime):
		t.Fatal("b's run loop did not reach the hook")
	}
	// Its keep-alives stop too (held, as a real partition holds them), and
	// its deadline passes while it is frozen.
	p.Hold()
	select {
	case <-bLease.Done():
	case <-time.After(2 * testTTL):
		t.Fatal("b's lease did not end at its deadline")
	}
	deadline := bLease.Deadline()
	close(f.thaw)

	ev := next(t, b, waitTime)
	if ev.Type != events.Offline {
		t.Fatalf("b's first event after waking past its deadline: %v at %v after the deadline; want OFFLINE",
			ev, ev.Time.Sub(deadline))
	}
	if b.IsMaster() {
		t.Fatal("b master after waking past its deadline")
	}
	p.Release()
	// b comes back: by taking back its registration if etcd still has its
	// lease, or anew; master either way, since a left.
	back := expectWithin(t, b, 3*waitTime, events.InitMaster)
	t.Logf("b: OFFLINE %v after its deadline, INIT_MASTER (epoch %d) %v after it", ev.Time.Sub(deadline), back.View.Epoch(), back.Time.Sub(deadline))
}

// A frozen master's MasterContext and IsMaster end at its deadline by the
// clock, whatever its run loop is doing.
func TestMasterContextEndsAtDeadlineWhileFrozen(t *testing.T) {
	t.Parallel()
	f := newFreezer()
	p := newProxy(t, shared.Members[0])
	prefix := prefixOf(t)
	a := join(t, p.Client(t), prefix, "a", withHooks(hooks{update: f.hook}))
	expect(t, a, events.InitMaster)
	mctx := whenDone(a.MasterContext())
	a.mu.Lock()
	l := a.reg.lease
	a.mu.Unlock()

	f.arm()
	join(t, shared.Client(t), prefix, "b")
	<-f.frozen
	p.Hold()
	end := mctx.wait(t, "a's MasterContext", 2*testTTL)
	if late := end.Sub(l.Deadline()); late < 0 || late > 100*time.Millisecond {
		t.Errorf("a's mastership ended %v after its safe deadline", late)
	}
	if a.IsMaster() || a.State() != Offline {
		t.Errorf("frozen a past its deadline: IsMaster %v, State %v", a.IsMaster(), a.State())
	}
	if _, err := a.Guard(); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Guard past the deadline: %v, want ErrNotMaster", err)
	}
	close(f.thaw)
	if ev := next(t, a, waitTime); ev.Type != events.Offline {
		t.Errorf("a's first event after waking: %v, want OFFLINE", ev)
	}
	p.Release()
}

// Close while changes under the prefix pour in: exactly one OFFLINE, last,
// and nothing from a view that arrived while closing.
func TestCloseDuringBurst(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	ctx := ctxFor(t, time.Minute)
	l, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	for trial := range 30 {
		a := join(t, cli, prefix, "a")
		expect(t, a, events.InitMaster)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Foreign members come and go, each before a in line or
				// not: a put, then its delete.
				key := fmt.Sprintf("%s/x%d", prefix, i%4)
				if _, err := cli.Put(ctx, key, "x", clientv3.WithLease(l.ID)); err != nil {
					return
				}
				if _, err := cli.Delete(ctx, key); err != nil {
					return
				}
			}
		}()
		time.Sleep(time.Duration(trial%5) * 10 * time.Millisecond) // vary the moment of Close within the burst
		evs := shutdown(t, a)
		close(stop)
		<-done
		offline := 0
		for i, ev := range evs {
			if ev.Type == events.Offline {
				offline++
				if i != len(evs)-1 {
					t.Fatalf("trial %d: OFFLINE not last: %v", trial, evs)
				}
			}
			if ev.Type.IsRole() && ev.Type != events.InitMaster {
				t.Fatalf("trial %d: %v during a burst of foreign keys behind a", trial, ev)
			}
			if ev.Type == events.InitMaster {
				t.Fatalf("trial %d: a second INIT_MASTER while closing: %v", trial, evs)
			}
		}
		if offline != 1 {
			t.Fatalf("trial %d: %d OFFLINE events on Close, want 1: %v", trial, offline, evs)
		}
	}
}

// A key put under the prefix without a lease (an operator's etcdctl put)
// before any member joins is no member: the first member is master, and
// the others see it as master.
func TestStrayKeyBeforeJoin(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/config", `{"x":1}`); err != nil {
		t.Fatal(err)
	}
	a := join(t, cli, prefix, "a")
	ev := expect(t, a, events.InitMaster)
	checkView(t, ev, "a")
	b := join(t, cli, prefix, "b")
	ev = expect(t, b, events.InitSlave, "a")
	checkView(t, ev, "a", "b")
	// A stray key written later is no member either.
	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/late", "x"); err != nil {
		t.Fatal(err)
	}
	expect(t, a, events.SlaveAdd, "b")
	c := join(t, cli, prefix, "c")
	checkView(t, expect(t, c, events.InitSlave, "a"), "a", "b", "c")
}

// Another writer's plain put on a member's own key detaches it from the
// member's lease: the member has lost its registration, exactly when the
// others drop it from their views; the key, which would never expire, is
// nobody's, and a comes back once it is deleted.
func TestOwnKeyDetached(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	a := join(t, cli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	aMaster := whenDone(a.MasterContext())
	a.mu.Lock()
	reg := a.reg
	a.mu.Unlock()

	if _, err := cli.Put(ctxFor(t, waitTime), prefix+"/a", "overwritten"); err != nil {
		t.Fatal(err)
	}
	off := expect(t, a, events.Offline)
	took := expect(t, b, events.ChangeToMaster)
	checkView(t, took, "b")
	// Like a delete by hand, this is no lost keep-alive: a and b learn of
	// it from the same watch, and no deadline orders them. Only Guard and
	// the epoch keep their writes apart; the overlap is measured.
	end := aMaster.wait(t, "a's MasterContext", waitTime)
	t.Logf("a's mastership ended %v after b's CHANGE_TO_MASTER; a OFFLINE %v after it", end.Sub(took.Time), off.Time.Sub(took.Time))
	if _, err := a.Guard(); !errors.Is(err, ErrNotMaster) {
		t.Errorf("a's Guard after its key was detached: %v, want ErrNotMaster", err)
	}
	if cause := context.Cause(reg.ctx); !errors.Is(cause, ErrKeyDetached) {
		t.Errorf("a's registration ended with %v, want ErrKeyDetached", cause)
	}
	// a cannot register while a key without a lease holds its id; once the
	// operator deletes it, a comes back behind b.
	if _, err := cli.Delete(ctxFor(t, waitTime), prefix+"/a"); err != nil {
		t.Fatal(err)
	}
	expectWithin(t, a, 3*waitTime, events.InitSlave, "b")
}

// Yield whose successor leaves between the view and the delete changes
// nothing: ErrNoSuccessor, the member stays master under the same epoch,
// with a live MasterContext, and emits nothing.
func TestYieldSuccessorLeaves(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	var leave func()
	a := join(t, cli, prefix, "a", withHooks(hooks{yield: func() { leave() }}))
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	bLease := leaseOf(b)
	leave = func() {
		if _, err := cli.Revoke(ctxFor(t, waitTime), bLease); err != nil {
			t.Errorf("revoke b's lease: %v", err)
		}
	}
	epoch := a.Epoch()
	err := a.Yield(ctxFor(t, waitTime))
	if !errors.Is(err, ErrNoSuccessor) {
		t.Fatalf("Yield whose successor left: %v, want ErrNoSuccessor", err)
	}
	if !a.IsMaster() || a.Epoch() != epoch {
		t.Errorf("after the failed Yield: IsMaster %v, epoch %d (was %d)", a.IsMaster(), a.Epoch(), epoch)
	}
	// a's next event is b's departure, nothing before it.
	ev := next(t, a, waitTime)
	if ev.Type != events.SlaveDel || ev.View.Epoch() != epoch {
		t.Errorf("a's next event: %v (epoch %d), want SLAVE_DEL [b] under epoch %d", ev, ev.View.Epoch(), epoch)
	}
	if rev, _, ok := keyOf(t, cli, prefix+"/a"); !ok || rev != epoch {
		t.Errorf("a's key after the failed Yield: present %v, CreateRevision %d, want %d", ok, rev, epoch)
	}
	expectWithin(t, b, 2*testTTL, events.Offline)
}
