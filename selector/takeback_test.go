package selector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// A take-back counts only the time etcd answers against its TTL: an etcd
// member without a quorum ("no leader") is etcd unreachable, whatever form
// the error takes, so that a quorum loss longer than the TTL does not move
// the mastership.
func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{io.EOF, true},
		{status.Error(codes.Unavailable, "connection refused"), true},
		{rpctypes.ErrNoLeader, true}, // the finding: an EtcdError has no gRPC status
		{rpctypes.ErrLeaderChanged, true},
		{rpctypes.ErrTimeout, true},
		{fmt.Errorf("resume lease 7: %w", rpctypes.ErrNoLeader), true},
		{rpctypes.ErrGRPCNoLeader, true},
		{rpctypes.ErrLeaseNotFound, false},
		{rpctypes.ErrPermissionDenied, false},
		{status.Error(codes.Internal, "stream terminated by RST_STREAM"), false},
		{errors.New("something else"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
