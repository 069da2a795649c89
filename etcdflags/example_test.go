package etcdflags_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/selector"
)

// A program registers the etcd flags on its FlagSet, parses its arguments
// and asks for a client. A bad flag fails at once, with one line naming it,
// before anything is dialled: here an endpoint without its port, which
// clientv3 would otherwise retry as if etcd were down.
func Example() {
	fs := flag.NewFlagSet("myprog", flag.ContinueOnError)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	if err := fs.Parse([]string{"--endpoints", "10.0.0.1:2379,10.0.0.2"}); err != nil {
		fmt.Println(err)
		return
	}
	cli, err := etcd.Client()
	if err != nil {
		fmt.Println("myprog:", err)
		return
	}
	defer cli.Close()
	if w := etcd.Warning(); w != "" {
		fmt.Fprintln(os.Stderr, "myprog: warning:", w)
	}
	// ... use cli

	// Output:
	// myprog: --endpoints: "10.0.0.2" has no port (want host:port, [IPv6]:port, http(s)://host:port or unix(s)://path)
}

// The member flags are checked as selector.New and selector.WithTTL would
// check them, but with errors that name the flag.
func ExampleMember_Check() {
	fs := flag.NewFlagSet("myprog", flag.ContinueOnError)
	m := etcdflags.RegisterMember(fs, "this process's name", slog.LevelInfo)
	if err := fs.Parse([]string{"--prefix", "/services/db", "--id", "db-1", "--ttl", "2h"}); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Check())
	// Output:
	// --ttl 2h0m0s: must be a whole number of seconds, from 1s to 1h0m0s (a crashed master stays master for the TTL)
}

// A whole program that joins a group as one member, with the flags of this
// package: it needs an etcd, so this example is compiled but not run.
func Example_member() {
	fs := flag.NewFlagSet("myprog", flag.ExitOnError)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	m := etcdflags.RegisterMember(fs, "this process's name", slog.LevelWarn)
	fs.Parse(os.Args[1:])
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "myprog:", err)
		os.Exit(1)
	}
	if err := m.Check(); err != nil {
		fail(err)
	}
	cli, err := etcd.Client()
	if err != nil {
		fail(err)
	}
	defer cli.Close()
	if w := etcd.Warning(); w != "" {
		fmt.Fprintln(os.Stderr, "myprog: warning:", w)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: m.LogLevel}))
	var s *selector.Selector
	err = etcdflags.Join(ctx, etcd.Endpoints(), etcdflags.JoinWait(10*time.Second, m.TTL), func(ctx context.Context) (err error) {
		s, err = selector.New(ctx, cli, m.Prefix, m.ID, selector.WithTTL(m.TTL), selector.WithLogger(log))
		return err
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "myprog:", err)
		if ctx.Err() != nil {
			return // interrupted before joining: an operator's stop
		}
		os.Exit(1)
	}
	go func() {
		<-ctx.Done()
		s.Close() // revokes the lease; Events closes after Offline
	}()
	for ev := range s.Events() {
		fmt.Println(ev) // act on the event
	}
	if err := s.Err(); err != nil {
		fail(fmt.Errorf("etcd refused this member, which has ended: %w", err))
	}
}

// A program's own requests to etcd are retried until they pass, but not
// when etcd refuses the user: that would fail the same way for ever.
func ExampleRefused() {
	fs := flag.NewFlagSet("myprog", flag.ExitOnError)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	fs.Parse(os.Args[1:])
	cli, err := etcd.Client()
	if err != nil {
		fmt.Fprintln(os.Stderr, "myprog:", err)
		os.Exit(1)
	}
	defer cli.Close()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, "/myprog/state", "ready")
		cancel()
		if err == nil {
			break
		}
		if etcdflags.Refused(cli, err) {
			fmt.Fprintln(os.Stderr, "myprog: etcd refused the user:", err)
			os.Exit(1)
		}
		time.Sleep(time.Second) // unreachable, no leader, ...: try again
	}
}
