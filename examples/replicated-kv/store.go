package main

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/seed764c596d/mastership/examples/replicated-kv/kvpb"
)

// store is one member's copy of the data, with the fencing state. Every
// change checks the writer's epoch against the newest epoch seen, so that a
// deposed master can never overwrite what a newer one wrote, here or on a
// slave. Its methods are safe for concurrent use.
type store struct {
	mu    sync.Mutex
	data  map[string][]byte
	index int64 // position of the last write applied, in the log of epoch synced
	// epoch is the newest epoch seen: from a Sync call, or this member's own
	// as master. Writes with an older epoch are rejected.
	epoch int64
	// synced is the epoch whose log index counts: the epoch of the last
	// snapshot, or this member's own as master. An Apply must carry it.
	synced int64
	// restores counts the snapshots applied; for tests and logs.
	restores int
}

func newStore() *store { return &store{data: map[string][]byte{}} }

// fenceLocked rejects epoch if a newer one was seen, and otherwise records
// it as the newest.
func (s *store) fenceLocked(epoch, floor int64) error {
	if epoch < s.epoch || epoch < floor {
		return fmt.Errorf("%w: epoch %d, newest seen %d", errStaleEpoch, epoch, max(s.epoch, floor))
	}
	s.epoch = epoch
	return nil
}

// begin makes the store the master's copy for epoch: later local writes
// carry it. It fails if a newer epoch was seen already.
func (s *store) begin(epoch int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(epoch, 0); err != nil {
		return err
	}
	s.synced = epoch
	return nil
}

// restore replaces the whole state with a master's snapshot. floor is an
// epoch known from elsewhere (this member's view of the group), below which
// the call is stale too.
func (s *store) restore(epoch, floor, index int64, entries []*kvpb.Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(epoch, floor); err != nil {
		return err
	}
	// Within one epoch the master's position only grows: a snapshot behind
	// this store's is one that arrived late (its call timed out, and a newer
	// snapshot or writes came first), and would take back writes.
	if epoch == s.synced && index < s.index {
		return fmt.Errorf("%w: snapshot at %d of epoch %d, have %d", errOutOfOrder, index, epoch, s.index)
	}
	s.data = make(map[string][]byte, len(entries))
	for _, e := range entries {
		s.data[e.GetKey()] = e.GetValue()
	}
	s.index = index
	s.synced = epoch
	s.restores++
	return nil
}

// apply applies op as write index of epoch's log: it must be the next one.
func (s *store) apply(epoch, floor, index int64, op *kvpb.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if epoch < s.epoch || epoch < floor {
		return fmt.Errorf("%w: epoch %d, newest seen %d", errStaleEpoch, epoch, max(s.epoch, floor))
	}
	// An Apply never raises the epoch: only a snapshot, checked against
	// etcd, does; so a made-up epoch cannot lock the real master out.
	if epoch != s.synced || index != s.index+1 {
		return fmt.Errorf("%w: write %d of epoch %d, have %d of epoch %d", errOutOfOrder, index, epoch, s.index, s.synced)
	}
	s.applyLocked(op)
	s.index = index
	return nil
}

// applyNext applies op as the next write of epoch's log, for the master
// itself, and returns its index.
func (s *store) applyNext(epoch int64, op *kvpb.Op) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fenceLocked(epoch, 0); err != nil {
		return 0, err
	}
	if epoch != s.synced {
		return 0, fmt.Errorf("%w: master of epoch %d holds a copy of epoch %d", errOutOfOrder, epoch, s.synced)
	}
	s.applyLocked(op)
	s.index++
	return s.index, nil
}

func (s *store) applyLocked(op *kvpb.Op) {
	switch op.GetKind() {
	case kvpb.Op_DELETE:
		delete(s.data, op.GetKey())
	default:
		s.data[op.GetKey()] = op.GetValue()
	}
}

// get returns the value of key, whether it is there, and the store's index.
func (s *store) get(key string) ([]byte, bool, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.data[key]
	return v, ok, s.index
}

// snapshot returns the store's index and a copy of its entries, in key
// order.
func (s *store) snapshot() (int64, []*kvpb.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries := make([]*kvpb.Entry, 0, len(s.data))
	for _, k := range slices.Sorted(maps.Keys(s.data)) {
		entries = append(entries, &kvpb.Entry{Key: k, Value: s.data[k]})
	}
	return s.index, entries
}

// state returns the newest epoch seen and the synced epoch and index.
func (s *store) state() (epoch, synced, index int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch, s.synced, s.index
}

// snapshots returns how many snapshots the store took.
func (s *store) snapshots() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restores
}

// status returns the store's fencing state and position.
func (s *store) status() *kvpb.StatusResponse {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &kvpb.StatusResponse{Epoch: s.epoch, Synced: s.synced, Index: s.index, Keys: int64(len(s.data))}
}
