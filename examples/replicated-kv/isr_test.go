package main

import (
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A record of the in-sync set is written only over the revision it was
// built on. An etcd request can take effect after its client gave up on it
// (a proposal forwarded late by a follower): such a stale record, naming a
// slave that has since missed an acknowledged write, must not land over the
// newer one, or the next master could be that slave.
func TestStaleISRRecordDoesNotLand(t *testing.T) {
	c := newCluster(t)
	a := c.start("a", nil)
	waitServing(t, a)
	var failing failSwitch
	b := c.start("b", func(cfg *config) { cfg.syncHook = failing.hook })
	c.waitISR(a, b)
	tm := a.current()
	tm.mu.Lock()
	built := tm.isrRev // the revision a record built now would rest on
	tm.mu.Unlock()
	guard, err := a.sel.Guard()
	if err != nil {
		t.Fatal(err)
	}
	stale := isr{Epoch: tm.epoch, Master: a.id, Members: append([]string(nil), c.isr().Members...)}

	// b misses a write, which is acknowledged once the set without b is
	// recorded.
	failing.on.Store(true)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 1)
	if got := c.isr(); got.has(b.id) {
		t.Fatalf("write acknowledged while b is in the in-sync set %v", got.Members)
	}

	// The record built before lands late: it must fail, not put b back.
	ours := clientv3.Compare(clientv3.CreateRevision(a.sel.Key()), "=", tm.epoch)
	_, err = writeISR(ctxFor(t, 5*time.Second), c.cli, c.prefix, []clientv3.Cmp{guard, ours}, built, stale)
	if err == nil {
		t.Fatal("a record built on an older revision of the in-sync set was written")
	}
	if got := c.isr(); got.has(b.id) {
		t.Fatalf("in-sync set %v names b, which missed an acknowledged write", got.Members)
	}
	// The term itself goes on: b is caught up and recorded again.
	failing.on.Store(false)
	c.waitISR(a, b)
	putN(t, kv, 1, 2)
}

// A write of the in-sync set whose answer is lost may have been applied.
// The master must not take its own last record for what etcd holds: with b
// recorded in etcd by such a write, a write that b misses is acknowledged
// only once a set without b is recorded.
func TestLostISRAnswer(t *testing.T) {
	c := newCluster(t)
	var (
		mu   sync.Mutex
		lose bool
	)
	a := c.start("a", func(cfg *config) {
		cfg.isrHook = func() error {
			mu.Lock()
			defer mu.Unlock()
			if lose {
				lose = false
				return errors.New("test: etcd's answer lost")
			}
			return nil
		}
	})
	waitServing(t, a)
	c.waitISR(a)
	kv, _ := direct(t, a)
	putN(t, kv, 0, 1)

	var failing failSwitch
	mu.Lock()
	lose = true // the record that adds b is applied, but a sees a failure
	mu.Unlock()
	b := c.start("b", func(cfg *config) { cfg.syncHook = failing.hook })
	c.waitISR(a, b)
	mu.Lock()
	lost := !lose
	mu.Unlock()
	if !lost {
		t.Fatal("the record naming b was not written through the hook")
	}

	failing.on.Store(true)
	putN(t, kv, 1, 2)
	if got := c.isr(); got.has(b.id) {
		t.Fatalf("write acknowledged while the in-sync set %v names b, which missed it", got.Members)
	}
	if _, ok, _ := b.st.get("key-1"); ok {
		t.Fatal("b applied the write it was made to miss")
	}
}
