package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// The test binary doubles as the program: with asMain set it runs main, so
// that tests run workers and managers as real processes and kill them. The
// command target is testdata/fake-target.sh, which keeps its nodes in a file
// and logs every call.
const (
	asMain = "MEMBERSHIP_MANAGER_TEST_RUN_MAIN"
	// The fake target's files and the manager it reports calls as.
	envState = "MEMBERSHIP_MANAGER_TEST_STATE"
	envCalls = "MEMBERSHIP_MANAGER_TEST_CALLS"
	envFail  = "MEMBERSHIP_MANAGER_TEST_FAIL"
	envWho   = "MEMBERSHIP_MANAGER_TEST_WHO"
)

func TestMain(m *testing.M) {
	if os.Getenv(asMain) == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// readState returns the fake target's nodes, "HOST PORT" each.
func readState(path string) []string {
	b, _ := os.ReadFile(path)
	var nodes []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			nodes = append(nodes, l)
		}
	}
	return nodes
}

// writeState replaces the state file at once, so that a reader sees the old
// list or the new one.
func writeState(path string, nodes []string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strings.Join(nodes, "\n")+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// call is one line of the fake target's call log.
type call struct {
	at   time.Time
	who  string
	what string // "list", "add HOST PORT", "remove HOST PORT", "fail ..."
}

func readCalls(t *testing.T, path string) []call {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var calls []call
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) != 3 {
			t.Fatalf("bad call line %q", sc.Text())
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("bad call line %q", sc.Text())
		}
		calls = append(calls, call{at: time.Unix(0, ns), who: f[1], what: f[2]})
	}
	return calls
}

// syncBuffer is a bytes.Buffer that a process writes while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// proc is a worker or a manager running as a process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
	err    error // set before done closes
}

// start runs the program with args and the extra environment; the process is
// killed when t ends, and its standard error is logged if t failed.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], args...)
	p.cmd.Env = append(append(os.Environ(), asMain+"=1", envWho+"="+name), env...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- stderr of %s:\n%s", name, p.stderr.String())
		}
	})
	return p
}

// stop sends sig and waits for the process to end.
func (p *proc) stop(t *testing.T, sig os.Signal, within time.Duration) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("%s did not end within %v of %v", p.name, within, sig)
	}
	if sig == syscall.SIGTERM && p.err != nil {
		t.Fatalf("%s ended with %v after SIGTERM, want exit status 0", p.name, p.err)
	}
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// eventually polls cond until it holds, or fails t after within. Polling is
// how a test learns of a change in a file or a table, which sends no event.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// master returns the id of the master manager in etcd, or "".
func master(t *testing.T, cli *clientv3.Client, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, managersPrefix(prefix)+"/", clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return strings.TrimPrefix(string(resp.Kvs[0].Key), managersPrefix(prefix)+"/")
}

func withPrefix() []clientv3.OpOption { return []clientv3.OpOption{clientv3.WithPrefix()} }
