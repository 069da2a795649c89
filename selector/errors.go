package selector

import (
	"errors"
	"fmt"

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
	// ErrKeyDetached is the cause of a lost registration when another
	// writer put this member's key without its lease (etcdctl put, say):
	// the key would never expire, and it is no member any more.
	ErrKeyDetached = errors.New("selector: member key detached from its lease")
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
// ErrAuthFailed and etcd's error, with what the member was doing and the
// permission it needs; nil when err is no refusal, and so may pass if the
// request is repeated.
func (s *Selector) refused(err error, format string, args ...any) error {
	return sentinels.Wrap(s.cli, s.prefix, err, fmt.Sprintf(format, args...))
}

var sentinels = refusal.Sentinels{PermissionDenied: ErrPermissionDenied, AuthFailed: ErrAuthFailed}

// isRefusal reports whether err is a refusal by etcd, which ends a member:
// repeating the request would get the same answer.
func isRefusal(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrAuthFailed)
}
