package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/selector"
)

// worker registers a worker in the workers' group until ctx ends; then it
// writes its leaving marker and leaves. The marker, <prefix>/leaving/<host:port>,
// is how the manager tells a graceful leave (shorter grace) from an expiry:
// it is written before the member's key is deleted, so a manager that sees
// the key gone already sees the marker. It holds the time of leaving, for
// people; the manager deletes it once the node is out of the target.
func worker(ctx context.Context, cli *clientv3.Client, c workerConfig, log *slog.Logger) error {
	marker := leavingPrefix(c.prefix) + c.node.String()
	jctx, cancel := context.WithTimeout(ctx, etcdflags.JoinWait(startWait, c.ttl))
	defer cancel()
	// A marker left by this address's last leave would make a later crash of
	// this worker look like a leave: remove it before joining.
	if _, err := cli.Delete(jctx, marker); err != nil {
		return fmt.Errorf("remove the old leaving marker %s: %w", marker, err)
	}
	s, err := selector.New(jctx, cli, workersPrefix(c.prefix), c.id,
		selector.WithTTL(c.ttl), selector.WithValue(c.node.String()), selector.WithLogger(log),
		// A worker only needs to be in the group: the manager reads it.
		selector.WithoutEvents())
	if err != nil {
		return err
	}
	log = log.With("id", c.id)
	log.Info("registered", "node", c.node.String(), "key", s.Key())
	<-ctx.Done()

	// The marker first, then the member key: never the other way round.
	// Should the marker fail, the worker still leaves, and the manager takes
	// it for an expiry: a longer grace, never a wrong removal.
	mctx, cancel := context.WithTimeout(context.Background(), c.ttl)
	_, err = cli.Put(mctx, marker, time.Now().UTC().Format(time.RFC3339Nano))
	cancel()
	if err != nil {
		log.Warn("could not write the leaving marker; the manager will see an expiry", "err", err)
	} else {
		log.Info("leaving", "marker", marker)
	}
	return s.Close()
}
