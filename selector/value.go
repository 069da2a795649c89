package selector

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// SetValue sets the value of this member's key in place: the same key,
// lease and CreateRevision, so that its place in the group, its role and
// the epoch stay as they are. Every member, this one included, then emits
// ValueChange (see the events package). The value is also the one every
// later registration of this member writes, after an OFFLINE.
//
// It returns ErrNotRegistered, keeping the value for the next registration,
// while the member is between registrations, or when its key is no longer
// its registration's (the registration is being lost, or a Yield is
// re-creating the key at that moment: call again); ErrClosed after Close;
// ErrValueTooLarge, at once, for a value over etcd's request limit; and
// ErrPermissionDenied or ErrAuthFailed when etcd refuses the write. A value
// etcd refused, or that a failed call did not write, is not kept. It is
// safe for concurrent use; calls take effect one at a time.
func (s *Selector) SetValue(ctx context.Context, value string) error {
	// One SetValue at a time, so that the value kept for later
	// registrations is the last one etcd took.
	s.setMu.Lock()
	defer s.setMu.Unlock()
	s.closeMu.Lock()
	closed := s.closed
	s.closeMu.Unlock()
	if closed {
		return ErrClosed
	}
	s.mu.Lock()
	reg := s.reg
	live := s.state == Refresh && s.live(reg)
	if !live {
		s.value = value
	}
	s.mu.Unlock()
	if !live {
		return ErrNotRegistered
	}
	// Guarded by the registration's key and lease: a key deleted, created
	// again, or detached from the lease in the meantime is not this
	// registration's, and its value is not this call's to change.
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.key), "=", reg.createRev),
			clientv3.Compare(clientv3.LeaseValue(s.key), "=", reg.lease.ID)).
		Then(clientv3.OpPut(s.key, value, clientv3.WithLease(reg.lease.ID))).
		Commit()
	if err != nil {
		// Not kept: a value etcd refuses would end the next registration.
		if r := s.refused(err, "set the value of key %q", s.key); r != nil {
			return r
		}
		if r := s.tooLargeValue(err, fmt.Sprintf("set the value of key %q", s.key), value); r != nil {
			return r
		}
		return wrapf(err, "set the value of key %q", s.key)
	}
	s.mu.Lock()
	s.value = value
	s.mu.Unlock()
	if !resp.Succeeded {
		return fmt.Errorf("%w: key %q is no longer this registration's", ErrNotRegistered, s.key)
	}
	return nil
}

// currentValue returns the value the member's key is to have.
func (s *Selector) currentValue() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.value
}
