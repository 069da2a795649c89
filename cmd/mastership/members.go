package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
)

const membersUsage = `usage: mastership members --prefix PREFIX [--json]
                          [--endpoints HOST:PORT,...] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]] [--dial-timeout 10s]

Reads the group PREFIX once, without joining it, and prints its members in
join order, the master first: id, value, role, the CreateRevision of the
member's key (the master's is the epoch) and the seconds left on its lease.
Keys without a lease and ids that are not valid UTF-8 are no members, as
for the members themselves. A table by default; --json prints one JSON
document. etcdctl's $ETCDCTL_* variables stand for the etcd flags not given.`

// valueWidth is the most characters of a value that the table shows.
const valueWidth = 40

func membersCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var asJSON *bool
	c, cli, view, code, ok := look(ctx, "mastership members", membersUsage, args, stdout, stderr, func(fs *flag.FlagSet) {
		asJSON = fs.Bool("json", false, "print one JSON document rather than a table")
	})
	if !ok {
		return code
	}
	defer cli.Close()
	ttls := leaseTTLs(ctx, cli, c, view)
	if *asJSON {
		if err := printMembersJSON(stdout, c.prefix, view, ttls); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	printMembersTable(stdout, view, ttls)
	return 0
}

// leaseTTLs returns the seconds left on each member's lease, by index in
// view.Members; -1 where it is not known (the lease ended since the read,
// or etcd did not say within --dial-timeout). It costs a second read of
// the group at the revision of the first (the view has no lease ids, and
// etcd's keys-only reads leave them out too) and one request per member:
// an operator's command, run once, can afford it.
func leaseTTLs(ctx context.Context, cli *clientv3.Client, c *lookConfig, view events.View) []int64 {
	ttls := make([]int64, len(view.Members))
	for i := range ttls {
		ttls[i] = -1
	}
	if len(view.Members) == 0 {
		return ttls
	}
	ctx, cancel := context.WithTimeout(ctx, c.dialTimeout)
	defer cancel()
	key := c.prefix
	if !strings.HasSuffix(key, "/") {
		key += "/"
	}
	resp, err := cli.Get(ctx, key, clientv3.WithPrefix(), clientv3.WithRev(view.Revision))
	if err != nil {
		return ttls
	}
	leases := make(map[string]clientv3.LeaseID, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		leases[string(kv.Key)] = clientv3.LeaseID(kv.Lease)
	}
	for i, n := range view.Members {
		id, ok := leases[key+n.ID]
		if !ok {
			continue
		}
		ttl, err := cli.TimeToLive(ctx, id)
		if err == nil && ttl.TTL >= 0 {
			ttls[i] = ttl.TTL
		}
	}
	return ttls
}

func role(i int) string {
	if i == 0 {
		return "master"
	}
	return "slave"
}

func printMembersTable(w io.Writer, view events.View, ttls []int64) {
	if len(view.Members) == 0 {
		fmt.Fprintln(w, "no members")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVALUE\tROLE\tREVISION\tTTL")
	for i, n := range view.Members {
		ttl := "-"
		if ttls[i] >= 0 {
			ttl = fmt.Sprintf("%ds", ttls[i])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", text(n.ID), text(shorten(n.Value)), role(i), n.CreateRevision, ttl)
	}
	tw.Flush()
}

// shorten cuts a value longer than valueWidth characters, marking the cut
// with "…": the table is for a terminal, and a value may be a
// megabyte; --json gives it whole.
func shorten(v string) string {
	if utf8.RuneCountInString(v) <= valueWidth {
		return v
	}
	n := 0
	for i := range v {
		if n == valueWidth-1 {
			return v[:i] + "…"
		}
		n++
	}
	return v
}

// membersDoc is the JSON document of mastership members --json.
type membersDoc struct {
	Prefix   string       `json:"prefix"`
	Revision int64        `json:"revision"`
	Master   string       `json:"master"`
	Epoch    int64        `json:"epoch"`
	Members  []memberJSON `json:"members"`
}

type memberJSON struct {
	ID             string `json:"id"`
	Value          string `json:"value"`
	Role           string `json:"role"`
	CreateRevision int64  `json:"create_revision"`
	TTL            int64  `json:"ttl"`
}

func printMembersJSON(w io.Writer, prefix string, view events.View, ttls []int64) error {
	doc := membersDoc{Prefix: prefix, Revision: view.Revision, Master: view.Master().ID, Epoch: view.Epoch(), Members: []memberJSON{}}
	for i, n := range view.Members {
		doc.Members = append(doc.Members, memberJSON{ID: n.ID, Value: n.Value, Role: role(i), CreateRevision: n.CreateRevision, TTL: ttls[i]})
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", events.EscapeNonPrinting(b))
	return err
}
