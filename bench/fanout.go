package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

// fanoutResult holds, over trials, the time until the last member of the
// group saw the join, and until every member did (all members of all
// trials, for the median member).
type fanoutResult struct {
	n            int
	clients      int
	setup        time.Duration // time to build the group of n
	last, member dist          // mastership: last member informed; every member
	floorLast    dist          // put → watch by n watchers: the last
	floorMember  dist          // put → watch by n watchers: every watcher
}

// joinWatch is what the members of a group look for in one trial.
type joinWatch struct {
	id    string
	t0    time.Time
	times []time.Duration
	left  atomic.Int64
	done  chan struct{}
}

func newJoinWatch(id string, n int) *joinWatch {
	j := &joinWatch{id: id, times: make([]time.Duration, n), done: make(chan struct{})}
	j.left.Store(int64(n))
	return j
}

func (j *joinWatch) saw(i int, t time.Time) {
	if j.times[i] != 0 {
		return
	}
	j.times[i] = t.Sub(j.t0)
	if j.left.Add(-1) == 0 {
		close(j.done)
	}
}

// fanout measures, for a group of n members sharing a few clients, the
// time from a new member's selector.New until every member has its
// SLAVE_ADD; and the same for n plain watchers seeing one put.
func (b *bench) fanout(n, trials int) (*fanoutResult, error) {
	nc := min(max(n/100, 1), 10)
	clis := make([]*clientv3.Client, nc)
	for i := range clis {
		cli, err := newClient(b.cluster)
		if err != nil {
			return nil, err
		}
		defer cli.Close()
		clis[i] = cli
	}
	r := &fanoutResult{n: n, clients: nc}
	prefix := b.prefix("fanout")
	var cur atomic.Pointer[joinWatch]
	members := make([]*selector.Selector, n)
	var consumers sync.WaitGroup
	defer func() {
		closeAll(members)
		consumers.Wait()
	}()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	var next atomic.Int64
	// Many joins at once: a member that falls behind gets several joins in
	// one watch response, and computes one view for them all. One join at
	// a time costs every member a view per join.
	_, err := parallel(n, 200, func() (struct{}, error) {
		i := int(next.Add(1) - 1)
		s, err := selector.New(ctx, clis[i%nc], prefix, fmt.Sprintf("m%04d", i), selector.WithTTL(5*time.Second))
		if err != nil {
			return struct{}{}, err
		}
		members[i] = s
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			for ev := range s.Events() {
				if ev.Type != events.SlaveAdd {
					continue
				}
				j := cur.Load()
				if j == nil {
					continue
				}
				for _, nd := range ev.Nodes {
					if nd.ID == j.id {
						j.saw(i, ev.Time)
					}
				}
			}
		}()
		return struct{}{}, nil
	})
	if err != nil {
		return nil, err
	}
	if err := settled(ctx, members, n); err != nil {
		return nil, err
	}
	r.setup = time.Since(start)

	for t := range trials {
		id := fmt.Sprintf("joiner%03d", t)
		j := newJoinWatch(id, n)
		cur.Store(j)
		j.t0 = time.Now()
		s, err := selector.New(ctx, clis[t%nc], prefix, id, selector.WithTTL(5*time.Second))
		if err != nil {
			return nil, err
		}
		go func() {
			for range s.Events() {
			}
		}()
		select {
		case <-j.done:
		case <-time.After(30 * time.Second):
			s.Close()
			return nil, fmt.Errorf("fan-out to %d: %d members not informed after 30s", n, j.left.Load())
		}
		var last time.Duration
		for _, v := range j.times {
			r.member.add(v)
			last = max(last, v)
		}
		r.last.add(last)
		cur.Store(nil)
		s.Close()
		if err := settled(ctx, members, n); err != nil {
			return nil, err
		}
	}

	// The floor: n watchers on the same clients see one put.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	key := b.prefix("fanout-floor")
	var wcur atomic.Pointer[joinWatch]
	for i := range n {
		w := clis[i%nc].Watch(wctx, key)
		go func() {
			for range w {
				if j := wcur.Load(); j != nil {
					j.saw(i, time.Now())
				}
			}
		}()
	}
	// Watches are established lazily: one unmeasured put, seen by all,
	// makes sure every one is.
	for t := -1; t < trials; t++ {
		j := newJoinWatch(key, n)
		wcur.Store(j)
		j.t0 = time.Now()
		if _, err := b.cliA.Put(ctx, key, "x"); err != nil {
			return nil, err
		}
		select {
		case <-j.done:
		case <-time.After(30 * time.Second):
			return nil, fmt.Errorf("watch fan-out to %d: %d watchers not informed after 30s", n, j.left.Load())
		}
		wcur.Store(nil)
		if t < 0 {
			continue
		}
		var last time.Duration
		for _, v := range j.times {
			r.floorMember.add(v)
			last = max(last, v)
		}
		r.floorLast.add(last)
	}
	return r, nil
}

// settled waits until every member sees a group of n.
func settled(ctx context.Context, members []*selector.Selector, n int) error {
	for {
		ok := true
		for _, s := range members {
			if len(s.View().Members) != n {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("group of %d did not settle: %w", n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func closeAll(members []*selector.Selector) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, s := range members {
		if s == nil {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() { defer func() { <-sem; wg.Done() }(); s.Close() }()
	}
	wg.Wait()
}
