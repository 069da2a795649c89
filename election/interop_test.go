package election

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// A selector member, a plain concurrency.Election candidate and a candidate
// of this package on one prefix form one election: whoever joined first
// leads, the next one takes over when it leaves, and etcdctl's leader is
// the one everybody reports.
func TestInterplay(t *testing.T) {
	t.Parallel()
	cli := shared.Client(t)
	prefix := prefixOf(t)
	r := newRecorder()
	ctx := ctxFor(t, time.Minute)

	// A selector member first: it leads.
	s := joinSelector(t, cli, prefix, "s")
	waitEvent(t, s, events.InitMaster)

	// A raw concurrency.Election candidate, campaigning behind it.
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(testTTL/time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	rawID := leaseHex(int64(sess.Lease()))
	raw := concurrency.NewElection(sess, prefix)
	rctx, rcancel := context.WithCancel(ctx)
	campaign := make(chan error, 1)
	go func() { campaign <- raw.Campaign(rctx, "raw") }()
	campaignDone := false
	t.Cleanup(func() {
		rcancel()
		if !campaignDone {
			select {
			case <-campaign:
			case <-time.After(waitTime):
				t.Errorf("raw Campaign did not return within %v of its cancel", waitTime)
			}
		}
	})
	waitKey(t, cli, prefix, waitTime, "raw", valued("raw"))
	waitEvent(t, s, events.SlaveAdd)

	// Ours, behind both.
	e := start(t, r, cli, prefix, "e")
	eKey := waitKey(t, cli, prefix, waitTime, "e", valued("e"))
	ls := r.waitFor(t, 0, waitTime, "e reporting s", reports("e", "s")).leader
	if ls.ID != "s" || ls.Key != s.Key() || ls.Epoch != s.Epoch() {
		t.Errorf("e reports %+v while selector member s leads (key %s, epoch %d)", ls, s.Key(), s.Epoch())
	}
	if got := checkLeader(t, cli, prefix, "s", e); got != ls {
		t.Errorf("etcd names %+v, e reported %+v", got, ls)
	}
	checkRoles(t, ls, nil, e)
	select {
	case err := <-campaign:
		t.Fatalf("raw Campaign returned %v while s leads", err)
	default:
	}

	// s leaves: the raw candidate is next.
	m := r.mark()
	if err := s.Close(); err != nil {
		t.Errorf("s.Close: %v", err)
	}
	select {
	case err := <-campaign:
		campaignDone = true
		if err != nil {
			t.Fatalf("raw Campaign: %v", err)
		}
	case <-time.After(waitTime):
		t.Fatalf("raw Campaign still waiting %v after s left", waitTime)
	}
	lr := r.waitFor(t, m, waitTime, "e reporting raw", reports("e", "raw")).leader
	if lr.ID != rawID || lr.Key != raw.Key() || lr.Epoch != raw.Rev() {
		t.Errorf("e reports %+v while the raw candidate leads (key %s, epoch %d)", lr, raw.Key(), raw.Rev())
	}
	if got := checkLeader(t, cli, prefix, "raw", e); got != lr {
		t.Errorf("etcd names %+v, e reported %+v", got, lr)
	}
	checkRoles(t, lr, nil, e)

	// The raw candidate resigns: ours leads.
	if err := raw.Resign(ctx); err != nil {
		t.Fatalf("raw Resign: %v", err)
	}
	r.waitFor(t, m, waitTime, "e leading", is("e", started))
	le := checkLeader(t, cli, prefix, "e", e)
	if le.Key != string(eKey.Key) || le.ID != leaseHex(eKey.Lease) {
		t.Errorf("etcd names %+v, want e's key %s", le, eKey.Key)
	}
	checkRoles(t, le, e, e)
	// The raw candidate's Leader agrees.
	resp, err := concurrency.NewElection(sess, prefix).Leader(ctx)
	if err != nil || string(resp.Kvs[0].Key) != le.Key || string(resp.Kvs[0].Value) != "e" {
		t.Errorf("concurrency.Election.Leader: %v, %v; want e's key %s", resp, err, le.Key)
	}

	// A selector member joining now is e's slave, and takes over when e
	// resigns.
	s2 := joinSelector(t, cli, prefix, "s2")
	ev := waitEvent(t, s2, events.InitSlave)
	if len(ev.Nodes) != 1 || ev.Nodes[0].ID != le.ID || ev.Nodes[0].Value != "e" {
		t.Errorf("s2's first event %v, want INIT_SLAVE of master %s", ev, le.ID)
	}
	m = r.mark()
	if err := e.Resign(ctx); err != nil {
		t.Fatalf("e.Resign: %v", err)
	}
	took := waitEvent(t, s2, events.ChangeToMaster)
	stop := r.waitFor(t, m, waitTime, "e stopping", is("e", stopped))
	if !stop.at.Before(took.Time) {
		t.Errorf("e stopped leading at %s, not before s2's CHANGE_TO_MASTER at %s", stamp(stop.at), stamp(took.Time))
	}
	l2 := r.waitFor(t, m, waitTime, "e reporting s2", reports("e", "s2")).leader
	if l2.ID != "s2" || l2.Key != s2.Key() || l2.Epoch != s2.Epoch() {
		t.Errorf("e reports %+v while selector member s2 leads (key %s, epoch %d)", l2, s2.Key(), s2.Epoch())
	}
	if got := checkLeader(t, cli, prefix, "s2", e); got != l2 {
		t.Errorf("etcd names %+v, e reported %+v", got, l2)
	}
	checkRoles(t, l2, nil, e)
	if !s2.IsMaster() {
		t.Error("s2 is not master after e resigned")
	}
}

// joinSelector registers a selector member with id and value id, TTL
// testTTL, and closes it and drains its events before the test ends.
func joinSelector(t *testing.T, cli *clientv3.Client, prefix, id string) *selector.Selector {
	t.Helper()
	s, err := selector.New(ctxFor(t, waitTime), cli, prefix, id, selector.WithTTL(testTTL), selector.WithValue(id))
	if err != nil {
		t.Fatalf("selector.New(%s): %v", id, err)
	}
	t.Cleanup(func() {
		s.Close()
		timer := time.NewTimer(waitTime)
		defer timer.Stop()
		for {
			select {
			case _, ok := <-s.Events():
				if !ok {
					return
				}
			case <-timer.C:
				t.Errorf("%s: events channel not closed within %v of Close", id, waitTime)
				return
			}
		}
	})
	return s
}

// waitEvent skips s's events until one of type typ.
func waitEvent(t *testing.T, s *selector.Selector, typ events.Type) events.Event {
	t.Helper()
	timer := time.NewTimer(waitTime)
	defer timer.Stop()
	var skipped []events.Event
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("%s: events closed while waiting for %v; skipped %v", s.ID(), typ, skipped)
			}
			if ev.Type == typ {
				return ev
			}
			skipped = append(skipped, ev)
		case <-timer.C:
			t.Fatalf("%s: no %v within %v; skipped %v", s.ID(), typ, waitTime, skipped)
		}
	}
}
