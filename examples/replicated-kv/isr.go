package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// The keys of a group at prefix: every one under prefix + "/", so that
// readwrite permission on that range (etcdctl role grant-permission ROLE
// readwrite PREFIX/ --prefix) is all a server needs. The members live one
// level down, at <prefix>/members/<id>, and the in-sync set beside them at
// <prefix>/isr: the selector counts every key under its prefix that is on
// a lease as a member (a nested <prefix>/x/y is member "x/y") and warns of
// every other, so the record must not be under the members' prefix.

// membersPrefix returns the prefix of a group's members, the selector's.
func membersPrefix(prefix string) string { return strings.TrimSuffix(prefix, "/") + "/members" }

// isrKey returns the etcd key of a group's in-sync set.
func isrKey(prefix string) string { return strings.TrimSuffix(prefix, "/") + "/isr" }

// isr is the in-sync set of a group as the master records it in etcd: the
// members (by incarnation id, name#nonce) that hold every acknowledged
// write. The master is always one of them. Only a master writes it, under
// its selector's Guard, so a deposed master cannot.
type isr struct {
	// Epoch of the master that wrote it.
	Epoch int64 `json:"epoch"`
	// Master is the incarnation id of that master.
	Master string `json:"master"`
	// Members, sorted, the master included.
	Members []string `json:"members"`

	// rev is the record's ModRevision in etcd, as read; not stored.
	rev int64
}

func (r isr) has(id string) bool { return slices.Contains(r.Members, id) }

// readISR reads the group's in-sync set; found is false when the group has
// never recorded one (a new group: no write was ever acknowledged).
func readISR(ctx context.Context, cli *clientv3.Client, prefix string) (r isr, found bool, err error) {
	resp, err := cli.Get(ctx, isrKey(prefix))
	if err != nil {
		return r, false, fmt.Errorf("read %s: %w", isrKey(prefix), err)
	}
	if len(resp.Kvs) == 0 {
		return r, false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		return r, false, fmt.Errorf("read %s: bad value %q: %w", isrKey(prefix), resp.Kvs[0].Value, err)
	}
	r.rev = resp.Kvs[0].ModRevision
	return r, true, nil
}

// writeISR records r if every comparison of guard holds, that is while the
// writer's mastership lasts, and if the record is still at revision prev (0:
// there is none), the one the writer last wrote or read. So a record never
// lands over one its writer has not seen: not even a write of its own that
// etcd applies after the writer gave up on it. It returns the revision of
// the new record; errDeposed if the guard failed; or errISRChanged and the
// record's current revision if it has changed since prev.
func writeISR(ctx context.Context, cli *clientv3.Client, prefix string, guard []clientv3.Cmp, prev int64, r isr) (int64, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	key := isrKey(prefix)
	cmps := append(slices.Clone(guard), clientv3.Compare(clientv3.ModRevision(key), "=", prev))
	resp, err := cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(key, string(b))).Else(clientv3.OpGet(key)).Commit()
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", key, err)
	}
	if resp.Succeeded {
		return resp.Header.Revision, nil
	}
	var now int64
	if kvs := resp.Responses[0].GetResponseRange().GetKvs(); len(kvs) > 0 {
		now = kvs[0].ModRevision
	}
	if now != prev {
		return now, fmt.Errorf("write %s: at revision %d, not %d: %w", key, now, prev, errISRChanged)
	}
	return 0, fmt.Errorf("write %s: %w", key, errDeposed)
}
