package election

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/queue"
)

// Callbacks are what Run calls as leadership comes and goes.
type Callbacks struct {
	// OnStartedLeading is called, on a goroutine of its own, when this
	// candidate becomes leader. Its ctx is cancelled the moment the
	// leadership ends: at the safe deadline with etcd unreachable, on
	// Resign, when the leader's key is deleted from outside, or when Run's
	// context is done. It must return once ctx is done: Run waits for it
	// before returning, so that no callback outlives Run. Required.
	OnStartedLeading func(ctx context.Context)
	// OnStoppedLeading is called once after every leadership, however it
	// ended, after its context was cancelled. Run does not wait for
	// OnStartedLeading to return first. Optional.
	OnStoppedLeading func()
	// OnNewLeader is called with every change of leader that this
	// candidate observes, in order, including its own leadership and "no
	// leader" (the zero Leader). Calls come from one goroutine and never
	// delay the campaign. Optional.
	OnNewLeader func(Leader)
}

// Election is one candidate in the election under a prefix. Create it with
// New. Its methods are safe for concurrent use.
type Election struct {
	cli    *clientv3.Client
	prefix string // with its trailing "/"
	opts   options
	log    *slog.Logger

	running atomic.Bool
	leading sync.WaitGroup // the OnStartedLeading calls of the current Run
	stats   counters       // for Stats

	mu       sync.Mutex
	value    string
	lead     *leadership // nil while not leader
	observed Leader      // the leader as last seen by Run
}

// leadership is one term of this candidate as leader.
type leadership struct {
	ctx    context.Context
	cancel context.CancelFunc
	key    string
	rev    int64
	reqs   chan request // Resign and Proclaim, served while it lasts
}

type request struct {
	resign bool
	value  string // for Proclaim
	ctx    context.Context
	reply  chan error
}

// New validates its arguments and returns a candidate for the election
// under prefix. Nothing happens in etcd until Run.
//
// The candidate's key is prefix + "/" + its session's lease id in hex, as
// concurrency.Election makes it (a prefix ending in "/" is taken as it is),
// so that this package, the selector package, concurrency.Election and
// `etcdctl elect` all take part in one and the same election.
func New(cli *clientv3.Client, prefix string, opts ...Option) (*Election, error) {
	o := options{ttl: DefaultTTL}
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("Option", "nil")
		}
		opt.apply(&o)
	}
	switch {
	case cli == nil:
		return nil, invalid("client", "nil")
	case prefix == "":
		return nil, invalid("prefix", "empty")
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Election{
		cli:    cli,
		prefix: prefix,
		opts:   o,
		log:    o.log.With("prefix", prefix),
		value:  o.value,
	}, nil
}

// Run campaigns until ctx is done, calling cb as leadership comes and goes.
// After a leadership ends it campaigns again, behind the candidates that
// were already waiting. When its session's lease is lost, it starts a new
// session and campaigns again, with backoff.
//
// When ctx is done, Run ends the leadership, if any, deletes its key and
// revokes its lease so that the next candidate takes over at once, and
// returns nil.
//
// When etcd refuses the candidate's user, which a retry would not change,
// Run ends the same way and returns an error wrapping ErrPermissionDenied or
// ErrAuthFailed that names the refused request. A candidate needs read and
// write permission on the range of its prefix; etcd checks it on every
// request, keep-alives included, so a permission taken away while Run
// leads ends the leadership and Run within a keep-alive interval.
//
// Run waits for its etcd calls to end; one abandoned while etcd was
// unreachable may keep it until etcd answers or the client is closed. It
// also waits for every OnStartedLeading it called to return, and for every
// OnNewLeader call, so that nothing it started outlives it.
func (e *Election) Run(ctx context.Context, cb Callbacks) error {
	if cb.OnStartedLeading == nil {
		return invalid("OnStartedLeading", "nil")
	}
	if !e.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer e.running.Store(false)
	// Registered first, so that it runs last: by then every leadership has
	// ended, and with it the context of every OnStartedLeading call.
	defer e.leading.Wait()

	var wg sync.WaitGroup
	defer wg.Wait()
	// The observer's refusal ends the run: its cause says why.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	// The observer reports leader changes to OnNewLeader, through a queue so
	// that a slow callback delays nothing.
	q := queue.New[Leader]()
	wg.Go(func() {
		defer q.Close()
		err := follow(ctx, e.cli, e.prefix, e.log, func(l Leader) {
			e.mu.Lock()
			e.observed = l
			e.mu.Unlock()
			q.Push(l)
		})
		if err != nil {
			stop(err)
		}
	})
	wg.Go(func() {
		for l := range q.Out() {
			if cb.OnNewLeader != nil {
				cb.OnNewLeader(l)
			}
		}
	})

	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 && backoff.Sleep(ctx, backoff.Delay(n-1)) != nil {
			break
		}
		l, err := lease.Grant(ctx, e.cli, e.opts.ttl, e.opts.margin, e.log)
		if err != nil {
			if r := e.refused(err, "grant a session lease"); r != nil {
				return e.fail(r)
			}
			e.log.Warn("grant session lease failed; will retry", "err", err)
			continue
		}
		// The session's own keep-alive (clientv3's) runs too; it is the
		// lease package that decides when leadership must end.
		sess, err := concurrency.NewSession(e.cli, concurrency.WithLease(l.ID), concurrency.WithContext(l.Context()))
		if err != nil {
			e.log.Warn("session failed; will retry", "err", err)
			e.revoke(l)
			continue
		}
		closed, err := e.session(ctx, l, sess, cb, &wg)
		if closed {
			n = -1 // the session lived to be closed: no backoff
		}
		sess.Orphan()
		e.revoke(l)
		if err != nil {
			return e.fail(err)
		}
	}
	if cause := context.Cause(ctx); isRefusal(cause) {
		return e.fail(cause)
	}
	return nil
}

// refused is refused for this candidate's client and prefix.
func (e *Election) refused(err error, format string, args ...any) error {
	return refused(e.cli, e.prefix, err, format, args...)
}

// fail logs the refusal that ends Run, and returns it.
func (e *Election) fail(err error) error {
	e.log.Error("etcd refused this candidate; Run ends", "err", err)
	return err
}

// revoke gives a lease back, so that its key goes at once; tidy-up with a
// deadline of its own, since the lease expires anyway.
func (e *Election) revoke(l *lease.Lease) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := l.Revoke(ctx); err != nil {
		e.log.Debug("revoke failed; etcd expires the lease after its TTL", "err", err)
	}
}

// session campaigns on one session until its lease ends, ctx is done, or a
// Resign fails to delete the key. It reports whether ctx ended it (rather
// than a lost lease or a failed Resign), and returns a refusal by etcd,
// which ends Run.
func (e *Election) session(ctx context.Context, l *lease.Lease, sess *concurrency.Session, cb Callbacks, wg *sync.WaitGroup) (bool, error) {
	e.setSession(l)
	for {
		// Campaign ends when the lease does: the plain recipe's Campaign
		// keeps waiting on a dead session and can return a phantom win.
		cctx, cancel := context.WithCancel(l.Context())
		stopAfter := context.AfterFunc(ctx, cancel)
		el := concurrency.NewElection(sess, strings.TrimSuffix(e.prefix, "/"))
		e.mu.Lock()
		value := e.value
		e.mu.Unlock()
		won := make(chan error, 1)
		// Campaign cleans up after a cancel with a Resign bounded only by
		// the client, so it runs on its own goroutine that the loop does
		// not wait for; Run waits for it before returning.
		wg.Go(func() { won <- el.Campaign(cctx, value) })
		var err error
		select {
		case err = <-won:
		case <-cctx.Done():
			err = context.Cause(cctx)
		}
		if err == nil && (l.Err() != nil || ctx.Err() != nil) {
			err = fmt.Errorf("campaign won after the session ended")
		}
		if err == nil {
			// Campaign waits only for the keys before its own to go; it
			// does not notice its own key going too.
			err = e.confirm(cctx, el)
		}
		if err != nil {
			stopAfter()
			cancel()
			if r := e.refused(err, "campaign with a key under %q", e.prefix); r != nil {
				return false, r
			}
			if r := e.refused(l.Err(), "keep the session's lease alive (etcd asks for write permission on its key)"); r != nil {
				return false, r
			}
			if ctx.Err() == nil {
				e.log.Info("campaign ended", "err", err, "lease", l.Err())
			}
			return ctx.Err() != nil, nil
		}
		resignErr := e.hold(ctx, l, el, cctx, cb)
		stopAfter()
		cancel()
		if r := e.refused(l.Err(), "keep the session's lease alive (etcd asks for write permission on its key %q)", el.Key()); r != nil {
			return false, r
		}
		if ctx.Err() != nil || l.Err() != nil {
			return ctx.Err() != nil, nil
		}
		if resignErr != nil {
			if r := e.refused(resignErr, "resign: delete key %q", el.Key()); r != nil {
				return false, r
			}
			// The key may still be there, and the first: campaigning again
			// on this session would find it and lead again at once, under
			// the epoch just given up. Ending the session revokes its
			// lease, so that the next candidate takes over.
			e.log.Warn("resign failed; ending the session to hand over", "err", resignErr)
			return false, nil
		}
	}
}

// hold holds one leadership until it ends, serving Resign and Proclaim. It
// returns the error of a Resign that failed to delete the key.
func (e *Election) hold(ctx context.Context, l *lease.Lease, el *concurrency.Election, cctx context.Context, cb Callbacks) error {
	lctx, end := context.WithCancel(cctx)
	ld := &leadership{ctx: lctx, cancel: end, key: el.Key(), rev: el.Rev(), reqs: make(chan request)}
	e.mu.Lock()
	e.lead = ld
	e.mu.Unlock()
	e.stats.terms.Add(1)
	e.log.Info("started leading", "key", ld.key, "epoch", ld.rev)
	e.leading.Go(func() { cb.OnStartedLeading(lctx) })
	gone, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		if e.watchKey(lctx, ld) {
			close(gone)
		}
	}()
	// Every way out of the loop below ends lctx first, which ends the
	// watch; it is awaited so that no goroutine outlives the leadership.
	defer func() { <-watched }()

	stopped := func() {
		end()
		e.mu.Lock()
		e.lead = nil
		e.mu.Unlock()
		e.log.Info("stopped leading", "key", ld.key)
		if cb.OnStoppedLeading != nil {
			cb.OnStoppedLeading()
		}
	}
	for {
		select {
		case <-lctx.Done():
			stopped()
			if ctx.Err() != nil && l.Err() == nil {
				// Leaving: delete the key now so that the next candidate
				// need not wait for the lease to be revoked.
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				el.Resign(rctx)
				cancel()
			}
			return nil
		case <-gone:
			e.log.Warn("leader key deleted from outside", "key", ld.key)
			stopped()
			return nil
		case r := <-ld.reqs:
			if lctx.Err() != nil {
				r.reply <- ErrNotLeader
				continue
			}
			if r.resign {
				// Leadership ends before the key goes, so that the successor,
				// which starts when it sees the key go, never overlaps.
				stopped()
				err := el.Resign(r.ctx)
				r.reply <- err
				return err
			}
			err := el.Proclaim(r.ctx, r.value)
			if err == nil {
				e.mu.Lock()
				e.value = r.value
				e.mu.Unlock()
			}
			r.reply <- err
		}
	}
}

// confirm checks that el's key is the first under the prefix, with the
// revision it was created at: the leader's key.
func (e *Election) confirm(ctx context.Context, el *concurrency.Election) error {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return fmt.Errorf("confirm leadership: %w", err)
	}
	if len(resp.Kvs) == 0 || string(resp.Kvs[0].Key) != el.Key() || resp.Kvs[0].CreateRevision != el.Rev() {
		return fmt.Errorf("campaign won, but its key %s is no longer the first", el.Key())
	}
	return nil
}

// watchKey follows ld's key from its creation until ctx ends, and reports
// whether it was deleted. A watch from the creation revision sees a
// deletion however early it came; a failed watch is replaced after a read
// that tells whether the key still lives.
func (e *Election) watchKey(ctx context.Context, ld *leadership) bool {
	rev := ld.rev
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 {
			if backoff.Sleep(ctx, backoff.Delay(n-1)) != nil {
				return false
			}
			resp, err := e.cli.Get(ctx, ld.key)
			if err != nil {
				// Unknown: the leadership lasts until the safe deadline
				// says otherwise.
				continue
			}
			if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != ld.rev {
				return true
			}
			rev = resp.Header.Revision + 1
		}
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range e.cli.Watch(wctx, ld.key, clientv3.WithRev(rev)) {
			if wr.Err() != nil {
				break
			}
			n = 0
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					cancel()
					return true
				}
			}
		}
		cancel()
	}
	return false
}

// Resign ends this candidate's leadership at once and deletes its key, so
// that the next candidate takes over; Run then campaigns again behind it.
// It returns ErrNotLeader if this candidate is not leader. When the delete
// fails, Resign returns its error with the leadership ended all the same,
// and Run ends the session and revokes its lease, which deletes the key, so
// that the next candidate still takes over, with a larger epoch; Run then
// campaigns again on a new session.
func (e *Election) Resign(ctx context.Context) error {
	return e.request(ctx, request{resign: true})
}

// Proclaim sets the leader's value without a new election, and the value of
// this candidate's later campaigns. It returns ErrNotLeader if this
// candidate is not leader.
func (e *Election) Proclaim(ctx context.Context, value string) error {
	return e.request(ctx, request{value: value})
}

func (e *Election) request(ctx context.Context, r request) error {
	e.mu.Lock()
	ld := e.lead
	e.mu.Unlock()
	if ld == nil {
		return ErrNotLeader
	}
	r.ctx = ctx
	r.reply = make(chan error, 1)
	select {
	case ld.reqs <- r:
	case <-ld.ctx.Done():
		return ErrNotLeader
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.reply:
		if err == concurrency.ErrElectionNotLeader {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsLeader reports whether this candidate is leader now. It turns false the
// moment the leadership ends.
func (e *Election) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lead != nil && e.lead.ctx.Err() == nil
}

// Observed returns the leader as Run last saw it: the zero Leader before Run
// has read the election, or when it has no leader.
func (e *Election) Observed() Leader {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.observed
}

// Epoch returns the epoch of this candidate's leadership, or 0 when it is
// not leader. Hand it to other stores as a fencing token: a store that has
// seen epoch E rejects writes with a smaller one.
func (e *Election) Epoch() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lead == nil || e.lead.ctx.Err() != nil {
		return 0
	}
	return e.lead.rev
}

// Guard returns a comparison that holds only while this leadership lasts in
// etcd: use it in the If of a transaction that only the leader may commit.
// It returns ErrNotLeader when this candidate is not leader.
func (e *Election) Guard() (clientv3.Cmp, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.lead == nil || e.lead.ctx.Err() != nil {
		return clientv3.Cmp{}, ErrNotLeader
	}
	return clientv3.Compare(clientv3.CreateRevision(e.lead.key), "=", e.lead.rev), nil
}

// Leader reads the current leader from etcd, as `etcdctl elect -l` does. It
// returns ErrNoLeader when there is none.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return Leader{}, fmt.Errorf("election: read leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return Leader{}, ErrNoLeader
	}
	kv := resp.Kvs[0]
	return leaderOf(string(kv.Key), string(kv.Value), kv.CreateRevision), nil
}
