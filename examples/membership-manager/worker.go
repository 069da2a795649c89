package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/selector"
)

// checkFailures is how many failed checks of its database in a row make a
// worker leave the group: one failure may be a blip.
const checkFailures = 2

// worker registers a worker in the workers' group until ctx ends; then it
// writes its leaving marker and leaves. The marker, <prefix>/leaving/<host:port>,
// is how the manager tells a graceful leave (shorter grace) from an expiry:
// it is written before the member's key is deleted, so a manager that sees
// the key gone already sees the marker. It holds the time of leaving, for
// people; the manager deletes it once the node is out of the target.
//
// With a database to check (c.checkDSN), the worker is in the group only
// while its database answers: it asks every c.checkInterval, joins once an
// answer comes, leaves without a marker (the manager sees an expiry) after
// checkFailures failed checks in a row, and joins again at the next answer.
func worker(ctx context.Context, cli *clientv3.Client, c workerConfig, log *slog.Logger) error {
	base := log // the selector's logs name the member themselves
	log = log.With("id", c.id)
	if c.checkDSN == "" {
		s, err := join(ctx, cli, c, base)
		if err != nil {
			return err
		}
		<-ctx.Done()
		return leave(cli, c, s, log)
	}

	var s *selector.Selector // nil while out of the group
	fails := 0
	first := true
	tick := time.NewTicker(c.checkInterval)
	defer tick.Stop()
loop:
	for {
		err := checkDatabase(ctx, c.checkDSN, c.checkInterval)
		if ctx.Err() != nil {
			break loop
		}
		switch {
		case err != nil:
			fails++
			switch {
			case s != nil && fails >= checkFailures:
				log.Warn("the database does not answer: leaving the group until it does", "checks", fails, "err", err)
				if err := s.Close(); err != nil {
					log.Warn("leaving the group", "err", err)
				}
				s = nil
			case s == nil && fails == 1:
				log.Warn("the database does not answer: not in the group until it does", "err", err)
			default:
				log.Debug("the database does not answer", "checks", fails, "err", err)
			}
		case s == nil:
			if fails > 0 {
				log.Info("the database answers again: joining the group")
			}
			fails = 0
			j, err := join(ctx, cli, c, base)
			switch {
			case err == nil:
				s = j
			case first:
				// As without a check: a worker that cannot join at start
				// (etcd unreachable, a duplicate id) exits.
				return err
			case ctx.Err() == nil:
				log.Warn("could not join the group; trying again at the next check", "err", err)
			}
			first = false
		default:
			fails = 0
		}
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
	}
	if s == nil {
		return nil
	}
	return leave(cli, c, s, log)
}

// checkDatabase connects to the worker's database and runs SELECT 1, within
// timeout.
func checkDatabase(ctx context.Context, dsn string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// join removes the old leaving marker of this worker's address and joins the
// workers' group. log is given to the selector, whose logs name the member.
func join(ctx context.Context, cli *clientv3.Client, c workerConfig, log *slog.Logger) (*selector.Selector, error) {
	marker := leavingPrefix(c.prefix) + c.node.String()
	jctx, cancel := context.WithTimeout(ctx, etcdflags.JoinWait(startWait, c.ttl))
	defer cancel()
	// A marker left by this address's last leave would make a later crash of
	// this worker look like a leave: remove it before joining.
	if _, err := cli.Delete(jctx, marker); err != nil {
		return nil, fmt.Errorf("remove the old leaving marker %s: %w", marker, err)
	}
	s, err := selector.New(jctx, cli, workersPrefix(c.prefix), c.id,
		selector.WithTTL(c.ttl), selector.WithValue(c.node.String()), selector.WithLogger(log),
		// A worker only needs to be in the group: the manager reads it.
		selector.WithoutEvents())
	if err != nil {
		return nil, err
	}
	log.With("id", c.id).Info("registered", "node", c.node.String(), "key", s.Key())
	return s, nil
}

// leave writes the leaving marker, then leaves the group. log names the
// member.
func leave(cli *clientv3.Client, c workerConfig, s *selector.Selector, log *slog.Logger) error {
	marker := leavingPrefix(c.prefix) + c.node.String()
	// The marker first, then the member key: never the other way round.
	// Should the marker fail, the worker still leaves, and the manager takes
	// it for an expiry: a longer grace, never a wrong removal.
	mctx, cancel := context.WithTimeout(context.Background(), c.ttl)
	_, err := cli.Put(mctx, marker, time.Now().UTC().Format(time.RFC3339Nano))
	cancel()
	if err != nil {
		log.Warn("could not write the leaving marker; the manager will see an expiry", "err", err)
	} else {
		log.Info("leaving", "marker", marker)
	}
	return s.Close()
}
