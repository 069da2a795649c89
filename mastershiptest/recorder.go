package mastershiptest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/internal/history"
	"github.com/seed764c596d/mastership/selector"
)

// Recorder keeps the history of a group under test, for Check to judge: the
// events its members emitted (Follow, Event), and the spans of master work
// the service's own code did (Begin), with the epoch each ran under. The
// events prove the library kept its contract; the spans prove the service
// did: that its master work stopped when a mastership ended, before the
// next one's began.
//
// A member is named by its id. Each selector given to Follow is one run of
// its member, which starts afresh with INIT_MASTER or INIT_SLAVE: a member
// closed and made again under the same id is two runs, judged apart where
// the contract says so (a repeated epoch, a replay from the start).
//
// Make one with NewRecorder. Its methods are safe for concurrent use, so
// that every member's goroutine can report to it.
type Recorder struct {
	h history.History

	mu   sync.Mutex
	runs map[string]*runs
	// changed is closed at each report, and replaced: a wake-up for every
	// wait at once, however many goroutines wait.
	changed chan struct{}
}

// runs counts the runs of one member.
type runs struct {
	n        int  // runs so far: the current one is n
	followed bool // the current run is a Follow's
	// epochs names the run that was master under each epoch, so that work
	// begun under an epoch is filed under the run whose mastership it
	// belongs to, even when a later run of the member has started since.
	epochs map[int64]string
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder {
	return &Recorder{runs: map[string]*runs{}, changed: make(chan struct{})}
}

// run returns the name of member's current run, starting its first if it
// has none. With follow, it is for a new Follow, whose selector is a new
// run unless the current one has no selector yet.
func (r *Recorder) run(member string, follow bool) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.runs[member]
	if rs == nil {
		rs = &runs{}
		r.runs[member] = rs
	}
	if rs.n == 0 || follow && rs.followed {
		rs.n++
	}
	rs.followed = rs.followed || follow
	return fmt.Sprintf("%s#%d", member, rs.n)
}

// mastered notes that run, of member, became master under epoch.
func (r *Recorder) mastered(member, run string, epoch int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rs := r.runs[member]
	if rs.epochs == nil {
		rs.epochs = map[int64]string{}
	}
	rs.epochs[epoch] = run
}

// workRun returns the run that work of member under epoch belongs to: the
// one that was master under epoch, or the current run if none was.
func (r *Recorder) workRun(member string, epoch int64) string {
	r.mu.Lock()
	run, ok := r.runs[member].epochOf(epoch)
	r.mu.Unlock()
	if ok {
		return run
	}
	return r.run(member, false)
}

// epochOf returns the run that was master under epoch, if rs knows one.
func (rs *runs) epochOf(epoch int64) (string, bool) {
	if rs == nil {
		return "", false
	}
	run, ok := rs.epochs[epoch]
	return run, ok
}

// allRuns returns the names of every run of member so far.
func (r *Recorder) allRuns(member string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	if rs := r.runs[member]; rs != nil {
		for i := 1; i <= rs.n; i++ {
			names = append(names, fmt.Sprintf("%s#%d", member, i))
		}
	}
	return names
}

// notify wakes every wait: a report has come.
func (r *Recorder) notify() {
	r.mu.Lock()
	defer r.mu.Unlock()
	close(r.changed)
	r.changed = make(chan struct{})
}

// reported returns a channel that closes at the next report. A wait takes
// it before it checks its condition, so that no report between the check
// and the wait goes unnoticed.
func (r *Recorder) reported() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Event records ev, emitted by the member with id member, in its current
// run. Call it for every event the member emits, in order, from the code
// that reads the member's events: the order of the calls is the order Check
// replays. Follow does it for a selector whose events the test can read on
// the service's behalf.
func (r *Recorder) Event(member string, ev events.Event) {
	run := r.run(member, false)
	r.h.Add(run, history.FromEvent(member, ev))
	if ev.Type.MakesMaster() {
		r.mastered(member, run, ev.View.Epoch())
	}
	r.notify()
}

// Follow records every event of s, as a new run of its member (s.ID()),
// and passes each on, unchanged and in order, on the channel it returns:
// range over it where the service would range over s.Events(). The channel
// closes after s's does, once s is closed or refused, whose last event,
// OFFLINE, ends the run's registration; the service's own work, which may
// go on, ends only when it reports so (Begin). Like s.Events(), it must be
// read until it closes, or its goroutine stays blocked.
//
// Follow also records when each mastership really ended, from s's master
// context: a member that yields ends its mastership at once, but reports
// CHANGE_TO_SLAVE only once it sees its key created again, which may come
// after its successor's CHANGE_TO_MASTER.
func (r *Recorder) Follow(s *selector.Selector) <-chan events.Event {
	member := s.ID()
	run := r.run(member, true)
	out := make(chan events.Event)
	go func() {
		defer close(out)
		for ev := range s.Events() {
			r.h.Add(run, history.FromEvent(member, ev))
			if ev.Type.MakesMaster() {
				r.mastered(member, run, ev.View.Epoch())
				context.AfterFunc(s.MasterContext(), func() { r.h.EndMastership(run, time.Now()) })
			}
			r.notify()
			out <- ev
		}
	}()
	return out
}

// Begin records that the code of member began master work under epoch,
// the fencing token it writes with (the view's Epoch, or an election's
// Epoch), and returns the function that records its end. Call that as soon
// as the work has stopped, not when it was asked to stop: Check judges when
// the work really ran. Calls of end after the first change nothing.
//
// A span not ended when Check runs lasts to the end of the history, even
// if its member's selector has closed: only the service knows when its
// work stopped, and work that outlives its mastership is what Check is
// there to catch.
//
// The span belongs to the run of member that was master under epoch, as
// its events recorded it, even if a later run of the member has started
// since (the late goroutine of a closed selector's mastership, say), so
// that its overlap with the later run's work is seen; with no such run, to
// member's current one.
func (r *Recorder) Begin(member string, epoch int64) (end func()) {
	run := r.workRun(member, epoch)
	n := r.h.BeginWork(run, member, epoch, time.Now())
	r.notify()
	return func() {
		r.h.EndWork(run, n, time.Now())
		r.notify()
	}
}

// Revoked records that the test has just deleted member's key, or revoked
// its lease, by hand (Cluster.RevokeLeaseOf, say). That is the one case no
// safe deadline covers: the member and its successor learn of it from
// etcd at about the same moment, and only the epoch keeps their writes
// apart. Check forgives the overlap of masterships, and of master work,
// that it explains; Check logs the masterships' overlap, measured.
func (r *Recorder) Revoked(member string) {
	r.h.DeletedKey(r.run(member, false), time.Now())
	r.notify()
}

// Working reports whether member is doing master work: whether it has a
// span, in any of its runs, that Begin began and its end has not ended.
func (r *Recorder) Working(member string) bool {
	for _, run := range r.allRuns(member) {
		if r.h.Working(run) {
			return true
		}
	}
	return false
}

// Wait waits until cond holds, checking it at once and again after each
// report to r, or fails t once timeout has passed, saying what it waited
// for and showing the history. cond runs on the waiting goroutine.
func (r *Recorder) Wait(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	limit := time.NewTimer(timeout)
	defer limit.Stop()
	for {
		changed := r.reported()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-limit.C:
			t.Fatalf("mastershiptest: no %s within %v; history:\n%s", what, timeout, r)
		}
	}
}

// checkOptions are the options of every check: the recorder knows of no
// frozen process, so the TTL that judges freezes does not matter.
var checkOptions = history.Options{}

// Check fails t, with t.Errorf, for every rule the history breaks, each
// shown with the stretch of history around it:
//
//   - work: no two members did master work at the same instant, and the
//     epochs their spans ran under only grow, the same epoch only for the
//     same member;
//   - one-master: no two members were master, by their events, at the same
//     instant;
//   - epoch: masterships followed each other with growing epochs, and no
//     member saw the epoch go down while it stayed registered;
//   - replay: each run's events, replayed in order, rebuild exactly the
//     views they carry.
//
// It judges the history as it stands: a member still master, or still
// working, counts as such to the end. Overlaps that Revoked explains are
// logged, not failed.
func (r *Recorder) Check(t testing.TB) {
	t.Helper()
	if vs := history.Check(&r.h, checkOptions); len(vs) > 0 {
		t.Errorf("mastershiptest: the history breaks %d rule(s):\n%s", len(vs), history.Format(vs))
	}
	for _, o := range history.ExternalOverlaps(&r.h, checkOptions) {
		t.Logf("mastershiptest: overlap after a deletion by hand (no violation): %s", o)
	}
}

// Converged waits until every member's last event agrees with what etcd
// holds under prefix, read through cli: the same master, and the same
// members, each held by exactly one live run (whose last event is not
// OFFLINE and whose Follow channel is open). It fails t after timeout,
// showing what disagrees. Call it once faults have stopped, with a timeout
// long enough for every member to register again (a TTL or two after a
// cut, plus the members' backoff).
//
// etcd's members are read as selector.Members reads them, by the members'
// own rules. A group
// whose members are all followed (Follow, Event) converges; a group with
// election candidates, which report no events, never does.
func (r *Recorder) Converged(t testing.TB, cli *clientv3.Client, prefix string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	// etcd changes without a report (a key deleted, a lease expired), so
	// the wait reads it again at least every pollEvery.
	const pollEvery = 100 * time.Millisecond
	var last string
	for {
		changed := r.reported()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, err := selector.Members(ctx, cli, prefix)
		cancel()
		ids := v.IDs()
		if err == nil {
			vs := history.CheckConvergence(&r.h, ids, first(ids))
			if len(vs) == 0 {
				return
			}
			last = fmt.Sprintf("etcd holds %v:\n%s", ids, history.Format(vs))
		} else {
			last = fmt.Sprintf("reading %s: %v", prefix, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("mastershiptest: the group did not converge within %v: %s\nhistory:\n%s", timeout, last, r)
		}
		wake := time.NewTimer(min(left, pollEvery))
		select {
		case <-changed:
		case <-wake.C:
		}
		wake.Stop()
	}
}

func first(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// String formats the whole history as one timeline, one event or span
// boundary per line, for a failing test's log.
func (r *Recorder) String() string { return r.h.String() }
