package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed764c596d/mastership/examples/internal/proctest"
	"github.com/seed764c596d/mastership/mastershiptest"
)

// TestRefusedOnce: a candidate whose user etcd refuses ends with exit 1
// and one line that says "election: " once, not "election: election: "
// (the election package's errors start with it already), and never the
// password.
func TestRefusedOnce(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	files := sec.TLSFiles(t)
	const password = "pw-El-4d0b"
	sec.AddUser(t, "norole", password)
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := proctest.Start(t, asElection, "election", nil, "--endpoints", sec.Members[0].ClientURL,
		"--cacert", files.CAFile, "--cert", files.CertFile, "--key", files.KeyFile,
		"--user", "norole", "--password-file", pw, "--name", "n1", "--prefix", "/el")
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after etcd refused the user; stderr: %s", p.Stderr.String())
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ended with %v, want exit code 1", err)
	}
	msg := p.Stderr.String()
	if !strings.HasPrefix(msg, "election: ") || strings.Contains(msg, "election: election:") || !strings.Contains(msg, "permission denied") {
		t.Errorf("stderr = %q, want a line starting \"election: \" once, saying permission denied", msg)
	}
	if strings.Contains(msg, password) {
		t.Errorf("stderr shows the password: %q", msg)
	}
}

// TestWrongCA: a candidate that does not trust etcd's certificate ends at
// once with exit 1 and one line naming the reason, rather than hang.
func TestWrongCA(t *testing.T) {
	sec := mastershiptest.NewCluster(t, mastershiptest.WithSecure())
	// A CA of its own, which never signed sec's certificate.
	other := mastershiptest.NewCluster(t, mastershiptest.WithSecure()).TLSFiles(t)
	start := time.Now()
	p := proctest.Start(t, asElection, "election", nil, "--endpoints", sec.Members[0].ClientURL,
		"--cacert", other.CAFile, "--name", "n1", "--prefix", "/el")
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s with a CA that does not trust etcd; stderr: %s", p.Stderr.String())
	}
	t.Logf("ended after %v: %s", time.Since(start), p.Stderr.String())
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("ended with %v, want exit code 1", err)
	}
	if msg := p.Stderr.String(); strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "x509") {
		t.Errorf("stderr = %q, want one line naming the x509 reason", msg)
	}
}
