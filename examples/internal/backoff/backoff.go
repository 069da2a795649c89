// Package backoff is the examples' own retry policy: the wait before each
// retry, from 100ms doubling to 2s with jitter, and a sleep that ends early
// with its context.
//
// The library keeps the same policy in its internal/backoff, which the
// examples do not import: they are written on the public API only, so that
// a user can copy one out of this module and build it. A user copying an
// example copies this package with it, or puts their own policy in its
// place.
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
// most Max, with jitter between half and all of it, so that programs that
// failed together do not retry together. An n below 0 counts as 0.
func Delay(n int) time.Duration {
	d := min(Min<<min(max(n, 0), 10), Max)
	return d/2 + rand.N(d/2+1)
}

// Sleep waits for d or until ctx ends, and then returns ctx's cause (nil
// if d passed first).
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
