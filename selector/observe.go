package selector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/group"
	"github.com/seed764c596d/mastership/internal/member"
	"github.com/seed764c596d/mastership/internal/refusal"
)

// Members reads the group at prefix once, without joining it, and returns
// its view: its live members in join order, the master first, at the
// revision of the read (View.Revision), with an empty Self. It applies the
// rules every member applies, so that what it returns is what a member
// that read the group at that revision would see: a key without a lease
// (an operator's etcdctl put), a key whose id is not valid UTF-8, and the
// prefix key itself are no members, and are left out.
//
// It is for a program that only looks at a group, such as an operator's
// command; a member has View. The read is linearizable: it waits for etcd,
// until ctx ends, and returns the client's error if it fails. A prefix
// that is empty or covers the whole keyspace ("/") is ErrInvalidConfig;
// etcd refusing the read returns an error wrapping ErrPermissionDenied or
// ErrAuthFailed (the user needs read permission on the prefix's range).
func Members(ctx context.Context, cli *clientv3.Client, prefix string) (events.View, error) {
	key, err := observed(cli, prefix)
	if err != nil {
		return events.View{}, err
	}
	st, err := group.Read(ctx, cli, key)
	if err != nil {
		if r := readRefused(cli, key, err, "read the group"); r != nil {
			return events.View{}, r
		}
		return events.View{}, err
	}
	return events.View{Members: group.Members(key, st.KVs), Revision: st.Revision}, nil
}

// Observe follows the group at prefix without joining it, and calls fn
// with its view (as Members returns it) first as read at the start, then
// each time it changes: a member joining or leaving, a member's value
// changing, a key created again under the same id. It reads the group once,
// then watches it from the next revision, so that no change is missed or
// seen twice, and reads it afresh after a failed watch (a compaction, a lost
// etcd leader), calling fn only if the view then differs from the last one
// given. A watch response that holds several changes gives one view.
//
// fn runs on the caller's goroutine, one call at a time; Observe starts
// no goroutine that outlives it. It returns nil when ctx ends, and an error
// wrapping ErrPermissionDenied or ErrAuthFailed when etcd refuses the read
// or the watch, which it would refuse again. While etcd is unreachable it
// retries, with backoff, until ctx ends: a caller that must give up sooner
// reads the group with Members first. A prefix that is empty or covers the
// whole keyspace, a nil client and a nil fn are ErrInvalidConfig.
func Observe(ctx context.Context, cli *clientv3.Client, prefix string, fn func(events.View)) error {
	key, err := observed(cli, prefix)
	if err != nil {
		return err
	}
	if fn == nil {
		return invalid("fn", "nil")
	}
	var (
		last    events.View
		started bool
		denied  error
	)
	group.Follow(ctx, group.Config[struct{}]{
		Client:      cli,
		Prefix:      key,
		ReadTimeout: group.DefaultReadTimeout,
		Fatal: func(err error) bool {
			denied = readRefused(cli, key, err, "observe the group")
			return denied != nil
		},
		Update: func(st group.State) bool {
			if ctx.Err() != nil {
				return false // nothing observed once ctx is done
			}
			v := events.View{Members: group.Members(key, st.KVs), Revision: st.Revision}
			if started && slices.Equal(v.Members, last.Members) {
				return true
			}
			started, last = true, v
			fn(v.Clone())
			return true
		},
	}, group.State{})
	if ctx.Err() != nil {
		return nil
	}
	return denied
}

// readRefused returns err as a refusal by etcd of a read or a watch of the
// group's range, as sentinels.Wrap does for a member, but naming the
// permission an observer needs: read, not readwrite. It returns nil when
// err is no refusal.
func readRefused(cli *clientv3.Client, key string, err error, what string) error {
	if refusal.Of(cli, err) != refusal.PermissionDenied {
		return sentinels.Wrap(cli, key, err, what)
	}
	if e := refusal.Etcd(cli, err); e != nil && !errors.Is(err, e) {
		// clientv3 gave etcd's error as text (a failed watch does): wrap
		// etcd's own value, so that errors.Is recognises it.
		err = fmt.Errorf("%w (%v)", e, err)
	}
	user := fmt.Sprintf("etcd user %q", cli.Username)
	if cli.Username == "" {
		user = "the etcd user of the client's certificate"
	}
	end := clientv3.GetPrefixRangeEnd(key)
	return fmt.Errorf("%w: %s: %s needs read permission on range [%q, %q) (etcdctl role grant-permission ROLE read %s --prefix): %w",
		ErrPermissionDenied, what, user, key, end, key, err)
}

// observed checks the arguments of Members and Observe, and returns the
// key prefix of the group's members.
func observed(cli *clientv3.Client, prefix string) (string, error) {
	if cli == nil {
		return "", invalid("client", "nil")
	}
	key, err := member.Prefix(prefix)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return key, nil
}
