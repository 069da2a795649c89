package group

import (
	"context"
	"log/slog"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/backoff"
)

// State is what Follow knows of a prefix at one revision.
type State struct {
	// KVs are the live keys under the prefix, by key. Follow owns the map
	// and changes it once Update returns: copy what you keep.
	KVs map[string]KV
	// Revision is the etcd revision the state is at.
	Revision int64
	// Fresh tells a state read afresh (at the start, after a failed watch,
	// or on Now) from one updated by a watch response.
	Fresh bool
}

// Config configures Follow. Client, Prefix and Update are required.
type Config struct {
	Client *clientv3.Client
	// Prefix is the key prefix followed, as given to clientv3.WithPrefix.
	Prefix string
	// ReadTimeout bounds one read of the prefix; 0 means 5s. A read that
	// takes longer is a failed read.
	ReadTimeout time.Duration
	// Log gets a record for every failed watch ("watch ended;
	// resynchronising", with its err and compactRevision) and read. Nil:
	// no logging.
	Log *slog.Logger
	// Now, when it receives, makes Follow read the prefix afresh at once,
	// whatever it is doing, and report the result. Nil: never.
	Now <-chan struct{}
	// Update is called, on Follow's goroutine, with the state after every
	// read and every watch response that changes something. Follow stops
	// when it returns false.
	Update func(State) bool
	// ReadFailed, if not nil, is called on Follow's goroutine when a read
	// fails; Follow then retries after a backoff.
	ReadFailed func(error)
}

// DefaultReadTimeout is the ReadTimeout of a zero Config.
const DefaultReadTimeout = 5 * time.Second

// Read reads the prefix at once, with a linearizable read.
func Read(ctx context.Context, cli *clientv3.Client, prefix string) (State, error) {
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return State{}, err
	}
	st := State{KVs: make(map[string]KV, len(resp.Kvs)), Revision: resp.Header.Revision, Fresh: true}
	for _, kv := range resp.Kvs {
		st.KVs[string(kv.Key)] = kvOf(kv)
	}
	return st, nil
}

func kvOf(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: string(kv.Value), CreateRevision: kv.CreateRevision}
}

// Follow keeps the state of cfg.Prefix up to date until ctx ends or
// cfg.Update returns false: a snapshot, then a watch from the snapshot's
// revision + 1, so that nothing is missed or seen twice. Whenever the watch
// fails (a compaction, a lost etcd leader, its channel closing) it reads the
// prefix afresh after a backoff and watches again from there; etcd's own
// naming resolver stops at that point.
//
// The watch requires an etcd leader (clientv3.WithRequireLeader), so that
// an etcd member cut off from its cluster fails it rather than serve a
// stale view. Follow starts from start when start.Revision > 0, without
// calling Update for it, and otherwise reads first.
func Follow(ctx context.Context, cfg Config, start State) {
	f := follower{cfg: cfg}
	if f.cfg.ReadTimeout <= 0 {
		f.cfg.ReadTimeout = DefaultReadTimeout
	}
	if f.cfg.Log == nil {
		f.cfg.Log = slog.New(slog.DiscardHandler)
	}
	f.run(ctx, start)
}

type follower struct {
	cfg Config
}

// outcome of one watch.
type outcome int

const (
	stop   outcome = iota // ctx ended or Update said so
	failed                // the watch failed: read again after a backoff
	now                   // Now received: read again at once
)

func (f *follower) run(ctx context.Context, st State) {
	read := st.Revision <= 0
	fails := 0 // consecutive failures, for the backoff
	for ctx.Err() == nil {
		if read {
			if fails > 0 && !f.wait(ctx, backoff.Delay(fails-1)) {
				return
			}
			rctx, cancel := context.WithTimeout(ctx, f.cfg.ReadTimeout)
			next, err := Read(rctx, f.cfg.Client, f.cfg.Prefix)
			cancel()
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				fails++
				f.cfg.Log.Warn("read failed; will retry", "err", err)
				if f.cfg.ReadFailed != nil {
					f.cfg.ReadFailed(err)
				}
				continue
			}
			st = next
			if !f.cfg.Update(st) {
				return
			}
		}
		var out outcome
		st, out = f.watch(ctx, st, &fails)
		switch out {
		case stop:
			return
		case failed:
			fails++
		case now:
			fails = 0
		}
		read = true
	}
}

// wait sleeps for d, or less if Now receives. It reports false if ctx
// ended.
func (f *follower) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.cfg.Now:
		return true
	case <-ctx.Done():
		return false
	}
}

// watch applies watch responses from st.Revision + 1 to st until the watch
// fails, Now receives, ctx ends or Update returns false. It resets *fails
// once the watch delivers, so that the backoff counts only consecutive
// failures.
func (f *follower) watch(ctx context.Context, st State, fails *int) (State, outcome) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := f.cfg.Client.Watch(wctx, f.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(st.Revision+1))
	for {
		select {
		case <-ctx.Done():
			return st, stop
		case <-f.cfg.Now:
			f.cfg.Log.Debug("reading afresh on request")
			return st, now
		case wr, open := <-wch:
			if !open || wr.Err() != nil {
				if ctx.Err() != nil {
					return st, stop
				}
				f.cfg.Log.Info("watch ended; resynchronising", "err", wr.Err(), "compactRevision", wr.CompactRevision)
				return st, failed
			}
			*fails = 0
			if len(wr.Events) == 0 {
				continue
			}
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					delete(st.KVs, string(ev.Kv.Key))
				} else {
					st.KVs[string(ev.Kv.Key)] = kvOf(ev.Kv)
				}
			}
			st.Revision = max(st.Revision, wr.Header.Revision)
			st.Fresh = false
			if !f.cfg.Update(st) {
				return st, stop
			}
		}
	}
}
