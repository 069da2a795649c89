// Command membership-manager keeps a cluster's list of worker nodes, such as a
// Citus coordinator's, equal to the workers that are alive, with redundant
// managers of which only the master acts.
//
// Usage:
//
//	membership-manager worker  --host HOST --port PORT [--id ID] [--check-dsn-file FILE] [--check-interval 2s] [common flags]
//	membership-manager manager --id ID --target sql     [--dsn-file FILE] [--add-sql S] [--remove-sql S] [--list-sql Q] [manager flags] [common flags]
//	membership-manager manager --id ID --target command --command PATH [manager flags] [common flags]
//
// Common flags: --endpoints, --cacert, --cert, --key, --user, --password-file
// (etcd), --prefix, --ttl, --log-level. Manager flags: --interval,
// --grace-left, --grace-expired, --target-timeout, --listen.
//
// In etcd, under --prefix:
//
//	<prefix>/workers/<id>             a worker: a selector member, value host:port
//	<prefix>/managers/<id>            a manager: a selector member; the first is master
//	<prefix>/leaving/<host:port>      written by a worker just before it leaves
//
// A worker registers and stays until SIGTERM or SIGINT, when it writes its
// leaving marker and leaves. Given its PostgreSQL (--check-dsn-file or
// MEMBERSHIP_MANAGER_CHECK_DSN), it is registered only while that database
// answers a query: it leaves after two failed checks in a row, without a
// marker, and registers again at the next answer. A manager joins the managers' group; while it is
// master it reconciles the target with the live workers: at once, every
// --interval, soon after any change, and when a grace period ends. Nodes are
// removed only after --grace-left (the worker left) or --grace-expired (its
// lease ran out, or no worker was ever seen for it). A node the target refuses
// to remove because it still holds data (Citus's "shard placement" error, or
// exit status 75 from a command's remove) is kept and tried again every
// --interval until its data has moved. Other errors from the target or etcd
// are logged and retried with a backoff, never fatal. Each manager serves, on
// --listen (default 127.0.0.1:0, the address logged), /healthz (in the
// managers' group), /manager-ready (200 only on the master whose last
// reconciliation succeeded) and /metrics (Prometheus).
//
// Logs go to standard error. The exit status is 0 after a signal, 1 when the
// program cannot start (etcd unreachable, a duplicate id) and 2 for a bad
// flag, which one line on standard error names. "worker -h", "manager -h"
// (or --help, or "help worker") prints the role's usage and every flag on
// standard output and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
)

// startWait bounds how long a worker or a manager waits for etcd at
// start-up, on top of twice its TTL (the longest wait for a crashed holder of
// its id).
const startWait = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = "usage: membership-manager worker --host HOST --port PORT [flags] | manager --id ID --target sql|command [flags]; -h after the role lists the flags"

// roleUsage is the usage line of each role, above its flags.
var roleUsage = map[string]string{
	"worker": "usage: membership-manager worker --host HOST --port PORT [--id ID] [--check-dsn-file FILE] [--check-interval 2s] [--prefix PREFIX] [--ttl 5s] [--log-level LEVEL] [etcd flags]",
	"manager": `usage: membership-manager manager --id ID --target sql [--dsn-file FILE] [--add-sql S] [--remove-sql S] [--list-sql Q] [manager flags] [common flags]
       membership-manager manager --id ID --target command --command PATH [manager flags] [common flags]`,
}

// run is the program, with its signals as ctx; it returns the exit code.
// Only the usage asked for with -h, --help or help goes to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	// help ROLE is ROLE -h.
	if args[0] == "help" && len(args) > 1 && roleUsage[args[1]] != "" {
		args = []string{args[1], "-h"}
	}
	var (
		c     *common
		fs    *flag.FlagSet
		err   error
		start func(ctx context.Context, log *slog.Logger) error
	)
	switch args[0] {
	case "worker":
		var wc workerConfig
		wc, fs, err = parseWorker(args[1:], os.Getenv)
		c = &wc.common
		start = func(ctx context.Context, log *slog.Logger) error {
			cli, err := wc.etcd.Client()
			if err != nil {
				return err
			}
			defer cli.Close()
			return worker(ctx, cli, wc, log)
		}
	case "manager":
		var mc managerConfig
		mc, fs, err = parseManager(args[1:], os.Getenv)
		c = &mc.common
		start = func(ctx context.Context, log *slog.Logger) error {
			return startManager(ctx, mc, log)
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "membership-manager: unknown role %q: want worker or manager\n", args[0])
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(stdout, fs, roleUsage[args[0]])
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "membership-manager %s: %v\n", args[0], err)
		return 2
	}
	if w := c.etcd.Warning(); w != "" {
		fmt.Fprintf(stderr, "membership-manager %s: warning: %s\n", args[0], w)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.logLevel})).With("role", args[0])
	if err := start(ctx, log); errors.As(err, new(badFlag)) {
		fmt.Fprintf(stderr, "membership-manager %s: %v\n", args[0], err)
		return 2
	} else if err != nil && ctx.Err() == nil {
		fmt.Fprintf(stderr, "membership-manager %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// badFlag is an error of a flag found only when the program starts, such
// as a --listen address that cannot be bound: exit status 2, as for any
// bad flag.
type badFlag struct{ error }

// startManager opens its listener, the target and etcd and runs the manager
// until ctx ends.
func startManager(ctx context.Context, c managerConfig, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return badFlag{fmt.Errorf("--listen %s: %w", c.listen, err)}
	}
	defer ln.Close()
	var target Target
	switch c.target {
	case "sql":
		t, err := newSQLTarget(c.dsn, c.add, c.remove, c.list)
		if err != nil {
			return err
		}
		target = t
	case "command":
		target = &commandTarget{path: c.command}
	}
	defer target.Close()
	cli, err := c.etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	m := &manager{cli: cli, cfg: c, target: target, log: log, ln: ln, metrics: newManagerMetrics(c.id)}
	return m.run(ctx)
}
