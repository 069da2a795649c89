package etcdflags

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seed764c596d/mastership/selector"
)

// Join runs join, which registers a member in etcd (selector.New, or
// something that calls it), under a context derived from ctx that ends
// after wait (see JoinWait), and returns join's error, if any, as one line
// an operator can act on: the id held by another live member
// (selector.ErrDuplicateID), etcd refusing the user
// (selector.ErrPermissionDenied or selector.ErrAuthFailed), ctx ending (a
// signal, say) before the member registered, or etcd unreachable within
// wait. endpoints, the client's (Flags.Endpoints), serve only to name etcd
// in that last message. Any other error is returned as it is. The error
// wraps join's, so that errors.Is still finds the selector's sentinels; a
// caller tells a stop before registering by ctx.Err().
func Join(ctx context.Context, endpoints []string, wait time.Duration, join func(context.Context) error) error {
	jctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := join(jctx)
	timedOut := jctx.Err() != nil
	switch {
	case err == nil:
		return nil
	case errors.Is(err, selector.ErrDuplicateID):
		return fmt.Errorf("the id is taken in the group by a live member: %w", err)
	case errors.Is(err, selector.ErrPermissionDenied), errors.Is(err, selector.ErrAuthFailed):
		return fmt.Errorf("etcd refused this member: %w", err)
	case ctx.Err() != nil:
		return fmt.Errorf("interrupted before registering: %w", err)
	case timedOut:
		return fmt.Errorf("etcd at %s unreachable: not registered within %v: %w", strings.Join(endpoints, ","), wait, err)
	}
	return err
}
