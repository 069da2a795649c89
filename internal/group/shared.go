package group

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/refusal"
)

// Update is what a Subscription learns of its group: the group at one
// revision, and how it got there from the Update before.
type Update struct {
	// Revision is the etcd revision of the group below.
	Revision int64
	// Members are the group's members in join order. Every subscriber of
	// the group gets the same slice, which is never modified: views share
	// it rather than copy it.
	Members []events.Node
	// Changes are the members that changed since the subscriber's previous
	// Update, one per id, in no set order: empty, not nil, when none did.
	// They are nil when Fresh.
	Changes []events.Change
	// Fresh marks the first Update of a subscriber, and one after the
	// follower lost track of the group: it tells nothing about what
	// changed, so the whole group is compared.
	Fresh bool
	// Resync marks an Update read afresh after a failed watch.
	Resync bool
	// Own is the subscriber's own key at Revision; OwnOK reports whether
	// the group has it.
	Own   KV
	OwnOK bool
	// Strays are keys under the prefix that are no members (see Stray):
	// those this Update changed, or all of them when Fresh.
	Strays []KV
	// Err, when not nil, is the refusal that ended the follower: no
	// Update comes after it.
	Err error
}

// Subscription is one subscriber's share of the follower of its group: the
// members of a group that use one client share one watch, one snapshot and
// one view, whatever their number. Its methods are safe for concurrent use.
type Subscription struct {
	f     *shared
	key   string
	mu    sync.Mutex
	queue []Update
	ready chan struct{}
}

// Subscribe starts following the group whose members' keys start with
// prefix (see Key) on cli, on behalf of the member whose key is key, or
// joins the follower that already does for another member. The follower
// reads the group with a paginated snapshot, then watches it (see Follow),
// and hands every subscriber each change. Log gets the follower's records
// if it starts one. Close ends the subscription, and the follower with the
// last one.
func Subscribe(cli *clientv3.Client, prefix, key string, log *slog.Logger) *Subscription {
	s := &Subscription{key: key, ready: make(chan struct{}, 1)}
	followers.mu.Lock()
	id := followerID{cli, prefix}
	f := followers.m[id]
	if f == nil {
		f = startShared(cli, prefix, log)
		followers.m[id] = f
	}
	f.mu.Lock()
	f.subs[s] = struct{}{}
	s.f = f
	f.catchUp(s)
	f.mu.Unlock()
	followers.mu.Unlock()
	return s
}

// Ready receives a value when Updates are waiting for Take. It is never
// closed; a receive that finds nothing to Take is harmless.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the Updates waiting, oldest first, and forgets them. An
// Update's Changes are relative to the Update before it, so a subscriber
// that applies its Updates incrementally applies every one, in order.
func (s *Subscription) Take() []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q
}

// Close ends the subscription. The last one of a follower stops it, and
// returns once its goroutine has.
func (s *Subscription) Close() {
	followers.mu.Lock()
	f := s.f
	f.mu.Lock()
	delete(f.subs, s)
	last := len(f.subs) == 0
	f.mu.Unlock()
	if last && followers.m[f.id] == f {
		delete(followers.m, f.id)
	}
	followers.mu.Unlock()
	if last {
		f.cancel()
		<-f.done
	}
}

func (s *Subscription) push(u Update) {
	s.mu.Lock()
	s.queue = append(s.queue, u)
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// followers are the running followers, by client and prefix.
var followers = struct {
	mu sync.Mutex
	m  map[followerID]*shared
}{m: make(map[followerID]*shared)}

type followerID struct {
	cli    *clientv3.Client
	prefix string
}

// shared is the follower of one group on one client.
type shared struct {
	id     followerID
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex // guards what follows, and the subscribers' queues' order
	subs map[*Subscription]struct{}
	// The group as of the last Update: its members in join order, its
	// members by id with their leases, and the keys under the prefix that
	// are no members. Together they give any member's own key (see own)
	// without a copy of Follow's keys, which Follow changes outside mu.
	rev     int64
	members []events.Node
	byID    map[string]entry
	strays  map[string]KV
	err     error
}

// entry is a member, and the lease its key is on.
type entry struct {
	node  events.Node
	lease int64
}

// own returns the key named key as of the last Update. The caller holds
// f.mu.
func (f *shared) own(key string) (KV, bool) {
	if kv, ok := f.strays[key]; ok {
		return kv, true
	}
	id, ok := ID(f.id.prefix, key)
	if !ok {
		return KV{}, false
	}
	e, ok := f.byID[id]
	if !ok {
		return KV{}, false
	}
	return KV{Key: key, Value: e.node.Value, CreateRevision: e.node.CreateRevision, Lease: e.lease}, true
}

func startShared(cli *clientv3.Client, prefix string, log *slog.Logger) *shared {
	ctx, cancel := context.WithCancel(context.Background())
	f := &shared{
		id:     followerID{cli, prefix},
		cancel: cancel,
		done:   make(chan struct{}),
		subs:   make(map[*Subscription]struct{}),
	}
	go func() {
		defer close(f.done)
		Follow(ctx, Config[struct{}]{
			Client:      cli,
			Prefix:      prefix,
			ReadTimeout: DefaultReadTimeout,
			Log:         log,
			Update:      f.update,
			// A refusal would come again, for every member on this
			// client: it ends the follower, and its subscribers learn it.
			Fatal: func(err error) bool {
				if refusal.Of(cli, err) == refusal.None {
					return false
				}
				f.fail(err)
				return true
			},
		}, State{})
	}()
	return f
}

// catchUp gives a new subscriber the group as it is. The caller holds f.mu.
func (f *shared) catchUp(s *Subscription) {
	switch {
	case f.err != nil:
		s.push(Update{Err: f.err})
	case f.rev > 0:
		own, ok := f.own(s.key)
		s.push(Update{Revision: f.rev, Members: f.members, Fresh: true, Own: own, OwnOK: ok, Strays: slices.Collect(maps.Values(f.strays))})
	}
}

// fail hands err to every subscriber, and to those to come, and makes the
// next Subscribe start a follower of its own.
func (f *shared) fail(err error) {
	followers.mu.Lock()
	if followers.m[f.id] == f {
		delete(followers.m, f.id)
	}
	followers.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	for s := range f.subs {
		s.push(Update{Err: err})
	}
}

// update is Follow's Update: it brings the group up to st and hands each
// subscriber what changed. Its cost is in proportion to the change, but
// for the one new slice of members, shared by all, and one Update per
// subscriber; a read afresh costs a pass over the group.
func (f *shared) update(st State) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := f.id.prefix
	changes := []events.Change{} // empty, not nil: see Update.Changes
	var strays []KV
	first := f.byID == nil
	if st.Fresh {
		byID := make(map[string]entry, len(st.KVs))
		members := make([]events.Node, 0, len(st.KVs))
		f.strays = make(map[string]KV)
		for _, kv := range st.KVs {
			if n, ok := Member(prefix, kv); ok {
				byID[n.ID] = entry{n, kv.Lease}
				members = append(members, n)
			} else if Stray(prefix, kv) {
				f.strays[kv.Key] = kv
			}
		}
		events.Sort(members)
		if !first {
			changes = diffByID(f.byID, byID)
		}
		f.members, f.byID = members, byID
		strays = slices.Collect(maps.Values(f.strays))
	} else {
		seen := make(map[string]bool, len(st.Changed))
		for _, key := range st.Changed {
			if seen[key] {
				continue
			}
			seen[key] = true
			kv, live := st.KVs[key]
			delete(f.strays, key)
			if live && Stray(prefix, kv) {
				f.strays[key] = kv
				strays = append(strays, kv)
			}
			id, ok := ID(prefix, key)
			if !ok {
				continue
			}
			// Each changed key is one id, and is seen once: the index is
			// updated in place, its lease too when the member is the same.
			before := f.byID[id].node
			after, member := Member(prefix, kv) // the zero Node for a key deleted or no member
			if member {
				f.byID[id] = entry{after, kv.Lease}
			} else {
				delete(f.byID, id)
			}
			if before != after {
				changes = append(changes, events.Change{Before: before, After: after})
			}
		}
		if len(changes) > 0 {
			f.members = applyChanges(f.members, changes)
		}
	}
	f.rev = st.Revision
	for s := range f.subs {
		own, ok := f.own(s.key)
		u := Update{Revision: st.Revision, Members: f.members, Changes: changes, Resync: st.Fresh && !first, Own: own, OwnOK: ok, Strays: strays}
		if first {
			u.Fresh, u.Changes = true, nil
		}
		s.push(u)
	}
	return true
}

// diffByID returns the changes from the members old to the members now,
// both by id.
func diffByID(old, now map[string]entry) []events.Change {
	changes := []events.Change{}
	for id, n := range now {
		if o := old[id].node; o != n.node {
			changes = append(changes, events.Change{Before: o, After: n.node})
		}
	}
	for id, o := range old {
		if _, ok := now[id]; !ok {
			changes = append(changes, events.Change{Before: o.node})
		}
	}
	return changes
}

// applyChanges returns the members after changes, given old, the members
// before them in join order: one pass over old rather than a sort of the
// whole group. It never modifies old, which published views share.
func applyChanges(old []events.Node, changes []events.Change) []events.Node {
	gone := make(map[string]bool, len(changes))
	var now []events.Node
	for _, c := range changes {
		if c.Before.ID != "" {
			gone[c.Before.ID] = true
		}
		if c.After.ID != "" {
			now = append(now, c.After)
		}
	}
	events.Sort(now)
	next := make([]events.Node, 0, len(old)+len(now))
	for _, n := range old {
		if gone[n.ID] {
			continue
		}
		for len(now) > 0 && events.Compare(now[0], n) < 0 {
			next, now = append(next, now[0]), now[1:]
		}
		next = append(next, n)
	}
	return append(next, now...)
}
