package main

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

// kvService answers clients: on the master while its term serves, and with
// UNAVAILABLE everywhere else, so that clients look for the master again.
type kvService struct {
	kvpb.UnimplementedKVServer
	s *server
}

func notMaster(id string) error {
	return status.Errorf(codes.Unavailable, "replicated-kv: %s is not master", id)
}

func (k kvService) serving() (*term, error) {
	t := k.s.current()
	if t == nil {
		return nil, notMaster(k.s.id)
	}
	if err := t.serving(); err != nil {
		return nil, err
	}
	return t, nil
}

func (k kvService) Put(ctx context.Context, req *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "replicated-kv: key: empty")
	}
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	idx, err := t.write(ctx, &kvpb.Op{Kind: kvpb.Op_PUT, Key: req.GetKey(), Value: req.GetValue()})
	if err != nil {
		return nil, err
	}
	return &kvpb.PutResponse{Index: idx, Epoch: t.epoch}, nil
}

func (k kvService) Delete(ctx context.Context, req *kvpb.DeleteRequest) (*kvpb.DeleteResponse, error) {
	if req.GetKey() == "" {
		return nil, status.Error(codes.InvalidArgument, "replicated-kv: key: empty")
	}
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	_, found, _ := k.s.st.get(req.GetKey())
	idx, err := t.write(ctx, &kvpb.Op{Kind: kvpb.Op_DELETE, Key: req.GetKey()})
	if err != nil {
		return nil, err
	}
	return &kvpb.DeleteResponse{Index: idx, Epoch: t.epoch, Found: found}, nil
}

func (k kvService) Get(ctx context.Context, req *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	t, err := k.serving()
	if err != nil {
		return nil, err
	}
	v, ok, idx := k.s.st.get(req.GetKey())
	// The read is a master's read only if the term still serves after it.
	if err := t.serving(); err != nil {
		return nil, err
	}
	return &kvpb.GetResponse{Found: ok, Value: v, Index: idx, Epoch: t.epoch}, nil
}

// syncService is what the master calls on this member when it is a slave.
// Every call is fenced by epoch: older than the newest this member has
// seen, from a Sync call or from its own view of the group, is rejected.
type syncService struct {
	kvpb.UnimplementedSyncServer
	s *server
}

func (y syncService) check(method string, epoch int64) error {
	if h := y.s.cfg.syncHook; h != nil {
		if err := h(method); err != nil {
			return status.Error(codes.Unavailable, err.Error())
		}
	}
	if epoch <= 0 {
		return status.Error(codes.InvalidArgument, "replicated-kv: epoch: want more than 0")
	}
	return nil
}

func syncError(err error) error {
	if errors.Is(err, errStaleEpoch) || errors.Is(err, errOutOfOrder) {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

func (y syncService) Snapshot(ctx context.Context, req *kvpb.SnapshotRequest) (*kvpb.SyncResponse, error) {
	if err := y.check("Snapshot", req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := y.s.checkMaster(ctx, req.GetMaster(), req.GetEpoch()); err != nil {
		y.s.log.Warn("snapshot rejected", "from", req.GetMaster(), "err", err)
		return nil, err
	}
	if err := y.s.st.restore(req.GetEpoch(), y.s.sel.Epoch(), req.GetIndex(), req.GetEntries()); err != nil {
		y.s.log.Warn("snapshot rejected", "from", req.GetMaster(), "err", err)
		return nil, syncError(err)
	}
	y.s.log.Info("snapshot applied", "from", req.GetMaster(), "epoch", req.GetEpoch(), "index", req.GetIndex(), "keys", len(req.GetEntries()))
	return &kvpb.SyncResponse{Index: req.GetIndex()}, nil
}

// checkMaster returns nil if the member master holds, in etcd, the key
// created at revision epoch: then it is the group's master now, since no
// key created later can come before it. A snapshot replaces all of a
// slave's data, so the slave checks where it comes from: a deposed master,
// or any other caller with a made-up epoch, is refused. Writes need no such
// check: a slave applies them only in the epoch of its last snapshot.
func (s *server) checkMaster(ctx context.Context, master string, epoch int64) error {
	key := membersPrefix(s.cfg.Prefix) + "/" + master
	ctx, cancel := context.WithTimeout(ctx, etcdTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, key)
	if err != nil {
		return status.Errorf(codes.Unavailable, "replicated-kv: check master %s: %v", master, err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != epoch {
		return status.Errorf(codes.FailedPrecondition, "%v: %s is not the master of epoch %d", errStaleEpoch, master, epoch)
	}
	return nil
}

func (y syncService) Apply(ctx context.Context, req *kvpb.ApplyRequest) (*kvpb.SyncResponse, error) {
	if err := y.check("Apply", req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := y.s.st.apply(req.GetEpoch(), y.s.sel.Epoch(), req.GetIndex(), req.GetOp()); err != nil {
		y.s.log.Warn("write rejected", "from", req.GetMaster(), "err", err)
		return nil, syncError(err)
	}
	return &kvpb.SyncResponse{Index: req.GetIndex()}, nil
}

func (y syncService) Status(ctx context.Context, _ *kvpb.StatusRequest) (*kvpb.StatusResponse, error) {
	if h := y.s.cfg.syncHook; h != nil {
		if err := h("Status"); err != nil {
			return nil, status.Error(codes.Unavailable, err.Error())
		}
	}
	return y.s.st.status(), nil
}
