package election

import (
	"errors"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// Sentinel errors. Errors returned by this package wrap them, so test with
// errors.Is.
var (
	// ErrInvalidConfig: an argument, option or callback is invalid. The
	// wrapping error names the field.
	ErrInvalidConfig = errors.New("election: invalid config")
	// ErrNotLeader: the call needs this candidate to be leader, and it is
	// not.
	ErrNotLeader = errors.New("election: not leader")
	// ErrNoLeader: the election has no leader at the moment.
	ErrNoLeader = errors.New("election: no leader")
	// ErrRunning: Run was called while another Run of the same Election is
	// going on.
	ErrRunning = errors.New("election: already running")
	// ErrPermissionDenied: etcd refused a request because the client's user
	// lacks a permission on the election's keys. The wrapping error says
	// which request, on which range, and wraps etcd's own error
	// (rpctypes.ErrPermissionDenied). A candidate needs read and write
	// permission on the range of its prefix, and nothing else.
	ErrPermissionDenied = errors.New("election: permission denied")
	// ErrAuthFailed: etcd did not accept the client's credentials (a wrong
	// user name or password, a deleted user), or it requires a user and the
	// client gives none. The wrapping error wraps etcd's own error
	// (rpctypes.ErrAuthFailed or rpctypes.ErrUserEmpty).
	ErrAuthFailed = errors.New("election: authentication failed")
)

// refused returns err as a refusal by etcd, wrapping ErrPermissionDenied or
// ErrAuthFailed and etcd's error, with what the candidate was doing and the
// permission it needs; nil when err is no refusal, and so may pass if the
// request is repeated. An err that is a refusal already is returned as it
// is.
func refused(cli *clientv3.Client, prefix string, err error, format string, args ...any) error {
	return sentinels.Wrap(cli, prefix, err, fmt.Sprintf(format, args...))
}

var sentinels = refusal.Sentinels{PermissionDenied: ErrPermissionDenied, AuthFailed: ErrAuthFailed}

// isRefusal reports whether err is a refusal by etcd, which ends Run:
// repeating the request would get the same answer.
func isRefusal(err error) bool {
	return errors.Is(err, ErrPermissionDenied) || errors.Is(err, ErrAuthFailed)
}
