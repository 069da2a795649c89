package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	osexec "os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// The SQL test needs a real PostgreSQL server: its DSN comes from pgDSNEnv.
// Without it the test skips, unless requirePGEnv is 1 or CI is true, when it
// fails: .ci/run starts a server (.ci/postgres.sh) and sets both.
const (
	pgDSNEnv     = "MASTERSHIP_TEST_PG_DSN"
	requirePGEnv = "MASTERSHIP_REQUIRE_PG"
)

func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(pgDSNEnv)
	if dsn != "" {
		return dsn
	}
	msg := fmt.Sprintf("no PostgreSQL: set %s to a DSN such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (.ci/postgres.sh starts a throwaway server and prints the line that sets it)", pgDSNEnv)
	if os.Getenv(requirePGEnv) == "1" || os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestSQLTarget runs a manager against a real PostgreSQL, with a plain table
// standing in for Citus's pg_dist_node and the statements configured to suit
// it. The table does not exist at first, so every reconciliation fails until
// the test creates it: the manager retries and keeps running. Then a node
// without a worker is removed after the expiry grace, a worker that joins is
// added, and one that leaves is removed after the leave grace, never sooner.
// The remove statement also records when it ran, in a second table.
func TestSQLTarget(t *testing.T) {
	dsn := pgDSN(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("PostgreSQL at %s=...: %v", pgDSNEnv, err)
	}
	// Tables of this run's own, so that runs never meet.
	table := fmt.Sprintf("mm_nodes_%d_%d", os.Getpid(), time.Now().UnixNano())
	removals := table + "_removals"
	t.Cleanup(func() {
		db.Exec("DROP TABLE IF EXISTS " + table)
		db.Exec("DROP TABLE IF EXISTS " + removals)
	})
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec("CREATE TABLE " + removals + " (host text NOT NULL, port integer NOT NULL, at timestamptz NOT NULL)")
	has := func(host string, port int) bool {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE host = $1 AND port = $2", host, port).Scan(&n)
		return err == nil && n == 1
	}
	removedAt := func(host string, port int) time.Time {
		t.Helper()
		var at time.Time
		if err := db.QueryRowContext(ctx, "SELECT max(at) FROM "+removals+" WHERE host = $1 AND port = $2", host, port).Scan(&at); err != nil {
			t.Fatal(err)
		}
		return at
	}

	c := mastershiptest.NewCluster(t)
	ep := c.Endpoints()[0]
	const prefix = "/mm-sql"
	t0 := time.Now()
	m := start(t, "m1", []string{dsnEnv + "=" + dsn}, managerArgs(ep, prefix, "m1",
		"--target", "sql",
		"--add-sql", "INSERT INTO "+table+" (host, port) VALUES ($1, $2) ON CONFLICT DO NOTHING",
		"--remove-sql", "WITH d AS (DELETE FROM "+table+" WHERE host = $1 AND port = $2 RETURNING host, port) "+
			"INSERT INTO "+removals+" SELECT host, port, clock_timestamp() FROM d",
		"--list-sql", "SELECT host, port FROM "+table)...)

	eventually(t, within, "the manager fails to list a table that does not exist, and says so", func() bool {
		return strings.Count(m.Stderr.String(), "reconcile failed; retrying") >= 2
	})
	if !strings.Contains(m.Stderr.String(), table) {
		t.Errorf("the manager's error does not name the missing table %s", table)
	}
	exec("CREATE TABLE " + table + " (host text NOT NULL, port integer NOT NULL, PRIMARY KEY (host, port))")
	exec("INSERT INTO "+table+" VALUES ($1, $2)", "10.0.0.99", 5432)

	w := start(t, "w1", nil, workerArgs(ep, prefix, "7001")...)
	eventually(t, within, "the worker is added", func() bool { return has("127.0.0.1", 7001) })
	eventually(t, within, "the node without a worker is removed", func() bool { return !has("10.0.0.99", 5432) })
	if at := removedAt("10.0.0.99", 5432); at.Sub(t0) < graceExpired {
		t.Errorf("node without a worker removed %v after the manager started, before the expiry grace %v", at.Sub(t0), graceExpired)
	}

	tLeave := time.Now()
	w.stop(t, syscall.SIGTERM, within)
	eventually(t, within, "the worker that left is removed", func() bool { return !has("127.0.0.1", 7001) })
	if at := removedAt("127.0.0.1", 7001); at.Sub(tLeave) < graceLeft {
		t.Errorf("worker that left removed %v after it left, before the leave grace %v", at.Sub(tLeave), graceLeft)
	}
	eventually(t, within, "the manager logs the removal as a leave", func() bool { return logged(m, "127.0.0.1:7001", left) })
	if !m.Running() {
		t.Fatalf("the manager ended: %v", m.Err())
	}
}

// pgCtlEnv names a script that stops and starts the PostgreSQL server of
// pgDSNEnv (stop|start); .ci/postgres.sh prints it with the DSN.
const pgCtlEnv = "MASTERSHIP_TEST_PG_CTL"

// pgCtl returns a function that stops or starts the test's PostgreSQL
// server. Without pgCtlEnv the test skips, or fails as pgDSN does.
func pgCtl(t *testing.T) func(action string) {
	t.Helper()
	script := os.Getenv(pgCtlEnv)
	if script == "" {
		msg := fmt.Sprintf("no %s: the script that stops and starts the PostgreSQL server (.ci/postgres.sh prints the line that sets it)", pgCtlEnv)
		if os.Getenv(requirePGEnv) == "1" || os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return func(action string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := osexec.CommandContext(ctx, script, action).CombinedOutput(); err != nil {
			t.Fatalf("%s %s: %v\n%s", script, action, err, out)
		}
	}
}

// TestWorkerFollowsItsDatabase stops and starts the real PostgreSQL server
// under a worker that checks it: the worker leaves the group once its
// database stops answering, without a leaving marker (the manager sees an
// expiry, the longer grace), and joins again when it answers again.
func TestWorkerFollowsItsDatabase(t *testing.T) {
	dsn := pgDSN(t)
	ctl := pgCtl(t)
	c := mastershiptest.NewCluster(t)
	cli := c.Client(t).Client
	ep := c.Endpoints()[0]
	const prefix = "/mm-check"
	key := workersPrefix(prefix) + "/127.0.0.1:7001"
	marker := leavingPrefix(prefix) + "127.0.0.1:7001"
	exists := func(k string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs) == 1
	}

	w := start(t, "w1", []string{checkDSNEnv + "=" + dsn}, append(workerArgs(ep, prefix, "7001"), "--check-interval", "200ms")...)
	eventually(t, within, "the worker joins while its database answers", func() bool { return exists(key) })

	stopped := true
	ctl("stop")
	t.Cleanup(func() {
		if stopped {
			ctl("start")
		}
	})
	eventually(t, within, "the worker leaves once its database stops answering", func() bool { return !exists(key) })
	if exists(marker) {
		t.Errorf("the worker whose database stopped wrote a leaving marker; it must look like an expiry")
	}
	// It leaves after two failed checks in a row, and says so once.
	if l := lines(w, `level=WARN msg="the database does not answer: leaving the group until it does"`); len(l) != 1 || !strings.Contains(l[0], " checks=2 ") {
		t.Errorf("the worker does not say once that it left after two failed checks: %q", l)
	}

	ctl("start")
	stopped = false
	eventually(t, within, "the worker joins again once its database answers", func() bool { return exists(key) })
	if len(lines(w, `msg="the database answers again: joining the group"`)) != 1 {
		t.Errorf("the worker does not say once why it joined again")
	}
	w.stop(t, syscall.SIGTERM, within)
	if exists(key) || !exists(marker) {
		t.Errorf("after SIGTERM, the worker's key is there (%v) or its leaving marker is not (%v)", exists(key), !exists(marker))
	}
}
