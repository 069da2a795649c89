package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// Retries of one outage double up to the interval; a stream that was
// acknowledged before it failed starts again from the shortest delay.
func TestRetryDelay(t *testing.T) {
	const interval = 400 * time.Millisecond
	for _, tc := range []struct {
		prev  time.Duration
		acked bool
		want  time.Duration
	}{
		{0, false, firstRetry},
		{firstRetry, false, 2 * firstRetry},
		{200 * time.Millisecond, false, interval},
		{interval, false, interval},
		{interval, true, firstRetry}, // the finding: it never reset
		{2 * firstRetry, true, firstRetry},
	} {
		if got := retryDelay(tc.prev, tc.acked, interval); got != tc.want {
			t.Errorf("retryDelay(%v, %v) = %v, want %v", tc.prev, tc.acked, got, tc.want)
		}
	}
	if got := retryDelay(0, false, 10*time.Millisecond); got != 10*time.Millisecond {
		t.Errorf("first retry with a 10ms interval: %v, want the interval", got)
	}
}

// Alive tells the deadline by the clock: past it, the lease has ended,
// even before its timer has run (a process that wakes from a freeze runs
// its goroutines in no set order).
func TestAliveByTheClock(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 5*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if !l.Alive() {
		t.Fatal("a lease just granted is not alive")
	}
	// As if the process had been frozen past its deadline: the deadline is
	// behind the clock, and the timer has not run.
	l.mu.Lock()
	l.deadline = time.Now().Add(-time.Millisecond)
	l.timer.Reset(time.Hour)
	l.mu.Unlock()
	if l.Alive() {
		t.Fatal("Alive past the deadline")
	}
	if !errors.Is(l.Err(), ErrDeadline) {
		t.Fatalf("Err = %v, want ErrDeadline", l.Err())
	}
	// An acknowledgement handled past the deadline cannot bring it back.
	l.extend(time.Now())
	if l.Alive() || !errors.Is(l.Err(), ErrDeadline) {
		t.Fatalf("after a late acknowledgement: Alive %v, Err %v", l.Alive(), l.Err())
	}
}

// Resume takes back a lease that etcd still has, by one keep-alive, with a
// deadline from its send time, and keeps it alive; a lease that etcd no
// longer has is ErrExpired.
func TestResume(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 2*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Stop() // no revoke: etcd keeps the lease for its TTL
	sent := time.Now()
	r, err := Resume(ctx, cli, l.ID, 0, nil)
	if err != nil {
		t.Fatalf("Resume of a live lease: %v", err)
	}
	defer r.Stop()
	if r.ID != l.ID || r.TTL != l.TTL {
		t.Errorf("resumed lease %x with TTL %v, want %x with %v", r.ID, r.TTL, l.ID, l.TTL)
	}
	if d := r.Deadline(); d.Before(sent.Add(r.TTL-r.Margin)) || d.After(time.Now().Add(r.TTL-r.Margin)) {
		t.Errorf("resumed deadline %v after the send, want TTL - margin = %v", d.Sub(sent), r.TTL-r.Margin)
	}
	// Kept alive past its first TTL.
	time.Sleep(r.TTL + 500*time.Millisecond) // the span to outlive
	if !r.Alive() {
		t.Fatalf("resumed lease ended: %v", r.Err())
	}
	if _, err := cli.Revoke(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(ctx, cli, r.ID, 0, nil); !errors.Is(err, ErrExpired) {
		t.Fatalf("Resume of a revoked lease: %v, want ErrExpired", err)
	}
}

func TestCheckTTL(t *testing.T) {
	for ttl, ok := range map[time.Duration]bool{
		time.Second: true, 5 * time.Second: true, MaxTTL: true,
		0: false, 500 * time.Millisecond: false, 1500 * time.Millisecond: false,
		MaxTTL + time.Second: false, 100000 * time.Hour: false, 1<<63 - 1: false,
	} {
		if err := CheckTTL(ttl); (err == nil) != ok {
			t.Errorf("CheckTTL(%v) = %v, want ok %v", ttl, err, ok)
		}
	}
}

// pastDeadline: by either clock. A suspension (the monotonic clock stopped,
// the wall clock going on) cannot be made in a test; the wall-clock half
// is checked here on times without monotonic readings, as a woken machine
// would compare them.
func TestPastDeadline(t *testing.T) {
	now := time.Now()
	deadline := now.Add(time.Second)
	if pastDeadline(now, deadline) {
		t.Error("a second before the deadline: past")
	}
	if !pastDeadline(deadline, deadline) || !pastDeadline(deadline.Add(time.Millisecond), deadline) {
		t.Error("at or after the deadline: not past")
	}
	// The wall clock an hour on, as after a suspension.
	woken := now.Round(0).Add(time.Hour)
	if !pastDeadline(woken, deadline) {
		t.Error("an hour later by the wall clock: not past")
	}
}
