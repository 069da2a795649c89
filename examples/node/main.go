// Command node runs one member of a mastership group as a process and
// prints each of its events as one JSON line on standard output:
//
//	{"ts":"2026-11-21T22:00:00.123456789Z","type":"CHANGE_TO_MASTER","self":"b","nodes":["c"],"master":"b","members":["b","c"],"epoch":1042,"state":"REFRESH"}
//
// Fields: ts, when the library emitted the event (RFC 3339, nanoseconds,
// UTC); type, the event's name; self, this member's id; nodes, the ids of
// the event's nodes; master, the master's id after the change ("" when
// OFFLINE); members, every live member's id in join order, master first ([]
// when OFFLINE); epoch, the master's CreateRevision (0 when OFFLINE); state,
// the registration state at the time of the event (OFFLINE for the OFFLINE
// event, REFRESH for every other, since a member emits the others only while
// registered).
//
// Ids are written with JSON \u escapes for every character that does not
// print (bidirectional controls such as U+202E, zero-width and other format
// characters, spaces other than ASCII's): a JSON reader gets the ids as
// they are, and a terminal shows nothing reordered or hidden.
//
// Nothing else goes to standard output; logs go to standard error, from
// level WARN unless --log-level says otherwise.
//
// Usage:
//
//	node --prefix /services/db --id db-1 [--endpoints 127.0.0.1:2379] [--value addr | --value-file file] [--ttl 5s] [--log-level WARN]
//	     [--cacert ca.pem] [--cert client.pem --key client-key.pem] [--user name [--password-file file]]
//
// The TLS and user flags are those of package etcdflags: --cacert turns
// on TLS; the password comes from --password-file or $ETCD_PASSWORD, never
// from the command line, and is never printed. The etcd user needs
// readwrite permission on the range of the prefix (etcdctl role
// grant-permission ROLE readwrite PREFIX/ --prefix), and nothing else.
//
// --value-file reads the value from a file, byte for byte (a trailing
// newline included), for a value above the limit of a command-line argument
// (128 KiB on Linux); etcd's own limit on a request (--max-request-bytes,
// 1.5 MiB by default) still holds. --value and --value-file together are an
// error.
//
// SIGTERM or SIGINT closes the member, revoking its lease so that a slave
// takes over at once, prints its OFFLINE event and exits 0. A bad flag, an
// etcd that cannot be reached within the start-up wait, a duplicate id, or
// etcd refusing the user (a missing permission, a wrong password) prints one
// line on standard error and exits 1 (2 for a bad flag). A refusal while
// running (a permission taken away) prints the member's OFFLINE event, then
// one line on standard error, and exits 1. -h or --help prints the usage
// and every flag on standard output and exits 0.
package main

import (
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

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// startWait bounds how long the member waits for etcd at start-up, on top of
// twice its TTL (the longest wait for a crashed holder of its id). It is a
// variable so that tests can shorten it.
var startWait = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: node --prefix PREFIX --id ID [--endpoints HOST:PORT,...] [--value VALUE | --value-file FILE] [--ttl 5s] [--log-level WARN] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]"

type config struct {
	etcd     clientv3.Config
	prefix   string
	id       string
	value    string
	ttl      time.Duration
	logLevel slog.Level
	warning  string // etcdflags' warning, "" for none
}

func parse(args []string) (config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	m := etcdflags.RegisterMember(fs, "this member's id", slog.LevelWarn)
	var c config
	fs.StringVar(&c.value, "value", "", "this member's value, for example its address")
	valueFile := fs.String("value-file", "", "file holding this member's value, taken as it is (for a value above the argument-length limit); not with --value")
	if err := etcdflags.Parse(fs, args); err != nil {
		return c, fs, err
	}
	if fs.NArg() > 0 {
		return c, fs, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *valueFile != "" {
		if c.value != "" {
			return c, fs, errors.New("--value and --value-file: give one or the other")
		}
		b, err := os.ReadFile(*valueFile)
		if err != nil {
			return c, fs, fmt.Errorf("--value-file: %w", err)
		}
		c.value = string(b)
	}
	if err := m.Check(); err != nil {
		return c, fs, err
	}
	c.prefix, c.id, c.ttl, c.logLevel = m.Prefix, m.ID, m.TTL, m.LogLevel
	var err error
	if c.etcd, err = etcd.Config(); err != nil {
		return c, fs, err
	}
	c.warning = etcd.Warning()
	return c, fs, nil
}

// run is the program, with its signals as ctx; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, fs, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(stdout, fs, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		return 2
	}
	if c.warning != "" {
		fmt.Fprintf(stderr, "node: warning: %s\n", c.warning)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel}))
	endpoints := strings.Join(c.etcd.Endpoints, ",")
	// With a user, clientv3 authenticates while connecting: a wrong
	// password fails here.
	cli, err := clientv3.New(c.etcd)
	if err != nil {
		fmt.Fprintf(stderr, "node: etcd client for %s: %v\n", endpoints, err)
		return 1
	}
	defer cli.Close()

	var s *selector.Selector
	err = etcdflags.Join(ctx, c.etcd.Endpoints, etcdflags.JoinWait(startWait, c.ttl), func(ctx context.Context) (err error) {
		s, err = selector.New(ctx, cli, c.prefix, c.id,
			selector.WithTTL(c.ttl), selector.WithValue(c.value), selector.WithLogger(log))
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "node: %v\n", err)
		if ctx.Err() != nil {
			// SIGTERM or SIGINT before the member registered: an
			// operator's stop, which ends the program with 0 as it does
			// a registered member. New has removed whatever it created.
			return 0
		}
		return 1
	}

	closed := make(chan error, 1)
	ended := make(chan struct{}) // the events ended without a signal
	go func() {
		select {
		case <-ctx.Done():
			log.Info("signal received; closing")
		case <-ended:
		}
		closed <- s.Close()
	}()
	enc := newPrinter(stdout, c.id)
	for ev := range s.Events() {
		if err := enc.print(ev); err != nil {
			// Standard output is gone (a closed pipe): nobody hears us, but
			// the member must still leave cleanly.
			log.Error("write event", "err", err)
		}
	}
	close(ended)
	closeErr := <-closed
	if err := s.Err(); err != nil {
		// etcd refused the member while it ran: it has printed its
		// OFFLINE event and ended by itself.
		fmt.Fprintf(stderr, "node: etcd refused this member, which has ended: %v\n", err)
		return 1
	}
	if closeErr != nil {
		log.Warn("close", "err", closeErr)
	}
	return 0
}

type printer struct {
	w    io.Writer
	self string
}

func newPrinter(w io.Writer, self string) *printer { return &printer{w: w, self: self} }

// print writes ev as one line (events.Line, the contract's JSON object) in
// one Write call, so that it reaches the reader at once and whole.
func (p *printer) print(ev events.Event) error {
	b, err := events.LineOf(p.self, ev).MarshalJSON()
	if err != nil {
		return err
	}
	_, err = p.w.Write(append(b, '\n'))
	return err
}
