// Command catalog-sync keeps the catalogs of a cluster of workers in step
// through etcd, modelled on Trino's dynamic catalogs: catalogs are
// revisioned keys; the master of a group of coordinators writes them through
// a small HTTP API; every worker watches them, applies changes without a
// restart, and records the revision it has applied, so that the coordinator
// can say when a catalog is ready on every live worker.
//
// Usage:
//
//	catalog-sync coordinator --prefix /trino --id c1 [--listen 127.0.0.1:8080] [--ttl 5s] [etcd flags]
//	catalog-sync worker      --prefix /trino --id w1 [--ttl 5s] [--catalog-dir DIR [--after-change CMD]] [etcd flags]
//	catalog-sync put NAME --connector postgresql [--property k=v]... [--property-file FILE] [--coordinator URL]
//	catalog-sync drop NAME [--coordinator URL]
//	catalog-sync status [NAME] [--coordinator URL]
//
// The coordinator and the worker run until SIGTERM or SIGINT. The worker
// prints each change it applies on standard output, secrets redacted; with
// --catalog-dir it keeps Trino's catalog properties files in DIR instead
// (FileConnector), and runs CMD after each file it writes or removes. The
// client commands print the API's JSON answer; a refused request prints one
// line on standard error and exits 1, a bad flag exits 2. COMMAND -h (or
// --help, or help COMMAND) prints the command's usage and every flag on
// standard output and exits 0.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seed764c596d/mastership/etcdflags"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  catalog-sync coordinator --prefix PREFIX --id ID [--listen 127.0.0.1:8080] [--ttl 5s] [etcd flags]
  catalog-sync worker      --prefix PREFIX --id ID [--ttl 5s] [--catalog-dir DIR [--after-change CMD]] [etcd flags]
  catalog-sync put NAME --connector NAME [--property k=v]... [--property-file FILE] [--coordinator URL]
  catalog-sync drop NAME [--coordinator URL]
  catalog-sync status [NAME] [--coordinator URL]
catalog-sync COMMAND -h lists the command's flags.`

// cmdUsage is the usage line of each command, above its flags.
var cmdUsage = map[string]string{
	"coordinator": "usage: catalog-sync coordinator --prefix PREFIX --id ID [--listen 127.0.0.1:8080] [--ttl 5s] [--log-level INFO] [etcd flags]",
	"worker":      "usage: catalog-sync worker --prefix PREFIX --id ID [--ttl 5s] [--catalog-dir DIR [--after-change CMD] [--after-change-timeout 30s]] [--log-level INFO] [etcd flags]",
	"put":         "usage: catalog-sync put NAME --connector NAME [--property k=v]... [--property-file FILE] [--coordinator URL]",
	"drop":        "usage: catalog-sync drop NAME [--coordinator URL]",
	"status":      "usage: catalog-sync status [NAME] [--coordinator URL]",
}

// startWait bounds how long a coordinator or a worker waits for etcd at
// start-up, on top of twice its TTL (the longest wait for a crashed holder
// of its id).
const startWait = 10 * time.Second

// errUsage marks a bad command line: exit code 2.
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	// help COMMAND is COMMAND -h.
	if args[0] == "help" && len(args) > 1 && cmdUsage[args[1]] != "" {
		args = []string{args[1], "-h"}
	}
	var err error
	switch args[0] {
	case "coordinator", "worker":
		err = serve(ctx, args[0], args[1:], stdout, stderr)
	case "put", "drop", "status":
		err = client(ctx, args[0], args[1:], stdout)
	case "-h", "-help", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		err = fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "catalog-sync %s: %v\n", args[0], strings.TrimPrefix(err.Error(), "usage: "))
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

// serve runs a coordinator or a worker until ctx ends.
func serve(ctx context.Context, role string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("catalog-sync "+role, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	m := etcdflags.RegisterMember(fs, "this process's id", slog.LevelInfo)
	listen := fs.String("listen", "127.0.0.1:8080", "coordinator: address of the HTTP API")
	var catalogDir, afterChange *string
	var afterTimeout *time.Duration
	if role == "worker" {
		catalogDir = fs.String("catalog-dir", "", "keep each catalog as Trino's `DIR`/NAME.properties (mode 0600), instead of printing the changes")
		afterChange = fs.String("after-change", "", "with --catalog-dir: a `command` and its arguments, split at spaces and run without a shell after each file written or removed, with "+EnvCatalog+", "+EnvAction+" ("+ActionWrite+" or "+ActionRemove+") and "+EnvFile+" in its environment")
		afterTimeout = fs.Duration("after-change-timeout", 30*time.Second, "with --after-change: how long the command may run before it is killed")
	}
	if err := etcdflags.Parse(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			etcdflags.PrintUsage(stdout, fs, cmdUsage[role])
			return nil
		}
		return usageErr("%v", err)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", fs.Arg(0))
	}
	if err := m.Check(); err != nil {
		return usageErr("%v", err)
	}
	if _, err := etcd.Config(); err != nil {
		return usageErr("%v", err)
	}
	var command []string
	if role == "worker" {
		command = strings.Fields(*afterChange)
		switch {
		case *afterChange != "" && len(command) == 0:
			return usageErr("--after-change: empty command")
		case len(command) > 0 && *catalogDir == "":
			return usageErr("--after-change needs --catalog-dir")
		case *afterTimeout <= 0:
			return usageErr("--after-change-timeout %v: want more than 0", *afterTimeout)
		}
	}
	if w := etcd.Warning(); w != "" {
		fmt.Fprintf(stderr, "catalog-sync %s: warning: %s\n", role, w)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: m.LogLevel}))
	cli, err := etcd.Client()
	if err != nil {
		return err
	}
	defer cli.Close()
	wait := etcdflags.JoinWait(startWait, m.TTL)
	if role == "coordinator" {
		var c *Coordinator
		err := etcdflags.Join(ctx, etcd.Endpoints(), wait, func(ctx context.Context) (err error) {
			c, err = StartCoordinator(ctx, cli, m.Prefix, m.ID, *listen, m.TTL, log)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "coordinator %s serving on %s\n", m.ID, c.URL())
		<-ctx.Done()
		return c.Close()
	}
	var conn Connector = &printConnector{w: stdout}
	var files *FileConnector
	if *catalogDir != "" {
		if files, err = NewFileConnector(*catalogDir, command, *afterTimeout, log); err != nil {
			return fmt.Errorf("--catalog-dir: %w", err)
		}
		conn = files
	}
	var w *Worker
	err = etcdflags.Join(ctx, etcd.Endpoints(), wait, func(ctx context.Context) (err error) {
		w, err = StartWorker(ctx, cli, m.Prefix, m.ID, conn, m.TTL, log)
		return err
	})
	if err != nil {
		return err
	}
	if files != nil {
		// Every catalog is applied: the files of catalogs dropped while
		// this worker was away are the ones left over.
		if err := files.RemoveStale(); err != nil {
			log.Error("remove stale catalog files failed", "err", err)
		}
	}
	fmt.Fprintf(stdout, "worker %s: %d catalogs loaded at revision %d\n", m.ID, len(w.Catalogs()), w.Applied())
	<-ctx.Done()
	return w.Close()
}

// printConnector stands in for a real connector: it prints what it would do.
type printConnector struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printConnector) Apply(_ context.Context, c Catalog) error {
	p.printf("apply %s connector=%s properties=%v revision=%d\n", c.Name, c.Connector, c.Properties, c.Revision)
	return nil
}
func (p *printConnector) Stop(name string)    { p.printf("stop %s: no new use\n", name) }
func (p *printConnector) Release(name string) { p.printf("release %s\n", name) }
func (p *printConnector) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, a...)
}

// propFlag collects --property values. A malformed one is counted, not
// refused, since the flag package would echo it in its error, and it may
// hold a secret.
type propFlag struct {
	props Properties
	bad   int
}

func (p *propFlag) String() string {
	if p == nil {
		return "{}"
	}
	return p.props.String()
}

func (p *propFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		p.bad++
		return nil
	}
	p.props[strings.TrimSpace(k)] = v
	return nil
}

// client runs put, drop or status against a coordinator.
func client(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("catalog-sync "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	coord := fs.String("coordinator", "http://127.0.0.1:8080", "base URL of any coordinator; writes are redirected to the master")
	connector := fs.String("connector", "", "put: the catalog's connector (required)")
	props := &propFlag{props: Properties{}}
	fs.Var(props, "property", "put: a property key=value; repeat for more (secrets: use --property-file)")
	propFile := fs.String("property-file", "", "put: a file of key=value lines, kept off the command line")
	// Flags may come before or after the name.
	var pos []string
	for rest := args; ; {
		if err := etcdflags.Parse(fs, rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				etcdflags.PrintUsage(stdout, fs, cmdUsage[cmd])
				return nil
			}
			return usageErr("%v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	// The URL may carry a user and password: an error shows it redacted,
	// or not at all when it does not parse.
	u, err := url.Parse(*coord)
	if err != nil {
		return usageErr("--coordinator: not a URL (not shown, since it may hold a password); want http://host:port")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageErr("--coordinator %q: want http://host:port", u.Redacted())
	}
	var method, path string
	var body []byte
	switch {
	case cmd == "status" && len(pos) == 0:
		method, path = http.MethodGet, "/v1/catalogs"
	case cmd == "status" && len(pos) == 1:
		method, path = http.MethodGet, "/v1/catalogs/"+url.PathEscape(pos[0])
	case len(pos) != 1:
		return usageErr("want exactly one catalog name, got %d", len(pos))
	case cmd == "drop":
		method, path = http.MethodDelete, "/v1/catalogs/"+url.PathEscape(pos[0])
	default:
		if *propFile != "" {
			if err := readProps(*propFile, props); err != nil {
				return usageErr("--property-file %s: %v", *propFile, err)
			}
		}
		if props.bad > 0 {
			return usageErr("--property: want key=value (%d malformed; not shown, since they may hold secrets)", props.bad)
		}
		if *connector == "" {
			return usageErr("--connector is required")
		}
		method, path = http.MethodPut, "/v1/catalogs/"+url.PathEscape(pos[0])
		body, _ = json.Marshal(putRequest{Connector: *connector, Properties: props.props})
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, strings.TrimSuffix(*coord, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	// The default client follows the 307 of a coordinator that is not the
	// master, resending the body.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var e apiError
		if json.Unmarshal(out, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") != nil {
		pretty.Reset()
		pretty.Write(out)
	}
	_, err = stdout.Write(pretty.Bytes())
	return err
}

// readProps reads key=value lines; blank lines and lines starting with #
// are skipped. Errors name the line number, never its content.
func readProps(file string, into *propFlag) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if bad := into.bad; into.Set(line) != nil || into.bad > bad {
			return fmt.Errorf("line %d: want key=value", n)
		}
	}
	return sc.Err()
}
