package main

// The commands that look at a group without joining it: members, leader
// and watch. They read it through package selector (Members, Observe), so
// that they count as members exactly the keys that the members themselves
// count, and name the master that `mastership run` obeys: keys without a
// lease and ids that are not valid UTF-8 are left out. (Package election's
// Leader would also do for `leader`, but it counts a leased key at the
// prefix itself and names a nested key by its last segment; one rule for
// the three commands keeps their answers the same.)

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// lookConfig is the configuration of a command that looks at a group.
type lookConfig struct {
	name        string // "mastership members", for messages
	etcd        clientv3.Config
	endpoints   []string
	warning     string
	prefix      string
	dialTimeout time.Duration
}

// lookFlags adds the flags that members, leader and watch share to fs
// (the etcd flags, --prefix and --dial-timeout), and returns a function
// that checks them once fs is parsed.
func lookFlags(fs *flag.FlagSet, c *lookConfig) func() error {
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	fs.StringVar(&c.prefix, "prefix", "", "the group's prefix in etcd (required)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 10*time.Second, "how long to wait for etcd's first answer before giving up")
	return func() error {
		// etcdctl's variables, which operators have set already; a flag wins.
		etcd.UseEtcdctlEnv(fs)
		switch {
		case c.prefix == "":
			return errors.New("--prefix: required: the group's prefix in etcd, such as /jobs/report")
		case strings.Trim(c.prefix, "/") == "":
			return fmt.Errorf("--prefix: %q covers the whole keyspace", c.prefix)
		case c.dialTimeout <= 0:
			return fmt.Errorf("--dial-timeout: %v is not positive", c.dialTimeout)
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("unexpected argument %q (%s -h lists the flags)", fs.Arg(0), c.name)
		}
		var err error
		if c.etcd, err = etcd.Config(); err != nil {
			return err
		}
		c.endpoints = c.etcd.Endpoints
		c.warning = etcd.Warning()
		return nil
	}
}

// look starts a looking command: it parses args (the shared flags, and
// those more adds to fs), then makes the client and reads the group once.
// With ok false the command ends at once with code: 0 after -h, 2 after
// one line on stderr for a bad flag, or connect's code. With ok true the
// caller closes cli.
func look(ctx context.Context, name, usage string, args []string, stdout, stderr io.Writer, more func(fs *flag.FlagSet)) (c *lookConfig, cli *clientv3.Client, v events.View, code int, ok bool) {
	c = &lookConfig{name: name}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	check := lookFlags(fs, c)
	if more != nil {
		more(fs)
	}
	err := etcdflags.Parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(stdout, fs, usage)
		return c, nil, v, 0, false
	}
	if err == nil {
		err = check()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return c, nil, v, 2, false
	}
	if c.warning != "" {
		fmt.Fprintf(stderr, "%s: warning: %s\n", name, c.warning)
	}
	cli, v, code, ok = connect(ctx, c, stderr)
	return c, cli, v, code, ok
}

// connect makes the client and reads the group once, within
// --dial-timeout. With ok false the command ends with code: 1 after one
// line on stderr for an etcd that is unreachable or refuses the user, 0
// for a signal before etcd answered (the operator's stop). With ok true
// the caller closes cli.
func connect(ctx context.Context, c *lookConfig, stderr io.Writer) (cli *clientv3.Client, v events.View, code int, ok bool) {
	cli, err := clientv3.New(c.etcd)
	if err != nil {
		fmt.Fprintf(stderr, "%s: etcd client for %s: %v\n", c.name, strings.Join(c.endpoints, ","), err)
		return nil, v, 1, false
	}
	rctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	v, err = selector.Members(rctx, cli, c.prefix)
	cancel()
	switch {
	case err == nil:
		return cli, v, 0, true
	case ctx.Err() != nil:
		cli.Close()
		return nil, v, 0, false // a signal: the operator's stop
	case errors.Is(err, selector.ErrPermissionDenied), errors.Is(err, selector.ErrAuthFailed):
		fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Fprintf(stderr, "%s: etcd at %s unreachable: no answer within --dial-timeout %v\n", c.name, strings.Join(c.endpoints, ","), c.dialTimeout)
	default:
		fmt.Fprintf(stderr, "%s: read %s from etcd at %s: %v\n", c.name, c.prefix, strings.Join(c.endpoints, ","), err)
	}
	cli.Close()
	return nil, v, 1, false
}

// text renders an id or a value for a table or a line of text: as it is
// when it is not empty, is valid UTF-8, and every character prints and
// none is a space, a quote or "=", otherwise quoted as Go quotes strings,
// with \u escapes for what does not print and \x escapes for bytes that
// are not UTF-8 (as log/slog's text handler quotes its values), so that a
// terminal shows nothing reordered or hidden, and a field never runs into
// the next. A value is any bytes: a stray byte such as 0x9b, a C1 control
// to some terminals, decodes as U+FFFD, which prints, and would otherwise
// reach the terminal raw.
func text(s string) string {
	if s == "" {
		return `""`
	}
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r == '\\' || !events.Printing(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// observeLines follows the group until ctx ends, calling print with each
// new view, for the commands that print a line per change (leader
// --watch, watch). first is the error of printing the first line. A print
// that fails (standard output gone) ends the watch: there is no reader
// left. It returns the exit code: 0 when ctx ends, 1, with a line on
// stderr, when etcd refuses the read or a print fails.
func observeLines(ctx context.Context, cli *clientv3.Client, c *lookConfig, stderr io.Writer, first error, print func(events.View) error) int {
	werr := first
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	if werr != nil {
		cancel()
	}
	err := selector.Observe(octx, cli, c.prefix, func(v events.View) {
		if werr != nil {
			return
		}
		if werr = print(v); werr != nil {
			cancel() // standard output is gone: so is the reader
		}
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
		return 1
	}
	return 0
}
