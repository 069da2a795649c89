package main

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/seed764c596d/mastership/events"
)

// Kind is the kind of a Change.
type Kind int

// The kinds of change.
const (
	// Snapshot is the first change every listener receives: the table as it
	// stood when the listener was added. It has no Member.
	Snapshot Kind = iota + 1
	// Join: a member appeared: a key with an id and a CreateRevision not
	// in the view before.
	Join
	// Update: a member changed its record in place (metadata, payload,
	// address): its selector's SetValue, seen as VALUE_CHANGE.
	Update
	// Leaving: a member announced that it is leaving gracefully; its
	// Member.Leaving holds the reason it gave.
	Leaving
	// Leave: a member is gone from the view (or its key was created again
	// under its id: a Leave, then a Join); Reason says how.
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
	// Graceful: this node saw the member's leaving marker before it went;
	// the Member's Leaving holds the reason it gave.
	Graceful Reason = iota + 1
	// Expired: the member went while this node was registered, and this
	// node saw no leaving marker: its lease expired (a crash, a partition)
	// or was revoked without a marker, or someone deleted its key. A
	// graceful leave shows as Expired too when this node's view never held
	// the marker on its own: the marker and the delete reached it in one
	// watch response (a lagging watch), or while its selector read the
	// group afresh after a failed watch (a compaction, a lost etcd leader),
	// which the selector's events do not tell apart from a live change.
	Expired
	// Unknown: the member went while this node was not registered (between
	// its selector's OFFLINE and its next INIT), and its last value seen
	// had no marker: this node was not following the group then.
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

// Why says how a Leave's member went, in words: "left (REASON)" for a
// graceful leave, REASON being the one the member wrote in its marker;
// "expired (crash or cut off)" for a member gone without a marker while
// this node followed the group; "unknown (gone while this node was not
// registered)". Empty for other changes.
func (c Change) Why() string {
	if c.Kind != Leave {
		return ""
	}
	switch c.Reason {
	case Graceful:
		return "left (" + c.Member.Leaving + ")"
	case Expired:
		return "expired (crash or cut off)"
	case Unknown:
		return "unknown (gone while this node was not registered)"
	}
	return c.Reason.String()
}

// Change is one change of the table, as listeners receive it.
type Change struct {
	Kind Kind
	// Member is the member concerned; for Leave, as it was last seen.
	Member Member
	// Reason is set for Leave only.
	Reason Reason
	// Revision is the etcd revision of the view the change was seen in.
	Revision int64
	// Table is the whole table after the change, in join order. The
	// changes that one view brings (a resync, a registration, a watch
	// response with several keys) all carry that view's table: the states
	// in between were never seen.
	Table []Member
}

func (c Change) String() string {
	switch c.Kind {
	case Snapshot:
		return fmt.Sprintf("SNAPSHOT (%d members)", len(c.Table))
	case Leave:
		return "LEAVE " + c.Member.ID + " " + c.Why()
	case Leaving:
		return fmt.Sprintf("LEAVING %s (%s)", c.Member.ID, c.Member.Leaving)
	case Update:
		return fmt.Sprintf("UPDATE %s %s", c.Member.ID, metaString(c.Member.Meta))
	}
	return c.Kind.String() + " " + c.Member.ID
}

// Table is one node's copy of the group's member list. It holds no watch of
// its own: it is fed the events of the node's own selector, each of which
// carries the member's whole view of the group, and reports the difference
// between successive views. Its methods are safe for concurrent use.
//
// While the node is not registered (after its selector's OFFLINE, until
// the next INIT) the selector emits nothing, and the table stays as it was
// last seen; the INIT's view brings it up to date, members gone meanwhile
// being reported with Reason Unknown.
type Table struct {
	log *slog.Logger

	mu      sync.Mutex
	members map[string]Member // by id
	values  map[string]string // the value each member was decoded from, by id
	list    []Member          // in join order, the view's
	rev     int64
	offline bool // since an Offline event, until the next view
	closed  bool
	listen  []*listener
}

// newTable returns an empty table, to be fed the node's selector events by
// apply, and closed by close.
func newTable(log *slog.Logger) *Table {
	return &Table{log: log, members: map[string]Member{}, values: map[string]string{}, offline: true}
}

// Members returns the table in join order: the order of the selector's
// view, whose first member is the group's master.
func (t *Table) Members() []Member {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.list)
}

// Revision returns the etcd revision of the last view the table took in:
// while the node is not registered, that of the last view before.
func (t *Table) Revision() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rev
}

// Listen adds a listener. Its channel receives a Snapshot, the table as it
// stands, then every later change in the order the table made them, none
// dropped. Sending never waits for the reader: each listener has its own
// unbounded queue in memory, so a slow or stuck listener delays neither the
// table nor the other listeners, but holds every change (each with its
// table) until it reads them. The channel closes once the node's member
// has ended (Peer.Leave, or etcd refused it) and the listener has read
// every change: read it until it closes, or its goroutine stays blocked.
// Listen after that returns a closed channel.
func (t *Table) Listen() <-chan Change {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := newListener()
	if t.closed {
		l.close()
		return l.out
	}
	l.push(Change{Kind: Snapshot, Revision: t.rev, Table: slices.Clone(t.list)})
	t.listen = append(t.listen, l)
	return l.out
}

// apply takes in one event of the node's selector. Events of one change
// share its view: the first brings the table up to it, and the others find
// nothing new.
func (t *Table) apply(ev events.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ev.Type == events.Offline {
		// Offline has no view: the table stays as last seen.
		t.offline = true
		return
	}
	gone := Expired
	if t.offline {
		gone = Unknown
	}
	t.offline = false
	list, members, values := t.decode(ev.View)
	changes := diff(t.members, members, ev.View.Revision, gone)
	t.list, t.members, t.values, t.rev = list, members, values, ev.View.Revision
	for i := range changes {
		changes[i].Table = list
		t.log.Info("member table changed", "change", changes[i].String(), "revision", changes[i].Revision)
	}
	for _, l := range t.listen {
		l.push(changes...)
	}
}

// decode returns the members of view v, in its order and by id, and the
// values they were decoded from. A member whose key is as it was (same
// CreateRevision, same value) is taken from the table rather than decoded
// again, so that an unreadable value is logged once. t.mu is held.
func (t *Table) decode(v events.View) ([]Member, map[string]Member, map[string]string) {
	list := make([]Member, 0, len(v.Members))
	members := make(map[string]Member, len(v.Members))
	values := make(map[string]string, len(v.Members))
	for _, n := range v.Members {
		m, ok := t.members[n.ID]
		if !ok || m.CreateRevision != n.CreateRevision || t.values[n.ID] != n.Value {
			var err error
			m, err = decodeMember(n.ID, []byte(n.Value), n.CreateRevision)
			if err != nil {
				t.log.Warn("member value unreadable; listed without metadata", "err", err)
			}
		}
		list = append(list, m)
		members[n.ID] = m
		values[n.ID] = n.Value
	}
	return list, members, values
}

// close closes every listener's channel once it is drained. The node's
// selector has emitted its last event. Later calls do nothing.
func (t *Table) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	t.closed = true
	for _, l := range t.listen {
		l.close()
	}
}

// changeOf returns the changes that turn old (present if had) into m. A
// key created again under the same id is a member that left, with the
// reason gone unless its marker was seen, and one that joined: a member is
// its id and CreateRevision, as in the events package.
func changeOf(old Member, had bool, m Member, rev int64, gone Reason) []Change {
	switch {
	case !had:
		return []Change{{Kind: Join, Member: m, Revision: rev}}
	case old.CreateRevision != m.CreateRevision:
		return []Change{leave(old, rev, gone), {Kind: Join, Member: m, Revision: rev}}
	case m.Leaving != "" && old.Leaving == "":
		return []Change{{Kind: Leaving, Member: m, Revision: rev}}
	case !sameContent(old, m):
		return []Change{{Kind: Update, Member: m, Revision: rev}}
	}
	return nil
}

// leave is the Leave of old: Graceful if its marker was seen, else gone.
func leave(old Member, rev int64, gone Reason) Change {
	if old.Leaving != "" {
		gone = Graceful
	}
	return Change{Kind: Leave, Member: old, Reason: gone, Revision: rev}
}

// diff returns the changes from table old to table next, the view at rev:
// departures first, in id order, then arrivals and updates in id order. A
// member gone without a marker seen leaves with the reason gone.
func diff(old, next map[string]Member, rev int64, gone Reason) []Change {
	var out []Change
	for _, id := range slices.Sorted(maps.Keys(old)) {
		if _, ok := next[id]; !ok {
			out = append(out, leave(old[id], rev, gone))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(next)) {
		o, had := old[id]
		out = append(out, changeOf(o, had, next[id], rev, gone)...)
	}
	return out
}

// listener is one Listen channel: changes wait in pending, in order, until
// its goroutine hands them to out, so that push never waits for the reader.
type listener struct {
	out  chan Change
	wake chan struct{} // capacity 1: a wake-up for run

	mu      sync.Mutex
	pending []Change
	closed  bool
}

func newListener() *listener {
	l := &listener{out: make(chan Change), wake: make(chan struct{}, 1)}
	go l.run()
	return l
}

// push queues changes; it never blocks. Not after close.
func (l *listener) push(changes ...Change) {
	if len(changes) == 0 {
		return
	}
	l.mu.Lock()
	l.pending = append(l.pending, changes...)
	l.mu.Unlock()
	l.signal()
}

// close makes out close once every pushed change is delivered.
func (l *listener) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.signal()
}

func (l *listener) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// run delivers the pending changes, a batch at a time, until closed and
// drained. A push or close after it took a batch leaves a wake-up behind.
func (l *listener) run() {
	defer close(l.out)
	for {
		l.mu.Lock()
		batch, closed := l.pending, l.closed
		l.pending = nil
		l.mu.Unlock()
		for _, c := range batch {
			l.out <- c
		}
		if len(batch) == 0 {
			if closed {
				return
			}
			<-l.wake
		}
	}
}
