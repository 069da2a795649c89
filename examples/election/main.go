// Command election is the master/slave failover of etcd's election
// recipe, done with the election package: each process campaigns, the
// leader serves, the others wait, and one of them takes over when the
// leader dies.
//
// One candidate per process, against your etcd (run several):
//
//	go run ./examples/election --endpoints 127.0.0.1:2379 --name n1
//
// The etcd flags (--endpoints, --cacert, --cert, --key, --user,
// --password-file, or $ETCD_PASSWORD) are those of every example; the user
// needs readwrite permission on the range of --prefix, and nothing else.
// A refusal by etcd (a missing permission, a wrong password) ends the
// candidate with one line on standard error and exit code 1, as does a bad
// flag. -h or --help prints the usage and every flag on standard output
// and exits 0.
//
// Or, with no --endpoints, a self-contained run: an embedded etcd, three
// candidates in this process, the leader's connection to etcd dies, and the
// output shows who takes over and when.
//
//	go run ./examples/election
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/examples/internal/help"
	"github.com/seed764c596d/mastership/localetcd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(1)
	}
}

// message is the line main prints for err: the program's name, then the
// error, whose own "election: " (the election package's errors start with
// it) is not said twice.
func message(err error) string {
	return "election: " + strings.TrimPrefix(err.Error(), "election: ")
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("election", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The etcd flags of every example, TLS and user included; an empty
	// --endpoints runs the self-contained failover.
	etcd := etcdflags.Register(fs, "")
	prefix := fs.String("prefix", "/mastership-election-example", "the election's prefix")
	name := fs.String("name", "", "this candidate's name (with --endpoints; required there)")
	ttl := fs.Duration("ttl", 2*time.Second, "session TTL, whole seconds, from 1s to 1h")
	if asked, err := help.Handle(fs, args, out, usage); asked || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := etcdflags.CheckTTL(*ttl); err != nil {
		return err
	}
	embedded, err := etcd.Embedded()
	if err != nil {
		return err
	}
	p := &printer{out: out, start: time.Now()}
	if embedded {
		if *name != "" {
			return errors.New("--name: needs --endpoints (the self-contained run names its own candidates)")
		}
		return selfContained(ctx, p, *prefix, *ttl)
	}
	if *name == "" {
		return errors.New("--name is required with --endpoints")
	}
	cli, err := etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	if w := etcd.Warning(); w != "" {
		fmt.Fprintf(os.Stderr, "election: warning: %s\n", w)
	}
	return candidate(ctx, p, cli, *prefix, *name, *ttl, nil, nil)
}

func newClient(eps []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// candidate campaigns until ctx ends; as leader it serves, as follower it
// waits. led and follows, if not nil, receive the candidate's name each time
// it starts leading, and each time it sees another leader.
func candidate(ctx context.Context, p *printer, cli *clientv3.Client, prefix, name string, ttl time.Duration, led, follows chan<- string) error {
	e, err := election.New(cli, prefix, election.WithValue(name), election.WithTTL(ttl))
	if err != nil {
		return err
	}
	return e.Run(ctx, election.Callbacks{
		OnStartedLeading: func(ctx context.Context) {
			p.say(name, "leading (epoch %d): serving", e.Epoch())
			if led != nil {
				led <- name
			}
			serve(ctx, p, name)
		},
		OnStoppedLeading: func() { p.say(name, "stopped leading") },
		OnNewLeader: func(l election.Leader) {
			if l.IsZero() {
				p.say(name, "sees no leader")
				return
			}
			if l.Value != name {
				p.say(name, "follows %s, waiting to take over", l.Value)
				if follows != nil {
					follows <- name
				}
			}
		},
	})
}

// serve stands for the leader's work: it runs exactly as long as the
// leadership, since ctx ends with it.
func serve(ctx context.Context, p *printer, name string) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			p.say(name, "leadership over: stops serving after %d requests", n-1)
			return
		case <-t.C:
		}
	}
}

// selfContained runs three candidates against an embedded etcd and kills
// the leader's connection to show the failover.
func selfContained(ctx context.Context, p *printer, prefix string, ttl time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := localetcd.Start(ctx, localetcd.Config{})
	if err != nil {
		return err
	}
	defer c.Close()
	p.say("-", "embedded etcd at %s; candidates n1, n2, n3 with TTL %v", c.Endpoints()[0], ttl)

	led, follows := make(chan string, 10), make(chan string, 10)
	var wg sync.WaitGroup
	clients := map[string]*clientv3.Client{}
	defer func() {
		cancel()
		wg.Wait()
		for _, cli := range clients {
			cli.Close()
		}
	}()
	for _, name := range []string{"n1", "n2", "n3"} {
		cli, err := newClient(c.Endpoints())
		if err != nil {
			return err
		}
		clients[name] = cli
		wg.Go(func() { candidate(ctx, p, cli, prefix, name, ttl, led, follows) })
		// One at a time, so that they queue up in order: n1 leads, n2 is
		// next in line.
		ch := follows
		if name == "n1" {
			ch = led
		}
		if err := await(ctx, ch, name); err != nil {
			return err
		}
		if err := awaitKeys(ctx, cli, prefix, len(clients)); err != nil {
			return err
		}
	}
	died := time.Now()
	p.say("-", "n1 dies: its connection to etcd is gone, and its lease is not revoked")
	clients["n1"].Close()
	var next string
	select {
	case next = <-led:
	case <-ctx.Done():
		return errors.New("no candidate took over within a minute")
	}
	p.say("-", "%s took over %v after n1 died (TTL %v); n1 had stopped on its own safe deadline, before etcd expired its lease", next, time.Since(died).Round(time.Millisecond), ttl)
	return nil
}

// awaitKeys waits until n candidates have their keys under prefix.
func awaitKeys(ctx context.Context, cli *clientv3.Client, prefix string, n int) error {
	for {
		resp, err := cli.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count >= int64(n) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d candidates campaigning, want %d: %w", resp.Count, n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// await waits for name on ch.
func await(ctx context.Context, ch <-chan string, name string) error {
	select {
	case got := <-ch:
		if got != name {
			return fmt.Errorf("heard from %s, want %s", got, name)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no word from %s: %w", name, ctx.Err())
	}
}

type printer struct {
	mu    sync.Mutex
	out   io.Writer
	start time.Time
}

func (p *printer) say(who, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%8s  %-2s  %s\n", fmt.Sprintf("+%.3fs", time.Since(p.start).Seconds()), who, fmt.Sprintf(format, args...))
}
