package selector

import (
	"errors"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

// guardedPut writes key=val in a transaction guarded by g.
func guardedPut(t *testing.T, cli *clientv3.Client, g clientv3.Cmp, key, val string) bool {
	t.Helper()
	resp, err := cli.Txn(ctxFor(t, waitTime)).If(g).Then(clientv3.OpPut(key, val)).Commit()
	if err != nil {
		t.Fatalf("guarded txn: %v", err)
	}
	return resp.Succeeded
}

func TestGuard(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	data := prefix + "-data/x"

	a, b, c := startABC(t, cli, prefix)
	if _, err := b.Guard(); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Guard on a slave: %v, want ErrNotMaster", err)
	}

	// Yield moves the mastership: a's guard stops working, b's works.
	ga, err := a.Guard()
	if err != nil {
		t.Fatalf("a.Guard: %v", err)
	}
	if !guardedPut(t, cli, ga, data, "a1") {
		t.Fatalf("a's guarded txn failed while a is master")
	}
	if err := a.Yield(ctxFor(t, waitTime)); err != nil {
		t.Fatalf("a.Yield: %v", err)
	}
	if _, err := a.Guard(); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Guard after Yield: %v, want ErrNotMaster", err)
	}
	if guardedPut(t, cli, ga, data, "a2") {
		t.Errorf("a's guarded txn succeeded after a yielded")
	}
	waitFor(t, b, events.ChangeToMaster, waitTime)
	gb, err := b.Guard()
	if err != nil {
		t.Fatalf("b.Guard after CHANGE_TO_MASTER: %v", err)
	}
	if !guardedPut(t, cli, gb, data, "b1") {
		t.Fatalf("b's guarded txn failed while b is master")
	}
	epochB := b.Epoch()

	// Close moves it again, with a larger epoch: b's guard stops working.
	waitFor(t, c, events.SlaveAdd, waitTime) // a is back, behind c
	shutdown(t, b)
	if guardedPut(t, cli, gb, data, "b2") {
		t.Errorf("b's guarded txn succeeded after b closed")
	}
	if _, err := b.Guard(); !errors.Is(err, ErrNotMaster) {
		t.Errorf("Guard after Close: %v, want ErrNotMaster", err)
	}
	waitFor(t, c, events.ChangeToMaster, waitTime)
	if e := c.Epoch(); e <= epochB {
		t.Errorf("epoch after the failover from b to c: %d, want above b's %d", e, epochB)
	}
	gc, err := c.Guard()
	if err != nil {
		t.Fatalf("c.Guard: %v", err)
	}
	if !guardedPut(t, cli, gc, data, "c1") {
		t.Errorf("c's guarded txn failed while c is master")
	}
	resp, err := cli.Get(ctxFor(t, waitTime), data)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "c1" {
		t.Errorf("guarded key: %v, %v; want c1", resp, err)
	}
}

// The epoch only grows across failovers, including a crash.
func TestEpochGrowsAcrossCrash(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)

	acli := newClient(t, shared.Endpoints()...)
	a := join(t, acli, prefix, "a")
	expect(t, a, events.InitMaster)
	b := join(t, cli, prefix, "b")
	expect(t, b, events.InitSlave, "a")
	expect(t, a, events.SlaveAdd, "b")
	epochA := b.Epoch()
	if epochA != a.Epoch() || epochA == 0 {
		t.Fatalf("epochs: a %d, b %d", a.Epoch(), epochA)
	}
	ga, err := a.Guard()
	if err != nil {
		t.Fatal(err)
	}
	acli.Close()
	ev := expectWithin(t, b, 3*testTTL, events.ChangeToMaster)
	if ev.View.Epoch() <= epochA || b.Epoch() != ev.View.Epoch() {
		t.Errorf("epoch after the crash: event %d, Epoch() %d; want above %d", ev.View.Epoch(), b.Epoch(), epochA)
	}
	if guardedPut(t, cli, ga, prefix+"-data", "stale") {
		t.Errorf("the crashed master's guard still holds after the failover")
	}
	expectWithin(t, a, time.Second, events.Offline)
}
