// Command peer-membership is one node of a group whose every node keeps the
// same member list, with no multicast: the list lives in etcd, each member's
// key attached to its own lease, and each node follows it through the
// events of its own selector member, whose views carry the whole group.
// It is modelled on Apache Tomcat's Tribes membership service.
//
// The node prints its table on standard output each time it changes, and
// reads metadata updates from standard input, one "key=value" per line (an
// empty value deletes the key). Its record carries what a Tomcat Tribes
// member carries: host, ports, domain, a unique id drawn at start, its
// start time (for the alive time) and a payload. SIGTERM or SIGINT leaves
// gracefully: the node marks its record as leaving ("shutdown"), then
// revokes its lease, so that the others report "left (shutdown)" rather
// than "expired (crash or cut off)". It runs no server.
//
// Usage:
//
//	peer-membership --prefix /tribes/cluster-1 --id node-1 [--host 10.0.0.1 --port 4000 --secure-port 4443 --udp-port 4001 --domain d1 --payload TEXT] [--meta zone=eu] [--ttl 5s] [etcd flags]
//
// A bad flag or an unreachable etcd prints one line on standard error and
// exits non-zero (2 for a bad flag). So does etcd refusing the member while
// it runs (its user's permission on the prefix revoked, its password
// changed): the member has ended, and the program exits 1 rather than wait,
// silent, for a signal. -h or --help prints the usage and every flag on
// standard output and exits 0.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
)

// startWait bounds how long the node waits for etcd at start-up, on top of
// twice its TTL (the longest wait for a crashed holder of its id).
var startWait = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = "usage: peer-membership --prefix PREFIX --id ID [--host HOST] [--port N] [--secure-port N] [--udp-port N] [--domain NAME] [--payload TEXT] [--meta k=v]... [--ttl 5s] [--log-level WARN] [--endpoints HOST:PORT,...] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]"

type metaFlag map[string]string

func (m metaFlag) String() string { return metaString(m) }
func (m metaFlag) Set(s string) error {
	k, v, err := parseMeta(s)
	if err != nil {
		return err
	}
	m[k] = v
	return nil
}

type config struct {
	etcd     *etcdflags.Flags
	prefix   string
	id       string
	info     Info
	meta     metaFlag
	ttl      time.Duration
	logLevel slog.Level
}

func parse(args []string) (config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("peer-membership", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c := config{etcd: etcdflags.Register(fs, "127.0.0.1:2379"), meta: metaFlag{}}
	m := etcdflags.RegisterMember(fs, "this node's id", slog.LevelWarn)
	fs.StringVar(&c.info.Host, "host", "", "the host this node publishes, where it receives data, as Tribes' member host (default: the machine's host name)")
	fs.IntVar(&c.info.Port, "port", 0, "the TCP port this node publishes (0: none)")
	fs.IntVar(&c.info.SecurePort, "secure-port", 0, "the TLS port this node publishes (0: none)")
	fs.IntVar(&c.info.UDPPort, "udp-port", 0, "the UDP port this node publishes (0: none)")
	fs.StringVar(&c.info.Domain, "domain", "", "the domain this node publishes, a label grouping members (all are listed)")
	payload := fs.String("payload", "", "opaque data this node publishes (Tribes' member payload)")
	fs.Var(c.meta, "meta", "metadata key=value; repeat for more")
	if err := etcdflags.Parse(fs, args); err != nil {
		return c, fs, err
	}
	if fs.NArg() > 0 {
		return c, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, f := range []struct {
		name string
		port int
	}{{"--port", c.info.Port}, {"--secure-port", c.info.SecurePort}, {"--udp-port", c.info.UDPPort}} {
		if f.port < 0 || f.port > 65535 {
			return c, fs, fmt.Errorf("%s: %d is not a port (0 to 65535)", f.name, f.port)
		}
	}
	if c.info.Host == "" {
		c.info.Host, _ = os.Hostname() // left empty should the system not say
	}
	if *payload != "" {
		c.info.Payload = []byte(*payload)
	}
	c.info.Meta = c.meta
	if err := m.Check(); err != nil {
		return c, fs, err
	}
	c.prefix, c.id, c.ttl, c.logLevel = m.Prefix, m.ID, m.TTL, m.LogLevel
	if _, err := c.etcd.Config(); err != nil {
		return c, fs, err
	}
	return c, fs, nil
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, fs, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(stdout, fs, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "peer-membership: %v\n", err)
		return 2
	}
	if w := c.etcd.Warning(); w != "" {
		fmt.Fprintf(stderr, "peer-membership: warning: %s\n", w)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	cli, err := c.etcd.Client()
	if err != nil {
		fmt.Fprintf(stderr, "peer-membership: %v\n", err)
		return 1
	}
	defer cli.Close()

	var p *Peer
	err = etcdflags.Join(ctx, c.etcd.Endpoints(), etcdflags.JoinWait(startWait, c.ttl), func(ctx context.Context) (err error) {
		p, err = Start(ctx, cli, c.prefix, c.id, c.info, c.ttl, log)
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "peer-membership: join %s as %q: %v\n", c.prefix, c.id, err)
		return 1
	}
	changes := p.Table().Listen()
	printed := make(chan struct{})
	go func() {
		defer close(printed)
		for ch := range changes {
			printTable(stdout, p.ID(), ch)
		}
	}()
	// readMeta stops, after the line it is applying, when run returns.
	mctx, stopMeta := context.WithCancel(ctx)
	defer stopMeta()
	go readMeta(mctx, p, stdin, log)

	select {
	case <-ctx.Done():
	case <-p.Done():
		// The member ended by itself: etcd refused it. Its last events
		// have reached the table, whose listener closes once printed;
		// Leave writes no marker, and only closes the member.
	}
	lctx, cancel := context.WithTimeout(context.Background(), c.ttl)
	defer cancel()
	leaveErr := p.Leave(lctx)
	<-printed
	if err := p.Err(); err != nil {
		// etcd refused the member while it ran (its permission taken
		// away, its password changed): it has ended by itself.
		fmt.Fprintf(stderr, "peer-membership: etcd refused this member, which has ended: %v\n", err)
		return 1
	}
	if leaveErr != nil {
		log.Warn("leave", "err", leaveErr)
	}
	return 0
}

// readMeta applies "key=value" lines from r until it ends or ctx does.
func readMeta(ctx context.Context, p *Peer, r io.Reader, log *slog.Logger) {
	sc := bufio.NewScanner(r)
	for sc.Scan() && ctx.Err() == nil {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		k, v, err := parseMeta(line)
		if err != nil {
			log.Warn("ignored input line", "err", err)
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := p.SetMeta(wctx, map[string]string{k: v}); err != nil {
			log.Warn("metadata update", "err", err)
		}
		cancel()
	}
}

// printTable prints the table after one change, in one Write.
func printTable(w io.Writer, self string, ch Change) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s at revision %d; %d members:\n", self, ch, ch.Revision, len(ch.Table))
	now := time.Now()
	for _, m := range ch.Table {
		mark := " "
		if m.ID == self {
			mark = "*"
		}
		state := "up"
		if m.Leaving != "" {
			state = "leaving (" + m.Leaving + ")"
		}
		addr := m.Host
		if a := m.Address(); a != "" {
			addr = a
		}
		fmt.Fprintf(&b, "%s %-8s %s %s", mark, m.ID, state, addr)
		if m.SecurePort != 0 {
			fmt.Fprintf(&b, " secure %d", m.SecurePort)
		}
		if m.UDPPort != 0 {
			fmt.Fprintf(&b, " udp %d", m.UDPPort)
		}
		if m.Domain != "" {
			fmt.Fprintf(&b, " domain %s", m.Domain)
		}
		fmt.Fprintf(&b, " id %s alive %s meta %s", m.UniqueID, m.AliveTime(now).Round(time.Second), metaString(m.Meta))
		if len(m.Payload) > 0 {
			fmt.Fprintf(&b, " payload %q", m.Payload)
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}
