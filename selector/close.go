package selector

import (
	"context"
	"errors"

	"github.com/seed764c596d/mastership/internal/lease"
)

// Close ends the membership: the mastership ends, an Offline event is
// emitted, exactly once and last (nothing from a view that arrives while
// closing is emitted), the lease is revoked so that a slave takes over at
// once rather than after the TTL, and Events closes once drained. Close waits for the
// revoke at most the granted TTL, after which etcd expires the lease anyway,
// and returns its error. Later calls return the first call's result.
func (s *Selector) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return s.err
	}
	s.closed = true
	s.stop()
	<-s.stopped
	return s.err
}

// closeRegistration ends a live registration for Close: mastership and Offline first,
// then the lease, so that the next master cannot start before this one has
// ended.
func (s *Selector) closeRegistration(reg *registration) {
	// Offline, which also ends the mastership, comes before the revoke:
	// the next master starts when it sees the key go, and this member's
	// last event must come before that.
	s.goOffline(errClosing)
	// A lease that ended before Close (expired, or past its deadline) is
	// revoked all the same, in case etcd still has it, but its failure is
	// no news to the caller.
	alive := reg.lease.Err() == nil
	ctx, cancel := context.WithTimeout(context.Background(), reg.lease.TTL)
	defer cancel()
	err := reg.lease.Revoke(ctx)
	if err != nil {
		s.log.Warn("revoke on close failed; etcd expires the lease after its TTL", "err", err)
		if !alive {
			err = nil
		}
	}
	s.closeEvents(err)
}

// closeEvents closes the event queue after the last event.
func (s *Selector) closeEvents(err error) {
	s.setState(Offline)
	s.err = err
	if s.q != nil {
		s.q.Close()
	}
}

// refusalOf returns the refusal that ended a registration whose context ended
// with cause, or nil if it ended otherwise.
func (s *Selector) refusalOf(cause error) error {
	if isRefusal(cause) {
		return cause
	}
	if errors.Is(cause, lease.ErrRefused) {
		if r := s.refused(cause, "keep-alive of the lease holding key %q (etcd asks for write permission on the lease's keys)", s.key); r != nil {
			return r
		}
	}
	return nil
}

// endRefused ends the member after etcd refused it: Err reports cause, and Events
// closes after the events already queued.
func (s *Selector) endRefused(cause error) {
	s.mu.Lock()
	s.failed = cause
	s.mu.Unlock()
	s.log.Error("etcd refused this member; it ends", "err", cause)
	s.closeEvents(nil)
}

// errClosing is the cause of a registration context ended by Close.
var errClosing = errors.New("selector: closing")
