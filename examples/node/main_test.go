package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/mastershiptest"
	"github.com/seed764c596d/mastership/selector"
)

// The test binary doubles as the node program: with this variable set, it
// runs main instead of the tests, so that tests can run members as real
// processes and send them real signals.
const asNode = "MASTERSHIP_TEST_RUN_NODE"

func TestMain(m *testing.M) { proctest.Main(m, asNode, main) }

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the flag the error must name
	}{
		{[]string{"--id", "a"}, "--prefix"},
		{[]string{"--prefix", "/p"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a/b"}, "--id"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "1500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "500ms"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "0s"}, "--ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--ttl", "soon"}, "-ttl"},
		{[]string{"--prefix", "/p", "--id", "a", "--endpoints", " , "}, "--endpoints"},
		{[]string{"--prefix", "/p", "--id", "a", "--colour", "red"}, "-colour"},
		{[]string{"--prefix", "/p", "--id", "a", "extra"}, "extra"},
		{[]string{"--prefix", "/p", "--id", "a", "--log-level", "loud"}, "-log-level"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code == 0 {
				t.Fatalf("exit code 0, want non-zero")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
			msg := stderr.String()
			if strings.Count(msg, "\n") != 1 || !strings.HasSuffix(msg, "\n") {
				t.Errorf("stderr = %q, want exactly one line", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("stderr = %q, want it to name %s", msg, tc.want)
			}
		})
	}
}

// TestMalformedEndpoint: an endpoint without a port is refused at once,
// in one line naming --endpoints and the element, with the exit code of
// any bad flag, rather than retried for the whole start-up wait as if etcd
// were down.
func TestMalformedEndpoint(t *testing.T) {
	// The context ends the run only if the endpoint is not refused.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--endpoints", "127.0.0.1", "--prefix", "/p", "--id", "a"}, &stdout, &stderr)
	took := time.Since(start)
	t.Logf("ended after %v", took)
	if code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
	if took > 5*time.Second {
		t.Errorf("ended after %v, want at once (the start-up wait is %v)", took, startWait+2*selector.DefaultTTL)
	}
	const want = `node: --endpoints: "127.0.0.1" has no port (want host:port`
	if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
		t.Errorf("stderr = %q, want one line starting %q", msg, want)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

func TestUnreachableEtcd(t *testing.T) {
	old := startWait
	startWait = time.Second
	t.Cleanup(func() { startWait = old })
	// A port that was free a moment ago: nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(context.Background(), []string{"--endpoints", addr, "--prefix", "/p", "--id", "a", "--ttl", "1s"}, &stdout, &stderr)
	if code == 0 {
		t.Fatal("exit code 0 with etcd unreachable")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("gave up after %v, want a bounded wait of about 3s", d)
	}
	if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "unreachable") {
		t.Errorf("stderr = %q, want one line saying etcd is unreachable", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

// TestSignalBeforeRegistering: SIGTERM or SIGINT while the member is still
// registering (etcd unreachable, say) ends the program as it ends a
// registered one, with exit 0: the contract's "SIGTERM or SIGINT closes the
// member and exits 0" holds at start-up too. Nothing was registered, so
// nothing is printed on standard output; standard error says why it ended.
func TestSignalBeforeRegistering(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(300*time.Millisecond, cancel) // the signal
	defer timer.Stop()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := run(ctx, []string{"--endpoints", addr, "--prefix", "/p", "--id", "a", "--ttl", "1s"}, &stdout, &stderr)
	if code != 0 {
		t.Errorf("exit code %d after a signal while registering, want 0; stderr %q", code, stderr.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("ended %v after the start, want soon after the signal at 300ms", d)
	}
	if msg := stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "before registering") {
		t.Errorf("stderr = %q, want one line saying the signal came before registering", msg)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}

// process is a node program running as a child process.
type process struct{ *proctest.Process }

func startNode(t *testing.T, args ...string) *process {
	t.Helper()
	return startNodeEnv(t, nil, args...)
}

// startNodeEnv is startNode with env added to the environment.
func startNodeEnv(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return &process{proctest.Start(t, asNode, "node "+strings.Join(args, " "), env, args...)}
}

// wait waits for the process to exit and returns how it ended.
func (p *process) wait() error { return p.Err() }

// line is the contract's JSON object, decoded here on its own rather than
// with events.ParseLine, which writes and reads it for the program: a
// change there that breaks the contract fails these tests.
type line struct {
	TS      string   `json:"ts"`
	Type    string   `json:"type"`
	Self    string   `json:"self"`
	Nodes   []string `json:"nodes"`
	Master  string   `json:"master"`
	Members []string `json:"members"`
	Epoch   int64    `json:"epoch"`
	State   string   `json:"state"`
}

var lineShape = regexp.MustCompile(`^\{"ts":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z","type":"[A-Z_]+","self":"[^"]*","nodes":\[[^\]]*\],"master":"[^"]*","members":\[[^\]]*\],"epoch":\d+,"state":"(INIT|REFRESH|OFFLINE)"\}$`)

// next returns the next line of p, checked against the contract's shape.
func (p *process) next(t *testing.T) line {
	t.Helper()
	select {
	case s, ok := <-p.Lines():
		if !ok {
			t.Fatalf("stdout closed; stderr: %s", p.Stderr.String())
		}
		if !lineShape.MatchString(s) {
			t.Fatalf("line %q does not have the contract's shape", s)
		}
		var l line
		dec := json.NewDecoder(strings.NewReader(s))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, l.TS); err != nil {
			t.Fatalf("ts %q: %v", l.TS, err)
		}
		return l
	case <-time.After(20 * time.Second):
		t.Fatalf("no line within 20s; stderr: %s", p.Stderr.String())
	}
	panic("unreachable")
}

func expect(t *testing.T, got line, typ, self string, nodes []string, master string, members []string, state string) {
	t.Helper()
	want := fmt.Sprintf("%s %s %v %s %v %s", typ, self, nodes, master, members, state)
	have := fmt.Sprintf("%s %s %v %s %v %s", got.Type, got.Self, got.Nodes, got.Master, got.Members, got.State)
	if have != want {
		t.Fatalf("got  %s\nwant %s", have, want)
	}
}

func TestProcesses(t *testing.T) {
	c := mastershiptest.NewCluster(t)
	ep := c.Members[0].ClientURL
	args := func(id string) []string {
		return []string{"--endpoints", ep, "--prefix", "/nodes", "--id", id, "--value", id + ":1", "--ttl", "2s"}
	}
	a := startNode(t, args("a")...)
	la := a.next(t)
	expect(t, la, "INIT_MASTER", "a", []string{}, "a", []string{"a"}, "REFRESH")
	if la.Epoch <= 0 {
		t.Fatalf("epoch %d, want > 0", la.Epoch)
	}
	b := startNode(t, args("b")...)
	expect(t, b.next(t), "INIT_SLAVE", "b", []string{"a"}, "a", []string{"a", "b"}, "REFRESH")
	expect(t, a.next(t), "SLAVE_ADD", "a", []string{"b"}, "a", []string{"a", "b"}, "REFRESH")

	// A second live process with a's id is refused, after waiting for a's
	// lease to run out, and a is not disturbed.
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args("a"), &stdout, &stderr)
	if code == 0 || stdout.Len() != 0 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "taken") {
		t.Fatalf("duplicate id: exit %d, stdout %q, stderr %q; want non-zero, nothing, one line saying the id is taken", code, stdout.String(), stderr.String())
	}

	// SIGTERM: a closes, prints OFFLINE, exits 0, and b takes over at once.
	sent := time.Now()
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	expect(t, a.next(t), "OFFLINE", "a", []string{}, "", []string{}, "OFFLINE")
	if err := a.wait(); err != nil {
		t.Fatalf("a after SIGTERM: %v, want exit 0; stderr: %s", err, a.Stderr.String())
	}
	lb := b.next(t)
	expect(t, lb, "CHANGE_TO_MASTER", "b", []string{}, "b", []string{"b"}, "REFRESH")
	ts, _ := time.Parse(time.RFC3339Nano, lb.TS)
	if d := ts.Sub(sent); d > time.Second {
		t.Errorf("b became master %v after a's SIGTERM, want well under the TTL", d)
	}
	if lb.Epoch <= la.Epoch {
		t.Errorf("epoch %d after failover, want more than %d", lb.Epoch, la.Epoch)
	}
	if err := b.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	expect(t, b.next(t), "OFFLINE", "b", []string{}, "", []string{}, "OFFLINE")
	if err := b.wait(); err != nil {
		t.Fatalf("b after SIGINT: %v, want exit 0", err)
	}
}
