package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
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

// TestIsolate: an isolated member loses its leader while the other two go
// on, and serves again once it rejoins.
func TestIsolate(t *testing.T) {
	c := StartCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lead := c.Leader()
	if lead < 0 {
		t.Fatal("no leader")
	}
	i := (lead + 1) % 3
	iso := Client(t, c.Members[i].ClientURL)
	other := Client(t, c.Members[lead].ClientURL)
	if _, err := iso.Put(ctx, "k", "1"); err != nil {
		t.Fatal(err)
	}
	c.Members[i].Isolate()
	// A linearizable read on the isolated member fails once it has lost
	// its leader (its own election timeout, a second by default).
	failed := false
	for !failed && ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(clientv3.WithRequireLeader(ctx), 500*time.Millisecond)
		_, err := iso.Get(rctx, "k")
		rcancel()
		failed = err != nil
	}
	if !failed {
		t.Fatal("the isolated member kept serving linearizable reads")
	}
	if _, err := other.Put(ctx, "k", "2"); err != nil {
		t.Fatalf("the majority stopped serving: %v", err)
	}
	c.Members[i].Rejoin()
	if err := WaitReady(ctx, iso); err != nil {
		t.Fatal(err)
	}
	resp, err := iso.Get(ctx, "k")
	if err != nil || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("after rejoining: %v %v, want k=2", resp, err)
	}
}
