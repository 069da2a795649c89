package group

import (
	"context"
	"log/slog"
	"maps"
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
	// Update, one per id, in no set order. They are nil when Fresh.
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
	// The group as of the last Update: its keys (a copy of Follow's, which
	// Follow changes outside mu), members in join order, members by id,
	// and the keys that are no members.
	rev     int64
	kvs     map[string]KV
	members []events.Node
	byID    map[string]events.Node
	strays  map[string]KV
	err     error
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
		own, ok := f.kvs[s.key]
		s.push(Update{Revision: f.rev, Members: f.members, Fresh: true, Own: own, OwnOK: ok, Strays: values(f.strays)})
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
	var changes []events.Change
	var strays []KV
	first := f.kvs == nil
	if st.Fresh {
		f.kvs = maps.Clone(st.KVs)
		members := Members(prefix, f.kvs)
		byID := make(map[string]events.Node, len(members))
		for _, n := range members {
			byID[n.ID] = n
		}
		if !first {
			changes = diffByID(f.byID, byID)
		}
		f.members, f.byID = members, byID
		f.strays = make(map[string]KV)
		for _, kv := range f.kvs {
			if Stray(prefix, kv) {
				f.strays[kv.Key] = kv
			}
		}
		strays = values(f.strays)
	} else {
		seen := make(map[string]bool, len(st.Changed))
		for _, key := range st.Changed {
			if seen[key] {
				continue
			}
			seen[key] = true
			kv, live := st.KVs[key]
			if live {
				f.kvs[key] = kv
			} else {
				delete(f.kvs, key)
			}
			delete(f.strays, key)
			if live && Stray(prefix, kv) {
				f.strays[key] = kv
				strays = append(strays, kv)
			}
			id, ok := ID(prefix, key)
			if !ok {
				continue
			}
			before := f.byID[id]
			after, _ := Member(prefix, kv) // the zero Node for a key deleted or no member
			if before != after {
				changes = append(changes, events.Change{Before: before, After: after})
			}
		}
		if len(changes) > 0 {
			f.members = applyChanges(f.members, changes)
			for _, c := range changes {
				delete(f.byID, c.Before.ID)
			}
			for _, c := range changes {
				if c.After.ID != "" {
					f.byID[c.After.ID] = c.After
				}
			}
		}
	}
	f.rev = st.Revision
	for s := range f.subs {
		own, ok := f.kvs[s.key]
		u := Update{Revision: st.Revision, Members: f.members, Changes: changes, Resync: st.Fresh && !first, Own: own, OwnOK: ok, Strays: strays}
		if first {
			u.Fresh = true
		}
		s.push(u)
	}
	return true
}

// diffByID returns the changes from the members old to the members now,
// both by id.
func diffByID(old, now map[string]events.Node) []events.Change {
	var changes []events.Change
	for id, n := range now {
		if o := old[id]; o != n {
			changes = append(changes, events.Change{Before: o, After: n})
		}
	}
	for id, o := range old {
		if _, ok := now[id]; !ok {
			changes = append(changes, events.Change{Before: o})
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

func values(m map[string]KV) []KV {
	if len(m) == 0 {
		return nil
	}
	out := make([]KV, 0, len(m))
	for _, kv := range m {
		out = append(out, kv)
	}
	return out
}
