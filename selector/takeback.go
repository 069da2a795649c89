package selector

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/internal/lease"
)

// takeBack tries to take back reg, a registration that ended at its safe
// deadline without an acknowledged keep-alive (etcd was unreachable, or
// this process was frozen): if etcd still has its lease, and the key on it
// with the CreateRevision this member recorded, the registration survived,
// and keep-alives alone make it this member's again, with its place in the
// group and its epoch. Nobody else can have been master meanwhile, since
// the key stayed first in line all along.
//
// It never writes the key. It returns the registration taken back, or nil
// after it has given back whatever etcd still held (the lease revoked when
// it holds no key of this member's, or when etcd answered for one TTL
// without acknowledging a keep-alive), so that the member registers anew.
// It also returns nil when runCtx ends. It answers Yield with ErrNotMaster
// meanwhile.
//
// The time during which etcd cannot be reached at all does not count
// against the TTL: etcd restores every lease with a fresh TTL when it
// restarts, so after an outage of any length the member that was master is
// master again.
func (s *Selector) takeBack(runCtx context.Context, reg *registration) *registration {
	id := reg.lease.ID
	ttl := reg.lease.TTL
	s.setState(Init)
	s.log.Info("taking back the registration: keep-alives of its lease", "lease", int64(id))
	// gRPC's reconnect backoff grows to two minutes while etcd is down; a
	// surviving lease runs out one TTL after etcd is back.
	defer s.reconnectOften(runCtx)()
	// Since when etcd has answered without acknowledging; zero while it
	// cannot be reached.
	var answering time.Time
	for n := 0; ; n++ {
		// Each attempt waits up to a TTL: it is sent as soon as the
		// connection is up again. Attempts cancelled in quick succession
		// while etcd cannot answer gain nothing, and through a fault proxy
		// that drops bytes they can leave the connection unusable.
		ctx, cancel := context.WithTimeout(runCtx, ttl)
		sent := time.Now()
		l, err := lease.Resume(ctx, s.cli, id, s.opts.Margin, s.log)
		cancel()
		switch {
		case err == nil:
			return s.adopt(runCtx, reg, l)
		case runCtx.Err() != nil:
			return nil
		case errors.Is(err, lease.ErrExpired):
			s.log.Info("registration not taken back: its lease is gone; registering anew")
			return nil
		case isRefusal(s.refused(err, "take back lease %x", int64(id))):
			s.log.Warn("registration not taken back: etcd refused the keep-alive; registering anew", "err", err)
			return s.revoke(runCtx, id)
		case !unreachable(err):
			if answering.IsZero() {
				answering = sent
			}
			s.log.Debug("take-back: keep-alive not acknowledged", "err", err)
			if time.Since(answering) >= ttl {
				s.log.Warn("registration not taken back within one TTL; registering anew", "err", err)
				return s.revoke(runCtx, id)
			}
		default:
			answering = time.Time{}
			s.log.Debug("take-back: etcd unreachable", "err", err)
		}
		// A short jittered pause: members that lost etcd together come
		// back apart, and well inside the restored leases' TTL.
		d := time.Duration(50+rand.IntN(150)) * time.Millisecond
		if s.idle(runCtx, d) != nil {
			return nil
		}
	}
}

// adopt checks, in one read of its key, that etcd holds this member's key
// on l with the CreateRevision reg recorded, and returns a new registration
// on l, or nil after revoking l. The registration's views come from the
// group's follower, as a new one's do (see start): a member that takes back
// its registration after an outage reads one key, not its whole group.
func (s *Selector) adopt(runCtx context.Context, reg *registration, l *lease.Lease) *registration {
	// Every call here ends when the lease does.
	ctx, stop := context.WithCancelCause(runCtx)
	defer stop(nil)
	defer context.AfterFunc(l.Context(), func() { stop(l.Err()) })()
	defer s.reconnectOften(ctx)()
	for {
		rctx, cancel := context.WithTimeout(ctx, l.TTL)
		resp, err := s.cli.Get(rctx, s.key)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// The lease ended again, or Close: the run loop starts
				// over.
				return s.giveUp(runCtx, l)
			}
			if isRefusal(s.refused(err, "take back: read key %q", s.key)) {
				return s.giveUp(runCtx, l)
			}
			if s.idle(ctx, time.Duration(50+rand.IntN(150))*time.Millisecond) != nil {
				return s.giveUp(runCtx, l)
			}
			continue
		}
		if len(resp.Kvs) == 1 {
			if kv := resp.Kvs[0]; clientv3.LeaseID(kv.Lease) == l.ID && kv.CreateRevision == reg.createRev {
				s.log.Info("registration taken back", "lease", int64(l.ID), "createRevision", reg.createRev)
				r := &registration{lease: l, createRev: reg.createRev, since: reg.createRev}
				r.ctx, r.cancel = context.WithCancelCause(l.Context())
				return r
			}
		}
		s.log.Info("registration not taken back: its key is gone or no longer on its lease; registering anew")
		return s.giveUp(runCtx, l)
	}
}

// reconnectOften resets the reconnect backoff of the client's connection
// every 200ms until ctx ends or the returned function is called, so that the
// connection is up again within a fraction of the TTL once etcd is back
// (see lease.ResetBackoff). The members on one client share one resetter:
// each reset makes the connection try again at once, and thousands of
// members resetting it on their own would keep it dialling without pause
// while etcd is down.
func (s *Selector) reconnectOften(ctx context.Context) (stop func()) {
	resetters.mu.Lock()
	r := resetters.m[s.cli]
	if r == nil {
		r = startResetter(s.cli)
		resetters.m[s.cli] = r
	}
	r.users++
	resetters.mu.Unlock()
	var once sync.Once
	release := func() {
		once.Do(func() {
			resetters.mu.Lock()
			r.users--
			last := r.users == 0
			if last {
				delete(resetters.m, s.cli)
			}
			resetters.mu.Unlock()
			if last {
				r.stop()
				<-r.done
			}
		})
	}
	unhook := context.AfterFunc(ctx, release)
	return func() {
		unhook()
		release()
	}
}

// resetters are the running resetters of reconnectOften, by client.
var resetters = struct {
	mu sync.Mutex
	m  map[*clientv3.Client]*resetter
}{m: make(map[*clientv3.Client]*resetter)}

type resetter struct {
	users int // guarded by resetters.mu
	stop  context.CancelFunc
	done  chan struct{}
}

func startResetter(cli *clientv3.Client) *resetter {
	ctx, cancel := context.WithCancel(context.Background())
	r := &resetter{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			lease.ResetBackoff(cli)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return r
}

// giveUp stops keeping l alive and revokes it (see revoke), and returns
// nil.
func (s *Selector) giveUp(runCtx context.Context, l *lease.Lease) *registration {
	l.Stop()
	return s.revoke(runCtx, l.ID)
}

// revoke revokes lease id, if etcd still has it, so that a key on it goes
// now rather than after its TTL, and returns nil. It is bounded by a second
// of its own, not by Close, which wants the key gone at once too. When etcd
// is unreachable it fails, and register revokes the lease later if it
// still holds the key.
func (s *Selector) revoke(runCtx context.Context, id clientv3.LeaseID) *registration {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(runCtx), time.Second)
	defer cancel()
	if _, err := s.cli.Revoke(ctx, id); err != nil {
		s.log.Info("revoke failed; register revokes the lease later if it still holds the key", "lease", int64(id), "err", err)
	}
	return nil
}

// unreachable reports whether err says that etcd could not be asked at all
// (no connection, or no answer in time), rather than that it answered.
func unreachable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return true
	}
	code := status.Code(err)
	// keepAliveOnce turns etcd's own errors ("etcdserver: no leader",
	// "leader changed", "request timed out") into rpctypes.EtcdError,
	// which carries its gRPC code but no status: an etcd member without a
	// quorum answers, but it is etcd that cannot be reached.
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		code = ee.Code()
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return true
	}
	return false
}
