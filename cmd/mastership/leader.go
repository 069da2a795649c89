package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/seed764c596d/mastership/events"
)

const leaderUsage = `usage: mastership leader --prefix PREFIX [--watch]
                         [--endpoints HOST:PORT,...] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]] [--dial-timeout 10s]

Prints the master of the group PREFIX, as etcdctl elect -l does, in one line:

  master=ID epoch=EPOCH value=VALUE
  no master

With --watch, prints the master as it is, then a line each time it changes
(another member, no master, a new value), each after the time, until
SIGINT or SIGTERM (exit 0). An id or value with a space, a quote, "=", a
character that does not print or bytes that are not UTF-8 is quoted, with
\u and \x escapes. etcdctl's
$ETCDCTL_* variables stand for the etcd flags not given.`

func leaderCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var watch *bool
	c, cli, view, code, ok := look(ctx, "mastership leader", leaderUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		watch = fs.Bool("watch", false, "print a line for each change of master, until interrupted")
	})
	if !ok {
		return code
	}
	defer cli.Close()
	if !*watch {
		fmt.Fprintln(stdout, masterLine(view.Master()))
		return 0
	}
	last := view.Master()
	line := func(m events.Node) error {
		_, err := fmt.Fprintf(stdout, "%s %s\n", time.Now().UTC().Format(events.TSFormat), masterLine(m))
		return err
	}
	return observeLines(ctx, cli, c, stderr, line(last), func(v events.View) error {
		if m := v.Master(); m != last {
			last = m
			return line(m)
		}
		return nil
	})
}

// masterLine is the line of a master, or "no master" for the zero Node.
func masterLine(m events.Node) string {
	if m.ID == "" {
		return "no master"
	}
	return fmt.Sprintf("master=%s epoch=%d value=%s", text(m.ID), m.CreateRevision, text(m.Value))
}
