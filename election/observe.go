package election

import (
	"bytes"
	"context"
	"log/slog"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/backoff"
	"github.com/seed764c596d/mastership/internal/queue"
)

// Observe returns a channel that delivers the leader of the election each
// time it changes: first the leader at the time of the call, then every
// change, including "no leader" (the zero Leader) when a leader leaves
// without a successor, and a change of the leader's value. It does not
// close on a watch error or a compaction: it reads the election afresh and
// goes on. It closes when ctx is done, or when etcd refuses the read or
// the watch (the user lacks read permission on the prefix's range, or its
// credentials are not accepted), which it logs.
//
// Leaders wait in memory until read, in order; read the channel until it
// closes, or its goroutine stays blocked.
func (e *Election) Observe(ctx context.Context) <-chan Leader {
	q := queue.New[Leader]()
	go func() {
		defer q.Close()
		if err := follow(ctx, e.cli, e.prefix, e.log, func(l Leader, _ int64) { q.Push(l) }); err != nil {
			e.log.Error("etcd refused the observer; it ends", "err", err)
		}
	}()
	return q.Out()
}

// follow calls report with the leader of the election under prefix each
// time it changes, and with the revision it was seen at, until ctx ends.
// report runs on follow's goroutine and must not block.
//
// It keeps every candidate's key from a snapshot and a watch from the
// snapshot's revision + 1, so that nothing is missed or seen twice, and
// computes the leader after each watch response as a whole: a response that
// holds several changes gives one answer, the right one. A watch that fails
// (a compaction, a lost etcd leader, a closed stream) is replaced by a fresh
// read. It returns nil when ctx ends, or a refusal by etcd, which would
// come again however often it retried.
func follow(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger, report func(Leader, int64)) error {
	var (
		cur   Leader
		first = true
	)
	emit := func(keys map[string]*mvccpb.KeyValue, rev int64) {
		l := leaderAmong(keys)
		if first || l != cur {
			first, cur = false, l
			report(l, rev)
		}
	}
	for n := 0; ctx.Err() == nil; n++ {
		if n > 0 && backoff.Sleep(ctx, backoff.Delay(n-1)) != nil {
			return nil
		}
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix())
		if r := refused(cli, prefix, err, "observe: read range [%q, %q)", prefix, clientv3.GetPrefixRangeEnd(prefix)); r != nil {
			return r
		}
		if err != nil {
			log.Debug("election read failed", "err", err)
			continue
		}
		keys := make(map[string]*mvccpb.KeyValue, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			keys[string(kv.Key)] = kv
		}
		rev := resp.Header.Revision
		emit(keys, rev)

		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		for wr := range cli.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
			if wr.Err() != nil {
				if r := refused(cli, prefix, wr.Err(), "observe: watch range [%q, %q)", prefix, clientv3.GetPrefixRangeEnd(prefix)); r != nil {
					cancel()
					return r
				}
				log.Debug("election watch failed; reading afresh", "err", wr.Err())
				break
			}
			n = 0
			for _, ev := range wr.Events {
				if ev.Type == mvccpb.DELETE {
					delete(keys, string(ev.Kv.Key))
				} else {
					keys[string(ev.Kv.Key)] = ev.Kv
				}
			}
			emit(keys, wr.Header.Revision)
		}
		cancel()
	}
	return nil
}

// leaderAmong returns the leader among keys: the smallest CreateRevision, ties
// to the smaller key.
func leaderAmong(keys map[string]*mvccpb.KeyValue) Leader {
	var best *mvccpb.KeyValue
	for _, kv := range keys {
		if best == nil || kv.CreateRevision < best.CreateRevision ||
			kv.CreateRevision == best.CreateRevision && bytes.Compare(kv.Key, best.Key) < 0 {
			best = kv
		}
	}
	if best == nil {
		return Leader{}
	}
	return leaderOf(best.Key, best.Value, best.CreateRevision)
}
