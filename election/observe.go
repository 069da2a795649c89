package election

import (
	"context"
	"log/slog"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
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
		err := follow(ctx, e.cli, e.prefix, e.log, "observe", nil, func(l Leader) {
			// Nothing observed once ctx is done: the watch response
			// and ctx's end may be ready together.
			if ctx.Err() == nil {
				q.Push(l)
			}
		})
		if err != nil {
			e.log.Error("etcd refused the observer; it ends", "err", err)
		}
	}()
	return q.Out()
}

// follow calls report with the leader of the election under prefix each
// time it changes, until ctx ends; and see, unless nil, with every state it
// reads or is sent and its leader, before report. Both run on follow's
// goroutine and must not block. doing names the follower in a refusal.
//
// It follows every candidate's key with internal/group's Follow (a
// snapshot, then a watch from the snapshot's revision + 1, so that nothing
// is missed or seen twice, and a fresh read after any failed watch), and
// computes the leader after each watch response as a whole: a response that
// holds several changes gives one answer, the right one. It returns nil
// when ctx ends, or a refusal by etcd, which would come again however often
// it retried.
func follow(ctx context.Context, cli *clientv3.Client, prefix string, log *slog.Logger, doing string, see func(group.State, Leader), report func(Leader)) error {
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
			denied = refused(cli, prefix, err, "%s: read or watch range [%q, %q)", doing, prefix, clientv3.GetPrefixRangeEnd(prefix))
			return denied != nil
		},
		Update: func(st group.State) bool {
			l := leaderAmong(prefix, st.KVs)
			if see != nil {
				see(st, l)
			}
			if first || l != cur {
				first, cur = false, l
				report(l)
			}
			return true
		},
	}, group.State{})
	return denied
}

// leaderAmong returns the leader among keys, the keys under prefix (with
// its trailing "/"): the candidate with the smallest CreateRevision, ties to
// the smaller key. A candidate is a key attached to a lease whose rest after
// prefix is valid UTF-8. The prefix itself counts, with a lease, as
// concurrency.Election counts it; nested keys count too.
//
// A key without a lease is no candidate: an operator's plain put, or a
// candidate's key that another writer's plain put detached from its lease,
// never expires, so it would lead for ever. concurrency.Election would count
// it; here it is left out.
func leaderAmong(prefix string, keys map[string]group.KV) Leader {
	var best *group.KV
	for _, kv := range keys {
		if !candidate(prefix, kv) {
			continue
		}
		// The master order, on whole keys: the ids after one prefix
		// compare as the keys do.
		if best == nil || events.Compare(events.Node{ID: kv.Key, CreateRevision: kv.CreateRevision},
			events.Node{ID: best.Key, CreateRevision: best.CreateRevision}) < 0 {
			best = &kv
		}
	}
	if best == nil {
		return Leader{}
	}
	return leaderOf(best.Key, best.Value, best.CreateRevision)
}

// candidate reports whether kv, a key under prefix, is a candidate: attached
// to a lease, with valid UTF-8 after prefix.
func candidate(prefix string, kv group.KV) bool {
	if kv.Lease == 0 || len(kv.Key) < len(prefix) || kv.Key[:len(prefix)] != prefix {
		return false
	}
	return utf8.ValidString(kv.Key[len(prefix):])
}
