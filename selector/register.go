package selector

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/lease"
	"github.com/seed764c596d/mastership/internal/member"
	"github.com/seed764c596d/mastership/internal/refusal"
)

// sweep is how long etcd may take to delete the keys of a lease past its
// TTL: it checks for expired leases every 500ms, then revokes through raft.
const sweep = 500 * time.Millisecond

// registration is one life of this member's key: from INIT to OFFLINE.
type registration struct {
	lease  *lease.Lease
	ctx    context.Context // ends with the lease, on Close, or when the key is lost
	cancel context.CancelCauseFunc
	// stopCloseHook stops the hook that ends ctx on Close.
	stopCloseHook func() bool
	createRev     int64 // this member's key's CreateRevision
	// sub follows the group from start until refresh ends.
	sub *group.Subscription
	// since is the revision of the key's creation, or of its re-creation
	// by the last Yield: views from before it are not published. Run loop
	// only, as are the fields below.
	since int64
	// stale: an update was not published, or none was yet, so the next
	// view is compared whole with the last one published.
	stale bool
	// published: a view of this registration was published.
	published bool
}

// register runs INIT: it grants a lease and creates this member's key in a
// transaction that fails if the key exists. The group itself is read by
// the follower the member subscribes to (see start), which reads it once
// for every member of the group on this client. old is the lease of this
// member's previous registration, if any: a key still held by it is this
// member's own, left over, and is revoked rather than reported as a
// duplicate.
func (s *Selector) register(ctx context.Context, old clientv3.LeaseID) (*registration, error) {
	s.setState(Init)
	l, err := lease.Grant(ctx, s.cli, s.opts.TTL, s.opts.Margin, s.log)
	if err != nil {
		if r := s.refused(err, "register %q: grant a lease", s.key); r != nil {
			return nil, r
		}
		return nil, wrapf(err, "register %q", s.key)
	}
	if l.TTL != s.opts.TTL {
		s.log.Info("etcd granted another TTL than asked", "asked", s.opts.TTL, "granted", l.TTL)
	}
	reg, err := s.create(ctx, l, old)
	if err != nil {
		// Give the lease back now rather than leave it to expire; this is
		// tidy-up, so it gets its own short deadline.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		l.Revoke(rctx)
		cancel()
		return nil, err
	}
	return reg, nil
}

func (s *Selector) create(ctx context.Context, l *lease.Lease, old clientv3.LeaseID) (*registration, error) {
	// Every call here ends when the lease does.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	defer context.AfterFunc(l.Context(), func() { stop(l.Err()) })()

	var w holderWatch
	for {
		c, err := member.Create(ctx, s.cli, s.key, s.currentValue(), l.ID, "")
		if err != nil {
			if r := s.refused(err, "register"); r != nil {
				return nil, s.diagnose(ctx, err)
			}
			if r := s.tooLarge(err, fmt.Sprintf("register: put key %q", s.key)); r != nil {
				return nil, r
			}
			return nil, wrapf(contextCause(ctx, err), "create key %q", s.key)
		}
		if c.OK {
			r := &registration{lease: l, createRev: c.Revision, since: c.Revision}
			r.ctx, r.cancel = context.WithCancelCause(l.Context())
			return r, nil
		}
		if c.Existing == nil {
			continue // deleted between the compare and the read; try again
		}
		holder := clientv3.LeaseID(c.Existing.Lease)
		switch {
		case holder == 0:
			return nil, fmt.Errorf("%w: key %q exists without a lease, so it never expires", ErrDuplicateID, s.key)
		case holder == old:
			s.log.Info("revoking this member's previous lease, which still holds its key")
			if _, err := s.cli.Revoke(ctx, holder); err != nil {
				if r := s.refused(err, "revoke this member's previous lease, which holds key %q (etcd asks for write permission on the lease's keys)", s.key); r != nil {
					return nil, r
				}
				if ctx.Err() != nil {
					return nil, wrapf(contextCause(ctx, err), "revoke previous lease")
				}
			}
			continue
		}
		sent := time.Now()
		ttl, err := s.cli.TimeToLive(ctx, holder)
		if err != nil {
			if r := s.refused(err, "read the TTL of the lease holding key %q (etcd asks for read permission on the lease's keys)", s.key); r != nil {
				return nil, r
			}
			return nil, wrapf(contextCause(ctx, err), "read TTL of the lease holding %q", s.key)
		}
		wait := sweep
		granted := lease.Seconds(ttl.GrantedTTL)
		if granted > MaxTTL {
			// No member of this package asks for such a TTL, and a
			// crashed holder would keep the id for longer than anyone
			// waits.
			return nil, fmt.Errorf("%w: %q is held by lease %x, whose TTL %v is over MaxTTL %v", ErrDuplicateID, s.key, int64(holder), granted, MaxTTL)
		}
		if ttl.TTL > 0 {
			switch live, waited := w.observe(holder, sent, time.Now(), ttl); {
			case live:
				return nil, fmt.Errorf("%w: %q is held by lease %x, which its holder keeps alive", ErrDuplicateID, s.key, int64(holder))
			case waited > maxDuplicateWait(granted):
				return nil, fmt.Errorf("%w: %q still held by lease %x after %v", ErrDuplicateID, s.key, int64(holder), waited.Round(time.Second))
			}
			if w.reads == 1 {
				s.log.Info("id taken; waiting for the holder's lease to run out", "holder", fmt.Sprintf("%x", int64(holder)), "ttl", ttl.TTL)
			}
			// Reads a keep-alive interval of the holder's apart (a quarter
			// of its TTL, as this package keeps leases) tell a live holder
			// within a second or two; a dead one is waited for until etcd
			// deletes its key.
			wait = min(max(granted/4, 250*time.Millisecond), lease.Add(lease.Seconds(ttl.TTL), sweep))
		}
		if err := backoff.Sleep(ctx, wait); err != nil {
			return nil, wrapf(err, "wait for key %q", s.key)
		}
	}
}

// holderWatch tells whether the lease holding a member's id is kept alive,
// from successive reads of its remaining TTL. etcd reports the TTL in whole
// seconds, truncated, so a read sent at s and answered at r bounds the
// lease's expiry to [s+TTL, r+TTL+1s). A lease nobody keeps alive has one
// expiry, and every read's bounds contain it; a live holder's keep-alives
// move it forward, so a read whose lower bound is past an earlier read's
// upper bound proves a live holder. But etcd also extends every lease when
// it elects a new leader: only reads answered in the same raft term (the
// response header says which) are compared.
type holderWatch struct {
	lease clientv3.LeaseID
	term  uint64
	upper time.Time // the smallest upper bound of the expiry in this term
	first time.Time // when the wait began
	reads int
}

// maxDuplicateWait bounds the wait for a holder that cannot be proved live
// or dead (its TTL jumps at every change of etcd's leader): twice the
// holder's TTL, plus the time etcd takes to elect a leader and delete keys.
// It saturates rather than overflow.
func maxDuplicateWait(granted time.Duration) time.Duration {
	return lease.Add(lease.Mul(granted, 2), 5*time.Second)
}

// observe adds a read of holder's TTL, sent at sent and answered at recv,
// and reports whether it proves the holder live, and how long the wait for
// this holder has lasted.
func (w *holderWatch) observe(holder clientv3.LeaseID, sent, recv time.Time, ttl *clientv3.LeaseTimeToLiveResponse) (live bool, waited time.Duration) {
	if w.lease != holder {
		*w = holderWatch{lease: holder, first: sent}
	}
	w.reads++
	lower := sent.Add(lease.Seconds(ttl.TTL))
	upper := recv.Add(lease.Add(lease.Seconds(ttl.TTL), time.Second))
	term := ttl.ResponseHeader.GetRaftTerm()
	switch {
	case w.upper.IsZero() || term != w.term:
		w.term, w.upper = term, upper
	case lower.After(w.upper):
		return true, recv.Sub(w.first)
	case upper.Before(w.upper):
		w.upper = upper
	}
	return false, recv.Sub(w.first)
}

// diagnose tells which permission the registering transaction lacked, which
// reads the group's range and reads and writes the member's key: a read of
// the range alone, allowed or not, tells them apart.
func (s *Selector) diagnose(ctx context.Context, txnErr error) error {
	if refusal.Of(s.cli, txnErr) != refusal.PermissionDenied {
		// etcd refused the user itself (authentication failed, no
		// user): no permission is in question.
		return s.refused(txnErr, "register key %q", s.key)
	}
	end := clientv3.GetPrefixRangeEnd(s.prefix)
	_, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	switch {
	case err == nil:
		return s.refused(txnErr, "register: write of key %q not permitted", s.key)
	case refusal.Of(s.cli, err) == refusal.PermissionDenied:
		return s.refused(txnErr, "register: read of range [%q, %q) not permitted", s.prefix, end)
	}
	return s.refused(txnErr, "register: read of range [%q, %q) or write of key %q not permitted", s.prefix, end, s.key)
}

// contextCause returns the cause of ctx's end if it ended, else err.
func contextCause(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if c := context.Cause(ctx); c != nil {
			return fmt.Errorf("%w (%v)", c, err)
		}
	}
	return err
}

func (s *Selector) setState(st State) {
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
}
