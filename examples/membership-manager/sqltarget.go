package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5/pgconn"

	// The PostgreSQL driver, registered as "pgx" for database/sql.
	_ "github.com/jackc/pgx/v5/stdlib"
)

// The statements of the SQL target by default: Citus's current API (Citus 10
// and later; --add-sql 'SELECT master_add_node($1, $2)' and --remove-sql
// 'SELECT master_remove_node($1, $2)' for Citus before 10). citus_add_node is
// idempotent (it returns the existing node's id), and citus_remove_node
// refuses to remove a node that still holds the only placement of a shard,
// so the manager never loses data. The list leaves out the coordinator
// (group 0) and secondaries, which the manager must never touch.
const (
	defaultAddSQL    = "SELECT citus_add_node($1, $2)"
	defaultRemoveSQL = "SELECT citus_remove_node($1, $2)"
	defaultListSQL   = "SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 AND noderole = 'primary'"
)

// holdsData matches the message of the error with which Citus refuses to
// remove a node that still holds data: "cannot remove or disable the node
// H:P because because it contains the only shard placement for shard N"
// (Citus 11 to 14, node_metadata.c's
// ErrorIfNodeContainsNonRemovablePlacements), and the older "cannot remove
// the primary node of a node group which has shard placements" (Citus 9
// and 10).
var holdsData = regexp.MustCompile(`(?i)shard placement`)

// sqlTarget keeps a PostgreSQL database's node table, Citus's by default.
type sqlTarget struct {
	db                *sql.DB
	add, remove, list string
}

// newSQLTarget opens the database. It does not connect: the first call does,
// and a database that is down is retried like any other error of the target.
func newSQLTarget(dsn, add, remove, list string) (*sqlTarget, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		// The DSN may hold a password: say what failed, not what it was.
		return nil, errors.New("the DSN cannot be parsed (see https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig)")
	}
	// One manager makes one call at a time.
	db.SetMaxOpenConns(2)
	return &sqlTarget{db: db, add: add, remove: remove, list: list}, nil
}

func (t *sqlTarget) List(ctx context.Context) ([]Node, error) {
	rows, err := t.db.QueryContext(ctx, t.list)
	if err != nil {
		return nil, fmt.Errorf("list statement: %w", err)
	}
	defer rows.Close()
	var nodes []Node
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.Host, &n.Port); err != nil {
			return nil, fmt.Errorf("list statement: want rows of (host text, port integer): %w", err)
		}
		nodes = append(nodes, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list statement: %w", err)
	}
	return nodes, nil
}

func (t *sqlTarget) Add(ctx context.Context, n Node) error {
	if _, err := t.db.ExecContext(ctx, t.add, n.Host, n.Port); err != nil {
		return fmt.Errorf("add statement for %s: %w", n, err)
	}
	return nil
}

func (t *sqlTarget) Remove(ctx context.Context, n Node) error {
	if _, err := t.db.ExecContext(ctx, t.remove, n.Host, n.Port); err != nil {
		if pe, ok := errors.AsType[*pgconn.PgError](err); ok && holdsData.MatchString(pe.Message) {
			return fmt.Errorf("remove statement for %s: %w: %w", n, errHoldsData, err)
		}
		return fmt.Errorf("remove statement for %s: %w", n, err)
	}
	return nil
}

func (t *sqlTarget) Close() error { return t.db.Close() }
