// Command replicated-kv is a small replicated key-value store on a
// mastership group: the master serves Put, Get and Delete over gRPC and
// acknowledges a write only once every in-sync slave applied it; slaves
// serve only the Sync service the master calls. See README.md.
//
// Usage:
//
//	replicated-kv server --prefix /kv --name a [--listen 127.0.0.1:0] [--advertise ADDR] [--ops-listen ADDR] [--ttl 5s] [--replication-timeout 1s] [--unclean-wait 10s] [--log-level WARN] [etcd flags]
//	replicated-kv put    --prefix /kv [--retry-for 30s] [etcd flags] KEY VALUE
//	replicated-kv get    --prefix /kv [--retry-for 30s] [etcd flags] KEY
//	replicated-kv delete --prefix /kv [--retry-for 30s] [etcd flags] KEY
//	replicated-kv client --prefix /kv [--count 0] [--key-prefix key-] [--interval 0] [--retry-for 30s] [etcd flags]
//
// The etcd flags are --endpoints (default 127.0.0.1:2379), --cacert,
// --cert, --key, --user and --password-file.
//
// server prints one JSON line on standard output once it is registered,
// {"id":"a#1f2e3d4c","addr":"127.0.0.1:40123"} (with "ops", the address of
// /metrics and /healthz, given --ops-listen), and logs on standard error.
// SIGTERM or SIGINT makes it leave the group (a slave takes over at once)
// and exit 0.
//
// client writes key-0, key-1, ... (forever with --count 0, until SIGINT),
// each value "value-N", through the resolver, retrying each write on
// UNAVAILABLE across failovers, and prints one JSON line per acknowledged
// write: {"key":"key-7","index":8,"epoch":1042}.
//
// Exit codes: 0 on success; 1 when an operation failed; 2 for a bad flag.
// get of a missing key prints nothing on standard output and exits 3.
// COMMAND -h (or --help, or help COMMAND) prints the command's usage and
// every flag on standard output and exits 0.
package main

import (
	"context"
	"encoding/json"
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// startWait bounds how long a server waits for etcd at start-up, on top of
// twice its TTL (the longest wait for a crashed holder of its id).
const startWait = 10 * time.Second

const usage = "usage: replicated-kv server|put|get|delete|client --prefix PREFIX [flags] (see --help of each)"

// cmdUsage is the usage line of each command, above its flags.
var cmdUsage = map[string]string{
	"server": "usage: replicated-kv server --prefix PREFIX --name NAME [flags]",
	"put":    "usage: replicated-kv put --prefix PREFIX [--retry-for 30s] [etcd flags] KEY VALUE",
	"get":    "usage: replicated-kv get --prefix PREFIX [--retry-for 30s] [etcd flags] KEY",
	"delete": "usage: replicated-kv delete --prefix PREFIX [--retry-for 30s] [etcd flags] KEY",
	"client": "usage: replicated-kv client --prefix PREFIX [--count 0] [--key-prefix key-] [--interval 0] [--retry-for 30s] [etcd flags]",
}

// run is the program, with its signals as ctx; it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	// help COMMAND is COMMAND -h.
	if args[0] == "help" && len(args) > 1 && cmdUsage[args[1]] != "" {
		args = []string{args[1], "-h"}
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "server":
		return runServer(ctx, args, stdout, stderr)
	case "put", "get", "delete", "client":
		return runClient(ctx, cmd, args, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "replicated-kv: unknown command %q; %s\n", cmd, usage)
	return 2
}

// flagError reports a flag problem in one line and returns the exit code.
func flagError(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "replicated-kv %s: %v\n", cmd, err)
	return 2
}

func runServer(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicated-kv server", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ef := etcdflags.Register(fs, "127.0.0.1:2379")
	var c config
	fs.StringVar(&c.Prefix, "prefix", "", "the group's prefix in etcd (required)")
	fs.StringVar(&c.Name, "name", "", "this server's name, without \"/\" or \"#\" (required)")
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:0", "address to serve gRPC on")
	fs.StringVar(&c.Advertise, "advertise", "", "address the others dial (default: the address listened on)")
	fs.StringVar(&c.OpsListen, "ops-listen", "", "address of an HTTP server with /metrics and /healthz (default: none)")
	fs.DurationVar(&c.TTL, "ttl", defaultTTL, "lease TTL, whole seconds, from 1s to 1h")
	fs.DurationVar(&c.ReplicationTimeout, "replication-timeout", defaultReplicationTimeout, "bound of each call to a slave")
	fs.DurationVar(&c.UncleanWait, "unclean-wait", 0, "how long a master not in sync waits for an in-sync member before taking over (default 2×ttl)")
	level := slog.LevelWarn
	fs.TextVar(&level, "log-level", level, "level of the logs on standard error: DEBUG, INFO, WARN or ERROR")
	if err := etcdflags.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			etcdflags.PrintUsage(stdout, fs, cmdUsage["server"])
			return 0
		}
		return flagError(stderr, "server", err)
	}
	if fs.NArg() > 0 {
		return flagError(stderr, "server", fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := etcdflags.CheckTTL(c.TTL); err != nil {
		return flagError(stderr, "server", err)
	}
	if c.ReplicationTimeout <= 0 {
		return flagError(stderr, "server", fmt.Errorf("--replication-timeout %v: want more than 0", c.ReplicationTimeout))
	}
	if c.UncleanWait < 0 {
		return flagError(stderr, "server", fmt.Errorf("--unclean-wait %v: want 0 or more", c.UncleanWait))
	}
	c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := c.validate(); err != nil {
		return flagError(stderr, "server", fixFlagName(err))
	}
	cli, code := connect(ef, "server", stderr)
	if cli == nil {
		return code
	}
	defer cli.Close()

	var s *server
	err := etcdflags.Join(ctx, ef.Endpoints(), etcdflags.JoinWait(startWait, c.TTL), func(ctx context.Context) (err error) {
		s, err = newServer(ctx, cli, c)
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "replicated-kv server: %v\n", err)
		return 1
	}
	line := map[string]string{"id": s.id, "addr": s.addr}
	if s.opsAddr != "" {
		line["ops"] = s.opsAddr // where /metrics and /healthz are
	}
	b, _ := json.Marshal(line)
	fmt.Fprintf(stdout, "%s\n", b)
	code = 0
	select {
	case <-ctx.Done():
	case <-s.Failed():
		fmt.Fprintf(stderr, "replicated-kv server: %v\n", s.Err())
		code = 1
	}
	if err := s.Close(); err != nil {
		c.Logger.Warn("close", "err", err)
	}
	return code
}

// connect checks the etcd flags (a bad one: exit 2), prints their
// warning if any, and connects: with a user, clientv3 authenticates while
// connecting, so a wrong password fails here, a run-time failure (exit 1),
// not a bad flag. It returns the client, or nil and the exit code.
func connect(ef *etcdflags.Flags, cmd string, stderr io.Writer) (*clientv3.Client, int) {
	cfg, err := ef.Config()
	if err != nil {
		return nil, flagError(stderr, cmd, err)
	}
	if w := ef.Warning(); w != "" {
		fmt.Fprintf(stderr, "replicated-kv %s: warning: %s\n", cmd, w)
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "replicated-kv %s: etcd client for %s: %v\n", cmd, strings.Join(cfg.Endpoints, ","), err)
		return nil, 1
	}
	return cli, 0
}

// fixFlagName turns a config error into one that names the flag: each
// field of config that validate checks has the name of its flag.
func fixFlagName(err error) error {
	return errors.New("--" + strings.TrimPrefix(err.Error(), errInvalidConfig.Error()+": "))
}

func runClient(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replicated-kv "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ef := etcdflags.Register(fs, "127.0.0.1:2379")
	prefix := fs.String("prefix", "", "the group's prefix in etcd (required)")
	retryFor := fs.Duration("retry-for", 30*time.Second, "how long to retry an operation while there is no master")
	count := fs.Int("count", 0, "client: how many writes; 0 writes until interrupted")
	keyPrefix := fs.String("key-prefix", "key-", "client: prefix of the keys written")
	interval := fs.Duration("interval", 0, "client: pause between writes")
	if err := etcdflags.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			etcdflags.PrintUsage(stdout, fs, cmdUsage[cmd])
			return 0
		}
		return flagError(stderr, cmd, err)
	}
	want := map[string]int{"put": 2, "get": 1, "delete": 1, "client": 0}[cmd]
	switch {
	case *prefix == "":
		return flagError(stderr, cmd, errors.New("--prefix is required"))
	case fs.NArg() != want:
		return flagError(stderr, cmd, fmt.Errorf("want %d arguments, got %d", want, fs.NArg()))
	case *retryFor <= 0:
		return flagError(stderr, cmd, fmt.Errorf("--retry-for %v: want more than 0", *retryFor))
	case *count < 0:
		return flagError(stderr, cmd, fmt.Errorf("--count %d: want 0 or more", *count))
	case *interval < 0:
		return flagError(stderr, cmd, fmt.Errorf("--interval %v: want 0 or more", *interval))
	}
	cli, code := connect(ef, cmd, stderr)
	if cli == nil {
		return code
	}
	defer cli.Close()
	conn, err := dialMaster(cli, *prefix)
	if err != nil {
		return flagError(stderr, cmd, err)
	}
	defer conn.Close()
	c := newKVClient(conn, *retryFor)
	fail := func(err error) int {
		fmt.Fprintf(stderr, "replicated-kv %s: %v\n", cmd, err)
		return 1
	}
	switch cmd {
	case "put":
		r, err := c.put(ctx, fs.Arg(0), []byte(fs.Arg(1)))
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "OK index=%d epoch=%d\n", r.GetIndex(), r.GetEpoch())
	case "get":
		r, err := c.get(ctx, fs.Arg(0))
		if err != nil {
			return fail(err)
		}
		if !r.GetFound() {
			fmt.Fprintf(stderr, "replicated-kv get: %q not found\n", fs.Arg(0))
			return 3
		}
		fmt.Fprintf(stdout, "%s\n", r.GetValue())
	case "delete":
		r, err := c.delete(ctx, fs.Arg(0))
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "OK index=%d epoch=%d found=%v\n", r.GetIndex(), r.GetEpoch(), r.GetFound())
	case "client":
		enc := json.NewEncoder(stdout)
		for i := 0; *count == 0 || i < *count; i++ {
			key := fmt.Sprintf("%s%d", *keyPrefix, i)
			r, err := c.put(ctx, key, fmt.Appendf(nil, "value-%d", i))
			if ctx.Err() != nil {
				return 0
			}
			if err != nil {
				return fail(fmt.Errorf("put %s: %w", key, err))
			}
			enc.Encode(map[string]any{"key": key, "index": r.GetIndex(), "epoch": r.GetEpoch()})
			if *interval > 0 {
				select {
				case <-ctx.Done():
					return 0
				case <-time.After(*interval):
				}
			}
		}
	}
	return 0
}
