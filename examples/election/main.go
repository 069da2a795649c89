// Command election is the master/slave failover of etcd's election
// recipe, done with the election package, as a service: each process
// campaigns and serves HTTP; the leader serves the work, the others answer
// 503 naming the leader, and one of them takes over when the leader dies.
//
// One candidate per process, against your etcd (run several):
//
//	go run ./examples/election --endpoints 127.0.0.1:2379 --name n1 --listen 127.0.0.1:8081
//
// Each candidate serves, on --listen (default 127.0.0.1:0, a free port; the
// address bound is printed):
//
//   - GET /work: on the leader, 200 and one JSON line with its name, URL and
//     epoch and the number of the request in this leadership; elsewhere 503,
//     naming the leader and the URL it advertises (its election value), or
//     saying that there is no leader, or none known (no live session with
//     etcd). Whether it leads is read at each request: a leader past its safe
//     deadline answers 503 at once.
//   - /healthz: package health in mode MasterOnly, 200 on the leader alone.
//   - /metrics: package metrics' candidate metrics, and the /work answers
//     counted by code.
//
// --advertise is the URL the others give clients for this candidate;
// default http:// and the address bound, which --listen must then name.
//
// The etcd flags (--endpoints, --cacert, --cert, --key, --user,
// --password-file, or $ETCD_PASSWORD) are those of every example; the user
// needs readwrite permission on the range of --prefix, and nothing else.
// A refusal by etcd (a missing permission, a wrong password) ends the
// candidate with one line on standard error and exit code 1, as does a bad
// flag or a --listen address that cannot be bound. SIGTERM or SIGINT makes
// it leave the election (a follower takes over at once), stop its server and
// exit 0. -h or --help prints the usage and every flag on standard output
// and exits 0.
//
// Or, with no --endpoints, a self-contained run: an embedded etcd, three
// candidates in this process, each with its HTTP server, the leader's
// connection to etcd dies, and the output shows who takes over and when,
// and what their /work answers.
//
//	go run ./examples/election
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

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
	listenAddr := fs.String("listen", "127.0.0.1:0", "address of this candidate's HTTP server, host:port (port 0: a free one); the self-contained run serves its three candidates on this port and the next two")
	advertise := fs.String("advertise", "", "URL that followers give clients for this candidate, its election value with --name (default: http:// and the address listened on; with --endpoints only)")
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
		if *advertise != "" {
			return errors.New("--advertise: needs --endpoints (the self-contained run advertises the addresses it listens on)")
		}
		host, port, err := demoAddr(*listenAddr)
		if err != nil {
			return err
		}
		return selfContained(ctx, p, *prefix, *ttl, host, port)
	}
	if *name == "" {
		return errors.New("--name is required with --endpoints")
	}
	if err := checkListen(*listenAddr); err != nil {
		return err
	}
	if *advertise != "" {
		if err := checkURL(*advertise); err != nil {
			return err
		}
	}
	cli, err := etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	if w := etcd.Warning(); w != "" {
		fmt.Fprintf(os.Stderr, "election: warning: %s\n", w)
	}
	ln, url, err := listen(*listenAddr, *advertise)
	if err != nil {
		return err
	}
	c, err := newCandidate(cli, p, *prefix, *name, url, *ttl)
	if err != nil {
		ln.Close()
		return err
	}
	p.say(*name, "listening on %s, advertising %s", ln.Addr(), url)
	return process(ctx, c, ln)
}

// process runs one candidate and its HTTP server until ctx ends (a signal)
// or the candidate ends on its own (etcd refused it): the server answers
// until the candidate has left the election, then shuts down.
func process(ctx context.Context, c *candidate, ln net.Listener) error {
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(sctx, ln, c.handler) }()
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- c.run(rctx, nil, nil) }()
	var err error
	select {
	case err = <-ran:
		stop()
		if serr := <-served; err == nil {
			err = serr
		}
	case err = <-served:
		// The server failed: leave the election, which hands over at
		// once, rather than lead without serving.
		cancel()
		<-ran
		stop()
	}
	c.p.say(c.name, "stopped")
	return err
}

// demoAddr splits --listen for the self-contained run.
func demoAddr(addr string) (host string, port int, err error) {
	host, ps, err := net.SplitHostPort(addr)
	if err == nil {
		port, err = strconv.Atoi(ps)
	}
	if err != nil || port < 0 || port > 65535-2 {
		return "", 0, fmt.Errorf("--listen %s: want host:port, such as 127.0.0.1:8080, with a port that leaves room for two more (or 0)", addr)
	}
	return host, port, nil
}

func newClient(eps []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   eps,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
}

// selfContained runs three candidates against an embedded etcd, each with
// its HTTP server on host, and kills the leader's connection to show the
// failover, as its /work answers show it too.
func selfContained(ctx context.Context, p *printer, prefix string, ttl time.Duration, host string, port int) error {
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
	cands := map[string]*candidate{}
	defer func() {
		cancel()
		wg.Wait()
		for _, cli := range clients {
			cli.Close()
		}
	}()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i, name := range []string{"n1", "n2", "n3"} {
		cli, err := newClient(c.Endpoints())
		if err != nil {
			return err
		}
		clients[name] = cli
		addr := net.JoinHostPort(host, "0")
		if port != 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(port+i))
		}
		ln, url, err := listen(addr, "")
		if err != nil {
			return err
		}
		cand, err := newCandidate(cli, p, prefix, name, url, ttl)
		if err != nil {
			ln.Close()
			return err
		}
		cands[name] = cand
		p.say(name, "listening on %s", ln.Addr())
		wg.Go(func() { serve(ctx, ln, cand.handler) })
		wg.Go(func() { cand.run(ctx, led, follows) })
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
		if err := cand.registered(ctx); err != nil {
			return err
		}
	}
	for _, name := range []string{"n1", "n2", "n3"} {
		code, a, err := get(ctx, hc, cands[name].url+"/work")
		if err != nil {
			return err
		}
		p.say("-", "GET %s's /work: %d %s", name, code, a.summary())
	}
	died := time.Now()
	p.say("-", "n1 dies: its connection to etcd is gone, and its lease is not revoked")
	clients["n1"].Close()
	// Ask n1 and n2 for work until n2 serves it, noting when n1 stopped.
	var n1Stopped, n2Served time.Time
	var next string
	for next == "" || n2Served.IsZero() {
		select {
		case next = <-led:
		case <-ctx.Done():
			return errors.New("no candidate took over within a minute")
		case <-time.After(10 * time.Millisecond):
		}
		if n1Stopped.IsZero() {
			if code, a, err := get(ctx, hc, cands["n1"].url+"/work"); err == nil && code != http.StatusOK {
				n1Stopped = time.Now()
				p.say("-", "GET n1's /work: %d %s", code, a.summary())
			}
		}
		if n2Served.IsZero() {
			if code, a, err := get(ctx, hc, cands["n2"].url+"/work"); err == nil && code == http.StatusOK {
				n2Served = time.Now()
				p.say("-", "GET n2's /work: %d %s", code, a.summary())
			}
		}
	}
	p.say("-", "%s took over %v after n1 died (TTL %v)", next, time.Since(died).Round(time.Millisecond), ttl)
	// What the demo saw, not what it hopes: n1 had stopped serving before
	// n2 served only if its 503 came first.
	switch {
	case n1Stopped.IsZero():
		p.say("-", "n1's /work never answered 503 before n2's answered 200")
	case n1Stopped.Before(n2Served):
		p.say("-", "n1 stopped serving on its own safe deadline: its /work answered 503 %v before n2's answered 200", n2Served.Sub(n1Stopped).Round(time.Millisecond))
	default:
		p.say("-", "n1's /work answered 503 only %v after n2's answered 200", n1Stopped.Sub(n2Served).Round(time.Millisecond))
	}
	// n3 names n2 once its watch has seen it take over.
	for {
		code, a, err := get(ctx, hc, cands["n3"].url+"/work")
		if err != nil {
			return err
		}
		if a.Leader != nil && a.Leader.Name == next {
			p.say("-", "GET n3's /work: %d %s", code, a.summary())
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("n3 did not name %s within a minute: %w", next, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// get asks for u and decodes the answer.
func get(ctx context.Context, hc *http.Client, u string) (int, answer, error) {
	var a answer
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, a, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, a, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a, err
}

// summary says what a /work answer says, in a few words.
func (a answer) summary() string {
	switch {
	case a.Error == "" && a.Leader != nil:
		return fmt.Sprintf("%s serves request %d of epoch %d", a.Self, a.Count, a.Leader.Epoch)
	case a.Leader != nil && a.Leader.Name != "":
		return fmt.Sprintf("%s: %s; the leader is %s at %s (epoch %d)", a.Self, a.Error, a.Leader.Name, a.Leader.URL, a.Leader.Epoch)
	default:
		return fmt.Sprintf("%s: %s", a.Self, a.Error)
	}
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
