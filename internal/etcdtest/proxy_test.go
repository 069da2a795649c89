package etcdtest

import (
	"context"
	"testing"
	"time"
)

// TestProxyHold: a Get through a held proxy neither completes nor fails
// while the proxy holds; after Release it completes on the same
// connection, with the value, because nothing was dropped.
func TestProxyHold(t *testing.T) {
	c := Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	p := c.Members[0].NewProxy(t)
	pc := p.Client(t)
	if err := WaitReady(ctx, pc); err != nil {
		t.Fatal(err)
	}

	p.Hold()
	p.Hold() // a second Hold must not strand what the first holds
	if !p.Held() {
		t.Fatal("Held() false after Hold")
	}
	type result struct {
		val string
		err error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := pc.Get(ctx, "k")
		if err != nil {
			done <- result{err: err}
			return
		}
		if len(resp.Kvs) != 1 {
			done <- result{val: "<none>"}
			return
		}
		done <- result{val: string(resp.Kvs[0].Value)}
	}()
	const heldFor = 1500 * time.Millisecond
	select {
	case res := <-done:
		t.Fatalf("Get through a held proxy returned %q, %v; want it to block", res.val, res.err)
	case <-time.After(heldFor):
	}
	// A write that bypasses the proxy meanwhile: the held Get was sent
	// before it, but etcd sees the request only at Release, so it reads
	// the new value.
	if _, err := cli.Put(ctx, "k", "v2"); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	p.Release()
	p.Release() // a second Release does nothing
	if p.Held() {
		t.Fatal("Held() true after Release")
	}
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("Get after Release: %v; a hold drops nothing, so the call must complete", res.err)
		}
		if res.val != "v2" {
			t.Fatalf("Get after Release read %q, want v2 (etcd must see the held request only at Release)", res.val)
		}
		t.Logf("Get completed %v after Release", time.Since(released))
	case <-time.After(5 * time.Second):
		t.Fatal("Get still blocked 5s after Release")
	}

	// Hold and Release again: the proxy is reusable.
	p.Hold()
	hctx, hcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := pc.Get(hctx, "k")
	hcancel()
	if err == nil {
		t.Fatal("Get through a held proxy succeeded the second time")
	}
	p.Release()
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	defer rcancel()
	if _, err := pc.Get(rctx, "k"); err != nil {
		t.Fatalf("Get after the second Release: %v", err)
	}
}
