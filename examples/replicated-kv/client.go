package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/examples/internal/backoff"
	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
	"github.com/seed764c596d/mastership/selector/resolver"
)

// callTimeout bounds one call of the client; a master that died mid-call
// costs at most this much before the retry.
const callTimeout = 2 * time.Second

// dialMaster returns a connection whose calls go to the current master of
// the group at prefix, through the mastership resolver: when the group has
// no master, calls fail at once with UNAVAILABLE.
func dialMaster(cli *clientv3.Client, prefix string) (*grpc.ClientConn, error) {
	b, err := resolver.NewBuilder(cli)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(prefix, "/") {
		return nil, fmt.Errorf("--prefix %q: must start with \"/\" to be dialled", prefix)
	}
	return grpc.NewClient(resolver.Scheme+"://"+membersPrefix(prefix),
		grpc.WithResolvers(b), grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// retryable reports whether a call may be sent again: the master was not
// there, or the call timed out (a master that died mid-call). Put and Delete
// are idempotent, so sending one twice does no harm.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
		return true
	}
	return false
}

// retry calls f until it succeeds, fails with an error that is not
// retryable, or retryFor has passed since the first call, with a growing
// backoff between calls (100ms to 2s). Each call gets callTimeout.
func retry[R any](ctx context.Context, retryFor time.Duration, f func(context.Context) (R, error)) (R, error) {
	deadline := time.Now().Add(retryFor)
	for n := 0; ; n++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		r, err := f(cctx)
		cancel()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return r, err
		}
		d := backoff.Delay(n)
		if time.Now().Add(d).After(deadline) {
			return r, fmt.Errorf("gave up after %v: %w", retryFor, err)
		}
		if serr := backoff.Sleep(ctx, d); serr != nil {
			return r, fmt.Errorf("%w (last error: %v)", serr, err)
		}
	}
}

// kvClient is a client of the store that retries across failovers.
// Its methods are safe for concurrent use.
type kvClient struct {
	kv       kvpb.KVClient
	retryFor time.Duration
}

func (c kvClient) put(ctx context.Context, key string, value []byte) (*kvpb.PutResponse, error) {
	return retry(ctx, c.retryFor, func(ctx context.Context) (*kvpb.PutResponse, error) {
		return c.kv.Put(ctx, &kvpb.PutRequest{Key: key, Value: value})
	})
}

func (c kvClient) get(ctx context.Context, key string) (*kvpb.GetResponse, error) {
	return retry(ctx, c.retryFor, func(ctx context.Context) (*kvpb.GetResponse, error) {
		return c.kv.Get(ctx, &kvpb.GetRequest{Key: key})
	})
}

func (c kvClient) delete(ctx context.Context, key string) (*kvpb.DeleteResponse, error) {
	return retry(ctx, c.retryFor, func(ctx context.Context) (*kvpb.DeleteResponse, error) {
		return c.kv.Delete(ctx, &kvpb.DeleteRequest{Key: key})
	})
}

func newKVClient(conn grpc.ClientConnInterface, retryFor time.Duration) kvClient {
	return kvClient{kv: kvpb.NewKVClient(conn), retryFor: retryFor}
}
