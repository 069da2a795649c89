package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/examples/internal/backoff"
	"github.com/seed764c596d/mastership/selector"
)

// manager is one manager: a member of the managers' group that, while it is
// master, keeps the target's nodes equal to the live workers.
type manager struct {
	cli    *clientv3.Client
	cfg    managerConfig
	target Target
	log    *slog.Logger
	// ln, when not nil, is where the manager serves /healthz,
	// /manager-ready and /metrics.
	ln      net.Listener
	metrics *managerMetrics
	// ok: the last reconciliation of the current mastership succeeded.
	ok atomic.Bool
}

// run joins the managers' group and acts while master, until ctx ends; then it
// leaves the group. It returns an error only when it cannot join.
func (m *manager) run(ctx context.Context) error {
	jctx, cancel := context.WithTimeout(ctx, etcdflags.JoinWait(startWait, m.cfg.ttl))
	s, err := selector.New(jctx, m.cli, managersPrefix(m.cfg.prefix), m.cfg.id,
		selector.WithTTL(m.cfg.ttl), selector.WithValue(m.cfg.id), selector.WithLogger(m.log))
	// The selector's logs name the member; ours name it too.
	m.log = m.log.With("id", m.cfg.id)
	cancel()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	if m.ln != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.serve(ctx, m.ln, s); err != nil {
				m.log.Error("the HTTP server ended", "err", err)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// One act at a time, one per mastership: a new one waits for the
		// last to return, so that two never call the target together, not
		// even for the moment a cancelled call takes to return.
		var last context.Context
		var lastDone chan struct{}
		for ev := range s.Events() {
			m.log.Debug("event", "type", ev.Type, "master", ev.View.Master().ID, "managers", ev.View.IDs())
			switch ev.Type {
			case events.InitMaster, events.ChangeToMaster:
				// MasterContext ends with this mastership, whether or not
				// its event has been read, so a stale event starts nothing:
				// its context is already cancelled, or is the one already
				// acted under.
				mctx := s.MasterContext()
				if mctx.Err() != nil || mctx == last {
					continue
				}
				guard, err := s.Guard()
				if err != nil {
					continue
				}
				m.log.Info("master: reconciling", "epoch", s.Epoch())
				prev, actDone := lastDone, make(chan struct{})
				last, lastDone = mctx, actDone
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer close(actDone)
					if prev != nil {
						<-prev
					}
					m.act(mctx, guard)
					m.log.Info("no longer master")
				}()
			case events.Offline:
				if ctx.Err() != nil {
					m.log.Info("left the managers' group")
				} else {
					m.log.Warn("offline: not in the managers' group until registered again")
				}
			}
		}
	}()
	<-ctx.Done()
	err = s.Close()
	<-done
	wg.Wait()
	return err
}

// act reconciles until ctx, the mastership's context, ends: at once, every
// interval, soon after a worker or a leaving marker changes, when a node's
// grace period ends, and after a failure with a growing backoff. Nothing it
// meets is fatal.
func (m *manager) act(ctx context.Context, guard clientv3.Cmp) {
	st := &mastership{missing: map[Node]time.Time{}, holding: map[Node]bool{}}
	m.ok.Store(false)
	defer m.ok.Store(false)
	fails := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
	// Events only make reconciliation come sooner: the watch starts from
	// now, and a lost one is made again at the next timer, so that an etcd
	// without a leader is not asked in a busy loop. A nil channel blocks.
	var wch clientv3.WatchChan
	watch := true
	for {
		if watch {
			wch = m.cli.Watch(clientv3.WithRequireLeader(ctx), m.cfg.prefix+"/", clientv3.WithPrefix())
			watch = false
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			watch = wch == nil
		case resp, ok := <-wch:
			if !ok || resp.Err() != nil {
				wch = nil
				continue
			}
			if fails > 0 || !m.relevant(resp) {
				continue // a failing target waits for its backoff
			}
			// Since Go 1.23, a stopped timer delivers nothing stale.
			timer.Stop()
		}
		next, err := m.reconcile(ctx, guard, st)
		if ctx.Err() != nil {
			return
		}
		wait := m.cfg.interval
		m.ok.Store(err == nil)
		if err != nil {
			m.metrics.reconciles.WithLabelValues("failure").Inc()
			wait = backoff.Delay(fails)
			fails++
			m.log.Warn("reconcile failed; retrying", "err", err, "attempt", fails, "in", wait.Round(time.Millisecond))
		} else {
			m.metrics.reconciles.WithLabelValues("success").Inc()
			fails = 0
			if !next.IsZero() {
				wait = min(wait, max(time.Until(next), 0))
			}
		}
		timer.Reset(wait)
	}
}

// relevant reports whether a watch response touches workers or markers.
func (m *manager) relevant(resp clientv3.WatchResponse) bool {
	for _, ev := range resp.Events {
		k := string(ev.Kv.Key)
		if strings.HasPrefix(k, workersPrefix(m.cfg.prefix)+"/") || strings.HasPrefix(k, leavingPrefix(m.cfg.prefix)) {
			return true
		}
	}
	return false
}

// mastership is what a master remembers from one reconciliation to the next,
// for as long as its mastership lasts.
type mastership struct {
	// missing: when each of the target's nodes without a worker was first
	// seen so (see plan).
	missing map[Node]time.Time
	// holding: the nodes whose removal the target refused because they
	// still hold data (errHoldsData), as of the last reconciliation.
	holding map[Node]bool
}

// reconcile reads the live workers and the leaving markers at one revision,
// lists the target, and applies the difference. It returns when the next
// node's grace period ends, and the errors it met. A node the target refuses
// to remove because it still holds data is not an error: it stays, is said
// once to be waiting for its data to be moved, and is tried again at the next
// reconciliation.
func (m *manager) reconcile(ctx context.Context, guard clientv3.Cmp, st *mastership) (time.Time, error) {
	missing := st.missing
	resp, err := m.cli.Txn(ctx).Then(
		clientv3.OpGet(workersPrefix(m.cfg.prefix)+"/", clientv3.WithPrefix()),
		clientv3.OpGet(leavingPrefix(m.cfg.prefix), clientv3.WithPrefix()),
	).Commit()
	if err != nil {
		return time.Time{}, fmt.Errorf("read workers from etcd: %w", err)
	}
	var live []Node
	for _, kv := range resp.Responses[0].GetResponseRange().Kvs {
		n, err := parseNode(string(kv.Value))
		if err != nil {
			m.log.Warn("worker with a bad value; ignored", "key", string(kv.Key), "err", err)
			continue
		}
		live = append(live, n)
	}
	leaving := map[Node]bool{}
	markers := map[Node]int64{} // the ModRevision of each marker
	for _, kv := range resp.Responses[1].GetResponseRange().Kvs {
		n, err := parseNode(strings.TrimPrefix(string(kv.Key), leavingPrefix(m.cfg.prefix)))
		if err != nil {
			continue
		}
		leaving[n] = true
		markers[n] = kv.ModRevision
	}

	tctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
	registered, err := m.target.List(tctx)
	cancel()
	if err != nil {
		return time.Time{}, fmt.Errorf("list the target's nodes: %w", err)
	}
	s := plan(live, leaving, registered, missing, time.Now(), m.cfg.grace)
	m.log.Debug("reconcile", "workers", len(live), "registered", len(registered), "add", len(s.Add), "remove", len(s.Remove), "waiting", len(missing)-len(s.Remove))

	var errs []error
	for _, n := range s.Add {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		tctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
		err := m.target.Add(tctx, n)
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.metrics.changes.WithLabelValues("add").Inc()
		m.log.Info("added", "node", n.String())
	}
	removed := map[Node]bool{}
	holding := map[Node]bool{}
	defer func() {
		st.holding = holding
		m.metrics.holding.Set(float64(len(holding)))
	}()
	m.metrics.workers.Set(float64(len(live)))
	m.metrics.nodes.Set(float64(len(registered)))
	for _, r := range s.Remove {
		if ctx.Err() != nil {
			return time.Time{}, ctx.Err()
		}
		tctx, cancel := context.WithTimeout(ctx, m.cfg.timeout)
		err := m.target.Remove(tctx, r.Node)
		cancel()
		if errors.Is(err, errHoldsData) {
			holding[r.Node] = true
			if st.holding[r.Node] {
				m.log.Debug("still holds data; not removed", "node", r.Node.String(), "err", err)
			} else {
				m.log.Warn("holds data: kept until its data is moved away, then removed; tried again every interval",
					"node", r.Node.String(), "reason", string(r.Reason), "interval", m.cfg.interval, "err", err)
			}
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		removed[r.Node] = true
		m.metrics.changes.WithLabelValues("remove").Inc()
		if st.holding[r.Node] {
			m.log.Info("removed once its data was moved away", "node", r.Node.String(), "reason", string(r.Reason))
		} else {
			m.log.Info("removed", "node", r.Node.String(), "reason", string(r.Reason), "grace", m.cfg.grace.of(r.Reason))
		}
	}

	// A marker has done its work once its node is out of the target, or was
	// never in it, and has no live worker. The delete is guarded twice: by
	// this mastership, and by the marker's revision, so that a marker
	// written again meanwhile stays.
	isLive := map[Node]bool{}
	for _, n := range live {
		isLive[n] = true
	}
	inTarget := map[Node]bool{}
	for _, n := range registered {
		inTarget[n] = !removed[n]
	}
	for n, rev := range markers {
		if isLive[n] || inTarget[n] {
			continue
		}
		key := leavingPrefix(m.cfg.prefix) + n.String()
		_, err := m.cli.Txn(ctx).If(guard, clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpDelete(key)).Commit()
		if err != nil {
			errs = append(errs, fmt.Errorf("delete the leaving marker of %s: %w", n, err))
		}
	}
	return s.Next, errors.Join(errs...)
}
