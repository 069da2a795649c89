package etcdtest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStartAndProxy(t *testing.T) {
	c := Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	p := c.Members[0].NewProxy(t)
	pc := p.Client(t)
	resp, err := pc.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("through proxy: got %v, want k=v", resp.Kvs)
	}
	p.Blackhole()
	bctx, bcancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = pc.Get(bctx, "k")
	bcancel()
	if err == nil {
		t.Fatal("read through a blackholed proxy succeeded")
	}
	p.Heal()
	if err := WaitReady(ctx, pc); err != nil {
		t.Fatalf("after heal: %v", err)
	}
}

func TestThreeMembers(t *testing.T) {
	c := StartCluster(t, 3)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	resp, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Members) != 3 {
		t.Fatalf("got %d members, want 3", len(resp.Members))
	}
}
