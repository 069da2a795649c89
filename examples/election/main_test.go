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
const asElection = "MASTERSHIP_TEST_RUN_ELECTION"

func TestMain(m *testing.M) { proctest.Main(m, asElection, main) }

// TestFailover runs the self-contained failover and checks its story: n1
// leads, stops on its own when its connection dies, and n2, next in line,
// takes over after that.
func TestFailover(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), nil, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	order := []string{
		`n1  leading \(epoch \d+\): serving`,
		`n2  follows n1`,
		`n3  follows n1`,
		`-   n1 dies`,
		`n1  stopped leading`,
		`n2  leading \(epoch \d+\): serving`,
		`-   n2 took over`,
	}
	at := 0
	for _, re := range order {
		loc := regexp.MustCompile(re).FindStringIndex(s[at:])
		if loc == nil {
			t.Fatalf("output lacks %q after offset %d:\n%s", re, at, s)
		}
		at += loc[1]
	}
}

func TestBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // the flag the error must name
	}{
		{[]string{"--endpoints", "127.0.0.1:1"}, "--name"},
		{[]string{"--ttl", "x"}, "-ttl"},
		{[]string{"--ttl", "1500ms"}, "--ttl"},
		{[]string{"--name", "n1"}, "--name"},
		{[]string{"--cacert", "ca.pem"}, "--cacert"},
		{[]string{"--user", "u"}, "--user"},
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
	p := proctest.Start(t, asElection, "election", nil, "--endpoints", "127.0.0.1", "--name", "n1")
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
	const want = `election: --endpoints: "127.0.0.1" has no port (want host:port`
	if msg := p.Stderr.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, want) {
		t.Errorf("stderr = %q, want one line starting %q", msg, want)
	}
}
