package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/internal/backoff"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

// etcdTimeout bounds each request of a term to etcd.
const etcdTimeout = 2 * time.Second

// slave is the master's view of one slave: a gRPC client of its Sync
// service, and whether it holds every write of this term.
type slave struct {
	id, addr string
	conn     *grpc.ClientConn
	sync     kvpb.SyncClient
	inSync   bool // it applied the term's snapshot or the writes since
	catching bool // a catch-up goroutine runs for it
	gone     bool // SLAVE_DEL, or the term ended: its client is closed
}

// term is one mastership of a server: from INIT_MASTER or CHANGE_TO_MASTER
// until the mastership ends. All its work runs under the selector's
// MasterContext, so it stops the moment the mastership does.
type term struct {
	s      *server
	ctx    context.Context // MasterContext, and cancelled by stop
	cancel context.CancelFunc
	epoch  int64 // the selector's epoch: this member key's CreateRevision
	ready  atomic.Bool
	wg     sync.WaitGroup

	// mu serialises writes, snapshots and changes of the in-sync set: a
	// snapshot taken under it holds every write acknowledged before, and
	// no write is acknowledged until every in-sync slave applied it.
	mu     sync.Mutex
	slaves map[string]*slave
	isr    []string // as this term last recorded it in etcd; nil before, and after a failed write
	isrRev int64    // the record's ModRevision in etcd as this term last wrote or read it
}

func newTerm(s *server, ctx context.Context, epoch int64) *term {
	ctx, cancel := context.WithCancel(ctx)
	return &term{s: s, ctx: ctx, cancel: cancel, epoch: epoch, slaves: map[string]*slave{}}
}

// serving returns nil if the term serves clients now, and otherwise the
// UNAVAILABLE error to answer with.
func (t *term) serving() error {
	if t.ctx.Err() != nil {
		return notMaster(t.s.id)
	}
	if !t.ready.Load() {
		return status.Errorf(codes.Unavailable, "replicated-kv: %s is taking over as master", t.s.id)
	}
	return nil
}

// stop ends the term: writes stop at once (its context is cancelled), then
// the clients to the slaves close.
func (t *term) stop() {
	t.cancel()
	t.mu.Lock()
	for _, sl := range t.slaves {
		sl.gone = true
		sl.conn.Close()
	}
	t.slaves = nil
	t.mu.Unlock()
	t.wg.Wait()
}

// addSlaves opens clients to new slaves (SLAVE_ADD, or the slaves of
// INIT_MASTER and CHANGE_TO_MASTER) and, once the term serves, catches
// them up.
func (t *term) addSlaves(nodes []events.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.slaves == nil {
		return // stopped
	}
	for _, n := range nodes {
		if old, ok := t.slaves[n.ID]; ok {
			old.gone = true
			old.conn.Close()
			delete(t.slaves, n.ID)
		}
		conn, err := grpc.NewClient(n.Value, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.s.log.Warn("slave has a bad address; left out", "slave", n.ID, "addr", n.Value, "err", err)
			continue
		}
		sl := &slave{id: n.ID, addr: n.Value, conn: conn, sync: kvpb.NewSyncClient(conn)}
		t.slaves[n.ID] = sl
		if t.ready.Load() {
			t.catchUpLocked(sl)
		}
	}
}

// delSlaves closes the clients of slaves gone (SLAVE_DEL) and takes them
// out of the in-sync set.
func (t *term) delSlaves(nodes []events.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	for _, n := range nodes {
		sl, ok := t.slaves[n.ID]
		if !ok {
			continue
		}
		sl.gone = true
		sl.conn.Close()
		delete(t.slaves, n.ID)
		changed = changed || sl.inSync
	}
	if changed && t.ready.Load() {
		// Best effort: a write records the set before it is acknowledged
		// anyway.
		if err := t.recordLocked(); err != nil {
			t.s.log.Warn("record in-sync set", "err", err)
		}
	}
}

// takeOver is the start of a term. A member that is not in the group's
// in-sync set yields while an in-sync member is alive, so that acknowledged
// writes are not lost; otherwise the term fences its store with its epoch,
// sends every slave a snapshot, records the new in-sync set and serves.
func (t *term) takeOver() {
	log := t.s.log.With("epoch", t.epoch)
	var rec isr
	var found bool
	for n := 0; ; n++ {
		ctx, cancel := context.WithTimeout(t.ctx, etcdTimeout)
		var err error
		rec, found, err = readISR(ctx, t.s.cli, t.s.cfg.Prefix)
		cancel()
		if err == nil {
			break
		}
		if t.refused(err) {
			return
		}
		log.Warn("read in-sync set", "err", err)
		if backoff.Sleep(t.ctx, backoff.Delay(n)) != nil {
			return
		}
	}
	if found && !rec.has(t.s.id) && !t.waitForISR(rec) {
		return
	}
	t.mu.Lock()
	t.isrRev = rec.rev
	t.mu.Unlock()
	if err := t.s.st.begin(t.epoch); err != nil {
		log.Warn("a newer master wrote here already; stepping down", "err", err)
		t.cancel()
		return
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	var wg sync.WaitGroup
	for _, sl := range t.slaves {
		wg.Go(func() {
			if err := t.snapshot(sl); err != nil {
				log.Warn("snapshot to slave", "slave", sl.id, "err", err)
				return
			}
			sl.inSync = true
		})
	}
	wg.Wait()
	for n := 0; ; n++ {
		err := t.recordLocked()
		if err == nil {
			break
		}
		log.Warn("record in-sync set", "err", err)
		if errors.Is(err, errDeposed) || backoff.Sleep(t.ctx, backoff.Delay(n)) != nil {
			t.cancel()
			return
		}
	}
	t.ready.Store(true)
	t.s.mu.Lock()
	t.s.stats.ready++
	t.s.mu.Unlock()
	log.Info("serving as master", "in-sync", t.isr)
	for _, sl := range t.slaves {
		if !sl.inSync {
			t.catchUpLocked(sl)
		}
	}
}

// waitForISR is the start of a term of a member that is not in the in-sync
// set rec. It yields as soon as a member of rec is alive in the group, and
// returns false; or, after UncleanWait with none, returns true: the term
// takes over with what it holds, and whatever only the lost members held is
// lost.
func (t *term) waitForISR(rec isr) bool {
	deadline := time.Now().Add(t.s.cfg.UncleanWait)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		view := t.s.sel.View()
		for _, id := range rec.Members {
			if _, alive := view.Node(id); !alive || id == t.s.id {
				continue
			}
			// An in-sync member is alive: the wait for none starts again,
			// so that a Yield that fails never turns into a takeover that
			// would lose what that member holds.
			deadline = time.Now().Add(t.s.cfg.UncleanWait)
			t.s.log.Info("not in sync; yielding to an in-sync member", "in-sync", rec.Members, "alive", id)
			// Not under t.ctx: the mastership, and so t.ctx, ends as Yield
			// takes effect.
			ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
			var err error
			if h := t.s.cfg.yieldHook; h != nil {
				err = h()
			}
			if err == nil {
				err = t.s.sel.Yield(ctx)
			}
			cancel()
			if err == nil {
				t.s.mu.Lock()
				t.s.stats.yielded++
				t.s.mu.Unlock()
				t.cancel()
				return false
			}
			t.s.log.Warn("yield", "err", err)
			break
		}
		if time.Now().After(deadline) {
			t.s.log.Warn("no in-sync member alive; taking over with possible loss", "in-sync", rec.Members, "waited", t.s.cfg.UncleanWait)
			t.s.mu.Lock()
			t.s.stats.unclean++
			t.s.mu.Unlock()
			return true
		}
		select {
		case <-t.ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// snapshot sends the store's whole state to sl. The caller holds t.mu, so
// that no write comes between the snapshot and sl counting as in sync.
func (t *term) snapshot(sl *slave) error {
	idx, entries := t.s.st.snapshot()
	ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.ReplicationTimeout)
	defer cancel()
	_, err := sl.sync.Snapshot(ctx, &kvpb.SnapshotRequest{Epoch: t.epoch, Master: t.s.id, Index: idx, Entries: entries})
	return err
}

// probe asks sl for its status.
func (t *term) probe(sl *slave) error {
	ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.ReplicationTimeout)
	defer cancel()
	_, err := sl.sync.Status(ctx, &kvpb.StatusRequest{})
	return err
}

// catchUpLocked starts sending sl a snapshot, retried until it is in sync,
// gone, or the term ends. The caller holds t.mu.
func (t *term) catchUpLocked(sl *slave) {
	if sl.catching || sl.inSync || sl.gone {
		return
	}
	sl.catching = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		for n := 0; ; n++ {
			// Probe first, without holding up writes: a slave that does
			// not answer would otherwise stall them for a whole
			// ReplicationTimeout at every attempt.
			err := t.probe(sl)
			t.mu.Lock()
			if sl.gone || t.ctx.Err() != nil {
				sl.catching = false
				t.mu.Unlock()
				return
			}
			if err == nil {
				err = t.snapshot(sl)
			}
			if err == nil {
				sl.inSync = true
				sl.catching = false
				if err := t.recordLocked(); err != nil {
					// The slave gets the writes from now on; a write
					// records the set again before it is acknowledged.
					t.s.log.Warn("record in-sync set", "err", err)
				}
				t.mu.Unlock()
				t.s.log.Info("slave in sync", "slave", sl.id)
				return
			}
			t.mu.Unlock()
			t.s.log.Info("catch-up of slave failed; retrying", "slave", sl.id, "err", err)
			if backoff.Sleep(t.ctx, backoff.Delay(n)) != nil {
				t.mu.Lock()
				sl.catching = false
				t.mu.Unlock()
				return
			}
		}
	}()
}

// refused reports whether err is etcd refusing this server's user (a
// missing permission, failed credentials), which no retry can cure: then it
// ends the term and makes the whole server fail (see server.fail), with a
// message naming the key and the grant needed.
func (t *term) refused(err error) bool {
	if !etcdflags.Refused(t.s.cli, err) {
		return false
	}
	p := strings.TrimSuffix(t.s.cfg.Prefix, "/") + "/"
	t.s.fail(fmt.Errorf("etcd refused the in-sync record: %w (the user needs readwrite on %s: etcdctl role grant-permission ROLE readwrite %s --prefix)", err, p, p))
	t.cancel()
	return true
}

// recordLocked records in etcd the in-sync set this term holds, if it
// changed: this member and every slave in sync. The caller holds t.mu.
func (t *term) recordLocked() error {
	members := []string{t.s.id}
	for _, sl := range t.slaves {
		if sl.inSync {
			members = append(members, sl.id)
		}
	}
	slices.Sort(members)
	if t.isr != nil && slices.Equal(t.isr, members) {
		return nil
	}
	if err := t.ctx.Err(); err != nil {
		return fmt.Errorf("%w: %v", errDeposed, err)
	}
	guard, err := t.s.sel.Guard()
	if err != nil {
		return fmt.Errorf("%w: %v", errDeposed, err)
	}
	// Guard holds for the current mastership; the second comparison ties
	// the record to this term's, in case a later one has begun.
	ours := clientv3.Compare(clientv3.CreateRevision(t.s.sel.Key()), "=", t.epoch)
	ctx, cancel := context.WithTimeout(t.ctx, etcdTimeout)
	defer cancel()
	b := isr{Epoch: t.epoch, Master: t.s.id, Members: members}
	for retried := false; ; retried = true {
		rev, err := writeISR(ctx, t.s.cli, t.s.cfg.Prefix, []clientv3.Cmp{guard, ours}, t.isrRev, b)
		if err == nil && t.s.cfg.isrHook != nil {
			err = t.s.cfg.isrHook()
		}
		if err == nil {
			t.isr, t.isrRev = members, rev
			t.s.log.Info("in-sync set recorded", "in-sync", members)
			return nil
		}
		if t.refused(err) {
			return err
		}
		// What etcd holds is unknown now (a write whose answer is lost may
		// have been applied, or be applied later): the next call writes
		// again, whatever this term last recorded.
		t.isr = nil
		if !errors.Is(err, errISRChanged) || retried {
			return err
		}
		// The record moved without this term seeing it: a write of its own
		// that etcd applied although the call failed (only a master writes
		// it, and the guard still held). Write again, over that one.
		t.isrRev = rev
	}
}

// write applies op here and on every in-sync slave, and returns its index
// once the in-sync set recorded in etcd holds only members that applied
// it. A slave that fails leaves the set (and is caught up again later);
// if the set cannot be recorded, the write is not acknowledged.
func (t *term) write(_ context.Context, op *kvpb.Op) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.serving(); err != nil {
		return 0, err
	}
	idx, err := t.s.st.applyNext(t.epoch, op)
	if err != nil {
		t.cancel()
		return 0, status.Errorf(codes.Unavailable, "replicated-kv: %s deposed: %v", t.s.id, err)
	}
	// The replication runs under the term's context, not the caller's: a
	// client that gives up must not make a healthy slave miss the write.
	ctx, cancel := context.WithTimeout(t.ctx, t.s.cfg.ReplicationTimeout)
	defer cancel()
	var wg sync.WaitGroup
	var failMu sync.Mutex
	var failed []*slave
	for _, sl := range t.slaves {
		if !sl.inSync {
			continue
		}
		wg.Go(func() {
			_, err := sl.sync.Apply(ctx, &kvpb.ApplyRequest{Epoch: t.epoch, Master: t.s.id, Index: idx, Op: op})
			if err != nil {
				t.s.log.Warn("replication to slave failed; it leaves the in-sync set", "slave", sl.id, "index", idx, "err", err)
				failMu.Lock()
				failed = append(failed, sl)
				failMu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, sl := range failed {
		sl.inSync = false
		t.catchUpLocked(sl)
	}
	if err := t.recordLocked(); err != nil {
		return 0, status.Errorf(codes.Unavailable, "replicated-kv: write %d not acknowledged: %v", idx, err)
	}
	// A master acknowledges only while it is master. (Had the term ended
	// just now, the write would still be on every in-sync member; failing
	// it is merely the cautious answer.)
	if t.ctx.Err() != nil {
		return 0, status.Errorf(codes.Unavailable, "replicated-kv: write %d not acknowledged: %s is no longer master", idx, t.s.id)
	}
	return idx, nil
}
