package mastershiptest_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
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

// Record what two members of a group did, and check it: a hands over to b
// by closing, and each member's master work, reported as a span, ended
// before the next one's began.
func ExampleRecorder() {
	failure := asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t)
		cli := c.Client(t)
		rec := mastershiptest.NewRecorder()

		// member is a service's member: it works while it is master.
		member := func(id string) *selector.Selector {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := selector.New(ctx, cli.Client, "/jobs/report", id)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				for ev := range rec.Follow(s) { // s's events, recorded
					if ev.Type == events.InitMaster || ev.Type == events.ChangeToMaster {
						ctx, epoch := s.MasterContext(), ev.View.Epoch()
						go func() {
							defer rec.Begin(id, epoch)() // a span of master work
							<-ctx.Done()
						}()
					}
				}
			}()
			return s
		}
		a := member("a")
		rec.Wait(t, "a at work", 10*time.Second, func() bool { return rec.Working("a") })
		b := member("b")
		defer b.Close()

		a.Close() // b takes over at once
		rec.Wait(t, "b at work", 10*time.Second, func() bool { return rec.Working("b") })
		rec.Check(t)
		fmt.Println("a working:", rec.Working("a"), "b working:", rec.Working("b"))
	})
	if failure != "" {
		fmt.Println("failed:", failure)
	}
	// Output:
	// a working: false b working: true
}

// An election candidate reports its leadership as a span of master work:
// it begins in OnStartedLeading, under the candidate's epoch, and ends once
// the leader's work has stopped.
func ExampleRecorder_Begin() {
	failure := asTest(func(t testing.TB) {
		c := mastershiptest.NewCluster(t)
		rec := mastershiptest.NewRecorder()
		e, err := election.New(c.Client(t).Client, "/services/scheduler", election.WithValue("host-1"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			done <- e.Run(ctx, election.Callbacks{
				OnStartedLeading: func(ctx context.Context) {
					defer rec.Begin("host-1", e.Epoch())()
					<-ctx.Done() // the leader's work
				},
			})
		}()
		rec.Wait(t, "host-1 leading", 10*time.Second, func() bool { return rec.Working("host-1") })
		cancel() // Run ends, and the leadership with it
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
		rec.Check(t)
		fmt.Println("host-1 working after Run:", rec.Working("host-1"))
	})
	if failure != "" {
		fmt.Println("failed:", failure)
	}
	// Output:
	// host-1 working after Run: false
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
