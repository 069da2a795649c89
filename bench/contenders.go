package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"k8s.io/client-go/tools/leaderelection"

	"github.com/seed764c596d/mastership/election"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// A contender is one way of electing a leader on etcd, with its settings.
type contender struct {
	name string
	kind string        // "mastership", "election", "concurrency" or "client-go"
	ttl  time.Duration // session TTL, or client-go's lease duration
	// client-go's renew deadline and retry period.
	renew, retry time.Duration
}

func mastershipC(ttl time.Duration) contender {
	return contender{name: fmt.Sprintf("mastership TTL %v", ttl), kind: "mastership", ttl: ttl}
}

func electionC(ttl time.Duration) contender {
	return contender{name: fmt.Sprintf("concurrency.Election TTL %v", ttl), kind: "concurrency", ttl: ttl}
}

// ourElectionC is this module's election package, the one that is
// compatible with concurrency.Election.
func ourElectionC(ttl time.Duration) contender {
	return contender{name: fmt.Sprintf("mastership/election TTL %v", ttl), kind: "election", ttl: ttl}
}

// clientGoDefault has client-go's documented defaults (those of
// kube-controller-manager and kube-scheduler): lease 15s, renew deadline
// 10s, retry 2s.
func clientGoDefault() contender {
	return contender{name: "client-go 15s/10s/2s (defaults)", kind: "client-go", ttl: 15 * time.Second, renew: 10 * time.Second, retry: 2 * time.Second}
}

// clientGoScaled scales client-go's defaults down to a lease of d, keeping
// their proportions (renew deadline 2/3 of the lease, retry period 2/15).
func clientGoScaled(d time.Duration) contender {
	renew := d * 2 / 3
	retry := d * 2 / 15
	return contender{
		name: fmt.Sprintf("client-go %v/%v/%v", d, renew.Round(time.Millisecond), retry.Round(time.Millisecond)),
		kind: "client-go", ttl: d, renew: renew, retry: retry,
	}
}

// leadership records when a candidate started and stopped leading.
type leadership struct {
	mu             sync.Mutex
	start, end     time.Time
	leading, ended chan struct{}
	ready          chan struct{}
	o1, o2, o3     sync.Once
}

func newLeadership() *leadership {
	return &leadership{leading: make(chan struct{}), ended: make(chan struct{}), ready: make(chan struct{})}
}

func (l *leadership) began(t time.Time) {
	l.o1.Do(func() {
		l.mu.Lock()
		l.start = t
		l.mu.Unlock()
		close(l.leading)
		l.joined()
	})
}

func (l *leadership) stopped(t time.Time) {
	l.o2.Do(func() {
		l.mu.Lock()
		l.end = t
		l.mu.Unlock()
		close(l.ended)
	})
}

func (l *leadership) joined() { l.o3.Do(func() { close(l.ready) }) }

func (l *leadership) times() (start, end time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.start, l.end
}

// A candidate is one member of an election.
type candidate interface {
	// lead records its leadership.
	lead() *leadership
	// resign ends its leadership gracefully, as the contender's
	// documentation says to: Close, Resign, or cancel with ReleaseOnCancel.
	resign()
	// close releases everything; after a fault, close the candidate's
	// client first so that nothing waits on a dead connection.
	close()
}

// startCandidate starts a candidate on cli under prefix. It returns once
// the candidate has joined the election: registered, campaigning, or polled
// the lock once.
func startCandidate(ctx context.Context, c contender, cli *clientv3.Client, prefix, id string) (candidate, error) {
	var (
		cand candidate
		err  error
	)
	switch c.kind {
	case "mastership":
		cand, err = startMember(ctx, c, cli, prefix, id)
	case "election":
		cand, err = startRun(ctx, c, cli, prefix, id)
	case "concurrency":
		cand, err = startCampaign(c, cli, prefix, id)
	case "client-go":
		cand, err = startElector(c, cli, prefix, id)
	default:
		err = fmt.Errorf("unknown contender kind %q", c.kind)
	}
	if err != nil {
		return nil, err
	}
	select {
	case <-cand.lead().ready:
		return cand, nil
	case <-ctx.Done():
		cand.close()
		return nil, fmt.Errorf("%s %s: not in the election: %w", c.name, id, ctx.Err())
	}
}

// member is a selector.Selector.
type member struct {
	s    *selector.Selector
	l    *leadership
	done chan struct{}
}

func startMember(ctx context.Context, c contender, cli *clientv3.Client, prefix, id string) (*member, error) {
	s, err := selector.New(ctx, cli, prefix, id, selector.WithTTL(c.ttl))
	if err != nil {
		return nil, err
	}
	m := &member{s: s, l: newLeadership(), done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ev := range s.Events() {
			switch ev.Type {
			case events.InitMaster, events.ChangeToMaster:
				m.l.began(ev.Time)
				// The mastership ends when MasterContext is cancelled,
				// whether or not the event saying so has been read.
				context.AfterFunc(s.MasterContext(), func() { m.l.stopped(time.Now()) })
			case events.InitSlave:
				m.l.joined()
			}
		}
	}()
	return m, nil
}

func (m *member) lead() *leadership { return m.l }
func (m *member) resign()           { m.s.Close() }
func (m *member) close() {
	m.s.Close()
	<-m.done
}

// runner is an election.Election of this module, in Run with callbacks.
type runner struct {
	l      *leadership
	cancel context.CancelFunc
	done   chan struct{}
}

func startRun(ctx context.Context, c contender, cli *clientv3.Client, prefix, id string) (*runner, error) {
	// The id is the candidate's value, so that its key can be told from
	// the others': the key is named after a lease the package does not
	// expose.
	e, err := election.New(cli, prefix, election.WithTTL(c.ttl), election.WithValue(id))
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &runner{l: newLeadership(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		e.Run(rctx, election.Callbacks{
			OnStartedLeading: func(ctx context.Context) {
				r.l.began(time.Now())
				<-ctx.Done()
				r.l.stopped(time.Now())
			},
		})
	}()
	// The candidate is in the election once its key is written.
	for {
		select {
		case <-r.l.leading:
			return r, nil
		case <-r.done:
			return nil, fmt.Errorf("election %s: Run ended before its key was written", id)
		default:
		}
		gctx, gcancel := context.WithTimeout(ctx, time.Second)
		resp, err := cli.Get(gctx, prefix+"/", clientv3.WithPrefix())
		gcancel()
		if err == nil {
			for _, kv := range resp.Kvs {
				if string(kv.Value) == id {
					r.l.joined()
					return r, nil
				}
			}
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-ctx.Done():
			r.close()
			return nil, fmt.Errorf("election %s: %w", id, ctx.Err())
		}
	}
}

func (r *runner) lead() *leadership { return r.l }

// resign cancels Run's context: Run then ends the leadership, deletes the
// key and revokes the lease, so that the next candidate takes over at once.
func (r *runner) resign() { r.cancel() }
func (r *runner) close() {
	r.cancel()
	<-r.done
}

// campaign is the concurrency.Election recipe of etcd's documentation:
// a session with the TTL the user sets, Campaign, lead until the session
// ends, Resign on the way out.
type campaign struct {
	cli    *clientv3.Client
	sess   *concurrency.Session
	e      *concurrency.Election
	l      *leadership
	cancel context.CancelFunc
	done   chan struct{}
}

func startCampaign(c contender, cli *clientv3.Client, prefix, id string) (*campaign, error) {
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(c.ttl/time.Second)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	cp := &campaign{cli: cli, sess: sess, e: concurrency.NewElection(sess, prefix), l: newLeadership(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(cp.done)
		if err := cp.e.Campaign(ctx, id); err != nil {
			return
		}
		cp.l.began(time.Now())
		select {
		case <-sess.Done(): // the recipe's only sign of a lost leadership
		case <-ctx.Done():
		}
		cp.l.stopped(time.Now())
	}()
	// The candidate is in the election once its key is written.
	key := fmt.Sprintf("%s/%x", prefix, sess.Lease())
	for {
		select {
		case <-cp.l.leading:
			return cp, nil
		default:
		}
		gctx, gcancel := context.WithTimeout(ctx, time.Second)
		resp, err := cli.Get(gctx, key, clientv3.WithCountOnly())
		gcancel()
		if err == nil && resp.Count > 0 {
			cp.l.joined()
			return cp, nil
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-sess.Done():
			cp.close()
			return nil, fmt.Errorf("campaign %s: session ended", id)
		}
	}
}

func (cp *campaign) lead() *leadership { return cp.l }

func (cp *campaign) resign() {
	// The leader stops its work, then resigns and closes its session.
	cp.l.stopped(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cp.e.Resign(ctx)
	cp.sess.Close()
}

func (cp *campaign) close() {
	cp.cancel()
	<-cp.done
	cp.sess.Close()
}

// elector is client-go's leaderelection.LeaderElector on an etcd lock,
// with ReleaseOnCancel so that a cancelled leader hands over at once.
type elector struct {
	l      *leadership
	cancel context.CancelFunc
	done   chan struct{}
}

func startElector(c contender, cli *clientv3.Client, prefix, id string) (*elector, error) {
	el := &elector{l: newLeadership(), done: make(chan struct{})}
	lock := &etcdLock{cli: cli, key: prefix, id: id, onGet: el.l.joined}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   c.ttl,
		RenewDeadline:   c.renew,
		RetryPeriod:     c.retry,
		ReleaseOnCancel: true,
		Name:            prefix,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				el.l.began(time.Now())
				<-ctx.Done()
				el.l.stopped(time.Now())
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	el.cancel = cancel
	go func() {
		defer close(el.done)
		le.Run(ctx)
	}()
	return el, nil
}

func (el *elector) lead() *leadership { return el.l }
func (el *elector) resign()           { el.cancel() }
func (el *elector) close() {
	el.cancel()
	<-el.done
}
