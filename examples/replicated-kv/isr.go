package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// isrKey returns the etcd key of a group's in-sync set: next to the group,
// not under it, since every key under the prefix is a member.
func isrKey(prefix string) string { return strings.TrimSuffix(prefix, "/") + "-isr" }

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
	return r, true, nil
}

// writeISR records r if every comparison of guard holds, that is while the writer's mastership
// lasts. It returns errDeposed if the guard failed.
func writeISR(ctx context.Context, cli *clientv3.Client, prefix string, guard []clientv3.Cmp, r isr) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	resp, err := cli.Txn(ctx).If(guard...).Then(clientv3.OpPut(isrKey(prefix), string(b))).Commit()
	if err != nil {
		return fmt.Errorf("write %s: %w", isrKey(prefix), err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("write %s: %w", isrKey(prefix), errDeposed)
	}
	return nil
}
