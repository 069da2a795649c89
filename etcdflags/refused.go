package etcdflags

import (
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/refusal"
)

// Refused reports whether err, the error of a request that cli made (or of
// Flags.Client, with a nil cli), is etcd refusing the client's user, which
// no retry cures: the user lacks a permission the request needs
// (rpctypes.ErrPermissionDenied), or etcd did not accept the client's
// credentials (rpctypes.ErrAuthFailed: a wrong user name or password, a
// deleted user), or etcd requires a user and cli gives none. etcd's error
// is recognised however clientv3 delivers it: as etcd's own error value,
// as a gRPC status, wrapped, or as text alone (as a failed watch gives it).
// The selector's errors that wrap its ErrPermissionDenied or ErrAuthFailed
// wrap etcd's error too, so Refused reports them as well.
//
// Everything else is no refusal, and may pass if the request is repeated:
// nil, an unreachable etcd, a timeout, a cancelled context, an etcd without
// a leader, and an expired or invalidated auth token (clientv3
// authenticates again on the next request, which then fails with the true
// refusal, if any).
func Refused(cli *clientv3.Client, err error) bool {
	return refusal.Of(cli, err) != refusal.None
}
