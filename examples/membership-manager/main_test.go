package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
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

func TestMain(m *testing.M) { proctest.Main(m, asMain, main) }

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

// proc is a worker or a manager running as a process.
type proc struct {
	*proctest.Process
	name string
}

// start runs the program with args and the extra environment; the process is
// killed when t ends, and its standard error is logged if t failed.
func start(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	return &proc{Process: proctest.Start(t, asMain, name, append([]string{envWho + "=" + name}, env...), args...), name: name}
}

// stop sends sig and waits for the process to end; after SIGTERM it must
// exit with status 0.
func (p *proc) stop(t *testing.T, sig os.Signal, within time.Duration) {
	t.Helper()
	p.Signal(t, sig, within)
	if err := p.Err(); sig == syscall.SIGTERM && err != nil {
		t.Fatalf("%s ended with %v after SIGTERM, want exit status 0", p.name, err)
	}
}

// eventually polls cond until it holds, or fails t after within. Polling is
// how a test learns of a change in a file or a table, which sends no event.
var eventually = proctest.WaitFor

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
