//go:build unix

package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/seed764c596d/mastership/internal/syncbuf"
)

// With this variable set, the test binary is the program that the
// supervisors run (see fakeProgram), not the tests.
const asProgram = "MASTERSHIP_TEST_PROGRAM"

// bin is the mastership binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	if os.Getenv(asProgram) == "1" {
		os.Exit(fakeProgram(os.Args[1:]))
	}
	dir, err := os.MkdirTemp("", "mastership-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "mastership")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fakeProgram is the program of the tests: args are a file and a
// behaviour. It appends "start ID EPOCH NS" to the file when it starts,
// NS being the wall clock in nanoseconds, then, by behaviour:
//
//	beat      "beat ID EPOCH NS" every 5ms; on SIGTERM, "stop ID EPOCH NS" and exit 0
//	stubborn  as beat, but SIGTERM only writes "term ID EPOCH NS": SIGKILL ends it
//	exit=N    exit N at once
func fakeProgram(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "fake program: want FILE BEHAVIOUR")
		return 100
	}
	f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 100
	}
	id, epoch := os.Getenv("MASTERSHIP_ID"), os.Getenv("MASTERSHIP_EPOCH")
	write := func(what string) {
		// One write per line, on a file opened for appending: lines of
		// several processes never mix.
		fmt.Fprintf(f, "%s %s %s %d\n", what, id, epoch, time.Now().UnixNano())
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	write("start")
	behaviour := args[1]
	if code, ok := strings.CutPrefix(behaviour, "exit="); ok {
		n, _ := strconv.Atoi(code)
		return n
	}
	tick := time.NewTicker(5 * time.Millisecond)
	for {
		select {
		case <-tick.C:
			write("beat")
		case <-term:
			if behaviour == "stubborn" {
				write("term")
				continue
			}
			write("stop")
			return 0
		}
	}
}

// record is one line of the fake programs' file.
type record struct {
	what, id string
	epoch    int64
	at       time.Time
}

func readRecords(t testing.TB, file string) []record {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var rs []record
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			continue
		}
		epoch, _ := strconv.ParseInt(f[2], 10, 64)
		ns, _ := strconv.ParseInt(f[3], 10, 64)
		rs = append(rs, record{f[0], f[1], epoch, time.Unix(0, ns)})
	}
	return rs
}

// waitRecord polls file until a record matching what and id appears, and
// returns the first such; it fails t after d.
func waitRecord(t testing.TB, file, what, id string, d time.Duration) record {
	t.Helper()
	var got record
	waitFor(t, d, fmt.Sprintf("%q record of %s", what, id), func() bool {
		for _, r := range readRecords(t, file) {
			if r.what == what && r.id == id {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

func countRecords(rs []record, what, id string) int {
	n := 0
	for _, r := range rs {
		if r.what == what && r.id == id {
			n++
		}
	}
	return n
}

// waitFor checks cond every 5ms until it holds, or fails t after d. It is
// for what sends no event: a file, a log line, a process group.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// proc is a mastership run process of a test.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncbuf.Buffer
	done   chan struct{}
	err    error // set before done closes
}

// startSupervisor runs the binary as `mastership run --log-format json
// args...`, killed when t ends.
func startSupervisor(t testing.TB, name string, args ...string) *proc {
	t.Helper()
	sv := &proc{name: name, stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	sv.cmd = exec.Command(bin, append([]string{"run", "--log-format", "json"}, args...)...)
	// A race-built fake program would sleep a second at exit (the race
	// detector's atexit_sleep_ms), which the takeover times would count.
	sv.cmd.Env = append(os.Environ(), asProgram+"=1", "GORACE=atexit_sleep_ms=0")
	sv.cmd.Stdout = sv.stderr
	sv.cmd.Stderr = sv.stderr
	if err := sv.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sv.err = sv.cmd.Wait()
		close(sv.done)
	}()
	t.Cleanup(func() {
		sv.cmd.Process.Kill()
		<-sv.done
		if t.Failed() {
			t.Logf("standard error of %s:\n%s", name, sv.stderr.String())
		}
	})
	return sv
}

// logs returns the supervisor's JSON log lines with the given message.
func (sv *proc) logs(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(sv.stderr.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// waitLog waits for a log line with msg and returns the first.
func (sv *proc) waitLog(t testing.TB, msg string, d time.Duration) map[string]any {
	t.Helper()
	var got map[string]any
	waitFor(t, d, fmt.Sprintf("%q in the log of %s", msg, sv.name), func() bool {
		if l := sv.logs(msg); len(l) > 0 {
			got = l[0]
			return true
		}
		return false
	})
	return got
}

// exitCode waits up to d for the supervisor to exit and returns its code.
func (sv *proc) exitCode(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case <-sv.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", sv.name, d)
	}
	if sv.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(sv.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", sv.name, sv.err)
	return -1
}
