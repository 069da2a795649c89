package lease

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"
)

// The safe deadline apart from etcd, on synctest's fake clock: time moves
// only when every goroutine of the bubble waits, so each instant below is
// exact, and a test of seconds takes none.

const (
	dlTTL    = 5 * time.Second
	dlMargin = 500 * time.Millisecond
	dlSpan   = dlTTL - dlMargin // from a keep-alive's send to its deadline
)

// newTestLease returns a lease whose last acknowledged keep-alive was sent
// at sent, with no keep-alives of its own.
func newTestLease(t *testing.T, sent time.Time) *Lease {
	t.Helper()
	l, err := newLease(nil, 1, dlTTL, dlMargin, sent, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.end(ErrStopped) })
	return l
}

// TestDeadlineEndsLease: the lease ends at sent + TTL - margin, to the
// nanosecond, with ErrDeadline, and not a moment before.
func TestDeadlineEndsLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sent := time.Now()
		l := newTestLease(t, sent)
		if got := l.Deadline(); !got.Equal(sent.Add(dlSpan)) {
			t.Fatalf("deadline %v after the send, want %v", got.Sub(sent), dlSpan)
		}
		time.Sleep(dlSpan - time.Nanosecond)
		synctest.Wait()
		if !l.Alive() || l.Err() != nil {
			t.Fatalf("lease ended %v after the send, before its deadline: %v", time.Since(sent), l.Err())
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if !errors.Is(l.Err(), ErrDeadline) || l.Alive() {
			t.Fatalf("at the deadline: Err %v, Alive %v; want ErrDeadline, false", l.Err(), l.Alive())
		}
		if !errors.Is(context.Cause(l.Context()), ErrDeadline) {
			t.Fatalf("context cause %v, want ErrDeadline", context.Cause(l.Context()))
		}
	})
}

// TestExtend: an acknowledged keep-alive moves the deadline to its send
// time + TTL - margin; an older one's answer never moves it back; an answer
// handled after the deadline does not revive the lease.
func TestExtend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := newTestLease(t, start)

		time.Sleep(time.Second)
		sent := time.Now()
		time.Sleep(10 * time.Millisecond) // the round trip
		l.extend(sent)
		if got, want := l.Deadline(), sent.Add(dlSpan); !got.Equal(want) {
			t.Fatalf("deadline after an ack: %v after the start, want %v", got.Sub(start), want.Sub(start))
		}
		if _, rtt := l.LastAck(); rtt != 10*time.Millisecond {
			t.Fatalf("round trip %v, want 10ms", rtt)
		}

		// The answer to a keep-alive sent before the last one comes late.
		l.extend(start.Add(500 * time.Millisecond))
		if got, want := l.Deadline(), sent.Add(dlSpan); !got.Equal(want) {
			t.Fatalf("an older keep-alive's answer moved the deadline to %v after the start, want %v", got.Sub(start), want.Sub(start))
		}

		// The old deadline (start + span) passes: the lease lives on.
		time.Sleep(time.Until(start.Add(dlSpan + time.Millisecond)))
		synctest.Wait()
		if !l.Alive() {
			t.Fatalf("lease ended %v after the start, its deadline moved to %v", time.Since(start), sent.Add(dlSpan).Sub(start))
		}
		// Past the new deadline, a late answer changes nothing.
		time.Sleep(time.Until(sent.Add(dlSpan)))
		synctest.Wait()
		l.extend(time.Now())
		if l.Alive() || !errors.Is(l.Err(), ErrDeadline) {
			t.Fatalf("an answer after the deadline: Alive %v, Err %v; want false, ErrDeadline", l.Alive(), l.Err())
		}
	})
}

// TestAnswerTooLate: a lease whose first answer comes after the deadline
// it would set is not started.
func TestAnswerTooLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sent := time.Now()
		time.Sleep(dlSpan)
		if l, err := newLease(nil, 1, dlTTL, dlMargin, sent, slog.New(slog.DiscardHandler)); !errors.Is(err, errLate) {
			if l != nil {
				l.end(ErrStopped)
			}
			t.Fatalf("newLease answered %v after the send = %v, want errLate", dlSpan, err)
		}
	})
}
