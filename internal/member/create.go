package member

import (
	"context"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/group"
)

// Created is what Create found.
type Created struct {
	// OK reports whether Create created the key.
	OK bool
	// Revision is the key's CreateRevision when OK: the revision of the
	// transaction.
	Revision int64
	// KVs are the keys under the prefix given to Create, read in the same
	// transaction when OK (so at Revision, the new key included); nil when
	// no prefix was given.
	KVs map[string]group.KV
	// Existing is the key as the transaction found it when not OK; nil if
	// it was deleted between the compare and the read (try again).
	Existing *group.KV
}

// Create is the registration transaction of a selector member and an
// election candidate: in one transaction, it puts key with value on lease,
// unless key exists; it then reads the keys under prefix (unless prefix is
// ""), so that the group's first view and the key's creation are one
// snapshot. When the key exists, it reads the key instead, for the caller
// to tell its own key from another holder's. Errors are etcd's, for the
// caller to classify (a refusal, a value too large).
func Create(ctx context.Context, cli *clientv3.Client, key, value string, lease clientv3.LeaseID, prefix string) (Created, error) {
	then := []clientv3.Op{clientv3.OpPut(key, value, clientv3.WithLease(lease))}
	if prefix != "" {
		then = append(then, clientv3.OpGet(prefix, clientv3.WithPrefix()))
	}
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(then...).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return Created{}, err
	}
	if resp.Succeeded {
		c := Created{OK: true, Revision: resp.Header.Revision}
		if prefix != "" {
			c.KVs = group.KVsOf(resp.Responses[1].GetResponseRange().Kvs)
		}
		return c, nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) > 0 {
		kv := group.KVOf(kvs[0])
		return Created{Existing: &kv}, nil
	}
	return Created{}, nil
}
