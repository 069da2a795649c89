package lease

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/internal/refusal"
	"github.com/seed764c596d/mastership/status"
)

// Why a lease ended, as reported by Lease.Err.
var (
	// ErrDeadline: no keep-alive was acknowledged in time, and the safe
	// deadline passed.
	ErrDeadline = errors.New("lease: safe deadline passed without an acknowledged keep-alive")
	// ErrExpired: etcd answered that the lease no longer exists (it expired
	// or was revoked).
	ErrExpired = errors.New("lease: etcd reports the lease expired or revoked")
	// ErrStopped: the holder stopped or revoked the lease.
	ErrStopped = errors.New("lease: stopped")
	// ErrRefused: etcd refused a keep-alive for the client's user
	// (permission denied: etcd asks for write permission on the lease's
	// keys; or authentication failed). The error that ends the lease wraps
	// both ErrRefused and etcd's error.
	ErrRefused = errors.New("lease: keep-alive refused")
)

// MinMargin is the smallest safety margin DefaultMargin returns.
const MinMargin = 250 * time.Millisecond

// DefaultMargin returns the default safety margin for a granted TTL: a tenth
// of it, and at least MinMargin. It covers clock drift between this process
// and etcd, and the time a process may be stalled (GC, scheduling) before its
// deadline timer runs.
func DefaultMargin(ttl time.Duration) time.Duration {
	return max(ttl/10, MinMargin)
}

// Lease is a granted etcd lease kept alive until its safe deadline.
// Its methods are safe for concurrent use.
type Lease struct {
	// ID is the etcd lease id.
	ID clientv3.LeaseID
	// TTL is the TTL etcd granted, which may be larger than the one asked
	// for: etcd raises a TTL below its minimum.
	TTL time.Duration
	// Margin is the safety margin subtracted from each deadline.
	Margin time.Duration

	cli      *clientv3.Client
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelCauseFunc
	interval time.Duration
	done     chan struct{} // closed when the keeper goroutine has exited

	mu       sync.Mutex
	deadline time.Time
	timer    *time.Timer
	acked    time.Time     // when the last keep-alive (or the grant) was answered
	rtt      time.Duration // its round trip
}

// Grant asks etcd for a lease of the given TTL (whole seconds) and starts
// keeping it alive. A margin of zero means DefaultMargin of the granted TTL;
// any other must pass CheckMargin for the granted TTL.
//
// The lease ends, and its Context is cancelled, at the safe deadline, when
// etcd reports it gone, or on Stop or Revoke: whichever comes first.
func Grant(ctx context.Context, cli *clientv3.Client, ttl, margin time.Duration, log *slog.Logger) (*Lease, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// A grant answered after its safe deadline is of no use, so the call
	// gets a deadline of its own: the TTL asked for, or etcd's usual
	// minimum TTL if that is longer, since etcd may raise the TTL.
	gctx, cancel := context.WithTimeout(ctx, max(ttl, 2*time.Second))
	defer cancel()
	sent := time.Now()
	resp, err := cli.Grant(gctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("grant lease: %w", err)
	}
	granted := Seconds(resp.TTL)
	// A lease of no use is given back rather than left to expire.
	giveBack := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), granted)
		cli.Revoke(rctx, resp.ID)
		cancel()
	}
	if margin, err = marginFor(margin, granted); err != nil {
		giveBack()
		return nil, err
	}
	l, err := start(cli, resp.ID, granted, margin, sent, log)
	if err != nil {
		giveBack()
		return nil, fmt.Errorf("lease: grant answered after its safe deadline (%v after the request)", time.Since(sent))
	}
	return l, nil
}

// Resume takes back a lease this process granted earlier and stopped
// keeping alive (its safe deadline passed while etcd was unreachable, say):
// it sends one keep-alive and, once etcd acknowledges it, keeps the lease
// alive again with a safe deadline counted from that keep-alive's send time,
// exactly as for a new lease. It never writes a key. It returns an error
// wrapping ErrExpired when etcd answers that the lease no longer exists, and
// ctx's error, or etcd's, when no acknowledgement came.
func Resume(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID, margin time.Duration, log *slog.Logger) (*Lease, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sent := time.Now()
	resp, err := keepAliveOnce(ctx, cli, id)
	switch {
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		return nil, fmt.Errorf("resume lease %x: %w", int64(id), ErrExpired)
	case err != nil:
		return nil, fmt.Errorf("resume lease %x: %w", int64(id), err)
	case resp.TTL <= 0:
		return nil, fmt.Errorf("resume lease %x: %w", int64(id), ErrExpired)
	}
	granted := Seconds(resp.TTL)
	if margin, err = marginFor(margin, granted); err != nil {
		return nil, err
	}
	l, err := start(cli, id, granted, margin, sent, log)
	if err != nil {
		return nil, fmt.Errorf("resume lease %x: keep-alive answered after its safe deadline (%v after the request)", int64(id), time.Since(sent))
	}
	return l, nil
}

// marginFor returns the safety margin of a lease granted for ttl: margin,
// or DefaultMargin of ttl if margin is zero, checked by CheckMargin.
func marginFor(margin, ttl time.Duration) (time.Duration, error) {
	if margin == 0 {
		margin = DefaultMargin(ttl)
	}
	if err := CheckMargin(margin, ttl); err != nil {
		return 0, fmt.Errorf("lease: safety margin: %w", err)
	}
	return margin, nil
}

// keepAliveOnce sends one keep-alive of id on a stream of its own and
// returns etcd's answer. Unlike clientv3's KeepAliveOnce, which retries at
// once, without a pause, until ctx ends, it tries once: the caller decides
// when to try again.
func keepAliveOnce(ctx context.Context, cli *clientv3.Client, id clientv3.LeaseID) (*pb.LeaseKeepAliveResponse, error) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	s, err := pb.NewLeaseClient(cli.ActiveConnection()).LeaseKeepAlive(ctx)
	if err != nil {
		return nil, rpctypes.Error(err)
	}
	if err := s.Send(&pb.LeaseKeepAliveRequest{ID: int64(id)}); err != nil && !errors.Is(err, io.EOF) {
		return nil, rpctypes.Error(err)
	}
	// Send reports a stream that etcd ended with io.EOF; Recv says why.
	resp, err := s.Recv()
	if err != nil {
		return nil, rpctypes.Error(err)
	}
	return resp, nil
}

// errLate: an answer came after the safe deadline it would have set.
var errLate = errors.New("lease: answered after its safe deadline")

// start keeps alive lease id, granted for ttl, whose last acknowledged
// request was sent at sent.
func start(cli *clientv3.Client, id clientv3.LeaseID, ttl, margin time.Duration, sent time.Time, log *slog.Logger) (*Lease, error) {
	l, err := newLease(cli, id, ttl, margin, sent, log)
	if err != nil {
		return nil, err
	}
	go l.keep()
	return l, nil
}

// newLease returns lease id with its safe deadline and timer set from
// sent, and nothing to keep it alive: start adds the keep-alives. The
// deadline logic, apart from etcd, is what the tests of the clock take.
func newLease(cli *clientv3.Client, id clientv3.LeaseID, ttl, margin time.Duration, sent time.Time, log *slog.Logger) (*Lease, error) {
	deadline := sent.Add(ttl - margin)
	now := time.Now()
	if !now.Before(deadline) {
		return nil, errLate
	}
	l := &Lease{
		ID:     id,
		TTL:    ttl,
		Margin: margin,
		cli:    cli,
		log:    log.With("lease", fmt.Sprintf("%x", int64(id))),
		// Four keep-alive intervals fit in the time the deadline allows:
		// two keep-alives in a row can be lost, and the third, sent at
		// three quarters of it, still has a quarter for its round trip.
		interval: (ttl - margin) / 4,
		done:     make(chan struct{}),
	}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	// The timer may fire at once; end then waits for mu, and so finds the
	// timer set.
	l.mu.Lock()
	l.deadline = deadline
	l.acked = now
	l.rtt = now.Sub(sent)
	l.timer = time.AfterFunc(time.Until(deadline), func() { l.end(ErrDeadline) })
	l.mu.Unlock()
	return l, nil
}

// Context returns a context cancelled the moment the lease ends. Its cause
// (context.Cause) is ErrDeadline, ErrExpired, ErrStopped, or an error
// wrapping ErrRefused.
func (l *Lease) Context() context.Context { return l.ctx }

// Done is closed when the lease has ended, like Context().Done().
func (l *Lease) Done() <-chan struct{} { return l.ctx.Done() }

// Err returns nil while the lease lives, then why it ended.
func (l *Lease) Err() error {
	if l.ctx.Err() == nil {
		return nil
	}
	return context.Cause(l.ctx)
}

// Alive reports whether the lease lives and its safe deadline has not
// passed, by the clock, now. A process frozen past its deadline (SIGSTOP, a
// long pause) wakes with its deadline timer and its channel receives ready
// at once, in no set order: Alive does not wait for the timer, it ends the
// lease itself when the deadline has passed, so that whoever asks acts on
// nothing learned after the lease's end.
func (l *Lease) Alive() bool {
	if l.ctx.Err() != nil {
		return false
	}
	l.mu.Lock()
	past := pastDeadline(time.Now(), l.deadline)
	l.mu.Unlock()
	if past {
		l.end(ErrDeadline)
		return false
	}
	return true
}

// pastDeadline reports whether now is at or past deadline by either clock.
// Go measures durations with the monotonic clock, which on Linux stops
// while the machine is suspended: a machine that wakes after its members'
// TTL would believe no time had passed. The wall clock goes on counting
// through a suspension, so the deadline is also checked against it (with
// the monotonic readings stripped by Round(0)). A wall clock stepped
// forward can only end a lease early, which is safe; one stepped back is
// caught by the monotonic clock.
func pastDeadline(now, deadline time.Time) bool {
	return !now.Before(deadline) || !now.Round(0).Before(deadline.Round(0))
}

// Deadline returns the current safe deadline.
func (l *Lease) Deadline() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

// LastAck returns when etcd last answered a keep-alive of this lease, and
// that keep-alive's round trip. The grant counts as the first answer.
func (l *Lease) LastAck() (at time.Time, rtt time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked, l.rtt
}

// Status returns the lease's state at now for a Stats snapshot: the TTL
// and the last acknowledged keep-alive always, and the safe deadline only
// while live (the caller's registration holds it) and the deadline is
// still ahead of now; past it, the deadline's timer is about to end the
// lease, and the snapshot shows it ended. It reports whether the deadline
// was shown.
func (l *Lease) Status(now time.Time, live bool) (status.Lease, bool) {
	ended := l.Err() != nil
	l.mu.Lock()
	defer l.mu.Unlock()
	st := status.Lease{TTL: l.TTL, LastKeepAlive: l.acked, KeepAliveRTT: l.rtt}
	if !live || ended {
		return st, false
	}
	until := l.deadline.Sub(now)
	if until <= 0 {
		return st, false
	}
	st.SafeDeadline, st.UntilDeadline = l.deadline, until
	return st, true
}

// Stop ends the lease without revoking it: etcd expires it after its TTL.
// It waits for the keep-alive goroutine to exit.
func (l *Lease) Stop() {
	l.end(ErrStopped)
	<-l.done
}

// Revoke ends the lease and revokes it in etcd, so that its keys are deleted
// at once rather than after the TTL.
func (l *Lease) Revoke(ctx context.Context) error {
	l.Stop()
	_, err := l.cli.Revoke(ctx, l.ID)
	if err != nil {
		return fmt.Errorf("revoke lease: %w", err)
	}
	return nil
}

func (l *Lease) end(cause error) {
	l.mu.Lock()
	l.timer.Stop()
	l.mu.Unlock()
	if l.ctx.Err() == nil {
		l.log.Debug("lease ended", "cause", cause)
	}
	l.cancel(cause)
}

// extend moves the deadline to sent + TTL - margin after a keep-alive sent
// at sent was acknowledged. The deadline only moves forward, and never once
// the lease has ended.
func (l *Lease) extend(sent time.Time) {
	d := sent.Add(l.TTL - l.Margin)
	now := time.Now()
	l.mu.Lock()
	if pastDeadline(now, l.deadline) {
		// The deadline passed before this answer was handled (the process
		// was frozen, say), even if the timer has not run yet: the lease
		// ended then, and an answer cannot bring it back.
		l.mu.Unlock()
		l.end(ErrDeadline)
		return
	}
	defer l.mu.Unlock()
	l.acked, l.rtt = now, now.Sub(sent)
	if !d.After(l.deadline) || l.ctx.Err() != nil {
		return
	}
	// Stop fails when the timer has fired: the deadline passed while this
	// acknowledgement was on its way, and the lease has ended.
	if !l.timer.Stop() {
		return
	}
	l.deadline = d
	l.timer.Reset(time.Until(d))
}

// keep runs one keep-alive stream after another until the lease ends.
func (l *Lease) keep() {
	defer close(l.done)
	var retry time.Duration
	for l.ctx.Err() == nil {
		before, _ := l.LastAck()
		err := l.stream()
		if l.ctx.Err() != nil {
			return
		}
		after, _ := l.LastAck()
		retry = retryDelay(retry, after.After(before), l.interval)
		if refusal.Of(l.cli, err) != refusal.None {
			// Asking again gets the same answer: end now rather than at
			// the deadline, so that the holder learns why.
			// rpctypes.Error turns the stream's gRPC status into etcd's
			// error value, which errors.Is recognises.
			l.end(fmt.Errorf("%w: %w", ErrRefused, rpctypes.Error(err)))
			return
		}
		l.log.Debug("keep-alive stream failed; retrying", "err", err)
		ResetBackoff(l.cli)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

// firstRetry is the delay before the first retry of a failed keep-alive
// stream.
const firstRetry = 50 * time.Millisecond

// retryDelay returns the delay before the next retry of a keep-alive stream
// that failed, given the delay before the previous retry (0 for none) and
// whether the stream got an acknowledgement before it failed. Retries of
// one outage double, up to the keep-alive interval; a stream that served
// before it failed starts a new outage, with a short delay again, so that a
// member that rode out a long outage reconnects at once after the next
// short one.
func retryDelay(prev time.Duration, acked bool, interval time.Duration) time.Duration {
	if prev == 0 || acked {
		return min(firstRetry, interval)
	}
	return min(prev*2, interval)
}

// stream sends keep-alives on one LeaseKeepAlive stream every interval and
// handles its responses, until the stream fails or the lease ends.
func (l *Lease) stream() error {
	// WithRequireLeader makes the stream fail when its etcd member has lost
	// the raft leader, instead of hanging on a partitioned member.
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(l.ctx))
	defer cancel()
	s, err := pb.NewLeaseClient(l.cli.ActiveConnection()).LeaseKeepAlive(ctx)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		sends []time.Time // send times of unanswered requests, oldest first
	)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := s.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			mu.Lock()
			if len(sends) == 0 {
				mu.Unlock()
				continue
			}
			sent := sends[0]
			sends = sends[1:]
			mu.Unlock()
			if resp.TTL <= 0 {
				l.end(ErrExpired)
				recvErr <- ErrExpired
				return
			}
			l.extend(sent)
		}
	}()
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		mu.Lock()
		sends = append(sends, time.Now())
		mu.Unlock()
		if err := s.Send(&pb.LeaseKeepAliveRequest{ID: int64(l.ID)}); err != nil {
			cancel()
			<-recvErr
			return err
		}
		select {
		case <-tick.C:
			// The deadline timer runs on the monotonic clock; a machine
			// woken from a suspension is caught here, by the wall clock,
			// within an interval.
			if !l.Alive() {
				return nil
			}
		case err := <-recvErr:
			return err
		}
	}
}

// ResetBackoff makes cli's connection try to reconnect at once rather than
// after gRPC's reconnect backoff, which grows to two minutes while etcd is
// down: a member that retries must reach etcd within a fraction of its TTL
// once etcd is back, or its surviving lease expires.
func ResetBackoff(cli *clientv3.Client) {
	if conn := cli.ActiveConnection(); conn != nil {
		conn.ResetConnectBackoff()
	}
}

// MaxTTL is the largest TTL this module asks of etcd. The TTL is how long a
// crashed master stays master, and the time a member's start-up and
// duplicate checks may wait: beyond an hour it is a mistake (a unit typed
// wrong) rather than a choice, and far below the TTLs whose multiples
// overflow a time.Duration, or that etcd refuses ("too large lease TTL").
const MaxTTL = time.Hour

// CheckTTL returns why ttl cannot be asked of etcd as a lease TTL, or nil:
// etcd's TTLs are whole seconds, at least one, and this module's at most
// MaxTTL.
func CheckTTL(ttl time.Duration) error {
	switch {
	case ttl < time.Second:
		return fmt.Errorf("%v is under 1s", ttl)
	case ttl > MaxTTL:
		return fmt.Errorf("%v is over the maximum %v (a crashed master stays master for the TTL)", ttl, MaxTTL)
	case ttl%time.Second != 0:
		return fmt.Errorf("%v is not a whole number of seconds", ttl)
	}
	return nil
}

// CheckMargin returns why margin cannot be the safety margin of a lease of
// the given TTL, or nil. It must be positive, since no margin at all leaves
// no room for clock drift, and below two thirds of the TTL, since keep-alives
// need room between deadlines.
func CheckMargin(margin, ttl time.Duration) error {
	switch {
	case margin <= 0:
		return fmt.Errorf("%v is not positive", margin)
	case margin >= ttl/3*2+ttl%3*2/3: // ttl*2/3, without overflow
		return fmt.Errorf("%v is not less than two thirds of TTL %v", margin, ttl)
	}
	return nil
}

// Seconds returns n seconds as a Duration, saturated at the largest (or
// smallest) Duration: etcd reports TTLs as int64 seconds, and another
// writer's lease may have a TTL whose nanoseconds overflow.
func Seconds(n int64) time.Duration {
	switch {
	case n > int64(math.MaxInt64/time.Second):
		return math.MaxInt64
	case n < int64(math.MinInt64/time.Second):
		return math.MinInt64
	}
	return time.Duration(n) * time.Second
}

// Add returns a+b, saturated at the largest (or smallest) Duration.
func Add(a, b time.Duration) time.Duration {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}

// Mul returns d*n for n > 0, saturated at the largest (or smallest)
// Duration.
func Mul(d time.Duration, n int64) time.Duration {
	switch {
	case n <= 0:
		panic("lease.Mul: n must be positive")
	case d > 0 && d > math.MaxInt64/time.Duration(n):
		return math.MaxInt64
	case d < 0 && d < math.MinInt64/time.Duration(n):
		return math.MinInt64
	}
	return d * time.Duration(n)
}
