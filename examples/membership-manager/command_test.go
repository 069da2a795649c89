package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// commandEnv is a command target in a temporary directory: the fake target's
// files, and the flags that point a manager at it.
type commandEnv struct {
	dir, state, calls, fail string
	env                     []string
	command                 string
}

func newCommandEnv(t *testing.T, nodes ...string) *commandEnv {
	t.Helper()
	dir := t.TempDir()
	e := &commandEnv{
		dir:   dir,
		state: filepath.Join(dir, "state"),
		calls: filepath.Join(dir, "calls"),
		fail:  filepath.Join(dir, "fail"),
	}
	cmd, err := filepath.Abs(filepath.Join("testdata", "fake-target.sh"))
	if err != nil {
		t.Fatal(err)
	}
	e.command = cmd
	if err := writeState(e.state, nodes); err != nil {
		t.Fatal(err)
	}
	e.env = []string{envState + "=" + e.state, envCalls + "=" + e.calls, envFail + "=" + e.fail}
	return e
}

// addByHand adds a node to the fake target behind its lock, as one of its
// calls would, so that a call of a manager killed mid-way cannot undo it.
func (e *commandEnv) addByHand(t *testing.T, node string) {
	t.Helper()
	lock, err := os.OpenFile(e.state+".lock", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close() // and with it the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := writeState(e.state, append(readState(e.state), node)); err != nil {
		t.Fatal(err)
	}
}

func (e *commandEnv) has(node string) bool { return slices.Contains(readState(e.state), node) }

// lastCall returns the last call that did what, or fails t.
func (e *commandEnv) lastCall(t *testing.T, what string) call {
	t.Helper()
	calls := readCalls(t, e.calls)
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].what == what {
			return calls[i]
		}
	}
	t.Fatalf("no call %q in %v", what, calls)
	return call{}
}

const (
	graceLeft    = time.Second
	graceExpired = 3 * time.Second
	// within bounds each wait of the tests: far above what any step needs
	// on an idle machine (a TTL, a grace period and a few intervals), so
	// that only a real failure, not load, trips it.
	within = 30 * time.Second
)

func managerArgs(endpoint, prefix, id string, extra ...string) []string {
	return append([]string{"manager", "--endpoints", endpoint, "--prefix", prefix, "--id", id,
		"--ttl", "2s", "--interval", "300ms",
		"--grace-left", graceLeft.String(), "--grace-expired", graceExpired.String(),
		"--log-level", "DEBUG"}, extra...)
}

func workerArgs(endpoint, prefix string, port string) []string {
	return []string{"worker", "--endpoints", endpoint, "--prefix", prefix,
		"--host", "127.0.0.1", "--port", port, "--ttl", "2s", "--log-level", "DEBUG"}
}

// TestCommandTarget runs two managers and some workers as processes against
// the command target, and checks that only the master acts; that a stale node
// found on taking over is removed after the expiry grace; that a worker that
// joins is added; that one that leaves is removed after the leave grace and
// one that is killed after the (longer) expiry grace, never sooner; and that
// when the master manager is killed the other takes over and reconciles,
// removing a node that has no worker although no event ever named it.
func TestCommandTarget(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	cli := c.Client(t).Client
	ep := c.Endpoints()[0]
	const prefix = "/mm"
	e := newCommandEnv(t, "10.0.0.99 5432")
	margs := func(id string) []string {
		return managerArgs(ep, prefix, id, "--target", "command", "--command", e.command)
	}

	t0 := time.Now()
	m1 := start(t, "m1", e.env, margs("m1")...)
	eventually(t, within, "m1 is master", func() bool { return master(t, cli, prefix) == "m1" })
	m2 := start(t, "m2", e.env, margs("m2")...)
	eventually(t, within, "m2 joins the managers", func() bool { return strings.Contains(m2.Stderr.String(), "INIT_SLAVE") })

	// A node in the target without a worker: removed on the reconciliation
	// of m1's mastership, after the expiry grace, counted from no earlier
	// than m1's start.
	eventually(t, within, "the stale node is removed", func() bool { return !e.has("10.0.0.99 5432") })
	if rm := e.lastCall(t, "remove 10.0.0.99 5432"); rm.at.Sub(t0) < graceExpired {
		t.Errorf("stale node removed %v after the first manager started, before the expiry grace %v", rm.at.Sub(t0), graceExpired)
	}
	// The log line follows the call.
	eventually(t, within, "m1 logs the stale node's removal as an expiry", func() bool { return logged(m1, "10.0.0.99:5432", expired) })

	// Joins.
	w1 := start(t, "w1", nil, workerArgs(ep, prefix, "7001")...)
	w2 := start(t, "w2", nil, workerArgs(ep, prefix, "7002")...)
	eventually(t, within, "the workers are added", func() bool { return e.has("127.0.0.1 7001") && e.has("127.0.0.1 7002") })

	// A graceful leave.
	tLeave := time.Now()
	w2.stop(t, syscall.SIGTERM, within)
	eventually(t, within, "the worker that left is removed", func() bool { return !e.has("127.0.0.1 7002") })
	if rm := e.lastCall(t, "remove 127.0.0.1 7002"); rm.at.Sub(tLeave) < graceLeft {
		t.Errorf("worker that left removed %v after it left, before the leave grace %v", rm.at.Sub(tLeave), graceLeft)
	}
	// The log line follows the call.
	eventually(t, within, "m1 logs the removal of the worker that left as a leave", func() bool { return logged(m1, "127.0.0.1:7002", left) })
	eventually(t, within, "the leaving marker is deleted once the node is out", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, leavingPrefix(prefix), withPrefix()...)
		return err == nil && resp.Count == 0
	})

	// A crash: the lease expires.
	tKill := time.Now()
	w1.stop(t, syscall.SIGKILL, within)
	eventually(t, within, "the killed worker is removed", func() bool { return !e.has("127.0.0.1 7001") })
	if rm := e.lastCall(t, "remove 127.0.0.1 7001"); rm.at.Sub(tKill) < graceExpired {
		t.Errorf("killed worker removed %v after the kill, before the expiry grace %v", rm.at.Sub(tKill), graceExpired)
	}
	// The log line follows the call.
	eventually(t, within, "m1 logs the killed worker's removal as an expiry", func() bool { return logged(m1, "127.0.0.1:7001", expired) })

	// Until now m1 was master throughout: every call is m1's.
	for _, c := range readCalls(t, e.calls) {
		if c.who != "m1" {
			t.Fatalf("call %q by %s while m1 was master", c.what, c.who)
		}
	}

	// Failover: kill the master; meanwhile a worker joins and a node
	// appears in the target behind the managers' backs.
	tKillM := time.Now()
	m1.stop(t, syscall.SIGKILL, within)
	e.addByHand(t, "10.0.0.98 5432")
	start(t, "w3", nil, workerArgs(ep, prefix, "7003")...)
	eventually(t, within, "m2 takes over and adds the new worker", func() bool { return e.has("127.0.0.1 7003") })
	eventually(t, within, "m2 removes the node that has no worker", func() bool { return !e.has("10.0.0.98 5432") })
	if rm := e.lastCall(t, "remove 10.0.0.98 5432"); rm.who != "m2" || rm.at.Sub(tKillM) < graceExpired {
		t.Errorf("stale node removed by %s %v after the master was killed, want by m2 after the expiry grace %v", rm.who, rm.at.Sub(tKillM), graceExpired)
	}
	// Calls never interleave: m1's, then m2's.
	calls := readCalls(t, e.calls)
	first := slices.IndexFunc(calls, func(c call) bool { return c.who == "m2" })
	if first < 0 {
		t.Fatal("no call by m2")
	}
	for _, c := range calls[first:] {
		if c.who != "m2" {
			t.Fatalf("call %q by %s after m2 took over", c.what, c.who)
		}
	}
	if calls[first].at.Before(tKillM) {
		t.Errorf("m2's first call at %v, before m1 was killed at %v", calls[first].at, tKillM)
	}
}

// logged reports whether manager p logged the removal of node for reason r.
func logged(p *proc, node string, r reason) bool {
	return regexp.MustCompile(`msg=removed .*node=` + regexp.QuoteMeta(node) + ` reason=` + string(r) + ` `).MatchString(p.Stderr.String())
}

// TestTargetErrorsRetried makes every call to the target fail for a while:
// the manager logs, retries with a backoff, keeps running, and adds the
// worker once the target works again.
func TestTargetErrorsRetried(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	ep := c.Endpoints()[0]
	const prefix = "/mm-retry"
	e := newCommandEnv(t)
	if err := os.WriteFile(e.fail, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	m := start(t, "m1", e.env, managerArgs(ep, prefix, "m1", "--target", "command", "--command", e.command)...)
	start(t, "w1", nil, workerArgs(ep, prefix, "7001")...)
	eventually(t, within, "three failed calls", func() bool {
		n := 0
		for _, c := range readCalls(t, e.calls) {
			if strings.HasPrefix(c.what, "fail") {
				n++
			}
		}
		return n >= 3
	})
	if !m.Running() {
		t.Fatalf("the manager ended on a target error: %v", m.Err())
	}
	if !strings.Contains(m.Stderr.String(), "reconcile failed; retrying") || !strings.Contains(m.Stderr.String(), "injected failure") {
		t.Errorf("the manager did not log the target's error and its retry")
	}
	if err := os.Remove(e.fail); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "the worker is added once the target works", func() bool { return e.has("127.0.0.1 7001") })
	if !m.Running() {
		t.Fatalf("the manager ended: %v", m.Err())
	}
}

// TestCommandTargetHoldsData: a command whose remove exits 75 says the node
// still holds data. The manager keeps the node, warns once, does not count
// it as a failure, tries again each interval, and removes the node once the
// command lets it.
func TestCommandTargetHoldsData(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	ep := c.Endpoints()[0]
	const prefix = "/mm-holds"
	e := newCommandEnv(t, "10.0.0.97 5432")
	holds := e.state + ".holds"
	if err := os.WriteFile(holds, []byte("10.0.0.97 5432\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := start(t, "m1", e.env, managerArgs(ep, prefix, "m1", "--target", "command", "--command", e.command)...)
	eventually(t, within, "the manager tries again to remove the node that holds data", func() bool {
		return len(lines(m, `msg="still holds data; not removed" .*node=10\.0\.0\.97:5432`)) >= 2
	})
	if !e.has("10.0.0.97 5432") {
		t.Fatal("the node that holds data is gone")
	}
	if n := len(lines(m, `level=WARN msg="holds data: kept .* node=10\.0\.0\.97:5432`)); n != 1 {
		t.Errorf("%d warnings that the node holds data, want 1", n)
	}
	if strings.Contains(m.Stderr.String(), "reconcile failed") {
		t.Errorf("a node that holds data made a reconciliation fail")
	}
	if err := os.Remove(holds); err != nil {
		t.Fatal(err)
	}
	eventually(t, within, "the node is removed once it holds no data", func() bool { return !e.has("10.0.0.97 5432") })
	// The target's state changes before the manager logs the removal, so
	// the line is waited for, not looked for at once.
	removed := `msg="removed once its data was moved away" .*node=10\.0\.0\.97:5432`
	eventually(t, within, "the removal is logged as one after the data moved", func() bool { return len(lines(m, removed)) >= 1 })
	if n := len(lines(m, removed)); n != 1 {
		t.Errorf("the removal is logged %d times, want once", n)
	}
}
