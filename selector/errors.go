package selector

import (
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument or option of New is invalid. The
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("selector: invalid config")
	// ErrDuplicateID: another live member holds this member's id: its key
	// stayed in etcd, refreshed, for longer than its lease's remaining TTL.
	ErrDuplicateID = errors.New("selector: duplicate id")
	// ErrNotMaster: the call needs this member to be master, and it is not.
	ErrNotMaster = errors.New("selector: not master")
	// ErrNoSuccessor: Yield was called with no other member to take over.
	ErrNoSuccessor = errors.New("selector: no other member to take over")
	// ErrClosed: the Selector is closed.
	ErrClosed = errors.New("selector: closed")
	// ErrKeyDeleted is the cause of a lost registration when this member's
	// key was deleted by someone else.
	ErrKeyDeleted = errors.New("selector: member key deleted")
	// ErrPermissionDenied: etcd refused a request because the client's user
	// lacks a permission on the group's keys. The wrapping error says which
	// request, on which key or range, and wraps etcd's own error
	// (rpctypes.ErrPermissionDenied). A member needs read and write
	// permission on the range of its prefix, and nothing else.
	ErrPermissionDenied = errors.New("selector: permission denied")
	// ErrAuthFailed: etcd did not accept the client's credentials (a wrong
	// user name or password, a deleted user), or it requires a user and the
	// client gives none. The wrapping error wraps etcd's own error
	// (rpctypes.ErrAuthFailed or rpctypes.ErrUserEmpty).
	ErrAuthFailed = errors.New("selector: authentication failed")
)

// refused returns err as a refusal by etcd, wrapping ErrPermissionDenied or
// ErrAuthFailed and etcd's error, with what the member was doing; nil when
// err is no refusal, and so may pass if the request is repeated.
func (s *Selector) refused(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if e := refusal.Etcd(s.cli, err); e != nil && !errors.Is(err, e) {
		// clientv3 gave etcd's error as text (a failed watch does): wrap
		// etcd's own value, so that errors.Is recognises it.
		err = fmt.Errorf("%w (%v)", e, err)
	}
	switch refusal.Of(s.cli, err) {
	case refusal.PermissionDenied:
		user := fmt.Sprintf("etcd user %q", s.cli.Username)
		if s.cli.Username == "" {
			// etcd then takes the common name of the client's TLS
			// certificate as its user.
			user = "the etcd user of the client's certificate"
		}
		return fmt.Errorf("%w: %s: %s needs %s: %w", ErrPermissionDenied, what, user, s.needs(), err)
	case refusal.AuthFailed:
		if s.cli.Username == "" {
			return fmt.Errorf("%w: %s: etcd requires a user, and the client gives none: %w", ErrAuthFailed, what, err)
		}
		return fmt.Errorf("%w: %s: etcd user %q: %w", ErrAuthFailed, what, s.cli.Username, err)
	}
	return nil
}

// needs says which permission a member needs, as an operator grants it.
func (s *Selector) needs() string {
	return fmt.Sprintf("readwrite permission on range [%q, %q) (etcdctl role grant-permission ROLE readwrite %s --prefix)",
		s.prefix, clientv3.GetPrefixRangeEnd(s.prefix), s.prefix)
}

// isRefusal reports whether err is a refusal by etcd, which ends a member:
// repeating the request would get the same answer.
func isRefusal(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrAuthFailed)
}
