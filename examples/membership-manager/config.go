package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/selector"
)

// dsnEnv is the environment variable that holds the SQL target's DSN when
// --dsn-file is not given. The DSN is never taken on the command line, where
// any user of the machine could read its password in the process list.
const dsnEnv = "MEMBERSHIP_MANAGER_DSN"

// checkDSNEnv is the environment variable that holds the DSN of a worker's
// own database when --check-dsn-file is not given: the worker counts only
// while that database answers.
const checkDSNEnv = "MEMBERSHIP_MANAGER_CHECK_DSN"

// common are the flags of both roles.
type common struct {
	etcd     *etcdflags.Flags
	prefix   string
	id       string
	ttl      time.Duration
	logLevel slog.Level
}

func (c *common) register(fs *flag.FlagSet, idUsage string) {
	c.etcd = etcdflags.Register(fs, "127.0.0.1:2379")
	fs.StringVar(&c.prefix, "prefix", "/membership-manager", "the prefix in etcd under which workers, managers and leaving markers live")
	fs.StringVar(&c.id, "id", "", idUsage)
	fs.DurationVar(&c.ttl, "ttl", selector.DefaultTTL, "lease TTL, whole seconds, from 1s to 1h: how soon a crash is noticed")
	c.logLevel = slog.LevelInfo
	fs.TextVar(&c.logLevel, "log-level", c.logLevel, "level of the logs on standard error: DEBUG, INFO, WARN or ERROR")
}

func (c *common) check(fs *flag.FlagSet) error {
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.prefix == "" || !strings.HasPrefix(c.prefix, "/") || strings.HasSuffix(c.prefix, "/"):
		return fmt.Errorf("--prefix %q: must start with \"/\" and not end with it", c.prefix)
	case strings.Contains(c.id, "/"):
		return fmt.Errorf("--id %q: must not contain \"/\"", c.id)
	}
	if err := etcdflags.CheckTTL(c.ttl); err != nil {
		return err
	}
	if _, err := c.etcd.Config(); err != nil {
		return err
	}
	return nil
}

// The keys under --prefix.
func workersPrefix(prefix string) string  { return prefix + "/workers" }
func managersPrefix(prefix string) string { return prefix + "/managers" }
func leavingPrefix(prefix string) string  { return prefix + "/leaving/" }

// workerConfig is the configuration of a worker.
type workerConfig struct {
	common
	node Node
	// checkDSN is the worker's database, checked every checkInterval; empty
	// for no check.
	checkDSN      string
	checkInterval time.Duration
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

func parseWorker(args []string, getenv func(string) string) (workerConfig, *flag.FlagSet, error) {
	fs := newFlagSet("membership-manager worker")
	var c workerConfig
	c.register(fs, "this worker's id in the group, without \"/\" (default: --host:--port)")
	host := fs.String("host", "", "the host the target reaches this worker at (required)")
	port := fs.String("port", "", "the port the target reaches this worker at (required)")
	checkFile := fs.String("check-dsn-file", "", "a file holding the DSN of this worker's PostgreSQL: the worker is in the group only while it answers (default: the "+checkDSNEnv+" environment variable; neither: no check)")
	fs.DurationVar(&c.checkInterval, "check-interval", 2*time.Second, "how often the worker asks its database; two failed checks in a row make it leave the group, one that answers makes it join again")
	if err := etcdflags.Parse(fs, args); err != nil {
		return c, fs, err
	}
	if err := c.check(fs); err != nil {
		return c, fs, err
	}
	switch {
	case *host == "":
		return c, fs, errors.New("--host is required")
	case *port == "":
		return c, fs, errors.New("--port is required")
	}
	n, err := newNode(*host, *port)
	if err != nil {
		if strings.HasPrefix(err.Error(), "port") {
			return c, fs, fmt.Errorf("--port: %w", err)
		}
		return c, fs, fmt.Errorf("--host: %w", err)
	}
	c.node = n
	if c.id == "" {
		c.id = n.String()
	}
	if c.checkInterval <= 0 {
		return c, fs, fmt.Errorf("--check-interval %v: must be positive", c.checkInterval)
	}
	from := "--check-dsn-file " + *checkFile
	if *checkFile != "" {
		b, err := os.ReadFile(*checkFile)
		if err != nil {
			return c, fs, fmt.Errorf("--check-dsn-file: %w", err)
		}
		if c.checkDSN = strings.TrimSpace(string(b)); c.checkDSN == "" {
			return c, fs, fmt.Errorf("--check-dsn-file %s: empty", *checkFile)
		}
	} else {
		c.checkDSN = strings.TrimSpace(getenv(checkDSNEnv))
		from = "$" + checkDSNEnv + " (or --check-dsn-file)"
	}
	if c.checkDSN != "" {
		if err := checkDSN(c.checkDSN, from); err != nil {
			return c, fs, err
		}
	}
	return c, fs, nil
}

// checkDSN checks that dsn parses as a PostgreSQL DSN; from names where it
// came from, the flag or the variable, for the error.
func checkDSN(dsn, from string) error {
	if _, err := pgx.ParseConfig(dsn); err != nil {
		// The DSN may hold a password: say what failed, not what it was.
		return fmt.Errorf("%s: the DSN cannot be parsed (see https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig)", from)
	}
	return nil
}

// managerConfig is the configuration of a manager.
type managerConfig struct {
	common
	interval     time.Duration
	grace        grace
	timeout      time.Duration
	target       string // "sql" or "command"
	dsn          string
	add, remove  string
	list         string
	command      string
	listen       string
	shutdownWait time.Duration
}

// sqlFlags and commandFlags belong to one target each.
var (
	sqlFlags     = []string{"dsn-file", "add-sql", "remove-sql", "list-sql"}
	commandFlags = []string{"command"}
)

func parseManager(args []string, getenv func(string) string) (managerConfig, *flag.FlagSet, error) {
	fs := newFlagSet("membership-manager manager")
	var c managerConfig
	c.register(fs, "this manager's id among the managers, without \"/\" (required)")
	fs.DurationVar(&c.interval, "interval", 10*time.Second, "how often the master manager reconciles even when no event says so")
	fs.DurationVar(&c.grace.left, "grace-left", 5*time.Second, "how long a node whose worker left gracefully stays in the target")
	fs.DurationVar(&c.grace.expired, "grace-expired", time.Minute, "how long a node whose worker expired (or was never seen) stays in the target")
	fs.DurationVar(&c.timeout, "target-timeout", 30*time.Second, "the longest one call to the target may take")
	fs.StringVar(&c.target, "target", "", "what to keep: sql (a PostgreSQL database, Citus by default) or command (required)")
	dsnFile := fs.String("dsn-file", "", "sql: a file holding the PostgreSQL DSN (default: the "+dsnEnv+" environment variable)")
	fs.StringVar(&c.add, "add-sql", defaultAddSQL, "sql: the statement that adds a node; $1 is the host, $2 the port (Citus before 10: SELECT master_add_node($1, $2))")
	fs.StringVar(&c.remove, "remove-sql", defaultRemoveSQL, "sql: the statement that removes a node; $1 is the host, $2 the port; it must not delete data (Citus before 10: SELECT master_remove_node($1, $2))")
	fs.StringVar(&c.list, "list-sql", defaultListSQL, "sql: the query that lists the nodes, as rows of (host, port)")
	fs.StringVar(&c.command, "command", "", "command: the program run as COMMAND list | add HOST PORT | remove HOST PORT, without a shell")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "address of the HTTP server for /healthz, /manager-ready and /metrics, host:port (port 0: a free one, logged)")
	c.shutdownWait = 10 * time.Second
	if err := etcdflags.Parse(fs, args); err != nil {
		return c, fs, err
	}
	if err := c.check(fs); err != nil {
		return c, fs, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	only := func(names []string, target string) error {
		for _, n := range names {
			if set[n] {
				return fmt.Errorf("--%s: only for --target %s", n, target)
			}
		}
		return nil
	}
	switch {
	case c.id == "":
		return c, fs, errors.New("--id is required")
	case c.interval <= 0:
		return c, fs, fmt.Errorf("--interval %v: must be positive", c.interval)
	case c.grace.left < 0:
		return c, fs, fmt.Errorf("--grace-left %v: must not be negative", c.grace.left)
	case c.grace.expired < 0:
		return c, fs, fmt.Errorf("--grace-expired %v: must not be negative", c.grace.expired)
	case c.timeout <= 0:
		return c, fs, fmt.Errorf("--target-timeout %v: must be positive", c.timeout)
	}
	if err := checkListen(c.listen); err != nil {
		return c, fs, err
	}
	switch c.target {
	case "sql":
		if err := only(commandFlags, "command"); err != nil {
			return c, fs, err
		}
		for name, v := range map[string]string{"add-sql": c.add, "remove-sql": c.remove, "list-sql": c.list} {
			if strings.TrimSpace(v) == "" {
				return c, fs, fmt.Errorf("--%s: must not be empty", name)
			}
		}
		if *dsnFile != "" {
			b, err := os.ReadFile(*dsnFile)
			if err != nil {
				return c, fs, fmt.Errorf("--dsn-file: %w", err)
			}
			c.dsn = strings.TrimSpace(string(b))
			if c.dsn == "" {
				return c, fs, fmt.Errorf("--dsn-file %s: empty", *dsnFile)
			}
		} else if c.dsn = strings.TrimSpace(getenv(dsnEnv)); c.dsn == "" {
			return c, fs, fmt.Errorf("--dsn-file: required with --target sql when %s is not set", dsnEnv)
		}
		// Checked here, like every flag, so that a DSN that cannot be
		// parsed is a bad flag (exit 2, naming where it came from) rather
		// than a failure to start.
		from := "--dsn-file " + *dsnFile
		if *dsnFile == "" {
			from = "$" + dsnEnv + " (or --dsn-file)"
		}
		if err := checkDSN(c.dsn, from); err != nil {
			return c, fs, err
		}
	case "command":
		if err := only(sqlFlags, "sql"); err != nil {
			return c, fs, err
		}
		if c.command == "" {
			return c, fs, errors.New("--command: required with --target command")
		}
		path, err := exec.LookPath(c.command)
		if err != nil {
			return c, fs, fmt.Errorf("--command: %w", err)
		}
		c.command = path
	case "":
		return c, fs, errors.New("--target is required: sql or command")
	default:
		return c, fs, fmt.Errorf("--target %q: want sql or command", c.target)
	}
	return c, fs, nil
}
