package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// citusFixture is the Citus-shaped test fixture: testdata's SQL gives a plain
// PostgreSQL Citus v14.0.1's pg_dist_node, pg_dist_placement and node
// functions, written in PL/pgSQL. It is not Citus; the file says what it
// models and where each piece comes from.
const citusFixture = "testdata/citus-14.0.1-fixture.sql"

// loadCitusFixture loads the fixture into a schema of this test's own, which
// it drops when t ends, and returns a connection to it and a DSN whose
// search_path is that schema, so that the manager's default statements
// (citus_add_node, citus_remove_node, pg_dist_node) find the fixture's.
func loadCitusFixture(t *testing.T, ctx context.Context) (*sql.DB, string) {
	t.Helper()
	dsn := pgDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	schema := fmt.Sprintf("mm_citus_%d_%d", os.Getpid(), time.Now().UnixNano())
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL at %s=...: %v", pgDSNEnv, err)
	}
	t.Cleanup(func() { admin.Exec("DROP SCHEMA " + schema + " CASCADE") })
	sdsn := withSearchPath(t, dsn, schema)
	db, err := sql.Open("pgx", sdsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fixture, err := os.ReadFile(filepath.FromSlash(citusFixture))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, string(fixture)); err != nil {
		t.Fatalf("load %s: %v", citusFixture, err)
	}
	return db, sdsn
}

// withSearchPath sets the search_path run-time parameter in a DSN, a URL or
// keyword/value pairs.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	if !strings.Contains(dsn, "://") {
		return dsn + " search_path=" + schema
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: not a URL", pgDSNEnv)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestCitusFixture runs a manager with its default statements, Citus's
// citus_add_node and citus_remove_node, against the Citus-shaped fixture on
// a real PostgreSQL. Two nodes are registered with no worker: one without
// placements, removed after the expiry grace, and one that holds the only
// placement of a shard, which citus_remove_node refuses to remove. The
// manager keeps that one, warns once with Citus's error, does not count it
// as a failure, and removes it once the test has moved its placement to
// another node (as citus_move_shard_placement or citus_drain_node would).
// A worker that joins is added, and its node keeps the shard when it leaves.
func TestCitusFixture(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, dsn := loadCitusFixture(t, ctx)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	has := func(host string, port int) bool {
		var n int
		err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_dist_node WHERE nodename = $1 AND nodeport = $2", host, port).Scan(&n)
		return err == nil && n == 1
	}
	addNode := func(host string, port int) (id int) {
		t.Helper()
		if err := db.QueryRowContext(ctx, "SELECT citus_add_node($1, $2)", host, port).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}

	// The fixture behaves as Citus documents: adding a node twice gives
	// the same id; removing one that holds the only placement of a shard
	// fails with Citus's error.
	empty := addNode("10.0.0.99", 5432)
	if again := addNode("10.0.0.99", 5432); again != empty {
		t.Fatalf("citus_add_node of an existing node returned %d, want its id %d", again, empty)
	}
	addNode("10.0.0.98", 5432)
	exec("INSERT INTO pg_dist_placement (shardid, shardstate, shardlength, groupid) " +
		"SELECT 102008, 1, 0, groupid FROM pg_dist_node WHERE nodename = '10.0.0.98'")
	const citusError = "cannot remove or disable the node 10.0.0.98:5432 because because it contains the only shard placement for shard 102008"
	if _, err := db.ExecContext(ctx, "SELECT citus_remove_node('10.0.0.98', 5432)"); err == nil || !strings.Contains(err.Error(), citusError) {
		t.Fatalf("citus_remove_node of a node with the only placement: %v, want %q", err, citusError)
	}

	c := mastershiptest.NewCluster(t)
	ep := c.Endpoints()[0]
	const prefix = "/mm-citus"
	m := start(t, "m1", []string{dsnEnv + "=" + dsn}, managerArgs(ep, prefix, "m1", "--target", "sql")...)
	w := start(t, "w1", nil, workerArgs(ep, prefix, "7001")...)
	eventually(t, within, "the worker is added with citus_add_node", func() bool { return has("127.0.0.1", 7001) })
	eventually(t, within, "the node without placements is removed", func() bool { return !has("10.0.0.99", 5432) })
	// The row goes before the manager logs its removal: wait for the line.
	eventually(t, within, "the removal of 10.0.0.99:5432 is logged as an expiry", func() bool { return logged(m, "10.0.0.99:5432", expired) })

	// The node with the only placement stays; after a few more tries, one
	// warning and no failure.
	eventually(t, within, "the manager tries again to remove the node that holds data", func() bool {
		return len(lines(m, `msg="still holds data; not removed" .*node=10\.0\.0\.98:5432`)) >= 3
	})
	if !has("10.0.0.98", 5432) {
		t.Fatal("the node that holds the only placement of a shard is gone")
	}
	log := m.Stderr.String()
	if n := len(lines(m, `level=WARN msg="holds data: kept until its data is moved away.* node=10\.0\.0\.98:5432`)); n != 1 {
		t.Errorf("%d warnings that 10.0.0.98:5432 holds data, want 1", n)
	}
	if !strings.Contains(log, citusError) {
		t.Errorf("the warning does not give Citus's error %q", citusError)
	}
	if strings.Contains(log, "reconcile failed") {
		t.Errorf("a node that holds data made a reconciliation fail")
	}
	addr := addrOf(t, m)
	if code, body := get(addr, "/manager-ready"); code != http.StatusOK {
		t.Errorf("/manager-ready while a node holds data: %d %q, want 200", code, body)
	}
	if _, body := get(addr, "/metrics"); !strings.Contains(body, `membership_manager_nodes_holding_data{id="m1"} 1`) {
		t.Errorf("/metrics does not count the node that holds data:\n%s", body)
	}

	// Move the placement to the worker's node, as a shard move would: the
	// node is removed.
	exec("UPDATE pg_dist_placement SET groupid = (SELECT groupid FROM pg_dist_node WHERE nodename = '127.0.0.1' AND nodeport = 7001) WHERE shardid = 102008")
	eventually(t, within, "the drained node is removed", func() bool { return !has("10.0.0.98", 5432) })
	// The row goes before the manager logs its removal: wait for the line.
	removed := `msg="removed once its data was moved away" .*node=10\.0\.0\.98:5432`
	eventually(t, within, "the removal of the drained node is logged as such", func() bool { return len(lines(m, removed)) >= 1 })
	if n := len(lines(m, removed)); n != 1 {
		t.Errorf("the removal of the drained node is logged %d times, want once", n)
	}

	// The worker leaves; its node now holds the shard and stays.
	w.stop(t, syscall.SIGTERM, within)
	eventually(t, within, "the manager keeps the node of the worker that left, which holds data", func() bool {
		return len(lines(m, `level=WARN msg="holds data: kept .* node=127\.0\.0\.1:7001 reason=left`)) == 1
	})
	if !has("127.0.0.1", 7001) {
		t.Fatal("the node of the worker that left, which holds the only placement, is gone")
	}
	if !m.Running() {
		t.Fatalf("the manager ended: %v", m.Err())
	}
}

// lines returns the lines of p's standard error that match the pattern.
func lines(p *proc, pattern string) []string {
	re := regexp.MustCompile(pattern)
	var out []string
	for _, l := range strings.Split(p.Stderr.String(), "\n") {
		if re.MatchString(l) {
			out = append(out, l)
		}
	}
	return out
}
