// Command demo shows mastership at work: three members join a group, the
// master stops and a slave takes over at once, then the new master crashes
// and the last member takes over when the crashed one's lease expires.
//
//	go run ./examples/demo                      # starts its own etcd
//	go run ./examples/demo --endpoints 127.0.0.1:2379
//	go run ./examples/demo --endpoints https://etcd:2379 --cacert ca.pem --user demo --password-file pw
//
// The etcd flags (--endpoints, --cacert, --cert, --key, --user,
// --password-file, or $ETCD_PASSWORD) are those of every example; the user
// needs readwrite permission on the range of --prefix, and nothing else.
//
// With no flags it starts an embedded etcd in a temporary directory, so it
// needs nothing installed. It exits 0 when the story is told, within a
// minute, and 1 with a one-line error otherwise (a bad flag included).
// -h or --help prints the usage and every flag on standard output and
// exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/internal/help"
	"github.com/seed764c596d/mastership/localetcd"
	"github.com/seed764c596d/mastership/selector"
)

// limit bounds the whole demo.
const limit = time.Minute

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	// The etcd flags of every example, TLS and user included; an empty
	// --endpoints starts an embedded etcd.
	etcd := etcdflags.Register(fs, "")
	prefix := fs.String("prefix", "", "the group's prefix (default: a new one each run, /mastership-demo/<unix nanoseconds>)")
	ttl := fs.Duration("ttl", 2*time.Second, "lease TTL of the members, whole seconds, from 1s to 1h")
	if asked, err := help.Handle(fs, args, out, usage); asked || err != nil {
		return err
	}
	if *prefix == "" {
		*prefix = fmt.Sprintf("/mastership-demo/%d", time.Now().UnixNano())
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
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()

	var cfg clientv3.Config
	if embedded {
		fmt.Fprintln(out, "Starting an embedded etcd (no --endpoints given)...")
		c, err := localetcd.Start(ctx, localetcd.Config{})
		if err != nil {
			return err
		}
		defer c.Close()
		cfg = clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	} else {
		var err error
		if cfg, err = etcd.Config(); err != nil {
			return err
		}
		if w := etcd.Warning(); w != "" {
			fmt.Fprintf(os.Stderr, "demo: warning: %s\n", w)
		}
	}
	eps := cfg.Endpoints
	fmt.Fprintf(out, "etcd at %s, group %s, TTL %v\n\n", strings.Join(eps, ","), *prefix, *ttl)

	d := &demo{out: out, start: time.Now(), evc: make(chan tagged, 64)}
	defer d.closeAll()
	for _, id := range []string{"a", "b", "c"} {
		if err := d.join(ctx, cfg, *prefix, id, *ttl); err != nil {
			return err
		}
	}
	if _, err := d.await(ctx, "c", events.InitSlave); err != nil {
		return err
	}
	if _, err := d.await(ctx, "a", events.SlaveAdd, "c"); err != nil {
		return err
	}

	d.say("a is master. Stopping it: Close revokes its lease, so b takes over at once.")
	stopped := time.Now()
	if err := d.members["a"].sel.Close(); err != nil {
		return fmt.Errorf("close a: %w", err)
	}
	ev, err := d.await(ctx, "b", events.ChangeToMaster)
	if err != nil {
		return err
	}
	if _, err := d.await(ctx, "c", events.SlaveDel); err != nil {
		return err
	}
	d.say(fmt.Sprintf("b became master %v after a stopped.", ev.Time.Sub(stopped).Round(time.Microsecond)))

	d.say("Now b crashes: its etcd client dies without revoking its lease.")
	d.say("b's own safe deadline ends its mastership; c takes over when etcd expires b's lease, after the TTL.")
	crashed := time.Now()
	d.members["b"].cli.Close()
	ev, err = d.await(ctx, "c", events.ChangeToMaster)
	if err != nil {
		return err
	}
	off, err := d.await(ctx, "b", events.Offline)
	if err != nil {
		return err
	}
	d.say(fmt.Sprintf("b went OFFLINE %v after the crash; c became master %v after it (epoch %d).",
		off.Time.Sub(crashed).Round(time.Millisecond), ev.Time.Sub(crashed).Round(time.Millisecond), ev.View.Epoch()))
	d.say("Done.")
	return nil
}

type member struct {
	cli *clientv3.Client
	sel *selector.Selector
}

type tagged struct {
	id string
	ev events.Event
}

type demo struct {
	out     io.Writer
	start   time.Time
	members map[string]*member
	evc     chan tagged
	seen    []tagged // every event read so far
	mark    int      // await looks at seen[mark:] and later events
	forward []chan struct{}
}

func (d *demo) join(ctx context.Context, cfg clientv3.Config, prefix, id string, ttl time.Duration) error {
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(ttl), selector.WithValue(id+".example:7000"))
	if err != nil {
		cli.Close()
		return fmt.Errorf("member %s: %w", id, err)
	}
	if d.members == nil {
		d.members = map[string]*member{}
	}
	d.members[id] = &member{cli: cli, sel: s}
	done := make(chan struct{})
	d.forward = append(d.forward, done)
	go func() {
		defer close(done)
		for ev := range s.Events() {
			d.evc <- tagged{id, ev}
		}
	}()
	return nil
}

// await returns the first event since the last mark that member id emitted
// with type typ (and whose nodes include want, if given), printing events as
// they come.
func (d *demo) await(ctx context.Context, id string, typ events.Type, want ...string) (events.Event, error) {
	match := func(t tagged) bool {
		return t.id == id && t.ev.Type == typ && hasAll(t.ev.Nodes, want)
	}
	for _, t := range d.seen[d.mark:] {
		if match(t) {
			return t.ev, nil
		}
	}
	for {
		select {
		case t := <-d.evc:
			d.print(t)
			d.seen = append(d.seen, t)
			if match(t) {
				return t.ev, nil
			}
		case <-ctx.Done():
			return events.Event{}, fmt.Errorf("waiting for %s from %s: %w", typ, id, ctx.Err())
		}
	}
}

// say prints a line of the story and sets the mark: await looks only at
// events after it.
func (d *demo) say(s string) {
	fmt.Fprintf(d.out, "%8s  -- %s\n", since(d.start, time.Now()), s)
	d.mark = len(d.seen)
}

func hasAll(nodes []events.Node, ids []string) bool {
	for _, id := range ids {
		found := false
		for _, n := range nodes {
			found = found || n.ID == id
		}
		if !found {
			return false
		}
	}
	return true
}

func (d *demo) print(t tagged) {
	ev := t.ev
	line := fmt.Sprintf("%8s  %s  %-16s nodes=%v", since(d.start, ev.Time), t.id, ev.Type, events.IDs(ev.Nodes))
	if ev.Type != events.Offline {
		line += fmt.Sprintf("  master=%s members=%v epoch=%d", ev.View.Master().ID, ev.View.IDs(), ev.View.Epoch())
	}
	fmt.Fprintln(d.out, line)
}

func since(start, t time.Time) string {
	return fmt.Sprintf("+%.3fs", t.Sub(start).Seconds())
}

// closeAll closes every member and client, printing the last events.
func (d *demo) closeAll() {
	for _, m := range d.members {
		m.sel.Close()
	}
	go func() {
		for _, done := range d.forward {
			<-done
		}
		close(d.evc)
	}()
	for t := range d.evc {
		d.print(t)
	}
	for _, m := range d.members {
		m.cli.Close()
	}
}
