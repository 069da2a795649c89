package mastershiptest_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// A test starts a real etcd in one line, and gets a client of it behind a
// fault proxy. In a test, t is the test's *testing.T; here, asTest runs
// the body as package testing would.
func ExampleNewCluster() {
	asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t) // stopped when t ends
		cli := c.Client(t)                // closed when t ends, before c

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := cli.Put(ctx, "/greeting", "hello"); err != nil {
			t.Fatal(err)
		}
		resp, err := cli.Get(ctx, "/greeting")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("%s = %s\n", resp.Kvs[0].Key, resp.Kvs[0].Value)
	})
	// Output:
	// /greeting = hello
}

// Hold a client's traffic as a short partition does: its calls wait, and
// complete once released, since nothing was lost. Cut, for cuts longer than
// the TTL, would lose them.
func ExampleClient_Hold() {
	asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t)
		cli := c.Client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		cli.Hold()
		done := make(chan error)
		go func() {
			_, err := cli.Put(ctx, "/k", "written")
			done <- err
		}()
		// ... here, check what the code behind cli does while cut off ...
		cli.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		fmt.Println("the held Put completed after Release")
	})
	// Output:
	// the held Put completed after Release
}

// Revoke the lease of the key a member holds, as if its session had
// expired: etcd deletes the key, and the group sees the member go.
func ExampleCluster_RevokeLeaseOf() {
	asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t)
		cli := c.Client(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		lease, err := cli.Grant(ctx, 60)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Put(ctx, "/members/a", "a", clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
		c.RevokeLeaseOf(t, "/members/a")
		resp, err := cli.Get(ctx, "/members/a")
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("keys left:", resp.Count)
	})
	// Output:
	// keys left: 0
}
