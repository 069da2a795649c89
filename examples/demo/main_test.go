package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
)

// The test binary doubles as the program: with this variable set, it runs
// main instead of the tests, so that a test can see its exit code and its
// standard error.
const asDemo = "MASTERSHIP_TEST_RUN_DEMO"

func TestMain(m *testing.M) { proctest.Main(m, asDemo, main) }

// TestDemo runs the demo as the README's command does, with its embedded
// etcd, and checks that it tells the whole story in order.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, re := range []string{
		`(?m)^\s+\+\S+  a  INIT_MASTER\s+nodes=\[\]`,
		`(?m)^\s+\+\S+  c  INIT_SLAVE\s+nodes=\[a\]`,
		`(?m)^\s+\+\S+  b  CHANGE_TO_MASTER nodes=\[c\]  master=b members=\[b c\]`,
		`(?m)^\s+\+\S+  c  MASTER_CHANGE\s+nodes=\[b\]`,
		`(?m)^\s+\+\S+  b  OFFLINE`,
		`(?m)^\s+\+\S+  c  CHANGE_TO_MASTER nodes=\[\]  master=c members=\[c\]`,
		`-- Done\.`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("output lacks %s:\n%s", re, s)
		}
	}
	if i, j := strings.Index(s, "b  CHANGE_TO_MASTER"), strings.Index(s, "c  CHANGE_TO_MASTER"); i < 0 || j < i {
		t.Errorf("b should become master before c:\n%s", s)
	}
}

func TestBadFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the flag the error must name
	}{
		{[]string{"--ttl", "soon"}, "-ttl"},
		{[]string{"--ttl", "1500ms"}, "--ttl"},
		{[]string{"--ttl", "0s"}, "--ttl"},
		{[]string{"--endpoints", ","}, "--endpoints"},
		{[]string{"--cacert", "ca.pem"}, "--cacert"},
		{[]string{"--user", "demo"}, "--user"},
		{[]string{"extra"}, "extra"},
	} {
		err := run(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q): %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// TestMalformedEndpoint runs the program with an endpoint without a port:
// it must end at once, with exit code 1 (as for any bad flag) and one line
// naming --endpoints and the element, rather than retry it as if etcd were
// down.
func TestMalformedEndpoint(t *testing.T) {
	start := time.Now()
	p := proctest.Start(t, asDemo, "demo", nil, "--endpoints", "127.0.0.1")
	select {
	case <-p.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("still running after 5s, want it to end at once")
	}
	took := time.Since(start)
	t.Logf("ended after %v, process start included", took)
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ended with %v, want exit code 1", err)
	}
	const want = `demo: --endpoints: "127.0.0.1" has no port (want host:port`
	if msg := p.Stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
		t.Errorf("stderr = %q, want one line starting %q", msg, want)
	}
}
