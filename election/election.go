package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed764c596d/mastership/internal/member"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/queue"
	"github.com/seed764c596d/mastership/internal/refusal"
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
	lead     *leadership   // nil while not leader
	observed Leader        // the leader as last seen by Run
	seen     sighting      // what Run's follower saw last of the session's key
	seenc    chan struct{} // closed, and replaced, each time seen changes
}

// leadership is one term of this candidate as leader.
type leadership struct {
	ctx    context.Context
	cancel context.CancelFunc
	run    context.Context // Run's: its end ends the leadership
	lease  *lease.Lease    // the session's
	key    string
	rev    int64
	reqs   chan request // Resign and Proclaim, served while it lasts

	// Under Election.mu.
	began bool   // OnStartedLeading was called
	over  bool   // the leadership has ended
	lost  string // why Run's follower ended it: its key lost; "" if not

	stopped chan struct{} // closed once its end is reported (OnStoppedLeading returned, if due)
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
// `etcdctl elect` all take part in one and the same election. An empty
// prefix, and one of slashes only, whose candidates would be every key in
// etcd, are ErrInvalidConfig.
func New(cli *clientv3.Client, prefix string, opts ...Option) (*Election, error) {
	o := options{Config: member.Defaults()}
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("Option", "nil")
		}
		opt.apply(&o)
	}
	if cli == nil {
		return nil, invalid("client", "nil")
	}
	prefix, err := member.Prefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	return &Election{
		cli:    cli,
		prefix: prefix,
		opts:   o,
		log:    o.Log.With("prefix", prefix),
		value:  o.Value,
		seenc:  make(chan struct{}),
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
// ErrAuthFailed that names the refused request; or ErrValueTooLarge when
// etcd refuses the candidate's key for its size (etcd's
// --max-request-bytes, 1.5 MiB by default). Before etcd first grants it a
// lease, Run also ends at once, with ErrTLSHandshake and gRPC's reason,
// when the client's TLS handshake with etcd fails (an untrusted server
// certificate, a client certificate etcd refuses, a TLS client at a plain
// endpoint or a plain client at a TLS one); later connection failures are
// outages, retried. A candidate needs read and
// write permission on the range of its prefix; etcd checks it on every
// request, keep-alives included, so a permission taken away while Run
// leads ends the leadership and Run within a keep-alive interval.
//
// Run keeps one watch open on etcd, of the prefix, from its start to its
// end, across sessions: what it sees reports the leader, decides each
// campaign, and ends a leadership whose key is deleted, created again, or
// detached from the session's lease. After a failed watch it reads the
// prefix afresh, and that read decides.
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
	// The follower's refusal ends the run: its cause says why.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)

	// One follower of the election for the whole Run, and the only watch
	// this candidate keeps open: it reports leader changes to OnNewLeader,
	// through a queue so that a slow callback delays nothing; it decides
	// each campaign (see campaign); and it ends a leadership whose key is
	// lost (see see). Campaigns and leaderships come and go with sessions,
	// while the follower's watch, and what it has seen, carry on.
	q := queue.New[Leader]()
	wg.Go(func() {
		defer q.Close()
		err := follow(ctx, e.cli, e.prefix, e.log, "follow the election", e.see, func(l Leader) {
			// Nothing observed once Run's ctx is done: the watch
			// response and ctx's end may be ready together.
			if ctx.Err() != nil {
				return
			}
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
			if e.mayReport(ctx) && cb.OnNewLeader != nil {
				cb.OnNewLeader(l)
			}
		}
	})

	// Until etcd first grants a lease, a TLS handshake that fails, which
	// would fail again, ends Run at once.
	hctx, stopWatch := refusal.WatchHandshake(ctx, e.cli)
	defer stopWatch()
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 && backoff.Sleep(hctx, backoff.Delay(n-1)) != nil && ctx.Err() != nil {
			break
		}
		l, err := lease.Grant(hctx, e.cli, e.opts.TTL, e.opts.Margin, e.log)
		if err != nil {
			if h := context.Cause(hctx); errors.Is(h, refusal.ErrHandshake) {
				return e.fail(fmt.Errorf("%w: grant a session lease: %w", ErrTLSHandshake, h))
			}
			if r := e.refused(err, "grant a session lease"); r != nil {
				return e.fail(r)
			}
			e.log.Warn("grant session lease failed; will retry", "err", err)
			continue
		}
		// Connected: later failures are outages, retried.
		stopWatch()
		hctx = ctx
		closed, err := e.session(ctx, l, cb)
		if closed {
			n = -1 // the session lived to be closed: no backoff
		}
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

// session campaigns on one session until its lease ends, ctx is done, its
// key cannot be made a candidate, or a Resign fails to delete the key. It
// reports whether ctx ended it (rather than a lost lease, a lost key or a
// failed Resign), and returns a refusal by etcd, which ends Run.
func (e *Election) session(ctx context.Context, l *lease.Lease, cb Callbacks) (bool, error) {
	e.setSession(l)
	key := e.prefix + fmt.Sprintf("%x", int64(l.ID))
	e.lookFor(key, int64(l.ID))
	for {
		// A campaign ends when the lease does: the plain recipe's Campaign
		// keeps waiting on a dead session and can return a phantom win.
		cctx, cancel := context.WithCancel(l.Context())
		stopAfter := context.AfterFunc(ctx, cancel)
		e.mu.Lock()
		value := e.value
		e.mu.Unlock()
		rev, err := e.campaign(cctx, l, key, value)
		if err != nil {
			stopAfter()
			cancel()
			if r := e.refused(err, "campaign with key %q", key); r != nil {
				return false, r
			}
			if errors.Is(err, ErrValueTooLarge) {
				return false, err
			}
			if r := tooLarge(err, value, "campaign: put key %q", key); r != nil {
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
		resignErr := e.hold(ctx, l, key, rev, cctx, cb)
		stopAfter()
		cancel()
		if r := e.refused(l.Err(), "keep the session's lease alive (etcd asks for write permission on its key %q)", key); r != nil {
			return false, r
		}
		if ctx.Err() != nil || l.Err() != nil {
			return ctx.Err() != nil, nil
		}
		if resignErr != nil {
			if r := e.refused(resignErr, "resign: delete key %q", key); r != nil {
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

// campaign puts key, attached to l, with value, unless it is there already
// on l, and waits until it leads: until it is the first candidate under the
// prefix (see leaderAmong). It returns the key's CreateRevision, the epoch.
// It fails when ctx ends, when the key goes or is detached from l (another
// writer's plain put) while it waits, or when the key is there but not on l.
//
// It judges what Run's follower sees of the whole prefix, rather than wait
// for the deletion of the keys created before its own, as
// concurrency.Election's Campaign does: a key without a lease is never
// deleted, yet it is no candidate.
func (e *Election) campaign(ctx context.Context, l *lease.Lease, key, value string) (int64, error) {
	// The registration transaction the selector's members use too. Its read
	// of the prefix, at the key's creation, lets a candidate that is first
	// already (alone, or behind keys all gone) lead at once, without waiting
	// for the follower to see its key's creation.
	c, err := member.Create(ctx, e.cli, key, value, l.ID, e.prefix)
	if err != nil {
		return 0, fmt.Errorf("create key %s: %w", key, err)
	}
	rev := c.Revision
	if c.OK {
		if ld := leaderAmong(e.prefix, c.KVs); ld.Key == key && ld.Epoch == rev {
			return rev, nil
		}
	} else {
		if c.Existing == nil || c.Existing.Lease != int64(l.ID) {
			return 0, fmt.Errorf("key %s is there, but not on this session's lease (another writer's plain put?)", key)
		}
		rev = c.Existing.CreateRevision
		if c.Existing.Value != value {
			if err := e.proclaim(ctx, l, key, rev, value); err != nil {
				return 0, err
			}
		}
	}

	// The follower decides the rest, from the first state it sees at or
	// after the key's creation on. It may be behind, or ahead: what it saw
	// before the creation says nothing of the key, and what it saw after
	// counts, even if it saw it before this campaign looked (see sighting).
	for {
		e.mu.Lock()
		seen, changed := e.seen, e.seenc
		e.mu.Unlock()
		if why := seen.lost(key, rev); why != "" {
			return 0, fmt.Errorf("key %s (created at %d) lost while campaigning: %s", key, rev, why)
		}
		if seen.leads(key, rev) {
			return rev, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, fmt.Errorf("campaign: %w", context.Cause(ctx))
		}
	}
}

// Why a key is lost, as the follower tells it (and the leader logs it).
const (
	keyDeleted  = "leader key deleted from outside"
	keyDetached = "leader key detached from its lease by another writer's put"
)

// sighting is what Run's follower has seen of the key of the current
// session, for that session's campaigns and leaderships, which judge it
// under Election.mu. The follower sees every state it reads or is sent; a
// campaign looks only now and then, at the last one, so the sighting also
// keeps the last state in which the key was missing or detached: a later
// state can show the key back on the lease (another writer's put on the
// lease, say), but never undo its loss, since other candidates may have led
// meanwhile.
type sighting struct {
	key   string // the session's key; "" before the first session
	lease int64  // the session's lease
	// rev is the revision of the follower's last state; kv and leader are
	// the key (the zero KV if missing) and the leader in it.
	rev    int64
	kv     group.KV
	leader Leader
	// goneRev is the revision of the last state without the key on the
	// lease (0: none since the session began), and gone says why.
	goneRev int64
	gone    string
}

// lookFor makes key, on lease, the key that the follower looks out for:
// the current session's. What the follower saw last of the election
// stays; its revision is below the creation of any key put from now on.
func (e *Election) lookFor(key string, lease int64) {
	e.mu.Lock()
	e.seen = sighting{key: key, lease: lease, rev: e.seen.rev, leader: e.seen.leader}
	e.mu.Unlock()
}

// see is the follower's: it records the state st, whose leader is ld, and
// ends the leadership, if any, whose key st shows lost. Ending it here,
// under e.mu, rather than in hold's loop, turns IsLeader, Epoch and Guard
// false the moment the loss is seen.
func (e *Election) see(st group.State, ld Leader) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := &e.seen
	s.rev, s.leader = st.Revision, ld
	if s.key != "" {
		kv, ok := st.KVs[s.key]
		s.kv = kv
		switch {
		case !ok:
			s.goneRev, s.gone = st.Revision, keyDeleted
		case kv.Lease != s.lease:
			s.goneRev, s.gone = st.Revision, keyDetached
		}
	}
	if l := e.lead; l != nil && l.lost == "" {
		if why := s.lost(l.key, l.rev); why != "" {
			l.lost = why
			l.cancel()
		}
	}
	close(e.seenc)
	e.seenc = make(chan struct{})
}

// lost says why key, created at rev on the session's lease, is lost by
// what the follower has seen: deleted, deleted and created again, or
// detached from the lease; "" while it lives, or while the follower has not
// yet seen its creation.
func (s *sighting) lost(key string, rev int64) string {
	switch {
	case key != s.key || s.rev < rev:
		// Not this session's key, or a state from before its creation,
		// which says nothing of it.
		return ""
	case s.goneRev >= rev:
		return s.gone
	case s.kv.CreateRevision != rev:
		return keyDeleted
	}
	return ""
}

// leads reports whether key, created at rev on the session's lease, leads
// by the follower's last state.
func (s *sighting) leads(key string, rev int64) bool {
	return key == s.key && s.rev >= rev && s.lost(key, rev) == "" && s.leader.Key == key && s.leader.Epoch == rev
}

// proclaim sets the value of key, created at rev, while it is attached to l.
func (e *Election) proclaim(ctx context.Context, l *lease.Lease, key string, rev int64, value string) error {
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev), clientv3.Compare(clientv3.LeaseValue(key), "=", l.ID)).
		Then(clientv3.OpPut(key, value, clientv3.WithLease(l.ID))).
		Commit()
	if err != nil {
		if r := tooLarge(err, value, "proclaim: put key %q", key); r != nil {
			return r
		}
		return fmt.Errorf("put key %s: %w", key, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: key %s (created at %d) deleted, or detached from its lease", ErrNotLeader, key, rev)
	}
	return nil
}

// resign deletes key, created at rev, while it is attached to l.
func (e *Election) resign(ctx context.Context, l *lease.Lease, key string, rev int64) error {
	_, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev), clientv3.Compare(clientv3.LeaseValue(key), "=", l.ID)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return fmt.Errorf("delete key %s: %w", key, err)
	}
	return nil
}

// liveLocked reports whether ld is this candidate's leadership and lives:
// not ended, Run's ctx not done, and its lease alive with its safe deadline
// not passed by the clock (lease.Alive, which ends the lease if it has).
// Every role change, role report and callback start asks it, with e.mu
// held, so that nothing learned after the end is acted on.
func (e *Election) liveLocked(ld *leadership) bool {
	if ld == nil || ld.over || e.lead != ld || ld.ctx.Err() != nil || ld.run.Err() != nil {
		return false
	}
	if !ld.lease.Alive() {
		ld.cancel() // Alive ended the lease, and so ld.ctx; said again for clarity
		return false
	}
	return true
}

// mayReport says whether an OnNewLeader call may start: only while Run's ctx
// lives. A leadership past its end is ended first, and its OnStoppedLeading
// has returned before, so that a candidate that wakes past its deadline
// says that it stopped leading before anything else.
func (e *Election) mayReport(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	e.mu.Lock()
	ld := e.lead
	dead := ld != nil && !e.liveLocked(ld)
	if dead {
		ld.cancel()
	}
	e.mu.Unlock()
	if dead {
		<-ld.stopped
	}
	return ctx.Err() == nil
}

// hold holds one leadership until it ends, serving Resign and Proclaim. It
// returns the error of a Resign that failed to delete the key, or etcd's
// refusal of a Proclaim. The
// leadership begins only if, under e.mu, the session lives and its safe
// deadline has not passed; OnStartedLeading starts only if it still lives
// then.
func (e *Election) hold(ctx context.Context, l *lease.Lease, key string, rev int64, cctx context.Context, cb Callbacks) error {
	lctx, end := context.WithCancel(cctx)
	ld := &leadership{
		ctx: lctx, cancel: end, run: ctx, lease: l, key: key, rev: rev,
		reqs: make(chan request), stopped: make(chan struct{}),
	}
	e.mu.Lock()
	e.lead = ld
	if !e.liveLocked(ld) {
		// Won after the end (a frozen process waking past its deadline
		// with the news of its win): never lead on it.
		e.lead, ld.over = nil, true
		e.mu.Unlock()
		end()
		close(ld.stopped)
		e.log.Info("campaign won after the session ended; not leading", "key", key, "epoch", rev, "lease", l.Err())
		return nil
	}
	if why := e.seen.lost(key, rev); why != "" {
		// Won, by the transaction's snapshot or an earlier state, but the
		// follower has seen the key lost since: never lead on it.
		e.lead, ld.over = nil, true
		e.mu.Unlock()
		end()
		close(ld.stopped)
		e.log.Warn("campaign won, but the key was lost since; not leading", "why", why, "key", key, "epoch", rev)
		return nil
	}
	e.mu.Unlock()
	e.stats.terms.Add(1)
	e.log.Info("started leading", "key", ld.key, "epoch", ld.rev)
	e.leading.Go(func() {
		e.mu.Lock()
		ok := e.liveLocked(ld)
		ld.began = ok
		e.mu.Unlock()
		if ok {
			cb.OnStartedLeading(lctx)
		}
	})
	// From here on, Run's follower ends the leadership (lctx) when it sees
	// the key lost: see see.

	stopped := func() {
		e.mu.Lock()
		end()
		ld.over = true
		if e.lead == ld {
			e.lead = nil
		}
		began := ld.began
		e.mu.Unlock()
		e.log.Info("stopped leading", "key", ld.key)
		if began && cb.OnStoppedLeading != nil {
			cb.OnStoppedLeading()
		}
		close(ld.stopped)
	}
	for {
		select {
		case <-lctx.Done():
			e.mu.Lock()
			why := ld.lost
			e.mu.Unlock()
			if why != "" {
				e.log.Warn(why, "key", ld.key)
			}
			stopped()
			if ctx.Err() != nil && l.Err() == nil {
				// Leaving: delete the key now so that the next candidate
				// need not wait for the lease to be revoked.
				rctx, cancel := context.WithTimeout(context.Background(), time.Second)
				e.resign(rctx, l, key, rev)
				cancel()
			}
			return nil
		case r := <-ld.reqs:
			e.mu.Lock()
			live := e.liveLocked(ld)
			if !live {
				end() // the next round takes lctx.Done
			}
			e.mu.Unlock()
			if !live {
				r.reply <- ErrNotLeader
				continue
			}
			if r.resign {
				// Leadership ends before the key goes, so that the successor,
				// which starts when it sees the key go, never overlaps.
				stopped()
				err := e.resign(r.ctx, l, key, rev)
				r.reply <- err
				return err
			}
			// A Proclaim ends with the leadership.
			pctx, cancel := context.WithCancel(r.ctx)
			stop := context.AfterFunc(lctx, cancel)
			err := e.proclaim(pctx, l, key, rev, r.value)
			stop()
			cancel()
			if ref := e.refused(err, "proclaim"); ref != nil {
				// etcd would refuse the next request too, and before 3.5
				// it does not refuse keep-alives: the refusal ends the
				// leadership, and Run with it.
				stopped()
				r.reply <- ref
				return ref
			}
			if err == nil {
				e.mu.Lock()
				e.value = r.value
				e.mu.Unlock()
			}
			r.reply <- err
		}
	}
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
// candidate is not leader, and ErrValueTooLarge, at once, for a value too
// large for etcd (see Run); the leadership and the value stay as they were.
// When etcd refuses the write (ErrPermissionDenied, ErrAuthFailed: on etcd
// 3.4 a lost permission shows here rather than on keep-alives), the
// leadership ends and Run returns the refusal.
func (e *Election) Proclaim(ctx context.Context, value string) error {
	return e.request(ctx, request{value: value})
}

func (e *Election) request(ctx context.Context, r request) error {
	e.mu.Lock()
	ld := e.lead
	live := e.liveLocked(ld)
	e.mu.Unlock()
	if !live {
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
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// IsLeader reports whether this candidate is leader now. It turns false the
// moment the leadership ends, by the clock: past the safe deadline it is
// false even before the deadline's timer has run (a process that wakes
// from a pause, say).
func (e *Election) IsLeader() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.liveLocked(e.lead)
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
	if !e.liveLocked(e.lead) {
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
	if !e.liveLocked(e.lead) {
		return clientv3.Cmp{}, ErrNotLeader
	}
	return clientv3.Compare(clientv3.CreateRevision(e.lead.key), "=", e.lead.rev), nil
}

// Leader reads the current leader from etcd, as `etcdctl elect -l` does,
// except that keys without a lease, or whose id is not valid UTF-8, are no
// candidates (see the package documentation). It returns ErrNoLeader when
// there is none.
func (e *Election) Leader(ctx context.Context) (Leader, error) {
	st, err := group.Read(ctx, e.cli, e.prefix)
	if err != nil {
		return Leader{}, fmt.Errorf("election: read leader: %w", err)
	}
	l := leaderAmong(e.prefix, st.KVs)
	if l.IsZero() {
		return Leader{}, ErrNoLeader
	}
	return l, nil
}
