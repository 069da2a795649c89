package main

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"time"

	"github.com/seed764c596d/mastership/events"
)

const watchUsage = `usage: mastership watch --prefix PREFIX
                        [--endpoints HOST:PORT,...] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]] [--dial-timeout 10s]

Follows the group PREFIX without joining it, and prints one JSON line for
the group as it is, then one for each change of its members (one joining or
leaving, a key created again under the same id), until SIGINT or SIGTERM
(exit 0):

  {"ts":"2026-12-07T21:00:00.123456789Z","master":"host-1","members":["host-1","host-2"],"epoch":1042}

ts is when the change was seen (RFC 3339, nanoseconds, UTC), master the
master's id ("" for none), members every member's id in join order, master
first, epoch the master's CreateRevision (0 for none). etcdctl's $ETCDCTL_*
variables stand for the etcd flags not given.`

// watchLine is one line of mastership watch: its fields, in their order.
type watchLine struct {
	TS      string   `json:"ts"`
	Master  string   `json:"master"`
	Members []string `json:"members"`
	Epoch   int64    `json:"epoch"`
}

func watchCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c, cli, view, code, ok := look(ctx, "mastership watch", watchUsage, args, stdout, stderr, nil)
	if !ok {
		return code
	}
	defer cli.Close()
	last := view
	return observeLines(ctx, cli, c, stderr, printWatchLine(stdout, view), func(v events.View) error {
		if sameMembers(v, last) {
			return nil // a change of value alone, or the view already printed
		}
		last = v
		return printWatchLine(stdout, v)
	})
}

// sameMembers reports whether a and b have the same members, by id and
// CreateRevision, in the same order, whatever their values.
func sameMembers(a, b events.View) bool {
	return slices.EqualFunc(a.Members, b.Members, func(x, y events.Node) bool {
		return x.ID == y.ID && x.CreateRevision == y.CreateRevision
	})
}

// printWatchLine writes the line of v, non-printing characters of ids
// escaped as the node program's lines have them. A write that fails (a
// closed pipe) ends the command.
func printWatchLine(w io.Writer, v events.View) error {
	l := watchLine{TS: time.Now().UTC().Format(events.TSFormat), Master: v.Master().ID, Members: v.IDs(), Epoch: v.Epoch()}
	if l.Members == nil {
		l.Members = []string{}
	}
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	b = append(events.EscapeNonPrinting(b), '\n')
	_, err = w.Write(b)
	return err
}
