//go:build unix

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// reaperArg, as the first argument, runs this binary as the reaper of a
// program's process group rather than as the command. It is not meant to be
// typed: the supervisor starts it.
const reaperArg = "internal-reaper"

// The reaper's inherited descriptors, after standard input, output and
// error: the lifeline, whose only write end the supervisor holds, and the
// status pipe, on which the reaper tells the supervisor the program's pid
// and, later, how it ended.
const (
	lifelineFD = 3
	statusFD   = 4
)

// reap is the reaper: the leader of the program's process group, started by
// the supervisor with Setpgid. args are "--", the program's path and its
// argv.
//
// Why a process of its own: the group must die with the supervisor,
// whatever kills the supervisor. Linux's parent-death signal would reach
// only the direct child (not what a shell script started) and, in Go,
// fires when the thread that started the child ends rather than the
// process (Go issue 27505); other systems have none. A pipe works
// everywhere: the kernel closes the supervisor's write end when it dies,
// however it dies, and the reaper, blocked reading the other end, then
// sends SIGKILL to its own group, itself included. It does the same when
// the program ends, after reporting its status, so that nothing the program
// left behind outlives it. The reaper sends these signals while it is alive
// and leads the group, so the group id cannot have been reused.
func reap(args []string) int {
	life := os.NewFile(lifelineFD, "lifeline")
	status := os.NewFile(statusFD, "status")
	if life == nil || status == nil || len(args) < 2 || args[0] != "--" || !isPipe(life) || !isPipe(status) {
		fmt.Fprintf(os.Stderr, "mastership: %s is started by mastership run, not by hand\n", reaperArg)
		return 2
	}
	// Neither pipe goes to the program: a grandchild that held the status
	// pipe's write end would keep the supervisor waiting for its end.
	syscall.CloseOnExec(lifelineFD)
	syscall.CloseOnExec(statusFD)
	// SIGTERM and SIGINT sent to the group are for the program; the
	// reaper stays to report its status. A caught signal is reset to its
	// default action in the program by exec, so the program is not
	// affected (an ignored one would be inherited).
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for range sigs {
		}
	}()
	go func() {
		// Returns at end-of-file, when the supervisor's end closes: the
		// supervisor is gone (or wants the group gone). Any error means
		// the same.
		io.Copy(io.Discard, life)
		syscall.Kill(0, syscall.SIGKILL)
	}()
	cmd := &exec.Cmd{Path: args[1], Args: args[2:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(status, "error %s\n", oneLine(err.Error()))
		syscall.Kill(0, syscall.SIGKILL)
		return 127
	}
	fmt.Fprintf(status, "pid %d\n", cmd.Process.Pid)
	cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		fmt.Fprintf(status, "signal %d\n", int(ws.Signal()))
	} else {
		fmt.Fprintf(status, "exit %d\n", ws.ExitStatus())
	}
	syscall.Kill(0, syscall.SIGKILL)
	return 0 // not reached: the reaper is in its group
}

func isPipe(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// programStatus is how a program ended, as its reaper reported it.
type programStatus struct {
	code   int            // exit code, if it exited
	signal syscall.Signal // the signal that ended it, or 0
	err    string         // why it could not be started, or ""
	lost   bool           // the reaper ended without a report (killed)
}

// exitCode is the status as a shell gives it: the exit code, 128+n for a
// signal n, 127 for a program that could not be started.
func (s programStatus) exitCode() int {
	switch {
	case s.err != "":
		return 127
	case s.signal != 0:
		return 128 + int(s.signal)
	case s.lost:
		return 128 + int(syscall.SIGKILL)
	}
	return s.code
}

func (s programStatus) String() string {
	switch {
	case s.err != "":
		return "not started: " + s.err
	case s.signal != 0:
		return "killed by " + s.signal.String()
	case s.lost:
		return "killed with its reaper"
	}
	return "exit " + strconv.Itoa(s.code)
}

// group is a program running in its own process group under its reaper.
type group struct {
	cmd  *exec.Cmd // the reaper
	pgid int       // the reaper's pid
	pid  int       // the program's pid, 0 if it was not started
	life *os.File  // the lifeline's write end; closed once the reaper is reaped

	done     chan struct{} // closed once the reaper is reaped
	status   programStatus // valid once done is closed
	reported bool          // the reaper reported an end (or a failed start)

	mu     sync.Mutex
	reaped bool
}

// selfPath is the binary to run as the reaper: this one. On Linux,
// /proc/self/exe is this very file even if its path has been removed or
// given a new version since (ps shows the reaper's command line as
// "mastership internal-reaper -- PROGRAM ...", top its name as exe).
func selfPath() (string, error) {
	if runtime.GOOS == "linux" {
		if _, err := os.Stat("/proc/self/exe"); err == nil {
			return "/proc/self/exe", nil
		}
	}
	return os.Executable()
}

// startGroup starts the program at path, with argv and env, in a process
// group of its own under a reaper. It returns once the reaper has reported
// the program started (or not: then the group is already ending and its
// status says why).
func startGroup(path string, argv, env []string, stdin io.Reader, stdout, stderr io.Writer) (*group, error) {
	self, err := selfPath()
	if err != nil {
		return nil, fmt.Errorf("find this binary to start the reaper: %w", err)
	}
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	statR, statW, err := os.Pipe()
	if err != nil {
		lifeR.Close()
		lifeW.Close()
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:       self,
		Args:       append([]string{"mastership", reaperArg, "--", path}, argv...),
		Env:        env,
		Stdin:      stdin,
		Stdout:     stdout,
		Stderr:     stderr,
		ExtraFiles: []*os.File{lifeR, statW}, // descriptors 3 and 4
		// The reaper leads a new process group, which the program and
		// everything it starts join.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	// The child has its copies; the supervisor keeps only the lifeline's
	// write end (os.Pipe makes both ends close-on-exec, so no other child
	// inherits it) and the status pipe's read end.
	lifeR.Close()
	statW.Close()
	if err != nil {
		lifeW.Close()
		statR.Close()
		return nil, fmt.Errorf("start the reaper: %w", err)
	}
	g := &group{cmd: cmd, pgid: cmd.Process.Pid, life: lifeW, done: make(chan struct{})}
	sc := bufio.NewScanner(statR)
	if sc.Scan() {
		if pid, ok := strings.CutPrefix(sc.Text(), "pid "); ok {
			g.pid, _ = strconv.Atoi(pid)
		} else {
			g.parse(sc.Text())
		}
	}
	go func() {
		for sc.Scan() {
			g.parse(sc.Text())
		}
		statR.Close()
		cmd.Wait()
		g.status.lost = !g.reported
		g.mu.Lock()
		if g.status.lost {
			// The reaper was killed (by someone else: the supervisor's
			// own SIGKILL reaches the program too) and the program may
			// live on, orphaned: kill what is left of the group. The group
			// id stays taken while any member lives, so it names no other
			// group unless the group is empty (then the kill finds
			// nothing) and its id was reused in the microseconds since
			// the reaper was reaped.
			syscall.Kill(-g.pgid, syscall.SIGKILL)
		}
		g.reaped = true
		g.mu.Unlock()
		lifeW.Close()
		close(g.done)
	}()
	return g, nil
}

// parse reads one line of the reaper's report.
func (g *group) parse(line string) {
	kind, arg, _ := strings.Cut(line, " ")
	n, _ := strconv.Atoi(arg)
	switch kind {
	case "exit":
		g.status.code, g.reported = n, true
	case "signal":
		g.status.signal, g.reported = syscall.Signal(n), true
	case "error":
		g.status.err, g.reported = arg, true
	}
}

// signal sends sig to the whole group, unless it is gone.
func (g *group) signal(sig syscall.Signal) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.reaped {
		if err := syscall.Kill(-g.pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(os.Stderr, "mastership: signal program group %d: %v\n", g.pgid, err)
		}
	}
}
