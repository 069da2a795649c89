//go:build unix && transcript

// The transcript is built only on request (-tags transcript): it is a
// generator of documentation that takes about 18s, not a check every run
// needs; run_test.go checks the same order on every run.

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/internal/etcdtest"
)

// transcriptEnv names the file TestFailoverTranscript writes; without it
// the test is skipped (it takes about 15s, with the default TTL of 5s).
const transcriptEnv = "MASTERSHIP_TRANSCRIPT"

// transcript collects the output lines of several processes, each marked
// with its source, in the order they came.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) add(src, line string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.lines = append(tr.lines, src+line)
}

// writer returns a writer whose complete lines go to the transcript,
// after src.
func (tr *transcript) writer(src string) *lineWriter { return &lineWriter{tr: tr, src: src} }

func (tr *transcript) text() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.lines, "\n") + "\n"
}

// index returns the index of the first line from src that contains s, or -1.
func (tr *transcript) index(src, s string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i, l := range tr.lines {
		if strings.HasPrefix(l, src) && strings.Contains(l, s) {
			return i
		}
	}
	return -1
}

type lineWriter struct {
	tr  *transcript
	src string
	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.tr.add(w.src, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// TestFailoverTranscript plays the README's session on two machines: host-1
// master, host-2 standby, an observer running mastership watch; host-1's
// connection to etcd is cut (a fault proxy drops everything), its program
// is stopped before its safe deadline, host-2 takes over once host-1's
// lease has expired; the connection comes back and host-1 rejoins as a
// standby; another observer runs mastership leader --watch. It writes the output of every process, in order, to the file
// named by $MASTERSHIP_TRANSCRIPT, and checks the order that matters:
// host-1's program stopped before host-2's started.
//
//	MASTERSHIP_TRANSCRIPT=/tmp/failover.txt go test -tags transcript -run TestFailoverTranscript ./cmd/mastership/
func TestFailoverTranscript(t *testing.T) {
	out := os.Getenv(transcriptEnv)
	if out == "" {
		t.Fatalf("$%s names no file to write the transcript to", transcriptEnv)
	}
	etcd := etcdtest.Start(t)
	direct := etcd.Members[0].ClientURL
	px := etcd.Members[0].NewProxy(t)
	dir := t.TempDir()
	script := `#!/bin/sh
echo "report.sh: running on $MASTERSHIP_ID under epoch $MASTERSHIP_EPOCH"
trap 'echo "report.sh: SIGTERM on $MASTERSHIP_ID, stopping"; exit 0' TERM
while :; do sleep 1; done
`
	if err := os.WriteFile(filepath.Join(dir, "report.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := &transcript{}
	var procs []*exec.Cmd
	// start runs the binary on "host" with $ETCDCTL_ENDPOINTS set to ep,
	// and its standard output and error in the transcript.
	start := func(host, ep string, args ...string) *exec.Cmd {
		tr.add("", fmt.Sprintf("%s$ mastership %s", host, strings.Join(args, " ")))
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "ETCDCTL_ENDPOINTS="+ep)
		w := tr.writer(host + "| ")
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		return cmd
	}
	t.Cleanup(func() {
		for _, p := range procs {
			p.Process.Kill()
			p.Wait()
		}
	})
	// once runs a command to its end.
	once := func(host, ep string, args ...string) {
		cmd := start(host, ep, args...)
		if err := cmd.Wait(); err != nil {
			t.Errorf("mastership %v: %v", args, err)
		}
	}
	wait := func(src, s string) {
		t.Helper()
		waitFor(t, 20*time.Second, fmt.Sprintf("%q from %s", s, src), func() bool { return tr.index(src, s) >= 0 })
	}

	watcher := start("host-3", direct, "watch", "--prefix", "/jobs/report")
	wait("host-3| ", `"members":[]`)
	start("host-1", px.Endpoint, "run", "--prefix", "/jobs/report", "--id", "host-1", "--value", "10.0.0.1", "--", "./report.sh")
	wait("host-1| ", "report.sh: running on host-1")
	start("host-2", direct, "run", "--prefix", "/jobs/report", "--id", "host-2", "--value", "10.0.0.2", "--", "./report.sh")
	wait("host-3| ", `"members":["host-1","host-2"]`)
	once("host-3", direct, "members", "--prefix", "/jobs/report")
	leader := start("host-4", direct, "leader", "--prefix", "/jobs/report", "--watch")
	wait("host-4| ", "master=host-1")

	note := func(s string) { tr.add("", "# "+time.Now().UTC().Format("15:04:05.000")+" "+s) }
	note("host-1's network is cut: its connection to etcd drops everything")
	px.Blackhole()
	wait("host-2| ", "report.sh: running on host-2")
	wait("host-3| ", `"members":["host-2"]`)
	wait("host-4| ", "master=host-2")
	once("host-3", direct, "leader", "--prefix", "/jobs/report")

	note("host-1's network is back")
	px.Heal()
	wait("host-3| ", `"members":["host-2","host-1"]`)
	once("host-3", direct, "members", "--prefix", "/jobs/report")
	once("host-3", direct, "members", "--prefix", "/jobs/report", "--json")
	for _, p := range []*exec.Cmd{watcher, leader} {
		p.Process.Signal(syscall.SIGTERM)
		if err := p.Wait(); err != nil {
			t.Errorf("%v after SIGTERM: %v, want exit 0", p.Args[1:], err)
		}
	}

	stopped := tr.index("host-1| ", `msg="program stopped"`)
	started := tr.index("host-2| ", `msg="program started"`)
	if stopped < 0 || started < 0 || stopped > started {
		t.Errorf("host-1's program stopped at line %d, host-2's started at line %d: want the stop first", stopped, started)
	}
	if err := os.WriteFile(out, []byte(strings.ReplaceAll(tr.text(), px.Endpoint, "PROXY")), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("transcript in %s:\n%s", out, tr.text())
}
