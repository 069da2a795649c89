package lease

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDefaultMargin(t *testing.T) {
	for _, tc := range []struct{ ttl, want time.Duration }{
		{time.Second, MinMargin},
		{2 * time.Second, MinMargin},
		{5 * time.Second, 500 * time.Millisecond},
		{60 * time.Second, 6 * time.Second},
	} {
		if got := DefaultMargin(tc.ttl); got != tc.want {
			t.Errorf("DefaultMargin(%v) = %v, want %v", tc.ttl, got, tc.want)
		}
	}
}

func TestGrantKeepsAliveAndRaisesTTL(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// etcd raises a TTL below its minimum (2s with default settings).
	l, err := Grant(ctx, cli, time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if l.TTL != 2*time.Second {
		t.Fatalf("granted TTL %v, want etcd's minimum 2s", l.TTL)
	}
	if l.Margin != MinMargin {
		t.Fatalf("margin %v, want %v", l.Margin, MinMargin)
	}
	first := l.Deadline()
	granted, grantRTT := l.LastAck()
	if granted.IsZero() || grantRTT <= 0 || grantRTT > l.TTL {
		t.Fatalf("after the grant LastAck = %v, %v; want the grant's answer and round trip", granted, grantRTT)
	}
	// Outlive the TTL twice over: the keep-alives must hold the lease, and
	// move the deadline.
	timer := time.NewTimer(2 * l.TTL)
	defer timer.Stop()
	select {
	case <-l.Done():
		t.Fatalf("lease ended while etcd was reachable: %v", l.Err())
	case <-timer.C:
	}
	if !l.Deadline().After(first) {
		t.Fatalf("deadline %v did not move past the first one %v", l.Deadline(), first)
	}
	if d := time.Until(l.Deadline()); d <= 0 || d > l.TTL-l.Margin {
		t.Fatalf("deadline is %v away, want within (0, TTL-margin]", d)
	}
	// Keep-alives go every quarter of TTL-margin: the last answer is newer
	// than the grant's and at most about one interval old.
	acked, rtt := l.LastAck()
	if !acked.After(granted) || rtt <= 0 || rtt > l.TTL {
		t.Fatalf("LastAck = %v (rtt %v), want an answer after the grant's %v", acked, rtt, granted)
	}
	if age := time.Since(acked); age > l.TTL-l.Margin {
		t.Fatalf("last keep-alive answered %v ago, more than the deadline allows", age)
	}
	if want := acked.Add(-rtt).Add(l.TTL - l.Margin); l.Deadline().Before(want.Add(-time.Millisecond)) {
		t.Fatalf("deadline %v is before the last answered keep-alive's %v", l.Deadline(), want)
	}
	ttl, err := cli.TimeToLive(ctx, l.ID)
	if err != nil || ttl.TTL <= 0 {
		t.Fatalf("etcd says the lease has TTL %v (err %v), want alive", ttl.TTL, err)
	}
}

func TestMarginOutOfRange(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, m := range []time.Duration{-time.Millisecond, 1500 * time.Millisecond} {
		if l, err := Grant(ctx, cli, 2*time.Second, m, nil); err == nil {
			l.Stop()
			t.Errorf("Grant with margin %v succeeded, want an error", m)
		}
	}
	leases, err := cli.Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(leases.Leases) != 0 {
		t.Errorf("%d leases left in etcd after refused grants, want 0", len(leases.Leases))
	}
}

// TestDeadlineWhenCutOff: with etcd unreachable, the lease ends at its safe
// deadline, which is before etcd expires the lease.
func TestDeadlineWhenCutOff(t *testing.T) {
	c := etcdtest.Start(t)
	p := c.Members[0].NewProxy(t)
	cli := p.Client(t)
	watcher := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 2*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	// Wait for a keep-alive to be acknowledged, then cut the member off.
	waitMoved(t, l, l.Deadline())
	p.Blackhole()
	cut := time.Now()
	deadline := l.Deadline()
	var ended time.Time
	select {
	case <-l.Done():
		ended = time.Now()
	case <-ctx.Done():
		t.Fatal("lease did not end with etcd unreachable")
	}
	if !errors.Is(l.Err(), ErrDeadline) {
		t.Fatalf("Err = %v, want ErrDeadline", l.Err())
	}
	if ended.Before(deadline) {
		t.Fatalf("ended %v before its deadline", deadline.Sub(ended))
	}
	if late := ended.Sub(deadline); late > 100*time.Millisecond {
		t.Errorf("ended %v after its deadline, want promptly", late)
	}
	if ended.Sub(cut) > l.TTL {
		t.Errorf("ended %v after the cut, want within the TTL %v", ended.Sub(cut), l.TTL)
	}
	// etcd still has the lease at that moment: the member gave up first.
	ttl, err := watcher.TimeToLive(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL < 0 {
		t.Fatalf("etcd had already expired the lease when the holder gave up")
	}
}

func TestExpiredWhenRevokedElsewhere(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 5*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	if _, err := cli.Revoke(ctx, l.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-ctx.Done():
		t.Fatal("lease did not end after being revoked")
	}
	if !errors.Is(l.Err(), ErrExpired) {
		t.Fatalf("Err = %v, want ErrExpired", l.Err())
	}
	if time.Now().After(l.Deadline()) {
		t.Fatalf("ended by its deadline, want by etcd's answer well before")
	}
}

func TestRevoke(t *testing.T) {
	c := etcdtest.Start(t)
	cli := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 5*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Revoke(ctx); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(l.Err(), ErrStopped) {
		t.Fatalf("Err = %v, want ErrStopped", l.Err())
	}
	ttl, err := cli.TimeToLive(ctx, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL != -1 {
		t.Fatalf("etcd reports TTL %d after revoke, want -1 (gone)", ttl.TTL)
	}
}

// waitMoved waits, at most 5s, until the deadline of l moves past from.
func waitMoved(t *testing.T, l *Lease, from time.Time) {
	t.Helper()
	limit := time.Now().Add(5 * time.Second)
	for !l.Deadline().After(from) {
		if time.Now().After(limit) {
			t.Fatal("no keep-alive acknowledged within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSurvivesHeldKeepAlives: a cut that holds two keep-alives back, and
// heals before the deadline, does not end the lease: the held keep-alives
// are answered after the heal, and each extends the deadline from its own
// send time.
func TestSurvivesHeldKeepAlives(t *testing.T) {
	c := etcdtest.Start(t)
	p := c.Members[0].NewProxy(t)
	cli := p.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := Grant(ctx, cli, 2*time.Second, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Stop()
	// Right after an acknowledgement, hold all traffic (delivered when the
	// cut heals, as TCP would) for a little over two intervals.
	waitMoved(t, l, l.Deadline())
	deadline := l.Deadline()
	p.PauseTx()
	p.PauseRx()
	cut := l.interval*2 + l.interval/2
	time.Sleep(cut) // the fault's duration
	if time.Now().After(deadline) {
		t.Fatalf("the cut outlasted the deadline; the test proves nothing")
	}
	p.UnpauseTx()
	p.UnpauseRx()
	waitMoved(t, l, deadline)
	if err := l.Err(); err != nil {
		t.Fatalf("lease ended after a %v cut that healed before its deadline: %v", cut, err)
	}
}

func TestSaturating(t *testing.T) {
	const maxD, minD = time.Duration(math.MaxInt64), time.Duration(math.MinInt64)
	for _, tc := range []struct {
		name      string
		got, want time.Duration
	}{
		{"Seconds 5", Seconds(5), 5 * time.Second},
		{"Seconds etcd's largest TTL", Seconds(9_000_000_000), 9_000_000_000 * time.Second},
		{"Seconds over", Seconds(10_000_000_000), maxD},
		{"Seconds under", Seconds(-10_000_000_000), minD},
		{"Add", Add(time.Second, time.Second), 2 * time.Second},
		{"Add over", Add(maxD-time.Second, 2*time.Second), maxD},
		{"Add under", Add(minD+time.Second, -2*time.Second), minD},
		{"Mul", Mul(time.Hour, 2), 2 * time.Hour},
		{"Mul over", Mul(Seconds(9_000_000_000), 2), maxD},
		{"Mul under", Mul(-Seconds(9_000_000_000), 2), minD},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

func TestCheckTTLAndMarginEdges(t *testing.T) {
	for _, ttl := range []time.Duration{MaxTTL + time.Second, 100000 * time.Hour, math.MaxInt64} {
		if err := CheckTTL(ttl); err == nil || !strings.Contains(err.Error(), "maximum") {
			t.Errorf("CheckTTL(%v) = %v, want over the maximum", ttl, err)
		}
	}
	if err := CheckTTL(MaxTTL); err != nil {
		t.Errorf("CheckTTL(MaxTTL) = %v", err)
	}
	// Two thirds of a TTL whose double overflows.
	if err := CheckMargin(time.Second, math.MaxInt64); err != nil {
		t.Errorf("CheckMargin(1s, largest Duration) = %v, want nil", err)
	}
	if err := CheckMargin(2*time.Second, 3*time.Second); err == nil {
		t.Errorf("CheckMargin(2s, 3s) = nil, want two thirds refused")
	}
}
