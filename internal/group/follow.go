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
	// or on Resync) from one updated by a watch response.
	Fresh bool
	// Changed, in a state updated by a watch response (Fresh false), are
	// the keys that response put or deleted, in its order, a key as often
	// as it changed: every other key of KVs is as it was at the previous
	// Update, so that a caller can update what it built from KVs rather than
	// build it again. It is nil when Fresh. Follow reuses it once Update
	// returns.
	Changed []string
}

// Action is what Follow does after serving a request.
type Action int

// Actions.
const (
	// Continue watching.
	Continue Action = iota
	// Resync: read the prefix afresh at once, report it, and watch from
	// there.
	Resync
	// Stop: Follow returns.
	Stop
)

// Config configures Follow. Client, Prefix and Update are required.
//
// R is the type of the caller's requests, served on Follow's goroutine
// between watch responses, so that they see the state as Update last saw
// it: the resolver's ResolveNow, the selector's Yield.
type Config[R any] struct {
	Client *clientv3.Client
	// Prefix is the key prefix followed, as given to clientv3.WithPrefix.
	Prefix string
	// ReadTimeout bounds one read of the prefix; 0 means none but ctx. A
	// read that takes longer is a failed read.
	ReadTimeout time.Duration
	// Log gets a record for every failed watch ("watch ended;
	// resynchronising", with its err and compactRevision) and read. Nil:
	// no logging.
	Log *slog.Logger
	// Requests are served by Serve while Follow watches (a request made
	// while it reads or backs off waits until it watches again). Nil: none.
	Requests <-chan R
	// Serve serves one request and says what to do next.
	Serve func(R) Action
	// Update is called, on Follow's goroutine, with the state after every
	// read and every watch response that changes something. Follow stops
	// when it returns false.
	Update func(State) bool
	// ReadFailed, if not nil, is called on Follow's goroutine when a read
	// fails; Follow then retries after a backoff.
	ReadFailed func(error)
	// Fatal, if not nil, is called on Follow's goroutine with the error of
	// every failed read and watch. When it returns true Follow returns at
	// once, rather than retry: for an error that retrying cannot cure, such
	// as etcd refusing the client's user.
	Fatal func(error) bool
}

// DefaultReadTimeout is a ReadTimeout for callers that want one.
const DefaultReadTimeout = 5 * time.Second

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
func Follow[R any](ctx context.Context, cfg Config[R], start State) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if start.KVs == nil {
		start.KVs = map[string]KV{}
	}
	f := follower[R]{cfg: cfg}
	f.run(ctx, start)
}

type follower[R any] struct {
	cfg Config[R]
}

// outcome of one watch.
type outcome int

const (
	stop   outcome = iota // ctx ended or Update said so
	failed                // the watch failed: read again after a backoff
	resync                // Serve asked: read again at once
)

func (f *follower[R]) run(ctx context.Context, st State) {
	read := st.Revision <= 0
	fails := 0 // consecutive failures, for the backoff
	for ctx.Err() == nil {
		if read {
			if fails > 0 && backoff.Sleep(ctx, backoff.Delay(fails-1)) != nil {
				return
			}
			next, err := f.read(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if f.cfg.Fatal != nil && f.cfg.Fatal(err) {
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
		case resync:
			fails = 0
		}
		read = true
	}
}

func (f *follower[R]) read(ctx context.Context) (State, error) {
	if f.cfg.ReadTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.cfg.ReadTimeout)
		defer cancel()
	}
	return Read(ctx, f.cfg.Client, f.cfg.Prefix)
}

// watch applies watch responses from st.Revision + 1 to st, and serves
// requests, until the watch fails, Serve or Update says to stop or resync,
// or ctx ends. It resets *fails once the watch delivers, so that the
// backoff counts only consecutive failures.
func (f *follower[R]) watch(ctx context.Context, st State, fails *int) (State, outcome) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := f.cfg.Client.Watch(wctx, f.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(st.Revision+1))
	for {
		select {
		case <-ctx.Done():
			return st, stop
		case req := <-f.cfg.Requests:
			switch f.cfg.Serve(req) {
			case Stop:
				return st, stop
			case Resync:
				return st, resync
			}
			if ctx.Err() != nil {
				return st, stop
			}
		case wr, open := <-wch:
			if !open || wr.Err() != nil {
				if ctx.Err() != nil {
					return st, stop
				}
				if err := wr.Err(); err != nil && f.cfg.Fatal != nil && f.cfg.Fatal(err) {
					return st, stop
				}
				f.cfg.Log.Info("watch ended; resynchronising", "err", wr.Err(), "compactRevision", wr.CompactRevision)
				return st, failed
			}
			*fails = 0
			if len(wr.Events) == 0 {
				continue
			}
			st.Changed = st.Changed[:0]
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				if ev.Type == mvccpb.DELETE {
					delete(st.KVs, key)
				} else {
					st.KVs[key] = KVOf(ev.Kv)
				}
				st.Changed = append(st.Changed, key)
			}
			// The revision reached is the last event's, not the header's: a
			// watch catching up gets its events in batches that all carry
			// etcd's current revision while more are still to come
			// (mvcc's syncWatchers), and a state must not claim a revision
			// whose events it has not seen yet.
			st.Revision = max(st.Revision, wr.Events[len(wr.Events)-1].Kv.ModRevision)
			st.Fresh = false
			if !f.cfg.Update(st) {
				return st, stop
			}
		}
	}
}
