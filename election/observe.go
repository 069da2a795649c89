package election

import (
	"context"
	"log/slog"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/group"
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
		if err := follow(ctx, e.cli, e.prefix, e.log, func(l Leader) { q.Push(l) }); err != nil {
			e.log.Error("etcd refused the observer; it ends", "err", err)
		}
	}()
	return q.Out()
}

// follow calls report with the leader of the election under prefix each
// time it changes, until ctx ends. report runs on follow's goroutine and
// must not block.
//
// It follows every candidate's key with internal/group's Follow (a
// snapshot, then a watch from the snapshot's revision + 1, so that nothing
// is missed or seen twice, and a fresh read after any failed watch), and
// computes the leader after each watch response as a whole: a response that
// holds several changes gives one answer, the right one. It returns nil
// when ctx ends, or a refusal by etcd, which would come again however often
// it retried.
func follow(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger, report func(Leader)) error {
	var (
		cur    Leader
		first  = true
		denied error
	)
	group.Follow(ctx, group.Config[struct{}]{
		Client: cli,
		Prefix: prefix,
		Log:    log,
		Fatal: func(err error) bool {
			denied = refused(cli, prefix, err, "observe: read or watch range [%q, %q)", prefix, clientv3.GetPrefixRangeEnd(prefix))
			return denied != nil
		},
		Update: func(st group.State) bool {
			if l := leaderAmong(st.KVs); first || l != cur {
				first, cur = false, l
				report(l)
			}
			return true
		},
	}, group.State{})
	return denied
}

// leaderAmong returns the leader among keys: the smallest CreateRevision,
// ties to the smaller key. Every key counts, the prefix itself included, as
// concurrency.Election counts it.
func leaderAmong(keys map[string]group.KV) Leader {
	var best *group.KV
	for _, kv := range keys {
		if best == nil || kv.CreateRevision < best.CreateRevision ||
			kv.CreateRevision == best.CreateRevision && kv.Key < best.Key {
			best = &kv
		}
	}
	if best == nil {
		return Leader{}
	}
	return leaderOf(best.Key, best.Value, best.CreateRevision)
}
