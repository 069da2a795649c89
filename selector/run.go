package selector

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/lease"
)

// start makes reg the current registration, subscribes it to its group,
// and publishes its first view: the group as the group's follower sees it
// once it has seen this member's key. It returns early if reg ends first.
func (s *Selector) start(runCtx context.Context, reg *registration) {
	// Close ends the registration's work too.
	reg.stopCloseHook = context.AfterFunc(runCtx, func() { reg.cancel(errClosing) })
	s.mu.Lock()
	s.reg = reg
	s.state = Refresh
	s.mu.Unlock()
	s.log.Info("registered", "lease", int64(reg.lease.ID), "ttl", reg.lease.TTL, "margin", reg.lease.Margin, "createRevision", reg.createRev)
	reg.sub = group.Subscribe(s.cli, s.prefix, s.key, s.log)
	for !reg.published && reg.ctx.Err() == nil {
		select {
		case <-reg.ctx.Done():
		case <-reg.sub.Ready():
			s.follow(reg)
		}
	}
}

// run is the member's state machine: REFRESH until the registration is
// lost, then OFFLINE, a backoff, and INIT again, until Close.
func (s *Selector) run(runCtx context.Context, reg *registration) {
	defer close(s.stopped)
	for {
		s.refresh(reg)
		reg.stopCloseHook()
		if runCtx.Err() != nil {
			s.closeRegistration(reg)
			return
		}
		cause := context.Cause(reg.ctx)
		s.goOffline(cause)
		if refused := s.refusalOf(cause); refused != nil {
			s.giveUp(runCtx, reg.lease)
			s.endRefused(refused)
			return
		}
		if errors.Is(cause, lease.ErrDeadline) {
			// The registration may have survived in etcd: take it back
			// rather than give it away (see takeBack).
			if next := s.takeBack(runCtx, reg); next != nil {
				reg = next
				s.start(runCtx, reg)
				continue
			}
			if runCtx.Err() != nil {
				// Closed while taking back: whatever etcd still holds of
				// the registration goes now, as Close promises.
				s.revoke(runCtx, reg.lease.ID)
				s.closeEvents(nil)
				return
			}
		} else {
			s.giveUp(runCtx, reg.lease)
		}
		old := reg.lease.ID
		for n := 0; ; n++ {
			if err := s.idle(runCtx, backoff.Delay(n)); err != nil {
				s.closeEvents(nil)
				return
			}
			lease.ResetBackoff(s.cli)
			next, err := s.register(runCtx, old)
			if err == nil {
				reg = next
				s.start(runCtx, reg)
				break
			}
			if isRefusal(err) {
				s.endRefused(err)
				return
			}
			s.log.Warn("register failed; will retry", "err", err)
			if runCtx.Err() != nil {
				s.closeEvents(nil)
				return
			}
		}
	}
}

// idle waits d between registrations, or until ctx ends, answering Yield
// with ErrNotMaster meanwhile.
func (s *Selector) idle(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil
		case reply := <-s.yieldc:
			reply <- ErrNotMaster
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// refresh follows the group while the registration lives, through the
// follower this member shares with the other members of its group on its
// client (see group.Subscribe), and serves Yield. It returns when reg.ctx
// ends.
func (s *Selector) refresh(reg *registration) {
	defer reg.sub.Close()
	for reg.ctx.Err() == nil {
		select {
		case <-reg.ctx.Done():
		// Yield runs on this goroutine, between updates, so that update
		// sees the revision of its re-created key.
		case reply := <-s.yieldc:
			reply <- s.yield(reg)
		case <-reg.sub.Ready():
			s.follow(reg)
		}
	}
}

// follow applies the updates waiting for reg, in order, until one ends it.
func (s *Selector) follow(reg *registration) {
	for _, u := range reg.sub.Take() {
		if u.Err != nil {
			// A refusal by etcd would come again: it ends the
			// registration, and the member.
			err := s.refused(u.Err, "read or watch range [%q, %q)", s.prefix, clientv3.GetPrefixRangeEnd(s.prefix))
			if err == nil {
				err = u.Err
			}
			reg.cancel(err)
			return
		}
		if u.Resync {
			s.stats.resyncs.Add(1)
		}
		if s.opts.hooks.update != nil {
			s.opts.hooks.update()
		}
		s.strays(u.Strays)
		if !s.update(reg, u) {
			return
		}
	}
}

// update publishes the view of u, or ends the registration if this
// member's key is gone. It reports whether the registration lives on.
func (s *Selector) update(reg *registration, u group.Update) bool {
	if u.Revision < reg.since {
		// A view from before this member's key was created, or re-created
		// by Yield: it may show the key with its old revision, or no key
		// at all. A mastership that Yield ended has ended already; the
		// next view shows the outcome. The changes it carries are not
		// applied, so the next view is compared whole.
		reg.stale = true
		return true
	}
	// This member's key, as this member created it, on its lease. Another
	// writer may have deleted it, or deleted and created it again, or put
	// it without a lease or on another lease: a plain put on an existing
	// key keeps its CreateRevision but detaches it from the lease, so that
	// it would never expire and the others drop it from their views.
	switch own := u.Own; {
	case !u.OwnOK || own.CreateRevision != reg.createRev:
		reg.cancel(ErrKeyDeleted)
		return false
	case own.Lease != int64(reg.lease.ID):
		reg.cancel(fmt.Errorf("%w: lease %x", ErrKeyDetached, own.Lease))
		return false
	}
	// Changes nil (a fresh update, or one after a skipped one): compare
	// the whole views.
	changes := u.Changes
	if reg.stale {
		changes = nil
	}
	reg.stale = false
	if !s.publish(reg, events.View{Self: s.id, Members: u.Members, Revision: u.Revision}, changes) {
		return false
	}
	reg.published = true
	return true
}

// strays logs, once each, the keys under the prefix that are no members:
// keys without a lease, and ids that are not valid UTF-8. Run loop only.
func (s *Selector) strays(kvs []group.KV) {
	for _, kv := range kvs {
		if kv.Key == s.key || s.logged[kv.Key] {
			continue
		}
		if s.logged == nil {
			s.logged = make(map[string]bool)
		}
		s.logged[kv.Key] = true
		s.log.Warn("key under the prefix is no member: it has no lease, or its id is not valid UTF-8", "key", kv.Key, "lease", kv.Lease)
	}
}

// resume gives back the mastership that yield ended when nothing changed in
// etcd: a new master context under the same epoch. It reports false if the
// registration ended meanwhile.
func (s *Selector) resume(reg *registration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live(reg) || !s.view.IsMaster() || s.view.Epoch() != s.masterRev {
		return false
	}
	s.masterCtx, s.masterEnd = context.WithCancel(reg.ctx)
	return true
}
