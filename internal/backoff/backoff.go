// Package backoff spaces out retries: exponential, with jitter, and
// context-aware sleeps. Shared by the selector and election packages.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Bounds of Delay.
const (
	Min = 100 * time.Millisecond
	Max = 2 * time.Second
)

// Delay returns the wait before retry n (from 0): Min doubled n times, at
// most Max, with jitter between half and all of it, so that members that
// failed together do not retry together.
func Delay(n int) time.Duration {
	d := min(Min<<min(n, 10), Max)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d or until ctx ends, and then returns ctx's cause.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
