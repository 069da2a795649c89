package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/mastershiptest"
)

// output is what run writes on one of its streams, read by the test while
// run writes it. Its methods are safe for concurrent use.
type output struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{} // capacity 1: a write since the last wait
}

func newOutput() *output { return &output{wrote: make(chan struct{}, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	o.b.Write(p)
	o.mu.Unlock()
	select {
	case o.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// waitFor waits until o holds what, or fails t after d.
func (o *output) waitFor(t *testing.T, d time.Duration, what string) {
	t.Helper()
	timeout := time.After(d)
	for !strings.Contains(o.String(), what) {
		select {
		case <-o.wrote:
		case <-timeout:
			t.Fatalf("no %q within %v; got %q", what, d, o.String())
		}
	}
}

// TestRefusedWhileRunning: a node that etcd refuses after it has joined
// (its user's permission on the prefix revoked) does not wait, silent, for
// a signal: run returns 1 with one last line on standard error saying that
// etcd refused it and why, and no output shows the password.
func TestRefusedWhileRunning(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	const password = "pw-Peer-9d3a"
	sec.AddPrefixUser(t, "peer", password, "/secure-peers")
	pwFile := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	files := sec.TLSFiles(t)
	args := []string{"--endpoints", sec.Members[0].ClientURL, "--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile,
		"--user", "peer", "--password-file", pwFile, "--log-level", "DEBUG",
		"--prefix", "/secure-peers", "--id", "a", "--ttl", "2s"}

	// Standard input stays open, as a terminal's would.
	stdinR, stdinW := io.Pipe()
	t.Cleanup(func() { stdinW.Close() })
	stdout, stderr := newOutput(), newOutput()
	ctx, stop := context.WithCancel(context.Background())
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, stdinR, stdout, stderr) }()
	// The signal, should run still wait for one when the test ends.
	defer func() {
		stop()
		select {
		case <-code:
		case <-time.After(10 * time.Second):
			t.Error("run did not return within 10s of its signal")
		}
	}()

	stdout.waitFor(t, 20*time.Second, "a: SNAPSHOT (1 members)")
	sec.RevokePrefix(t, "peer", "/secure-peers")

	// etcd refuses the next keep-alive (the TTL is 2s) or request.
	const bound = 30 * time.Second
	select {
	case c := <-code:
		code <- c // for the deferred wait
		if c != 1 {
			t.Errorf("exit code %d, want 1", c)
		}
	case <-time.After(bound):
		t.Fatalf("run still waiting %v after the permission was revoked; stdout %q, stderr %q", bound, stdout.String(), stderr.String())
	}
	errs := stderr.String()
	lines := strings.Split(strings.TrimRight(errs, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "peer-membership: etcd refused this member") || !strings.Contains(last, "permission denied") {
		t.Errorf("last line on stderr %q, want one saying etcd refused this member: permission denied", last)
	}
	if !strings.HasSuffix(errs, "\n") || strings.Count(errs, "peer-membership: ") != 1 {
		t.Errorf("stderr = %q, want the refusal once, as its last whole line", errs)
	}
	// Debug logs included, nothing shows the password.
	for what, out := range map[string]string{"stdout": stdout.String(), "stderr": errs} {
		if strings.Contains(out, password) {
			t.Errorf("%s shows the password: %q", what, out)
		}
	}
	t.Logf("stderr's last line: %s", last)
}
