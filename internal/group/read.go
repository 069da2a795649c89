package group

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// readPage is how many keys Read asks etcd for in one response. A group of
// 10,000 members read in one response is a megabyte or more: as large as
// etcd's default bound on a request (--max-request-bytes, 1.5 MiB), beyond
// what a client whose responses are bounded (clientv3.Config's
// MaxCallRecvMsgSize, etcdctl's --max-recv-bytes) accepts, and, after an
// outage when every follower reads at once, that much memory per follower
// in etcd and in each client. Pages of 1000 keys bound the size and memory
// of one response, while a small group still takes one round trip.
const readPage = 1000

// readAttempts bounds how many times, in all, Read reads a prefix whose
// revision is compacted between two pages. Each attempt starts at the
// current revision, so only compactions as frequent as the pages of one
// read exhaust it, and then the error is worth reporting.
const readAttempts = 3

// Read reads the prefix at once, with a linearizable read, as one snapshot
// even when it takes several pages: see readPage.
func Read(ctx context.Context, cli *clientv3.Client, prefix string) (State, error) {
	return readPaged(ctx, cli, prefix, readPage, nil)
}

// readPaged is Read with pages of page keys. afterPage, if not nil, is
// called after each page read with its index within the attempt (0 for the
// first page), so that tests can change etcd between pages.
func readPaged(ctx context.Context, cli *clientv3.Client, prefix string, page int64, afterPage func(int)) (State, error) {
	var err error
	for range readAttempts {
		var st State
		st, err = readOnce(ctx, cli, prefix, page, afterPage)
		if err == nil || !errors.Is(err, rpctypes.ErrCompacted) {
			return st, err
		}
	}
	return State{}, fmt.Errorf("read %q: its revision was compacted between pages %d times: %w", prefix, readAttempts, err)
}

// readOnce reads the prefix in pages: the first linearizable, which fixes
// the revision, and the rest at that revision, so that the keys of all
// pages are the snapshot at that revision. A later page fails with
// rpctypes.ErrCompacted if that revision is compacted meanwhile.
func readOnce(ctx context.Context, cli *clientv3.Client, prefix string, page int64, afterPage func(int)) (State, error) {
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	if key == "" {
		// etcd refuses an empty key; clientv3.WithPrefix reads "" as
		// "\x00", the first key, and so does Read.
		key = "\x00"
	}
	// Keys come sorted by key, etcd's default, which makes the key after
	// the last one of a page the start of the next.
	resp, err := cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(page))
	if err != nil {
		return State{}, err
	}
	rev := resp.Header.Revision
	// Count is the number of keys in the whole range at rev, which is what
	// all the pages read.
	kvs := make(map[string]KV, resp.Count)
	for n := 0; ; n++ {
		for _, kv := range resp.Kvs {
			kvs[string(kv.Key)] = KVOf(kv)
		}
		if afterPage != nil {
			afterPage(n)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		if err := ctx.Err(); err != nil {
			return State{}, err
		}
		next := string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		resp, err = cli.Get(ctx, next, clientv3.WithRange(end), clientv3.WithLimit(page), clientv3.WithRev(rev))
		if err != nil {
			return State{}, err
		}
	}
	return State{KVs: kvs, Revision: rev, Fresh: true}, nil
}

// KVsOf converts keys read from etcd, by key.
func KVsOf(kvs []*mvccpb.KeyValue) map[string]KV {
	m := make(map[string]KV, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = KVOf(kv)
	}
	return m
}

// KVOf converts a key read from etcd.
func KVOf(kv *mvccpb.KeyValue) KV {
	return KV{Key: string(kv.Key), Value: string(kv.Value), CreateRevision: kv.CreateRevision, Lease: kv.Lease}
}
