package selector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/seed764c596d/mastership/internal/member"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/queue"
	"github.com/seed764c596d/mastership/internal/refusal"
)

// Selector is one member of a group. Create it with New; its methods are
// safe for concurrent use.
type Selector struct {
	cli    *clientv3.Client
	prefix string // with its trailing "/"
	id     string
	key    string
	opts   options
	log    *slog.Logger
	q      *queue.Queue[events.Event]
	stats  counters // for Stats

	runCtx  context.Context    // ends on Close
	stop    context.CancelFunc // ends the run loop
	stopped chan struct{}      // closed when the run loop has exited
	yieldc  chan chan error
	closeMu sync.Mutex
	closed  bool
	setMu   sync.Mutex // one SetValue at a time
	err     error      // from Close

	mu        sync.Mutex
	state     State
	reg       *registration // nil while not registered
	view      events.View   // the view of the last emitted event, or newer
	masterCtx context.Context
	masterEnd context.CancelFunc
	masterRev int64  // this member's CreateRevision when its mastership began
	failed    error  // the refusal that ended the member, for Err
	value     string // the value of the member's key: WithValue's, then SetValue's

	logged map[string]bool // stray keys logged; run loop only
}

// New validates its arguments, registers the member id under prefix and
// returns once it is registered, with its first event (InitMaster or
// InitSlave) waiting on Events. While etcd cannot be reached it retries,
// until ctx is done, and its error then says why the connection failed when
// gRPC knows. ctx bounds only the registration, not the Selector's life,
// which lasts until Close.
//
// A connection that retrying will not fix ends New at once, with an error
// wrapping ErrTLSHandshake that gives gRPC's reason: a TLS handshake that
// fails (etcd's certificate signed by a CA the client does not trust, a
// client certificate etcd refuses, such as an expired one, a TLS client at
// a plain endpoint), or etcd closing each connection before answering, as
// a TLS endpoint does to a plain-text client. So does a value too large for
// etcd (ErrValueTooLarge): etcd takes requests up to its
// --max-request-bytes, 1.5 MiB by default.
//
// The member's key is prefix + "/" + id (a prefix ending in "/" is taken as
// it is); a prefix that covers the whole keyspace ("/") and an id that is
// empty, not valid UTF-8 or contains "/" are ErrInvalidConfig. If the key
// is held by another lease, New waits for that lease to run out, so that a
// member restarting after a crash under the same id simply comes back; it
// returns ErrDuplicateID once the holder's TTL shows keep-alives (see the
// package documentation), or the key is still held after twice the
// holder's TTL plus 5s.
//
// If etcd refuses the member's user (it lacks read and write permission on
// the range of prefix, or its credentials are not accepted), New returns at
// once an error wrapping ErrPermissionDenied or ErrAuthFailed that names the
// request and the key or range, without retrying.
func New(ctx context.Context, cli *clientv3.Client, prefix, id string, opts ...Option) (*Selector, error) {
	o := options{Config: member.Defaults()}
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("Option", "nil")
		}
		opt.apply(&o)
	}
	switch {
	case cli == nil:
		return nil, invalid("client", "nil")
	case id == "":
		return nil, invalid("id", "empty")
	case !utf8.ValidString(id):
		return nil, invalid("id", "%q is not valid UTF-8", id)
	case strings.Contains(id, "/"):
		return nil, invalid("id", "%q contains \"/\"", id)
	}
	prefix, err := member.Prefix(prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Selector{
		cli:     cli,
		prefix:  prefix,
		id:      id,
		key:     prefix + id,
		opts:    o,
		log:     o.Log.With("prefix", prefix, "id", id),
		stopped: make(chan struct{}),
		yieldc:  make(chan chan error),
		stats:   newCounters(),
		value:   o.Value,
	}
	// A TLS handshake that fails would fail again: registration ends at
	// once, rather than when ctx does.
	regCtx, stopWatch := refusal.WatchHandshake(ctx, cli)
	defer stopWatch()
	reg, err := s.register(regCtx, 0)
	for n := 0; err != nil; n++ {
		if h := context.Cause(regCtx); errors.Is(h, refusal.ErrHandshake) {
			return nil, fmt.Errorf("%w: register %q: %w", ErrTLSHandshake, s.key, h)
		}
		// etcd may be unreachable for a moment: retry until ctx ends, but
		// not a duplicate, which waiting has already confirmed, nor a
		// refusal, which would only be refused again.
		if errors.Is(err, ErrDuplicateID) || isRefusal(err) {
			return nil, err
		}
		s.log.Info("register failed; will retry", "err", err)
		if serr := backoff.Sleep(regCtx, backoff.Delay(n)); serr != nil {
			if h := context.Cause(regCtx); errors.Is(h, refusal.ErrHandshake) {
				return nil, fmt.Errorf("%w: register %q: %w", ErrTLSHandshake, s.key, h)
			}
			// clientv3 reports only the deadline when it never connected:
			// ask the connection why (a TLS mismatch, say).
			if cerr := refusal.Unreachable(cli, 500*time.Millisecond); cerr != nil {
				return nil, fmt.Errorf("%w (last error: %v; connection to etcd: %v)", serr, err, cerr)
			}
			return nil, fmt.Errorf("%w (last error: %v)", serr, err)
		}
		reg, err = s.register(regCtx, 0)
	}
	stopWatch()
	s.runCtx, s.stop = context.WithCancel(context.Background())
	if !s.opts.noEvents {
		s.q = queue.New[events.Event]()
	}
	s.start(s.runCtx, reg)
	if cause := context.Cause(reg.ctx); !reg.published && isRefusal(cause) {
		// etcd refused the read of the group, which the registration
		// does not make: the member ends before it began.
		reg.sub.Close()
		reg.stopCloseHook()
		s.giveUp(s.runCtx, reg.lease)
		s.stop()
		if s.q != nil {
			s.q.Close()
		}
		return nil, cause
	}
	go s.run(s.runCtx, reg)
	return s, nil
}

// Events returns the channel of this member's events, in order, none
// dropped: the first is InitMaster or InitSlave, and each later one follows
// the order of the events package. It never blocks the member's keep-alives
// or its safe deadline: events wait in memory until read. After Close it
// delivers what is left, ending with Offline, and then closes; read it until
// it closes, or its goroutine stays blocked. It also closes, after Offline,
// when etcd refuses the member (see Err).
//
// For a member made WithoutEvents, Events returns nil: there is nothing to
// read, and a receive from it blocks for ever.
func (s *Selector) Events() <-chan events.Event {
	if s.q == nil {
		return nil
	}
	return s.q.Out()
}

// ID returns this member's id.
func (s *Selector) ID() string { return s.id }

// Key returns this member's key in etcd.
func (s *Selector) Key() string { return s.key }

// View returns a copy of this member's current view of its group; the zero
// View while it is not registered. It costs a copy of the group: a program
// that follows a large group reads the views its events carry.
func (s *Selector) View() events.View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.Clone()
}

// State returns the state of the registration. It turns Offline at the safe
// deadline, even before the Offline event is emitted.
func (s *Selector) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == Refresh && !s.live(s.reg) {
		return Offline
	}
	return s.state
}

// IsMaster reports whether this member is master now. It turns false at the
// moment the mastership ends, even before the event that says so is emitted.
func (s *Selector) IsMaster() bool {
	return s.MasterContext().Err() == nil
}

// MasterContext returns a context that lives exactly as long as the current
// mastership: it is cancelled when this member yields, closes, loses its
// registration, or reaches its safe deadline with etcd unreachable. When
// this member is not master, it returns an already cancelled context. Do
// master-only work under it.
func (s *Selector) MasterContext() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.masterCtx == nil || !s.live(s.reg) {
		return cancelled
	}
	return s.masterCtx
}

var cancelled = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// Epoch returns the epoch of the current master in this member's view: the
// CreateRevision of its key. It only grows, so a store that has seen epoch E
// can reject writes from any master with a smaller one. It is 0 while this
// member is not registered.
func (s *Selector) Epoch() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.view.Epoch()
}

// Guard returns a comparison that holds only while this mastership lasts in
// etcd: use it in the If of a transaction that only the master may commit.
// It returns ErrNotMaster when this member is not master.
//
// The comparison holds while this member's key exists with the
// CreateRevision it had when the mastership began. No other member can
// become master while that key exists, since new keys get larger revisions.
func (s *Selector) Guard() (clientv3.Cmp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.masterCtx == nil || s.masterCtx.Err() != nil || !s.live(s.reg) {
		return clientv3.Cmp{}, ErrNotMaster
	}
	return clientv3.Compare(clientv3.CreateRevision(s.key), "=", s.masterRev), nil
}

// Err returns why the member ended by itself: nil while it runs, and after
// Close; once etcd has refused it, an error wrapping ErrPermissionDenied or
// ErrAuthFailed that names the refused request, or ErrValueTooLarge when
// etcd refused to write its key for its size (its limit lowered since New,
// say). A member ends by itself
// only on such a refusal, which it would only get again if it retried: its
// user lost a permission on the prefix, was deleted, or had its password
// changed. etcd checks permissions when a request is made: a resync, a
// registration, a Yield, and, on etcd 3.7 (3.5 from 3.5.31, 3.6 from
// 3.6.9: tested on 3.5.36 and 3.6.17), a keep-alive (write permission on
// the member's key), which ends the member within a keep-alive interval. etcd 3.4 renews the lease
// without a check: there a member whose permission was revoked or whose
// user was deleted ends only at its next request that etcd checks, such as
// a Yield or a registration (see "Permissions and TLS" in the package doc).
// The member then emits Offline, gives its lease back if etcd lets it (or
// etcd expires it after its TTL), and Events closes; Err is set before
// Events closes.
func (s *Selector) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// live reports whether reg is a registration whose events may be emitted
// and whose roles may be acted on: Close has not begun, it has not ended,
// and its safe deadline has not passed by the clock. Past the deadline, it
// ends reg's lease, which ends reg. The caller holds s.mu.
//
// Timers and channels cannot say this: a process frozen past its deadline
// (a stop-the-world pause, SIGSTOP, a suspended VM) wakes with its deadline
// timer and its watch responses ready at once, and Go's select takes them in
// no set order.
func (s *Selector) live(reg *registration) bool {
	return reg != nil && s.runCtx != nil && s.runCtx.Err() == nil &&
		reg.ctx.Err() == nil && reg.lease.Alive()
}

// emit stamps evs with the time and queues them. The caller holds s.mu, and
// so the time is that of the check that the registration lives: no event
// is stamped after the end of its registration.
func (s *Selector) emit(evs []events.Event) {
	now := time.Now()
	// The arguments of a log record cost O(N) for an event that names every
	// slave: build them only for a logger that keeps the record.
	logging := s.log.Enabled(context.Background(), slog.LevelInfo)
	for i := range evs {
		evs[i].Time = now
		s.stats.transitions[evs[i].Type].Add(1)
		if logging {
			s.log.Info("event", "type", evs[i].Type, "nodes", events.IDs(evs[i].Nodes), "master", evs[i].View.Master().ID, "epoch", evs[i].View.Epoch())
		}
	}
	if s.q != nil {
		s.q.Push(evs...)
	}
}

// publish makes next the current view of reg and emits the events from the
// previous one to it: from the changes between them when the previous view
// was the one before next, or else (changes nil) from the whole views. It keeps the master context in step: a context is
// made for each mastership before its event is emitted, and cancelled
// before the event that ends it. It reports false, and publishes nothing,
// once reg has ended (see live): what a member learns after the end of its
// registration is never emitted or acted on, and the run loop emits Offline
// first.
func (s *Selector) publish(reg *registration, next events.View, changes []events.Change) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live(reg) {
		return false
	}
	var evs []events.Event
	if changes != nil && s.view.Revision > 0 {
		// A change costs this member in proportion to its size, not to the
		// group's: both views have this member (update checked its key),
		// and differ only in changes.
		evs = events.DiffChanges(s.view, next, changes)
	} else {
		evs = events.Diff(s.view, next)
		// The events carry the view that every member of the group on
		// this client shares, not a copy of their own.
		for i := range evs {
			evs[i].View = next
		}
	}
	live := s.masterCtx != nil && s.masterCtx.Err() == nil
	if next.IsMaster() {
		if !live || s.masterRev != next.Epoch() {
			if s.masterEnd != nil {
				s.masterEnd()
			}
			if !startsMastership(evs) {
				// This member was master, ended its mastership by Yield,
				// and is master again under a new epoch: its successor
				// left before this member's key was re-created. The new
				// mastership is announced as one.
				evs = append([]events.Event{{Type: events.ChangeToMaster, Nodes: next.Slaves(), View: next}}, evs...)
			}
			s.masterCtx, s.masterEnd = context.WithCancel(reg.ctx)
			s.masterRev = next.Epoch()
		}
	} else if s.masterEnd != nil {
		s.masterEnd()
		s.masterCtx, s.masterEnd = nil, nil
	}
	s.view = next
	s.emit(evs)
	return true
}

func startsMastership(evs []events.Event) bool {
	for _, e := range evs {
		if e.Type.MakesMaster() {
			return true
		}
	}
	return false
}

// goOffline ends the mastership and the registration's view, and emits
// Offline if this member was registered.
func (s *Selector) goOffline(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.masterEnd != nil {
		s.masterEnd()
	}
	s.masterCtx, s.masterEnd = nil, nil
	was := s.view.Registered()
	s.view = events.View{}
	s.state = Offline
	if !was {
		return
	}
	if cause == errClosing {
		s.log.Info("closing")
	} else {
		s.log.Warn("registration lost", "cause", cause)
	}
	s.emit([]events.Event{{Type: events.Offline}})
}

func wrapf(err error, format string, args ...any) error {
	return fmt.Errorf("selector: %s: %w", fmt.Sprintf(format, args...), err)
}
