package resolver

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/queue"
)

// ChangeType is the kind of a Change.
type ChangeType int

// Kinds of Change.
const (
	// GroupAdded: a group has a live member again, or for the first time.
	GroupAdded ChangeType = iota + 1
	// GroupRemoved: the group's last member is gone.
	GroupRemoved
	// MasterChanged: the group has another master, or its master's key was
	// re-created or changed value. A change of slaves only is not reported;
	// Groups shows it.
	MasterChanged
)

func (t ChangeType) String() string {
	switch t {
	case GroupAdded:
		return "GROUP_ADDED"
	case GroupRemoved:
		return "GROUP_REMOVED"
	case MasterChanged:
		return "MASTER_CHANGED"
	}
	return fmt.Sprintf("ChangeType(%d)", int(t))
}

// Group is one group under a Directory's parent prefix.
type Group struct {
	// Name is the group's name: its prefix is <parent>/<Name>.
	Name string
	// Members are the group's live members in join order, the master
	// first. It is empty in a GroupRemoved change.
	Members []events.Node
}

// Master returns the group's master, or the zero Node if it has none.
func (g Group) Master() events.Node {
	if len(g.Members) == 0 {
		return events.Node{}
	}
	return g.Members[0]
}

// Change is one change of the groups under a Directory's parent.
type Change struct {
	Type ChangeType
	// Group is the group after the change.
	Group Group
	// OldMaster is the master before the change; the zero Node for
	// GroupAdded.
	OldMaster events.Node
	// Revision is the etcd revision of the change.
	Revision int64
}

func (c Change) String() string {
	return fmt.Sprintf("%v %s (master %q, was %q)", c.Type, c.Group.Name, c.Group.Master().ID, c.OldMaster.ID)
}

// Directory follows every group under a parent prefix: the members of
// group g are the keys <parent>/<g>/<id>, as the selector package writes
// them for prefix <parent>/<g>. A group is the first path segment after
// the parent; an id may contain "/" ("<parent>/db/x/y" is member "x/y" of
// group "db"), exactly as the selector of "<parent>/db" counts it.
//
// Its methods are safe for concurrent use.
type Directory struct {
	cli    *clientv3.Client
	parent string
	key    string // parent's key prefix, with its trailing "/"
	b      *Builder
	dial   []grpc.DialOption

	cancel   context.CancelFunc
	followed chan struct{} // closed when the follow goroutine returns
	q        *queue.Queue[Change]
	out      chan Change
	stop     chan struct{} // closed by Close: the forwarder stops delivering
	fwdDone  chan struct{} // closed when the forwarder returns
	once     sync.Once

	mu     sync.Mutex
	groups map[string]Group
	conns  map[string]*grpc.ClientConn
	closed bool
}

// NewDirectory reads the groups under parent, which must start with "/",
// and follows them until Close. ctx bounds the first read only; when it
// fails, NewDirectory returns an error wrapping ErrUnreachable. It takes
// the same options as NewBuilder, and WithDialOptions for Conn.
func NewDirectory(ctx context.Context, cli *clientv3.Client, parent string, opts ...Option) (*Directory, error) {
	switch {
	case cli == nil:
		return nil, invalid("client", "nil")
	case parent == "":
		return nil, invalid("parent", "empty")
	case !strings.HasPrefix(parent, "/"):
		return nil, invalid("parent", "%q does not start with /: the resolver's targets could not name its groups", parent)
	}
	o, err := newOptions(opts)
	if err != nil {
		return nil, err
	}
	key := group.Key(parent)
	rctx, cancel := context.WithTimeout(ctx, o.readTimeout)
	st, err := group.Read(rctx, cli, key)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w for %s: %w", ErrUnreachable, parent, err)
	}
	log := o.log.With("parent", parent)
	b := &Builder{cli: cli, opts: o}
	b.opts.dial = nil
	d := &Directory{
		cli:      cli,
		parent:   parent,
		key:      key,
		b:        b,
		dial:     o.dial,
		followed: make(chan struct{}),
		q:        queue.New[Change](),
		out:      make(chan Change),
		stop:     make(chan struct{}),
		fwdDone:  make(chan struct{}),
		groups:   map[string]Group{},
		conns:    map[string]*grpc.ClientConn{},
	}
	d.update(st)
	fctx, fcancel := context.WithCancel(context.Background())
	d.cancel = fcancel
	go d.forward()
	go func() {
		defer close(d.followed)
		group.Follow(fctx, group.Config[struct{}]{
			Client:      cli,
			Prefix:      key,
			ReadTimeout: o.readTimeout,
			Log:         log,
			Update:      func(st group.State) bool { d.update(st); return true },
		}, st)
	}()
	return d, nil
}

// update takes in a new state of the parent prefix: it replaces the
// groups, queues the changes in group name order, and closes the
// connections of groups gone.
func (d *Directory) update(st group.State) {
	byName := map[string][]events.Node{}
	for _, kv := range st.KVs {
		name, id, ok := group.Split(d.key, kv.Key)
		if !ok {
			continue
		}
		byName[name] = append(byName[name], events.Node{ID: id, Value: kv.Value, CreateRevision: kv.CreateRevision})
	}
	groups := make(map[string]Group, len(byName))
	for name, nodes := range byName {
		events.Sort(nodes)
		groups[name] = Group{Name: name, Members: nodes}
	}

	d.mu.Lock()
	old := d.groups
	d.groups = groups
	var changes []Change
	var gone []*grpc.ClientConn
	for _, name := range slices.Sorted(maps.Keys(joinKeys(old, groups))) {
		was, wasOK := old[name]
		now, nowOK := groups[name]
		switch {
		case !wasOK:
			changes = append(changes, Change{Type: GroupAdded, Group: now, Revision: st.Revision})
		case !nowOK:
			changes = append(changes, Change{Type: GroupRemoved, Group: Group{Name: name}, OldMaster: was.Master(), Revision: st.Revision})
			if cc := d.conns[name]; cc != nil {
				gone = append(gone, cc)
				delete(d.conns, name)
			}
		case was.Master() != now.Master():
			changes = append(changes, Change{Type: MasterChanged, Group: now, OldMaster: was.Master(), Revision: st.Revision})
		}
	}
	d.mu.Unlock()
	d.q.Push(changes...)
	for _, cc := range gone {
		cc.Close()
	}
}

func joinKeys(a, b map[string]Group) map[string]struct{} {
	out := make(map[string]struct{}, len(a)+len(b))
	for k := range a {
		out[k] = struct{}{}
	}
	for k := range b {
		out[k] = struct{}{}
	}
	return out
}

// forward hands queued changes to the reader of Changes until Close.
func (d *Directory) forward() {
	defer close(d.fwdDone)
	defer close(d.out)
	for c := range d.q.Out() {
		select {
		case d.out <- c:
		case <-d.stop:
			for range d.q.Out() {
				// Discarded: Close does not wait for a reader. The queue
				// is closed, so this ends.
			}
			return
		}
	}
}

// Changes returns the channel of changes, in the order they happened. It
// starts with one GroupAdded per group present when NewDirectory read
// them, in name order; the changes of one etcd revision come in group name
// order. Changes wait in memory until read, so a slow reader never delays
// the watch and nothing is dropped. The channel closes after Close; changes
// not received by then are discarded, so Close never waits for a reader.
func (d *Directory) Changes() <-chan Change { return d.out }

// Groups returns the groups as the Directory knows them now, in name
// order.
func (d *Directory) Groups() []Group {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Group, 0, len(d.groups))
	for _, name := range slices.Sorted(maps.Keys(d.groups)) {
		g := d.groups[name]
		g.Members = slices.Clone(g.Members)
		out = append(out, g)
	}
	return out
}

// Target returns the dial target of a group's master:
// mastership:///<parent>/<name>.
func (d *Directory) Target(name string) string {
	return (&url.URL{Scheme: Scheme, Path: d.key + name}).String()
}

// Conn returns a connection to the master of the named group, once it is
// ready, or an error when ctx ends first. The connection resolves through
// a Builder on the Directory's etcd client, so its calls follow the
// group's failovers. The Directory owns it: do not Close it. It is closed
// when the group disappears (calls on it then fail with codes.Canceled; a
// later Conn makes a new one) and on Close. Conn returns ErrNoGroup for a
// group the Directory does not know, or one that disappears while Conn
// waits, and ErrClosed once the Directory is closed.
func (d *Directory) Conn(ctx context.Context, name string) (*grpc.ClientConn, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := d.groups[name]; !ok {
		d.mu.Unlock()
		return nil, fmt.Errorf("%w: %q under %s", ErrNoGroup, name, d.parent)
	}
	cc := d.conns[name]
	if cc == nil {
		opts := append([]grpc.DialOption{grpc.WithResolvers(d.b)}, d.dial...)
		var err error
		cc, err = grpc.NewClient(d.Target(name), opts...)
		if err != nil {
			d.mu.Unlock()
			return nil, fmt.Errorf("resolver: dial group %q: %w", name, err)
		}
		d.conns[name] = cc
	}
	d.mu.Unlock()

	cc.Connect()
	for {
		s := cc.GetState()
		switch s {
		case connectivity.Ready:
			return cc, nil
		case connectivity.Shutdown:
			d.mu.Lock()
			closed := d.closed
			d.mu.Unlock()
			if closed {
				return nil, fmt.Errorf("%w: connection to group %q closed", ErrClosed, name)
			}
			return nil, fmt.Errorf("%w: %q under %s disappeared, and its connection was closed", ErrNoGroup, name, d.parent)
		}
		if !cc.WaitForStateChange(ctx, s) {
			return nil, fmt.Errorf("resolver: connection to the master of %q not ready (%v): %w", name, s, context.Cause(ctx))
		}
	}
}

// Close stops following the groups, closes the connections made by Conn,
// and closes the Changes channel. Later calls do nothing. It returns nil.
func (d *Directory) Close() error {
	d.once.Do(func() {
		d.mu.Lock()
		d.closed = true
		d.mu.Unlock()
		d.cancel()
		<-d.followed // no more pushes
		d.q.Close()
		close(d.stop)
		<-d.fwdDone
		d.mu.Lock()
		conns := d.conns
		d.conns = map[string]*grpc.ClientConn{}
		d.mu.Unlock()
		for _, cc := range conns {
			cc.Close()
		}
	})
	return nil
}
