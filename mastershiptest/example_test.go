package mastershiptest_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
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

// A service that runs as processes of its own is tested with a fault
// proxy for each process to dial, and, for a secure cluster, the files of
// its TLS flags. A test would start the process with the flags, as
// exec.Command(bin, args...) does; here, to stay runnable, the process's
// own flag parsing (package etcdflags) runs in the test.
func ExampleMember_Proxy() {
	asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
		c.AddPrefixUser(t, "svc", "secret", "/svc")
		p := c.Members[0].Proxy(t) // one per process: its faults are its own
		files := c.TLSFiles(t)
		pwFile := filepath.Join(t.TempDir(), "password")
		if err := os.WriteFile(pwFile, []byte("secret"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := []string{
			"--endpoints", p.URL,
			"--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile,
			"--user", "svc", "--password-file", pwFile,
		}

		// What the process does with its flags.
		fs := flag.NewFlagSet("svc", flag.ContinueOnError)
		ef := etcdflags.Register(fs, "")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cli, err := ef.Client()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()

		// Cut the process off for less than its TTL, then let it go on.
		p.Hold()
		done := make(chan error)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := cli.Put(ctx, "/svc/state", "running")
			done <- err
		}()
		// ... here, check what the rest of the service does meanwhile ...
		p.Release()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		fmt.Println("the process wrote /svc/state through its proxy")
	})
	// Output:
	// the process wrote /svc/state through its proxy
}
