package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/internal/backoff"
	"github.com/seed764c596d/mastership/selector"
)

// Connector is what a worker drives as catalogs change. Its methods are
// called from one goroutine, in the order of the changes in etcd.
type Connector interface {
	// Apply creates or updates a catalog. The worker records the catalog's
	// revision as applied only after Apply returns nil; on an error it
	// retries with backoff, and applies nothing after it meanwhile. An
	// error wrapping ErrRefused is not retried: the worker logs it and
	// skips this version of the catalog (it is not among the worker's
	// catalogs, and Use refuses it unless an earlier version was applied).
	Apply(ctx context.Context, c Catalog) error
	// Stop is the first phase of a drop: no new use of the catalog; uses
	// in flight may finish.
	Stop(name string)
	// Release is the second phase: free what the catalog holds.
	Release(name string)
}

// Worker keeps a connector in step with the catalogs in etcd, and records
// the revision it has applied on its member key. Its methods are safe for
// concurrent use.
type Worker struct {
	cli  *clientv3.Client
	keys layout
	conn Connector
	log  *slog.Logger
	sel  *selector.Selector

	mu       sync.Mutex
	catalogs map[string]Catalog
	applied  int64
	dirty    chan struct{} // applied moved, or the registration changed

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// StartWorker loads every catalog, applies it, registers the worker as id
// with the revision it loaded, and follows the catalogs until Close. ctx
// bounds the start.
func StartWorker(ctx context.Context, cli *clientv3.Client, prefix, id string, conn Connector, ttl time.Duration, log *slog.Logger) (*Worker, error) {
	w := &Worker{cli: cli, keys: newLayout(prefix), conn: conn, log: log.With("worker", id),
		catalogs: map[string]Catalog{}, dirty: make(chan struct{}, 1)}
	runCtx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	// Everything first, so that a worker that joins late has it all before
	// it counts as live.
	stop := context.AfterFunc(ctx, cancel)
	err := w.resync(runCtx)
	stop()
	if err != nil {
		cancel()
		return nil, fmt.Errorf("load catalogs: %w", err)
	}
	w.sel, err = selector.New(ctx, cli, w.keys.workers(), id, selector.WithTTL(ttl),
		selector.WithValue(w.record()), selector.WithLogger(log))
	if err != nil {
		cancel()
		return nil, err
	}
	w.done.Add(3)
	go w.follow()
	go w.run(runCtx)
	go w.recorder(runCtx)
	return w, nil
}

// Applied returns the revision up to which every change has been applied.
func (w *Worker) Applied() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.applied
}

// Catalogs returns the catalogs this worker has applied, dropping ones
// included, by name.
func (w *Worker) Catalogs() map[string]Catalog {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.catalogs)
}

// Use checks that a catalog may be used now: it returns ErrUnknownCatalog
// or ErrDropping otherwise.
func (w *Worker) Use(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c, ok := w.catalogs[name]
	switch {
	case !ok:
		return fmt.Errorf("%w: %q", ErrUnknownCatalog, name)
	case c.Dropping:
		return fmt.Errorf("%w: %q", ErrDropping, name)
	}
	return nil
}

// Close stops following the catalogs and leaves the group, revoking the
// worker's lease. The catalogs stay applied in the connector.
func (w *Worker) Close() error {
	err := w.sel.Close()
	w.cancel()
	w.done.Wait()
	return err
}

func (w *Worker) record() string {
	b, _ := json.Marshal(workerRecord{Applied: w.Applied()})
	return string(b)
}

func (w *Worker) signal() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// follow reads the selector's events: a new registration writes the record
// last set, and the recorder checks it against what has been applied since.
func (w *Worker) follow() {
	defer w.done.Done()
	for ev := range w.sel.Events() {
		if ev.Type == events.InitMaster || ev.Type == events.InitSlave {
			w.signal()
		}
	}
}

// recorder writes the applied revision on the worker's key, keeping its
// lease, whenever it moves or the key is re-created. Writes coalesce: only
// the latest revision matters.
func (w *Worker) recorder(ctx context.Context) {
	defer w.done.Done()
	var lastRev, lastApplied int64 // the registration and revision last written
	for n := 0; ; {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
		}
		for ctx.Err() == nil {
			self, ok := w.sel.View().Node(w.sel.ID())
			applied := w.Applied()
			if !ok {
				break // not registered: the Init event of the next registration signals
			}
			if self.CreateRevision != lastRev {
				// A new registration: its key holds the record given at
				// start, or one written since.
				var rec workerRecord
				json.Unmarshal([]byte(self.Value), &rec)
				lastRev, lastApplied = self.CreateRevision, rec.Applied
			}
			if applied <= lastApplied {
				break // up to date
			}
			// In place, on the registration's key (the selector's SetValue,
			// guarded by its CreateRevision and lease); kept for the next
			// registration too.
			err := w.sel.SetValue(ctx, w.record())
			if err == nil {
				lastRev, lastApplied, n = self.CreateRevision, applied, 0
				w.log.Debug("recorded applied revision", "applied", applied)
				continue
			}
			if errors.Is(err, selector.ErrNotRegistered) {
				break // the key is gone; the next registration signals
			}
			w.log.Warn("record applied revision failed; will retry", "err", err)
			backoff.Sleep(ctx, backoff.Delay(n))
			n++
		}
	}
}

// run follows the catalogs from the loaded revision until ctx ends:
// a watch from the revision after the last applied, and after the watch
// fails (a compaction, a lost etcd leader) a fresh read, applying only the
// difference.
func (w *Worker) run(ctx context.Context) {
	defer w.done.Done()
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 {
			if backoff.Sleep(ctx, backoff.Delay(n-1)) != nil {
				return
			}
			if err := w.resync(ctx); err != nil {
				if ctx.Err() == nil {
					w.log.Warn("resync failed; will retry", "err", err)
				}
				continue
			}
		}
		w.watch(ctx, &n)
	}
}

func (w *Worker) watch(ctx context.Context, n *int) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := w.cli.Watch(wctx, w.keys.catalogs(), clientv3.WithPrefix(), clientv3.WithRev(w.Applied()+1))
	for {
		select {
		case <-ctx.Done():
			return
		case wr, open := <-wch:
			if !open || wr.Err() != nil {
				if ctx.Err() == nil {
					w.log.Info("watch ended; resynchronising", "err", wr.Err(), "compactRevision", wr.CompactRevision)
				}
				return
			}
			*n = 0
			for _, ev := range wr.Events {
				name := string(ev.Kv.Key[len(w.keys.catalogs()):])
				if ev.Type == mvccpb.DELETE {
					w.drop(name, ev.Kv.ModRevision)
					continue
				}
				c, err := decodeCatalog(name, ev.Kv.Value, ev.Kv.ModRevision)
				if err != nil {
					w.log.Error("catalog unreadable; skipped", "err", err)
					continue
				}
				if !w.put(ctx, c) {
					return
				}
			}
			// The last event's revision, not the header's: a watch catching
			// up gets its events in batches that all carry etcd's current
			// revision while more are still to come, and a worker must not
			// claim a revision whose catalogs it has not applied.
			if len(wr.Events) > 0 {
				w.advance(wr.Events[len(wr.Events)-1].Kv.ModRevision)
			}
		}
	}
}

// resync reads every catalog and applies the difference from what this
// worker holds: catalogs gone are stopped and released, new and changed ones
// applied.
func (w *Worker) resync(ctx context.Context) error {
	resp, err := w.cli.Get(ctx, w.keys.catalogs(), clientv3.WithPrefix())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, kv := range resp.Kvs {
		name := string(kv.Key[len(w.keys.catalogs()):])
		seen[name] = true
		c, err := decodeCatalog(name, kv.Value, kv.ModRevision)
		if err != nil {
			w.log.Error("catalog unreadable; skipped", "err", err)
			continue
		}
		if old, ok := w.Catalogs()[name]; ok && old.Revision == c.Revision {
			continue
		}
		if !w.put(ctx, c) {
			return ctx.Err()
		}
	}
	for name := range w.Catalogs() {
		if !seen[name] {
			w.drop(name, resp.Header.Revision)
		}
	}
	w.advance(resp.Header.Revision)
	return nil
}

// put applies a created, updated or dropping catalog, retrying a failed
// apply until it succeeds or ctx ends (false).
func (w *Worker) put(ctx context.Context, c Catalog) bool {
	old, had := w.Catalogs()[c.Name]
	if c.Dropping {
		if !had {
			// First seen while being dropped (this worker started or came
			// back meanwhile): there is nothing to stop, and it must not
			// be used.
			return true
		}
		if !old.Dropping {
			w.conn.Stop(c.Name)
			w.log.Info("catalog stopped: no new use (drop, phase 1)", "catalog", c)
		}
		w.set(c)
		return true
	}
	for n := 0; ; n++ {
		err := w.conn.Apply(ctx, c)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return false
		}
		if errors.Is(err, ErrRefused) {
			w.log.Error("catalog refused by the connector; skipped", "catalog", c, "err", err)
			return true
		}
		w.log.Warn("apply failed; will retry", "catalog", c, "err", err)
		if backoff.Sleep(ctx, backoff.Delay(n)) != nil {
			return false
		}
	}
	w.set(c)
	w.log.Info("catalog applied", "catalog", c)
	return true
}

// drop releases a catalog whose key is gone (drop, phase 2), stopping it
// first if phase 1 was never seen.
func (w *Worker) drop(name string, rev int64) {
	w.mu.Lock()
	old, had := w.catalogs[name]
	delete(w.catalogs, name)
	w.mu.Unlock()
	if !had {
		return
	}
	if !old.Dropping {
		w.conn.Stop(name)
	}
	w.conn.Release(name)
	w.log.Info("catalog released (drop, phase 2)", "name", name, "revision", rev)
}

func (w *Worker) set(c Catalog) {
	w.mu.Lock()
	w.catalogs[c.Name] = c
	w.mu.Unlock()
}

// advance records that every change up to rev is applied.
func (w *Worker) advance(rev int64) {
	w.mu.Lock()
	if rev > w.applied {
		w.applied = rev
	}
	w.mu.Unlock()
	w.signal()
}
