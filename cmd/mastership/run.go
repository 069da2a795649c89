//go:build unix

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/etcdflags"
	"github.com/seed764c596d/mastership/events"
	"github.com/seed764c596d/mastership/selector"
)

const runUsage = `usage: mastership run --prefix PREFIX --id ID [--value VALUE] [--ttl 5s] [--grace 1s] [--on-exit restart|yield|exit]
                      [--endpoints HOST:PORT,...] [--cacert FILE] [--cert FILE --key FILE] [--user NAME [--password-file FILE]]
                      [--dial-timeout 10s] [--log-format text|json] [--log-level INFO] -- PROGRAM [ARGS...]

Runs PROGRAM while this member is master of the group PREFIX in etcd, and
stops it (SIGTERM, then SIGKILL, to its whole process group) before any other
member can become master: at the latest at the safe deadline of its lease.

etcdctl's variables stand for the etcd flags not given: $ETCDCTL_ENDPOINTS,
$ETCDCTL_CACERT, $ETCDCTL_CERT, $ETCDCTL_KEY, $ETCDCTL_USER (NAME or
NAME:PASSWORD) and $ETCDCTL_PASSWORD.`

// The restart delays of --on-exit restart: doubling from minRestart to
// maxRestart, back to minRestart once the program has run for resetAfter.
const (
	minRestart = 250 * time.Millisecond
	maxRestart = 30 * time.Second
	resetAfter = 30 * time.Second
)

// The policies of --on-exit.
const (
	onExitRestart = "restart"
	onExitYield   = "yield"
	onExitExit    = "exit"
)

type runConfig struct {
	etcd        clientv3.Config
	warning     string
	prefix, id  string
	value       string
	ttl         time.Duration
	margin      time.Duration // the selector's safety margin, given explicitly
	grace       time.Duration
	onExit      string
	dialTimeout time.Duration
	logJSON     bool
	logLevel    slog.Level
	path        string   // the program, as found in PATH
	argv        []string // its arguments, argv[0] as typed
}

// safetyMargin is the margin the supervisor gives its selector: the
// selector's default (a tenth of the TTL, at least 250ms), given
// explicitly so that --grace is checked against the very window the
// selector uses.
func safetyMargin(ttl time.Duration) time.Duration {
	return max(ttl/10, 250*time.Millisecond)
}

func parseRun(args []string) (runConfig, *flag.FlagSet, error) {
	var c runConfig
	fs := flag.NewFlagSet("mastership run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	etcd := etcdflags.Register(fs, "127.0.0.1:2379")
	m := etcdflags.RegisterMember(fs, "this member's id, unique in its group (a host name, say)", slog.LevelInfo)
	fs.StringVar(&c.value, "value", "", "this member's value, which other members read, and the program reads as MASTERSHIP_VALUE")
	fs.DurationVar(&c.grace, "grace", time.Second, "how long the program has to stop after SIGTERM before SIGKILL; the SIGTERM comes when the safe deadline is less than this away with no keep-alive acknowledged, so it must be less than the TTL minus the safety margin (a tenth of the TTL, at least 250ms)")
	fs.StringVar(&c.onExit, "on-exit", onExitRestart, "what to do when the program exits by itself while master: restart (after a delay from 250ms to 30s), yield (hand the mastership over, and wait to be master again) or exit (leave the group, and exit with the program's status)")
	fs.DurationVar(&c.dialTimeout, "dial-timeout", 10*time.Second, "how long to wait for etcd at start-up, on top of twice the TTL (the longest wait for a crashed holder of the same id)")
	logFormat := fs.String("log-format", "text", "the format of the supervisor's logs on standard error: text or json")
	if err := etcdflags.Parse(fs, args); err != nil {
		return c, fs, err
	}
	// etcdctl's variables, which operators have set already; a flag wins.
	etcd.UseEtcdctlEnv(fs)
	if err := m.Check(); err != nil {
		return c, fs, err
	}
	c.prefix, c.id, c.ttl, c.logLevel = m.Prefix, m.ID, m.TTL, m.LogLevel
	c.margin = safetyMargin(c.ttl)
	if window := c.ttl - c.margin; c.grace <= 0 || c.grace >= window {
		return c, fs, fmt.Errorf("--grace: %v is not between 0 and the safe window of %v (the TTL %v minus the safety margin %v)", c.grace, window, c.ttl, c.margin)
	}
	switch c.onExit {
	case onExitRestart, onExitYield, onExitExit:
	default:
		return c, fs, fmt.Errorf("--on-exit: %q is not restart, yield or exit", c.onExit)
	}
	switch *logFormat {
	case "text":
	case "json":
		c.logJSON = true
	default:
		return c, fs, fmt.Errorf("--log-format: %q is not text or json", *logFormat)
	}
	if c.dialTimeout <= 0 {
		return c, fs, fmt.Errorf("--dial-timeout: %v is not positive", c.dialTimeout)
	}
	if fs.NArg() == 0 {
		return c, fs, errors.New("no program to run (mastership run [flags] -- PROGRAM [ARGS...])")
	}
	c.argv = fs.Args()
	path, err := exec.LookPath(c.argv[0])
	if err != nil {
		return c, fs, fmt.Errorf("program: %v", err)
	}
	c.path = path
	if c.etcd, err = etcd.Config(); err != nil {
		return c, fs, err
	}
	c.warning = etcd.Warning()
	return c, fs, nil
}

func runCommand(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c, fs, err := parseRun(args)
	if errors.Is(err, flag.ErrHelp) {
		etcdflags.PrintUsage(stdout, fs, runUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mastership run: %v\n", err)
		return 2
	}
	if c.warning != "" {
		fmt.Fprintf(stderr, "mastership run: warning: %s\n", c.warning)
	}
	log := newLogger(stderr, c.logJSON, c.logLevel)
	// The selector's own INFO lines (a retried registration, say) are its
	// inner workings: they show from --log-level DEBUG, its warnings always.
	selLevel := max(c.logLevel, slog.LevelWarn)
	if c.logLevel <= slog.LevelDebug {
		selLevel = c.logLevel
	}
	selLog := newLogger(stderr, c.logJSON, selLevel)
	if window := c.ttl - c.margin; c.grace > window/2 {
		log.Warn("--grace is over half the safe window: one late keep-alive will stop the program", "grace", c.grace, "window", window)
	}
	cli, err := clientv3.New(c.etcd)
	if err != nil {
		fmt.Fprintf(stderr, "mastership run: etcd client for %s: %v\n", strings.Join(c.etcd.Endpoints, ","), err)
		return 1
	}
	defer cli.Close()

	var s *selector.Selector
	err = etcdflags.Join(ctx, c.etcd.Endpoints, c.dialTimeout+2*c.ttl, func(ctx context.Context) (err error) {
		s, err = selector.New(ctx, cli, c.prefix, c.id,
			selector.WithTTL(c.ttl), selector.WithSafetyMargin(c.margin),
			selector.WithValue(c.value), selector.WithLogger(selLog.With("component", "selector")))
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "mastership run: %v\n", err)
		if ctx.Err() != nil {
			return 0 // a stop before joining: an operator's, as later
		}
		return 1
	}
	log.Info("joined the group", "prefix", c.prefix, "id", c.id, "ttl", s.Status().TTL, "margin", c.margin, "grace", c.grace)
	sv := &supervisor{c: c, s: s, log: log, stdin: stdin, stdout: stdout, stderr: stderr}
	return sv.main(ctx)
}

func newLogger(w io.Writer, json bool, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if json {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type supervisor struct {
	c              runConfig
	s              *selector.Selector
	log            *slog.Logger
	stdin          io.Reader
	stdout, stderr io.Writer
}

// main waits to be master, runs the program while it is, and returns the
// exit code. It closes the member.
func (sv *supervisor) main(ctx context.Context) int {
	// The events are read at once, so that they never pile up in memory
	// while the program runs for days; the loop below needs only to know
	// that something changed, and asks the selector for its role.
	changed := make(chan struct{}, 1)
	ended := make(chan struct{})
	var closing atomic.Bool // the last OFFLINE is Close's, not a loss
	go func() {
		for ev := range sv.s.Events() {
			sv.log.Debug("event", "type", ev.Type, "master", ev.View.Master().ID, "epoch", ev.View.Epoch())
			if ev.Type == events.Offline && !closing.Load() {
				sv.log.Info("offline: registration lost, registering again")
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		close(ended)
	}()
	closeMember := func() {
		closing.Store(true)
		if err := sv.s.Close(); err != nil {
			sv.log.Warn("close the member", "err", err)
		}
		<-ended
	}
	for {
		if sv.s.IsMaster() {
			code, exit := sv.master(ctx)
			if exit {
				closeMember()
				return code
			}
		}
		select {
		case <-ctx.Done():
			sv.log.Info("signal received; leaving the group")
			closeMember()
			return 0
		case <-changed:
		case <-ended:
			closeMember()
			if err := sv.s.Err(); err != nil {
				fmt.Fprintf(sv.stderr, "mastership run: etcd refused this member, which has ended: %v\n", err)
			} else {
				fmt.Fprintln(sv.stderr, "mastership run: the member ended")
			}
			return 1
		}
	}
}

// Why the program ended.
type ending int

const (
	exitedByItself ending = iota
	stoppedBySignal
	stoppedMastershipEnded
	stoppedNearDeadline
)

func (e ending) String() string {
	switch e {
	case exitedByItself:
		return "exited"
	case stoppedBySignal:
		return "supervisor signalled"
	case stoppedMastershipEnded:
		return "mastership ended"
	}
	return "safe deadline within grace, no keep-alive acknowledged"
}

// master runs the program for as long as this member is master. It returns
// exit true, with the code to exit with, when the supervisor must end.
func (sv *supervisor) master(ctx context.Context) (code int, exit bool) {
	restarts := 0
	for {
		mctx := sv.s.MasterContext()
		epoch := sv.s.Epoch()
		if mctx.Err() != nil {
			return 0, false
		}
		if master, exit := sv.waitSafe(ctx, mctx); !master || exit {
			return 0, exit
		}
		started := time.Now()
		why, st := sv.runOnce(ctx, mctx, epoch)
		switch why {
		case stoppedBySignal:
			return 0, true
		case stoppedMastershipEnded:
			return 0, false
		case stoppedNearDeadline:
			// Still master if the keep-alives come back: start again, as
			// soon as one has moved the deadline (waitSafe).
			continue
		}
		switch sv.c.onExit {
		case onExitExit:
			sv.log.Info("leaving the group (--on-exit exit)", "status", st.exitCode())
			return st.exitCode(), true
		case onExitYield:
			err := sv.s.Yield(ctx)
			if err == nil {
				sv.log.Info("yielded the mastership (--on-exit yield)", "epoch", epoch)
				return 0, false
			}
			if !errors.Is(err, selector.ErrNoSuccessor) {
				sv.log.Warn("yield", "err", err)
				return 0, false
			}
			sv.log.Info("no other member to yield to: restarting the program", "epoch", epoch)
		}
		if time.Since(started) >= resetAfter {
			restarts = 0
		}
		d := min(minRestart<<min(restarts, 10), maxRestart)
		restarts++
		sv.log.Info("restarting the program", "in", d, "epoch", epoch)
		// Read again: a yield that found no successor ended the
		// mastership's context and left a new one, under the same epoch.
		mctx = sv.s.MasterContext()
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return 0, true
		case <-mctx.Done():
			t.Stop()
			return 0, false
		}
	}
}

// waitSafe waits until the safe deadline is more than the grace away, so
// that a program started now is not stopped at once. It returns master
// false if the mastership ends first, and exit true on a signal.
//
// It polls, every 20ms: it waits only in the rare moments when the
// deadline is that close while the member is still master (a program
// stopped near the deadline, waiting for a keep-alive to come back, or
// a mastership taken back with its deadline near), and the selector has no
// notification of a new deadline.
func (sv *supervisor) waitSafe(ctx, mctx context.Context) (master, exit bool) {
	logged := false
	for {
		st := sv.s.Status()
		if st.Role != selector.Master {
			return false, false
		}
		if time.Until(st.SafeDeadline) > sv.c.grace {
			if logged {
				sv.log.Info("keep-alives are back: starting the program again", "epoch", st.Epoch)
			}
			return true, false
		}
		if !logged {
			sv.log.Info("safe deadline within grace: waiting for a keep-alive to start the program", "epoch", st.Epoch, "until_deadline", st.UntilDeadline)
			logged = true
		}
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-t.C:
		case <-mctx.Done():
			t.Stop()
			return false, false
		case <-ctx.Done():
			t.Stop()
			return false, true
		}
	}
}

// env is the program's environment: the supervisor's, without the etcd
// password ($ETCD_PASSWORD, $ETCDCTL_PASSWORD, and $ETCDCTL_USER, which
// may hold one), with the MASTERSHIP_ variables.
func (sv *supervisor) env(epoch int64) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case etcdflags.PasswordEnv, etcdflags.EtcdctlPasswordEnv, "ETCDCTL_USER", "MASTERSHIP_PREFIX", "MASTERSHIP_ID", "MASTERSHIP_EPOCH", "MASTERSHIP_VALUE":
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"MASTERSHIP_PREFIX="+sv.c.prefix,
		"MASTERSHIP_ID="+sv.c.id,
		"MASTERSHIP_EPOCH="+strconv.FormatInt(epoch, 10),
		"MASTERSHIP_VALUE="+sv.c.value)
}

// runOnce starts the program, and returns when it has ended, by itself or
// stopped by the stop rule, and why.
func (sv *supervisor) runOnce(ctx, mctx context.Context, epoch int64) (ending, programStatus) {
	g, err := startGroup(sv.c.path, sv.c.argv, sv.env(epoch), sv.stdin, sv.stdout, sv.stderr)
	if err != nil {
		sv.log.Error("start the program", "err", err, "epoch", epoch)
		return exitedByItself, programStatus{err: err.Error()}
	}
	sv.log.Info("program started", "epoch", epoch, "pid", g.pid, "pgid", g.pgid)
	// The near-deadline rule: SIGTERM once the safe deadline is less than
	// the grace away with no keep-alive acknowledged since. A timer set to
	// deadline - grace does it exactly, without polling: when it fires,
	// the deadline is read again, and if a keep-alive has moved it, the
	// timer is set again for the new one. The selector offers no
	// notification of a new deadline, and needs none here: a deadline
	// that moved before the timer fired can only have moved later, so
	// reading it when the timer fires is as good as hearing of each
	// keep-alive, and costs one wake-up per grace-close call instead of
	// one per poll. Polling Status at an interval would add the interval's
	// lateness to the SIGTERM, and wake-ups for nothing.
	deadline := sv.s.Status().SafeDeadline
	timer := time.NewTimer(time.Until(deadline.Add(-sv.c.grace)))
	defer timer.Stop()
	for {
		select {
		case <-g.done:
			sv.log.Info("program exited", "epoch", epoch, "status", g.status.String())
			return exitedByItself, g.status
		case <-ctx.Done():
			return sv.stop(g, epoch, stoppedBySignal, deadline)
		case <-mctx.Done():
			return sv.stop(g, epoch, stoppedMastershipEnded, deadline)
		case <-timer.C:
			st := sv.s.Status()
			if st.Role == selector.Master && st.SafeDeadline.After(deadline) {
				deadline = st.SafeDeadline
				timer.Reset(time.Until(deadline.Add(-sv.c.grace)))
				continue
			}
			return sv.stop(g, epoch, stoppedNearDeadline, deadline)
		}
	}
}

// stop sends SIGTERM to the program's group, then SIGKILL at the safe
// deadline or after the grace, whichever comes first, and waits until the
// group is gone. deadline is the last safe deadline the supervisor knew.
func (sv *supervisor) stop(g *group, epoch int64, why ending, deadline time.Time) (ending, programStatus) {
	if st := sv.s.Status(); st.Role == selector.Master && st.SafeDeadline.After(deadline) {
		deadline = st.SafeDeadline
	}
	g.signal(syscall.SIGTERM)
	termAt := time.Now()
	kill := termAt.Add(sv.c.grace)
	if !deadline.IsZero() && deadline.Before(kill) {
		kill = deadline
	}
	t := time.NewTimer(time.Until(kill))
	defer t.Stop()
	killed := false
	select {
	case <-g.done:
	case <-t.C:
		g.signal(syscall.SIGKILL)
		killed = true
		<-g.done
	}
	gone := time.Now()
	sv.log.Info("program stopped", "epoch", epoch, "why", why.String(), "status", g.status.String(),
		"sigkill", killed, "took", gone.Sub(termAt), "before_deadline", deadline.Sub(gone))
	return why, g.status
}
