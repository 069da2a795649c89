package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/lease"
)

// start makes reg the current registration and emits its first view.
func (s *Selector) start(runCtx context.Context, reg *registration) {
	// Close ends the registration's work too.
	reg.stopCloseHook = context.AfterFunc(runCtx, func() { reg.cancel(errClosing) })
	s.mu.Lock()
	s.reg = reg
	s.state = Refresh
	s.mu.Unlock()
	s.log.Info("registered", "lease", int64(reg.lease.ID), "ttl", reg.lease.TTL, "margin", reg.lease.Margin, "createRevision", reg.createRev)
	view := events.View{Self: s.id, Members: group.Members(s.prefix, reg.kvs), Revision: reg.rev}
	reg.members = view.Members
	s.strays(reg.kvs, nil)
	s.publish(reg, view)
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

// refresh follows the group while the registration lives: it keeps the
// view from the snapshot up to date through a watch, resynchronises with a
// fresh read whenever the watch fails, and serves Yield. It returns when
// reg.ctx ends. The loop is internal/group's Follow, which the gRPC
// resolver shares.
func (s *Selector) refresh(reg *registration) {
	start := group.State{KVs: reg.kvs, Revision: reg.rev}
	reg.kvs = nil // Follow's now
	group.Follow(reg.ctx, group.Config[chan error]{
		Client: s.cli,
		Prefix: s.prefix,
		Log:    s.log,
		// Yield runs on this goroutine, between watch responses, so that
		// update sees the revision of its re-created key.
		Requests: s.yieldc,
		Serve: func(reply chan error) group.Action {
			reply <- s.yield(reg)
			if reg.ctx.Err() != nil {
				return group.Stop
			}
			return group.Continue
		},
		// A refusal by etcd would come again: it ends the registration,
		// and the member.
		Fatal: func(err error) bool {
			if r := s.refused(err, "read or watch range [%q, %q)", s.prefix, clientv3.GetPrefixRangeEnd(s.prefix)); r != nil {
				reg.cancel(r)
				return true
			}
			return false
		},
		Update: func(st group.State) bool {
			if st.Fresh {
				// Follow reads afresh only after its watch failed.
				s.stats.resyncs.Add(1)
				reg.members = group.Members(s.prefix, st.KVs)
			} else {
				// A watch response changes a member or two of a group
				// that may have thousands, each of which computes its
				// view: rebuilding and sorting the whole group here would
				// cost every member O(N log N) per change.
				reg.members = applyChanges(s.prefix, reg.members, st)
			}
			if s.opts.hooks.update != nil {
				s.opts.hooks.update()
			}
			if st.Fresh {
				s.strays(st.KVs, nil)
			} else {
				s.strays(st.KVs, st.Changed)
			}
			return s.update(reg, st)
		},
	}, start)
}

// update publishes the view of reg.members at st's revision, or ends the
// registration if this member's key is gone. It reports whether the
// registration lives on.
func (s *Selector) update(reg *registration, st group.State) bool {
	if st.Revision < reg.yieldRev {
		// A view from before this member's Yield re-created its key: it
		// may show the key with its old revision, or no key at all. The
		// mastership has ended already; the next view shows the outcome.
		return true
	}
	// This member's key, as this member created it, on its lease. Another
	// writer may have deleted it, or deleted and created it again, or put
	// it without a lease or on another lease: a plain put on an existing
	// key keeps its CreateRevision but detaches it from the lease, so that
	// it would never expire and the others drop it from their views.
	switch own, ok := st.KVs[s.key]; {
	case !ok || own.CreateRevision != reg.createRev:
		reg.cancel(ErrKeyDeleted)
		return false
	case own.Lease != int64(reg.lease.ID):
		reg.cancel(fmt.Errorf("%w: lease %x", ErrKeyDetached, own.Lease))
		return false
	}
	return s.publish(reg, events.View{Self: s.id, Members: reg.members, Revision: st.Revision})
}

// strays logs, once each, the keys under the prefix that are no members:
// keys without a lease, and ids that are not valid UTF-8. It looks at the
// keys named in changed, or at every key if changed is nil. Run loop only.
func (s *Selector) strays(kvs map[string]group.KV, changed []string) {
	note := func(kv group.KV) {
		if kv.Key == s.key || !group.Stray(s.prefix, kv) || s.logged[kv.Key] {
			return
		}
		if s.logged == nil {
			s.logged = make(map[string]bool)
		}
		s.logged[kv.Key] = true
		s.log.Warn("key under the prefix is no member: it has no lease, or its id is not valid UTF-8", "key", kv.Key, "lease", kv.Lease)
	}
	if changed == nil {
		for _, kv := range kvs {
			note(kv)
		}
		return
	}
	for _, key := range changed {
		if kv, ok := kvs[key]; ok {
			note(kv)
		}
	}
}

// applyChanges returns the members of the group after the watch response
// of st, given old, the members at the previous Update: the members of
// st.KVs in join order, as group.Members returns them, but found by one pass
// over old rather than a sort of the whole group. It never modifies old,
// which published views share, and returns a new slice when a member
// changed.
func applyChanges(prefix string, old []events.Node, st group.State) []events.Node {
	// The ids whose keys changed, and what the group has of them now. A
	// few ids are compared one by one; a large batch, as a watch catching
	// up delivers, goes into a set.
	var ids []string
	var set map[string]bool
	changed := func(id string) bool {
		if set != nil {
			return set[id]
		}
		return slices.Contains(ids, id)
	}
	var now []events.Node
	for _, key := range st.Changed {
		// A key changed under the prefix changes the member of its id,
		// whether or not it is a member now (a plain put that detached a
		// key from its lease takes that member out of the group).
		id, ok := group.ID(prefix, key)
		if !ok || changed(id) {
			continue
		}
		ids = append(ids, id)
		switch {
		case set != nil:
			set[id] = true
		case len(ids) > 8:
			set = make(map[string]bool, len(st.Changed))
			for _, id := range ids {
				set[id] = true
			}
		}
		if n, ok := group.Member(prefix, st.KVs[key]); ok {
			now = append(now, n)
		}
	}
	if len(ids) == 0 {
		return old
	}
	events.Sort(now)
	next := make([]events.Node, 0, len(old)+len(now))
	for _, n := range old {
		if changed(n.ID) {
			continue
		}
		for len(now) > 0 && events.Compare(now[0], n) < 0 {
			next, now = append(next, now[0]), now[1:]
		}
		next = append(next, n)
	}
	return append(next, now...)
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
