package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/queue"
)

// Kind is the kind of a Change.
type Kind int

// The kinds of change.
const (
	// Snapshot is the first change every listener receives: the table as it
	// stood when the listener was added. It has no Member.
	Snapshot Kind = iota + 1
	// Join: a member's key appeared.
	Join
	// Update: a member changed its metadata in place.
	Update
	// Leaving: a member announced that it is leaving gracefully.
	Leaving
	// Leave: a member's key is gone; Reason says how.
	Leave
)

func (k Kind) String() string {
	switch k {
	case Snapshot:
		return "SNAPSHOT"
	case Join:
		return "JOIN"
	case Update:
		return "UPDATE"
	case Leaving:
		return "LEAVING"
	case Leave:
		return "LEAVE"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Reason tells how a member left.
type Reason int

// The reasons of a Leave.
const (
	// Graceful: the member announced its leave before its key went.
	Graceful Reason = iota + 1
	// Expired: the key went without an announcement: the member's lease
	// expired (a crash, a partition) or was revoked after it lost its
	// registration, or someone deleted the key.
	Expired
	// Unknown: the key went while this node's watch was down (a compaction,
	// a lost etcd leader), and its last value seen did not announce a leave.
	Unknown
)

func (r Reason) String() string {
	switch r {
	case Graceful:
		return "graceful"
	case Expired:
		return "expired"
	case Unknown:
		return "unknown"
	}
	return ""
}

// Change is one change of the table, as listeners receive it.
type Change struct {
	Kind Kind
	// Member is the member concerned; for Leave, as it was last seen.
	Member Member
	// Reason is set for Leave only.
	Reason Reason
	// Revision is the etcd revision at which the change was seen.
	Revision int64
	// Table is the whole table after the change, in join order.
	Table []Member
}

func (c Change) String() string {
	switch c.Kind {
	case Snapshot:
		return fmt.Sprintf("SNAPSHOT (%d members)", len(c.Table))
	case Leave:
		return fmt.Sprintf("LEAVE %s (%s)", c.Member.ID, c.Reason)
	case Update:
		return fmt.Sprintf("UPDATE %s %s", c.Member.ID, metaString(c.Member.Meta))
	}
	return c.Kind.String() + " " + c.Member.ID
}

// Table is one node's copy of the group's member list, kept the same as
// etcd's by a snapshot and a watch from the snapshot's revision. After the
// watch fails (a compaction, a lost etcd leader) it reads the group afresh
// and reports only the difference. Its methods are safe for concurrent use.
type Table struct {
	cli    *clientv3.Client
	prefix string
	log    *slog.Logger

	mu        sync.Mutex
	members   map[string]Member
	rev       int64
	listeners []*queue.Queue[Change]
	closed    bool

	cancel context.CancelFunc
	done   chan struct{}
}

// NewTable reads the group under prefix (a "/" is added if missing) and
// follows it until Close. ctx bounds the first read only.
func NewTable(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger) (*Table, error) {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	t := &Table{cli: cli, prefix: prefix, log: log.With("table", prefix), done: make(chan struct{})}
	members, rev, err := t.read(ctx)
	if err != nil {
		return nil, err
	}
	t.members, t.rev = members, rev
	runCtx, cancel := context.WithCancel(context.Background())
	t.cancel = cancel
	go t.run(runCtx)
	return t, nil
}

// Members returns the table in join order: by CreateRevision, ties by id.
func (t *Table) Members() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sorted()
}

// Revision returns the etcd revision the table is current to.
func (t *Table) Revision() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rev
}

// Listen adds a listener. Its channel receives a Snapshot, then every change
// in the order seen, none dropped. Each listener has its own unbounded queue,
// so a slow or stuck listener delays neither the table nor the other
// listeners. The channel closes after Close, once drained: read it until it
// closes. Listen after Close returns a closed channel.
func (t *Table) Listen() <-chan Change {
	q := queue.New[Change]()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		q.Close()
		return q.Out()
	}
	q.Push(Change{Kind: Snapshot, Revision: t.rev, Table: t.sorted()})
	t.listeners = append(t.listeners, q)
	return q.Out()
}

// Close stops following the group and closes every listener's channel once
// it is drained. Later calls do nothing.
func (t *Table) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	t.mu.Unlock()
	t.cancel()
	<-t.done
	t.mu.Lock()
	for _, q := range t.listeners {
		q.Close()
	}
	t.mu.Unlock()
}

func (t *Table) sorted() []Member {
	out := make([]Member, 0, len(t.members))
	for _, m := range t.members {
		out = append(out, m)
	}
	// The group's master order: the first member is the selector's master.
	slices.SortFunc(out, func(a, b Member) int {
		return events.Compare(events.Node{ID: a.ID, CreateRevision: a.CreateRevision}, events.Node{ID: b.ID, CreateRevision: b.CreateRevision})
	})
	return out
}

func (t *Table) read(ctx context.Context) (map[string]Member, int64, error) {
	resp, err := t.cli.Get(ctx, t.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("read group %s: %w", t.prefix, err)
	}
	members := make(map[string]Member, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		if m, ok := t.member(kv); ok {
			members[m.ID] = m
		}
	}
	return members, resp.Header.Revision, nil
}

func (t *Table) member(kv *mvccpb.KeyValue) (Member, bool) {
	id := string(kv.Key[len(t.prefix):])
	if id == "" {
		return Member{}, false
	}
	m, err := decodeMember(id, kv.Value, kv.CreateRevision, kv.ModRevision)
	if err != nil && kv.Value != nil {
		t.log.Warn("member value unreadable; listed without metadata", "err", err)
	}
	return m, true
}

// run follows the group until ctx ends.
func (t *Table) run(ctx context.Context) {
	defer close(t.done)
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 {
			if backoff.Sleep(ctx, backoff.Delay(n-1)) != nil {
				return
			}
			members, rev, err := t.read(ctx)
			if err != nil {
				t.log.Warn("resync read failed", "err", err)
				continue
			}
			t.resync(members, rev)
		}
		if t.watch(ctx, &n) {
			return
		}
	}
}

// watch applies watch responses until the watch fails (false) or ctx ends
// (true). It resets *n once the watch delivers.
func (t *Table) watch(ctx context.Context, n *int) bool {
	// WithRequireLeader: a watch on an etcd member cut off from its cluster
	// fails rather than serve a stale table.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := t.cli.Watch(wctx, t.prefix, clientv3.WithPrefix(), clientv3.WithRev(t.Revision()+1))
	for {
		select {
		case <-ctx.Done():
			return true
		case wr, open := <-wch:
			if !open || wr.Err() != nil {
				if ctx.Err() != nil {
					return true
				}
				t.log.Info("watch ended; resynchronising", "err", wr.Err(), "compactRevision", wr.CompactRevision)
				return false
			}
			*n = 0
			// The last event's revision, not the header's, which is etcd's
			// current revision while a catching-up watch has more to send.
			if len(wr.Events) > 0 {
				t.apply(wr.Events, wr.Events[len(wr.Events)-1].Kv.ModRevision)
			}
		}
	}
}

// apply applies one watch response's events, in order.
func (t *Table) apply(evs []*clientv3.Event, rev int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ev := range evs {
		m, ok := t.member(ev.Kv)
		if !ok {
			continue
		}
		old, had := t.members[m.ID]
		if ev.Type == mvccpb.DELETE {
			if !had {
				continue
			}
			delete(t.members, m.ID)
			reason := Expired
			if old.Leaving {
				reason = Graceful
			}
			t.emit(Change{Kind: Leave, Member: old, Reason: reason, Revision: ev.Kv.ModRevision})
			continue
		}
		t.members[m.ID] = m
		t.emit(changeOf(old, had, m, ev.Kv.ModRevision)...)
	}
	if rev > t.rev {
		t.rev = rev
	}
}

// changeOf returns the changes that turn old (present if had) into m.
func changeOf(old Member, had bool, m Member, rev int64) []Change {
	switch {
	case !had:
		return []Change{{Kind: Join, Member: m, Revision: rev}}
	case old.CreateRevision != m.CreateRevision:
		// The key was deleted and re-created between two reads.
		reason := Unknown
		if old.Leaving {
			reason = Graceful
		}
		return []Change{{Kind: Leave, Member: old, Reason: reason, Revision: rev}, {Kind: Join, Member: m, Revision: rev}}
	case m.Leaving && !old.Leaving:
		return []Change{{Kind: Leaving, Member: m, Revision: rev}}
	case !sameContent(old, m):
		return []Change{{Kind: Update, Member: m, Revision: rev}}
	}
	return nil
}

// diff returns the changes from table old to table next, read afresh at
// rev: departures first, in id order, then arrivals and updates in id order.
func diff(old, next map[string]Member, rev int64) []Change {
	var out []Change
	for _, id := range slices.Sorted(maps.Keys(old)) {
		if _, ok := next[id]; !ok {
			reason := Unknown
			if old[id].Leaving {
				reason = Graceful
			}
			out = append(out, Change{Kind: Leave, Member: old[id], Reason: reason, Revision: rev})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(next)) {
		o, had := old[id]
		out = append(out, changeOf(o, had, next[id], rev)...)
	}
	return out
}

func (t *Table) resync(members map[string]Member, rev int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changes := diff(t.members, members, rev)
	t.members, t.rev = members, rev
	// The table each change carries is the final one: the intermediate
	// states of a resync were never seen.
	t.emit(changes...)
}

// emit pushes changes to every listener, each with the table as it is now.
// t.mu is held.
func (t *Table) emit(changes ...Change) {
	if len(changes) == 0 {
		return
	}
	table := t.sorted()
	for i := range changes {
		changes[i].Table = table
		t.log.Info("member table changed", "change", changes[i].String(), "revision", changes[i].Revision)
	}
	for _, q := range t.listeners {
		q.Push(changes...)
	}
}
