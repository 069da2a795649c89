package selector

import (
	"context"
	"errors"
	"fmt"

	"github.com/seed764c596d/mastership/internal/group"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Yield makes a master step down while it stays in the group: its
// mastership ends at once, its key is re-created behind the others, and it
// emits ChangeToSlave while the next member emits ChangeToMaster. It
// returns ErrNotMaster if this member is not master and ErrNoSuccessor if it
// is alone in its group.
//
// Yield either hands over or changes nothing: its delete of the key commits
// only if, in the same transaction, the next member's key is still there.
// If the next member left in the meantime (and nobody else is behind this
// one), Yield returns an error wrapping ErrNoSuccessor, and the member stays
// master under the same epoch, with a new MasterContext, emitting nothing:
// its role never changed in etcd. If the next member leaves after the
// delete, before the key is re-created, this member finds itself first
// again: it emits ChangeToMaster under a new epoch, without a ChangeToSlave
// before it, and its successor's mastership lay in between.
//
// The mastership, as MasterContext and IsMaster tell it, has ended when
// Yield returns, before the key goes. The ChangeToSlave event comes when
// this member sees its key re-created, which may be after the successor's
// ChangeToMaster: a history that must show when the mastership ended takes
// that time from MasterContext, not from the event.
//
// When etcd fails to delete or re-create the key (an error other than a
// refusal), Yield returns that error with the mastership ended all the
// same, and the member gives up its registration as if it had lost it: it
// emits Offline, revokes its lease, so that the next member takes over,
// and registers again, behind the others. A re-creation that etcd refuses
// for its size (ErrValueTooLarge: etcd's limit lowered since New) would be
// refused again: the member ends, as on a refusal (see Err).
func (s *Selector) Yield(ctx context.Context) error {
	select {
	case <-s.stopped:
		return ErrClosed
	default:
	}
	// Answer at once when this member is not master, rather than wait for
	// a run loop that may be busy registering.
	if !s.IsMaster() {
		return ErrNotMaster
	}
	reply := make(chan error, 1)
	select {
	case s.yieldc <- reply:
	case <-s.stopped:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		// The run loop goes on with the yield; only the wait is abandoned.
		return ctx.Err()
	}
}

// yield serves Yield in the run loop: it ends the mastership, then deletes
// and re-creates this member's key, which puts it behind the others. The
// delete is guarded, in its transaction, by the presence of a successor, so
// that a Yield either hands over or changes nothing.
func (s *Selector) yield(reg *registration) error {
	s.mu.Lock()
	view := s.view
	if s.masterCtx == nil || s.masterCtx.Err() != nil || !view.IsMaster() || !s.live(reg) {
		s.mu.Unlock()
		return ErrNotMaster
	}
	if len(view.Members) < 2 {
		s.mu.Unlock()
		return ErrNoSuccessor
	}
	// The mastership ends before the key goes, so that the successor, which
	// starts when it sees the key go, never overlaps with it.
	s.masterEnd()
	s.mu.Unlock()
	if s.opts.hooks.yield != nil {
		s.opts.hooks.yield()
	}

	ctx, cancel := context.WithTimeout(reg.ctx, reg.lease.TTL)
	defer cancel()
	next := view.Members[1]
	for try := 0; ; try++ {
		// The delete commits only if this member's key is still its own and
		// the successor it saw is still there: otherwise, the member would
		// delete its key with nobody to take over, and come back master
		// under a new epoch.
		del, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(s.key), "=", reg.createRev),
				clientv3.Compare(clientv3.LeaseValue(s.key), "=", reg.lease.ID),
				clientv3.Compare(clientv3.CreateRevision(s.prefix+next.ID), "=", next.CreateRevision),
				// A successor detached from its lease is no member.
				clientv3.Compare(clientv3.LeaseValue(s.prefix+next.ID), "!=", 0)).
			Then(clientv3.OpDelete(s.key)).
			Else(clientv3.OpGet(s.prefix, clientv3.WithPrefix())).
			Commit()
		if err != nil {
			if r := s.refused(err, "yield: delete key %q", s.key); r != nil {
				reg.cancel(r)
				return r
			}
			// Whether the key is still there is unknown, and the mastership
			// has ended either way. A key still there would still be the
			// first: every member would see this one as master, and no
			// change in etcd would ever tell it to be master again. Giving
			// up the registration, as when the re-creation below fails,
			// revokes the lease, so that the next member takes over, and
			// this one registers again behind it.
			err = wrapf(err, "yield: delete key")
			reg.cancel(err)
			return err
		}
		if del.Succeeded {
			break
		}
		kvs := group.KVsOf(del.Responses[0].GetResponseRange().Kvs)
		switch own, ok := kvs[s.key]; {
		case !ok || own.CreateRevision != reg.createRev:
			reg.cancel(ErrKeyDeleted)
			return wrapf(ErrKeyDeleted, "yield")
		case own.Lease != int64(reg.lease.ID):
			err := fmt.Errorf("%w: lease %x", ErrKeyDetached, own.Lease)
			reg.cancel(err)
			return wrapf(err, "yield")
		}
		members := group.Members(s.prefix, kvs)
		if members[0].ID != s.id {
			// Not first any more: only a hand-made write can do that. The
			// watch tells the rest; the mastership stays ended.
			return ErrNotMaster
		}
		if len(members) < 2 || try == 2 {
			// The successor left, and nobody is behind this member (or the
			// group keeps changing under it): nothing changes. The
			// mastership, ended above, goes on under the same epoch, with a
			// new master context, and no event, since the role never
			// changed in etcd.
			if !s.resume(reg) {
				return ErrNotMaster
			}
			return wrapf(ErrNoSuccessor, "yield: the next member left")
		}
		next = members[1]
	}
	// A key cannot be deleted and created in one transaction, so the
	// re-creation is a second one; views from before it are not published.
	put, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.key), "=", 0)).
		Then(clientv3.OpPut(s.key, s.currentValue(), clientv3.WithLease(reg.lease.ID))).
		Commit()
	if err == nil && !put.Succeeded {
		err = errors.New("key re-created by someone else")
	}
	if r := s.refused(err, "yield: re-create key %q", s.key); r != nil {
		reg.cancel(r)
		return r
	}
	if r := s.tooLarge(err, fmt.Sprintf("yield: re-create key %q", s.key)); r != nil {
		reg.cancel(r)
		return r
	}
	if err != nil {
		reg.cancel(wrapf(err, "yield: re-create key"))
		return wrapf(err, "yield: re-create key")
	}
	reg.createRev = put.Header.Revision
	reg.since = put.Header.Revision
	return nil
}
