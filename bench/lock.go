package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// etcdLock is client-go's resourcelock.Interface on one etcd key, with the
// optimistic concurrency of the Kubernetes Lease lock: Update succeeds only
// if the key has not changed since this lock last read or wrote it, as a
// Lease update carries the resourceVersion it read.
type etcdLock struct {
	cli   *clientv3.Client
	key   string
	id    string
	onGet func() // called after each successful Get

	mu  sync.Mutex
	rev int64 // ModRevision of the key as last read or written; 0: none
}

var _ resourcelock.Interface = (*etcdLock)(nil)

var leases = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}

func (k *etcdLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	resp, err := k.cli.Get(ctx, k.key)
	if err != nil {
		return nil, nil, err
	}
	if k.onGet != nil {
		defer k.onGet()
	}
	if len(resp.Kvs) == 0 {
		return nil, nil, apierrors.NewNotFound(leases, k.key)
	}
	kv := resp.Kvs[0]
	var rec resourcelock.LeaderElectionRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return nil, nil, fmt.Errorf("lock %s: %w", k.key, err)
	}
	k.mu.Lock()
	k.rev = kv.ModRevision
	k.mu.Unlock()
	return &rec, kv.Value, nil
}

func (k *etcdLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	b, err := json.Marshal(ler)
	if err != nil {
		return err
	}
	resp, err := k.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k.key), "=", 0)).
		Then(clientv3.OpPut(k.key, string(b))).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return apierrors.NewAlreadyExists(leases, k.key)
	}
	k.mu.Lock()
	k.rev = resp.Header.Revision
	k.mu.Unlock()
	return nil
}

func (k *etcdLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	k.mu.Lock()
	rev := k.rev
	k.mu.Unlock()
	if rev == 0 {
		return fmt.Errorf("lock %s not initialized", k.key)
	}
	b, err := json.Marshal(ler)
	if err != nil {
		return err
	}
	resp, err := k.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(k.key), "=", rev)).
		Then(clientv3.OpPut(k.key, string(b))).
		Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return apierrors.NewConflict(leases, k.key, fmt.Errorf("modified since revision %d", rev))
	}
	k.mu.Lock()
	k.rev = resp.Header.Revision
	k.mu.Unlock()
	return nil
}

func (k *etcdLock) RecordEvent(string) {}
func (k *etcdLock) Identity() string   { return k.id }
func (k *etcdLock) Describe() string   { return k.key }
